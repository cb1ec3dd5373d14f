import * as E from 'fp-ts/Either'
import type { RateDecision, RateLimiter } from '../../domain/rate-limit'
import type { RedisConnection } from './connection'
import { defineScript, segment, unavailable } from './script'

export type RedisRateLimiterOptions = {
  readonly connection: Pick<RedisConnection, 'client'>
  /** Begins every key written (`<prefix>:rate:…`). */
  readonly prefix: string
  /** The clock the buckets refill by (it is passed to the script); Redis's own expiries only free memory. */
  readonly now?: () => number
}

/*
 * Key schema: `<prefix>:rate:<key>` (the caller's key as one escaped segment,
 * see `segment`), a hash: t (tokens, a fraction written with 17 significant
 * digits, so that it reads back as the same double), a (the time of the
 * bucket, in ms, by the injected clock). A full bucket is the same as none:
 * it is deleted, and a bucket that is not full expires (PEXPIRE) once it
 * would have refilled, so Redis keeps only the buckets of keys active within
 * a window.
 *
 * The script repeats domain/rate-limit.ts (`refill`, `takeFromBucket`,
 * `giveBackToBucket`) operation for operation: Lua's numbers are the same
 * doubles as JavaScript's, so its answers are the memory adapter's.
 */
const BUCKET = `
local EPSILON = 1e-9
local key = KEYS[1]
local now, limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local tokens, at = limit, now
local found = redis.pcall('HMGET', key, 't', 'a')
local stored, unreadable = false, true
if type(found) == 'table' and not found.err then
  local t, a = tonumber(found[1]), tonumber(found[2])
  if t ~= nil and a ~= nil then tokens, at, stored, unreadable = t, a, true, false
  elseif not found[1] and not found[2] then unreadable = false end
end
local elapsed = now - at
if elapsed > 0 then
  local refilled = tokens + (elapsed * limit) / window
  if refilled >= limit then tokens = limit else tokens = refilled end
  at = now
end
local function keep()
  if tokens + EPSILON >= limit then
    redis.call('DEL', key)
    return
  end
  -- Until it is full again by the clock it keeps (later still if that clock stepped back behind it).
  local ms = math.ceil((limit - tokens) * window / limit)
  if at > now then ms = ms + (at - now) end
  -- Anything else found under the key (another type, a half-written hash) is replaced, as if absent.
  if unreadable then redis.call('DEL', key) end
  redis.call('HSET', key, 't', string.format('%.17g', tokens), 'a', string.format('%.17g', at))
  redis.call('PEXPIRE', key, ms + 1)
end
`

/** ARGV: now, limit, windowMs, cost. Answers allowed (1|0), remaining, resetSeconds, nextSeconds, retryAfterSeconds. */
const takeScript = defineScript(`${BUCKET}
local function ceilSeconds(ms)
  if ms <= 0 then return 0 end
  return math.ceil(ms / 1000 - EPSILON)
end
local allowed = cost <= limit and tokens + EPSILON >= cost
if allowed then
  if tokens > cost then tokens = tokens - cost else tokens = 0 end
end
keep()
local msPerToken = window / limit
local remaining = math.floor(tokens + EPSILON)
local full = tokens + EPSILON >= limit
if remaining > limit then remaining = limit end
local reset, nextIn, retry = 0, 0, 0
if not full then
  reset = ceilSeconds((limit - tokens) * msPerToken)
  nextIn = ceilSeconds((remaining + 1 - tokens) * msPerToken)
end
if not allowed then
  local wanted = cost
  if wanted > limit then wanted = limit end
  retry = math.max(1, ceilSeconds((wanted - tokens) * msPerToken))
end
return {allowed and 1 or 0, remaining, reset, nextIn, retry}
`)

/** ARGV: now, limit, windowMs, cost. A bucket not stored is full: nothing to give back to. */
const giveBackScript = defineScript(`${BUCKET}
if not stored then return 0 end
local given = tokens + cost
if given >= limit then tokens = limit else tokens = given end
keep()
return 1
`)

/** Whole seconds, rounded up, as domain/rate-limit.ts says a window. */
const windowSeconds = (ms: number): number => (ms <= 0 ? 0 : Math.ceil(ms / 1000 - 1e-9))

/**
 * RateLimiter on Redis: token buckets shared by every process using the
 * same Redis and prefix, each take (and give-back) one Lua script, so that
 * takes on one key at once from any number of processes never allow more
 * than the bucket holds. Every failure is a StoreUnavailable.
 */
export const createRedisRateLimiter = (options: RedisRateLimiterOptions): RateLimiter => {
  const { client } = options.connection
  const now = options.now ?? Date.now
  const base = `${options.prefix}:rate:`
  return {
    take: (key, limit, cost = 1) => async () => {
      let answer: unknown
      try {
        answer = await takeScript(client, [base + segment(key)], [String(now()), String(limit.limit), String(limit.windowMs), String(cost)])
      } catch (err) {
        return E.left(unavailable(err))
      }
      const [allowed, remaining, resetSeconds, nextSeconds, retryAfterSeconds] = answer as [number, number, number, number, number]
      const decision: RateDecision = {
        allowed: allowed === 1,
        limit: limit.limit,
        windowSeconds: windowSeconds(limit.windowMs),
        remaining,
        resetSeconds,
        nextSeconds,
        retryAfterSeconds,
      }
      return E.right(decision)
    },
    giveBack: (key, limit, cost = 1) => async () => {
      try {
        await giveBackScript(client, [base + segment(key)], [String(now()), String(limit.limit), String(limit.windowMs), String(cost)])
        return E.right(undefined)
      } catch (err) {
        return E.left(unavailable(err))
      }
    },
  }
}
