import { createHash } from 'node:crypto'
import * as E from 'fp-ts/Either'
import type { Claim, IdempotencyKeys } from '../../domain/idempotency'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import type { Conversation, StoreUnavailable } from '../../domain/message-repository'
import type { RedisConnection } from './connection'
import { defineScript, segment, unavailable } from './script'

export type RedisIdempotencyOptions = {
  readonly connection: Pick<RedisConnection, 'client'>
  /** Begins every key written (`<prefix>:idem:…`). */
  readonly prefix: string
  /** The most keys remembered at once, across every process on this Redis; past it the oldest are forgotten first. */
  readonly maxKeys: number
  /** How long a completed key is remembered, in milliseconds, counted from its completion. */
  readonly retentionMs: number
  /**
   * How long a claim never completed holds its key (its process died mid-send),
   * in milliseconds: CLAIM_TTL_MS by default, and never more than the retention.
   */
  readonly claimTtlMs?: number
  /** The clock every decision is made by (it is passed to the scripts); Redis's own expiries are only a safety net. */
  readonly now?: () => number
  /** Where an unreadable stored entry is reported (it is then treated as absent). */
  readonly log?: (message: string, detail?: unknown) => void
}

/**
 * How long an in-progress claim lives: far longer than any send (the HTTP
 * request timeout is 30 s), short enough that a retry after the process
 * sending it was killed is processed within a minute rather than refused as
 * in progress for the whole retention.
 */
export const CLAIM_TTL_MS = 60_000

/** The layout of a stored entry; an entry of another version is treated as absent. */
const VERSION = '1'

/*
 * Key schema (every key under the prefix; a caller's key is one escaped segment, see `segment`):
 *
 *   <prefix>:idem:k:<key>   a hash: v (VERSION), s ('p' in progress | 'c' completed), at (ms, by the
 *                           injected clock: the claim's time, or the completion's), d (SHA-256 of the
 *                           fingerprint, base64; completed only), c (the conversation as JSON; completed only).
 *                           PEXPIRE: the claim's lifetime while in progress, the retention once completed.
 *   <prefix>:idem:index     a sorted set of every key's segment by `at`: the oldest are forgotten first
 *                           past maxKeys, and what the retention has passed is trimmed from it.
 *                           PEXPIRE: the retention, renewed by each write.
 *
 * Every decision compares `at` with the `now` passed in, so the expiries are
 * only there to free memory if no one asks again.
 */

/** Forgets what the retention has passed (a bounded number per call), then trims the index to maxKeys, never the key just written. */
const TRIM = `
local function trim(index, base, now, retention, maxKeys, keep)
  local old = redis.call('ZRANGEBYSCORE', index, '-inf', now - retention, 'LIMIT', 0, 64)
  if #old > 0 then
    for _, m in ipairs(old) do redis.call('DEL', base .. m) end
    redis.call('ZREM', index, unpack(old))
  end
  local excess = redis.call('ZCARD', index) - maxKeys
  if excess > 256 then excess = 256 end
  if excess > 0 then
    local victims = {}
    for _, m in ipairs(redis.call('ZRANGE', index, 0, excess)) do
      if m ~= keep and #victims < excess then victims[#victims + 1] = m end
    end
    for _, m in ipairs(victims) do redis.call('DEL', base .. m) end
    redis.call('ZREM', index, unpack(victims))
  end
  redis.call('PEXPIRE', index, retention)
end
`

/*
 * KEYS: entry, index. ARGV: now, retention, claim lifetime, maxKeys, digest, segment, entry base,
 * and the conversation text found undecodable by a previous call ('' if none), which is then
 * treated as absent. Answers {'claimed', note} | {'in-progress'} | {'completed', same (1|0), json}.
 */
const claimScript = defineScript(`${TRIM}
local entry, index = KEYS[1], KEYS[2]
local now, retention, lifetime, maxKeys = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local digest, member, base, replace = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local note = ''
local kind = redis.call('TYPE', entry).ok
if kind == 'hash' then
  local f = redis.call('HMGET', entry, 'v', 's', 'at', 'd', 'c')
  local s, at, d, c = f[2], tonumber(f[3]), f[4], f[5]
  if f[1] ~= '${VERSION}' or at == nil or not (s == 'p' or (s == 'c' and d and c)) then
    note = 'an entry of another layout'
  elseif s == 'p' then
    if now - at < lifetime then return {'in-progress'} end
  elseif now - at < retention then
    if replace ~= '' and c == replace then note = 'a conversation that does not decode'
    else return {'completed', d == digest and 1 or 0, c} end
  end
elseif kind ~= 'none' then
  note = 'a ' .. kind .. ', not a hash'
end
redis.call('DEL', entry)
redis.call('HSET', entry, 'v', '${VERSION}', 's', 'p', 'at', ARGV[1])
redis.call('PEXPIRE', entry, lifetime)
redis.call('ZADD', index, now, member)
trim(index, base, now, retention, maxKeys, member)
return {'claimed', note}
`)

/** KEYS: entry, index. ARGV: now, retention, maxKeys, digest, json, segment, entry base. */
const completeScript = defineScript(`${TRIM}
local entry, index = KEYS[1], KEYS[2]
local now, retention, maxKeys = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('DEL', entry)
redis.call('HSET', entry, 'v', '${VERSION}', 's', 'c', 'at', ARGV[1], 'd', ARGV[4], 'c', ARGV[5])
redis.call('PEXPIRE', entry, retention)
redis.call('ZADD', index, now, ARGV[6])
trim(index, ARGV[7], now, retention, maxKeys, ARGV[6])
return 1
`)

