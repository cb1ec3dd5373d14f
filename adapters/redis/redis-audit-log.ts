import * as E from 'fp-ts/Either'
import type { AuditAction, AuditEntry, AuditLog } from '../../domain/audit-log'
import type { StoreUnavailable } from '../../domain/message-repository'
import type { RedisConnection } from './connection'
import { command, defineScript, unavailable } from './script'

/*
 * The audit log on Redis, shared by every process on the prefix and kept
 * as long as the messages are. Keys (one hash tag, so one Cluster slot):
 *
 *   P:{P:audit}:log   sorted set: the newest `maxEntries` entries, score the id, member the entry's JSON (id included)
 *   P:{P:audit}:n     string: the newest id handed out
 *
 * A record is one script: the next id, the entry in, the oldest past the
 * cap out. An entry that does not decode (written by something else) is
 * left out of a read and logged.
 */

export type RedisAuditLogOptions = {
  readonly connection: Pick<RedisConnection, 'client'>
  readonly prefix: string
  /** The most entries kept; the oldest are let go first. */
  readonly maxEntries: number
  readonly log?: (message: string, detail?: unknown) => void
}

/** KEYS: log, counter. ARGV: the record's JSON after its '{' (without the id), max entries. Returns the id. */
const RECORD = defineScript(`
local id = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], id, '{"id":' .. id .. ',' .. ARGV[1])
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if over > 0 then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, over - 1) end
return id
`)

const ACTIONS: ReadonlySet<AuditAction['action']> = new Set(['remove', 'erase', 'mute', 'unmute', 'clear'])

/** A stored member as an entry, or undefined when it is not one of ours. */
const asEntry = (member: string): AuditEntry | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(member)
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const o = parsed as Record<string, unknown>
  const ok = Number.isSafeInteger(o.id) && typeof o.at === 'number' && typeof o.actor === 'string' && ACTIONS.has(o.action as AuditAction['action'])
  return ok ? (parsed as AuditEntry) : undefined
}

export const createRedisAuditLog = (options: RedisAuditLogOptions): AuditLog => {
  const { client } = options.connection
  const base = `${options.prefix}:{${options.prefix}:audit}:`
  const LOG = `${base}log`
  const COUNTER = `${base}n`
  const log = options.log ?? ((message, detail) => console.error(message, detail))
  const max = String(Math.max(1, Math.floor(options.maxEntries)))
  const attempt = async <A>(run: () => Promise<A>): Promise<E.Either<StoreUnavailable, A>> => {
    try {
      return E.right(await run())
    } catch (err) {
      return E.left(unavailable(err))
    }
  }
  return {
    record: (record) => () =>
      attempt(async () => {
        const json = JSON.stringify(record)
        const id = Number(await RECORD(client, [LOG, COUNTER], [json.slice(1), max]))
        return { id, ...record }
      }),
    read: ({ limit, before }) => () =>
      attempt(async () => {
        const from = before === undefined ? '+inf' : `(${before}`
        const members = (await command(client, ['ZRANGE', LOG, from, '-inf', 'BYSCORE', 'REV', 'LIMIT', '0', String(Math.max(0, limit))])) as string[]
        const entries: AuditEntry[] = []
        for (const member of members) {
          const entry = asEntry(member)
          if (entry === undefined) log('an audit log entry does not decode; left out', { prefix: options.prefix, length: member.length })
          else entries.push(entry)
        }
        return entries
      }),
  }
}
