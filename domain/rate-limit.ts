import type * as TE from 'fp-ts/TaskEither'
import type { StoreUnavailable } from './message-repository'

/**
 * A token bucket's size and refill: `limit` requests at once, and `limit`
 * more every `windowMs` (so one every windowMs / limit), as `5/10s` says.
 */
export type RateLimit = { readonly limit: number; readonly windowMs: number }

/**
 * What one take decided, with everything a response's headers need. Every
 * field is a whole number (seconds rounded up), so an answer never promises
 * a request earlier than the bucket allows it.
 */
export type RateDecision = {
  readonly allowed: boolean
  /** The bucket's capacity (the policy's quota). */
  readonly limit: number
  /** The policy's window in whole seconds (rounded up). */
  readonly windowSeconds: number
  /** Whole tokens left after this request (after it took its cost, if allowed). */
  readonly remaining: number
  /** Seconds until the bucket is full again; 0 when it is. */
  readonly resetSeconds: number
  /** Seconds until `remaining` next grows by one; 0 when the bucket is full. */
  readonly nextSeconds: number
  /** When refused: seconds until this request's cost is available, at least 1. 0 when allowed. */
  readonly retryAfterSeconds: number
}

/**
 * Token buckets behind a port (`test/contracts/rate-limiter.contract.ts`
 * fixes what every store must do), so that a store shared by several
 * processes (Redis) limits a player across all of them.
 *
 * Each key has a bucket of `limit.limit` tokens that refills continuously at
 * `limit.limit` per `limit.windowMs`; a key never seen, or not seen for long
 * enough to have refilled, has a full bucket, so a store may forget any
 * bucket that has refilled completely (and must bound how many it keeps).
 *
 * Keys are chosen and namespaced by the caller (`player:id:42`,
 * `player:name:bob`, `client:key:<label>`, `client:addr:<address>`; see
 * `playerLimitKey` and `clientLimitKey`). The port never sees a secret: a
 * caller passes an API key's label or a digest of it, never the key itself,
 * since a store may keep its keys in plain text (a Redis key space is
 * listable) and a store's failure detail may end in a log.
 */
export type RateLimiter = {
  /**
   * Takes `cost` tokens (1 by default; 1 to `limit.limit`) from `key`'s
   * bucket if it holds them. A refused take consumes nothing. Of takes on one
   * key at once, no more are allowed than the bucket holds.
   */
  readonly take: (key: string, limit: RateLimit, cost?: number) => TE.TaskEither<StoreUnavailable, RateDecision>
  /**
   * Returns `cost` tokens taken from `key` for a request that then did
   * nothing (its send was refused), never past the bucket's capacity.
   * Harmless for a key with a full or forgotten bucket.
   */
  readonly giveBack: (key: string, limit: RateLimit, cost?: number) => TE.TaskEither<StoreUnavailable, void>
}

/** The key of a player's bucket: their Roblox user id when given, else their name folded to lower case. */
export const playerLimitKey = (userId: number | undefined, foldedName: string): string =>
  userId === undefined ? `player:name:${foldedName}` : `player:id:${userId}`

/**
 * The key of a client's bucket: the label of its API key when it has one (never
 * the key itself), else its address.
 */
export const clientLimitKey = (client: { readonly keyLabel?: string | undefined; readonly address: string }): string =>
  client.keyLabel === undefined ? `client:addr:${client.address}` : `client:key:${client.keyLabel}`

/*
 * The bucket's arithmetic, shared by every store that runs it in this process
 * (a store that runs it elsewhere, such as a Redis script, repeats it and is
 * held to the same results by the contract suite).
 *
 * A bucket is its tokens, a fraction, at a time in milliseconds. Tokens stay
 * between 0 and the limit, so they keep their precision; refill is computed as
 * elapsed * limit / windowMs, which is exact for whole milliseconds and the
 * limits people write (5/10s refills exactly 1 token in 2,000 ms). EPSILON
 * absorbs what division leaves over (3/10s), so that a bucket that has
 * refilled to 1 by the arithmetic's account and by the clock's agree.
 */
/** A bucket never seen is full: `{ tokens: limit.limit, at: now }`. */
export type TokenBucket = { tokens: number; at: number }

const EPSILON = 1e-9

/** Whole seconds, rounded up, ignoring what floating point adds to an exact figure. */
const ceilSeconds = (ms: number): number => (ms <= 0 ? 0 : Math.ceil(ms / 1000 - EPSILON))

/** Brings `bucket` up to `now`. A clock that steps back refills nothing and does not move the bucket back. */
export const refill = (bucket: TokenBucket, limit: RateLimit, now: number): void => {
  const elapsed = now - bucket.at
  if (elapsed <= 0) return
  const tokens = bucket.tokens + (elapsed * limit.limit) / limit.windowMs
  bucket.tokens = tokens >= limit.limit ? limit.limit : tokens
  bucket.at = now
}

/** True when `bucket` is full at `now`: it is then the same as no bucket, and may be forgotten. */
export const isFull = (bucket: TokenBucket, limit: RateLimit, now: number): boolean => {
  const elapsed = now - bucket.at
  return bucket.tokens + (elapsed > 0 ? (elapsed * limit.limit) / limit.windowMs : 0) + EPSILON >= limit.limit
}

/** Takes `cost` tokens from `bucket` at `now` if it holds them (changing it), and says what was decided. */
export const takeFromBucket = (bucket: TokenBucket, limit: RateLimit, now: number, cost: number): RateDecision => {
  refill(bucket, limit, now)
  const allowed = cost <= limit.limit && bucket.tokens + EPSILON >= cost
  if (allowed) bucket.tokens = bucket.tokens > cost ? bucket.tokens - cost : 0
  const tokens = bucket.tokens
  const msPerToken = limit.windowMs / limit.limit
  const remaining = Math.floor(tokens + EPSILON)
  const full = tokens + EPSILON >= limit.limit
  return {
    allowed,
    limit: limit.limit,
    windowSeconds: ceilSeconds(limit.windowMs),
    remaining: remaining > limit.limit ? limit.limit : remaining,
    resetSeconds: full ? 0 : ceilSeconds((limit.limit - tokens) * msPerToken),
    nextSeconds: full ? 0 : ceilSeconds((remaining + 1 - tokens) * msPerToken),
    // A cost over the limit is never allowed; the nearest honest answer is a full bucket's time.
    retryAfterSeconds: allowed ? 0 : Math.max(1, ceilSeconds(((cost > limit.limit ? limit.limit : cost) - tokens) * msPerToken)),
  }
}

/** Returns `cost` tokens to `bucket` at `now`, never past its capacity. */
export const giveBackToBucket = (bucket: TokenBucket, limit: RateLimit, now: number, cost: number): void => {
  refill(bucket, limit, now)
  const tokens = bucket.tokens + cost
  bucket.tokens = tokens >= limit.limit ? limit.limit : tokens
}