/** KEYS: entry, index. ARGV: segment. Forgets a claim, never a completed key (whose answer a retry still needs). */
const releaseScript = defineScript(`
local found = redis.pcall('HGET', KEYS[1], 's')
if found == 'c' then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

const digestOf = (fingerprint: string): string => createHash('sha256').update(fingerprint).digest('base64')

const isInteger = (u: unknown): u is number => Number.isSafeInteger(u)

/** A stored message, field by field in the store's order, or undefined if it is not one. */
const decodeMessage = (u: unknown): Message | undefined => {
  if (typeof u !== 'object' || u === null) return undefined
  const m = u as Record<string, unknown>
  if (!isInteger(m.id) || typeof m.channel !== 'string' || typeof m.playerName !== 'string' || typeof m.text !== 'string') return undefined
  if (typeof m.sentAt !== 'number' || (m.type !== 'player' && m.type !== 'reply')) return undefined
  if ((m.replyTo !== undefined && !isInteger(m.replyTo)) || (m.userId !== undefined && typeof m.userId !== 'number')) return undefined
  return {
    id: m.id,
    channel: m.channel as ChannelName,
    playerName: m.playerName as PlayerName,
    text: m.text as MessageText,
    sentAt: m.sentAt,
    type: m.type,
    replyTo: m.replyTo as number | undefined,
    userId: m.userId as number | undefined,
  }
}

const decodeConversation = (json: string): Conversation | undefined => {
  let u: unknown
  try {
    u = JSON.parse(json)
  } catch {
    return undefined
  }
  if (typeof u !== 'object' || u === null) return undefined
  const { message, reply } = u as Record<string, unknown>
  const m = decodeMessage(message)
  if (m === undefined) return undefined
  if (reply === undefined) return { message: m }
  const r = decodeMessage(reply)
  return r === undefined ? undefined : { message: m, reply: r }
}

const CLAIMED: Claim = { _tag: 'Claimed' }
const IN_PROGRESS: Claim = { _tag: 'InProgress' }

/**
 * IdempotencyKeys on Redis, shared by every process using the same Redis and
 * prefix: a key claimed through one is in progress, then completed, through
 * all. Each operation is one Lua script, so claims of one key at once from
 * any number of processes give exactly one `Claimed`. Every failure is a
 * StoreUnavailable; a stored entry that cannot be read (corrupt, another
 * layout) is logged and treated as absent.
 *
 * Single Redis (or a prefix that is a Cluster hash tag): the scripts touch
 * the entries of the keys they forget, which are not all named in KEYS.
 */
export const createRedisIdempotencyKeys = (options: RedisIdempotencyOptions): IdempotencyKeys => {
  const { client } = options.connection
  const now = options.now ?? Date.now
  const log = options.log ?? ((message: string, detail?: unknown) => console.error(message, detail ?? ''))
  const base = `${options.prefix}:idem:k:`
  const index = `${options.prefix}:idem:index`
  const retention = String(options.retentionMs)
  const lifetime = String(Math.min(options.claimTtlMs ?? CLAIM_TTL_MS, options.retentionMs))
  const maxKeys = String(options.maxKeys)

  const claim = async (key: string, fingerprint: string): Promise<E.Either<StoreUnavailable, Claim>> => {
    const member = segment(key)
    const entry = base + member
    const digest = digestOf(fingerprint)
    let replace = ''
    // A conversation that does not decode is claimed over, if it is still the one found (two rounds at most unless someone keeps writing bad ones).
    for (let round = 0; round < 3; round++) {
      let answer: unknown
      try {
        answer = await claimScript(client, [entry, index], [String(now()), retention, lifetime, maxKeys, digest, member, base, replace])
      } catch (err) {
        return E.left(unavailable(err))
      }
      const [state, same, json] = answer as [string, number | string, string?]
      if (state === 'claimed') {
        // Not the entry's name: it holds the Idempotency-Key, which a client may treat as a secret.
        if (same !== '') log(`an idempotency key entry was unreadable (${same}); treated as absent`)
        return E.right(CLAIMED)
      }
      if (state === 'in-progress') return E.right(IN_PROGRESS)
      const conversation = typeof json === 'string' ? decodeConversation(json) : undefined
      if (conversation !== undefined) return E.right({ _tag: 'Completed', sameRequest: same === 1, conversation })
      if (typeof json !== 'string') break
      replace = json
    }
    return E.left({ _tag: 'StoreUnavailable', detail: `redis: idempotency key entry ${entry} keeps being unreadable` })
  }

  return {
    claim: (key, fingerprint) => () => claim(key, fingerprint),
    complete: (key, fingerprint, conversation) => async () => {
      const member = segment(key)
      try {
        await completeScript(client, [base + member, index], [String(now()), retention, maxKeys, digestOf(fingerprint), JSON.stringify(conversation), member, base])
        return E.right(undefined)
      } catch (err) {
        return E.left(unavailable(err))
      }
    },
    release: (key) => async () => {
      const member = segment(key)
      try {
        await releaseScript(client, [base + member, index], [member])
        return E.right(undefined)
      } catch (err) {
        return E.left(unavailable(err))
      }
    },
  }
}
