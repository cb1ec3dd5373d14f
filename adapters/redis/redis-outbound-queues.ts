import * as E from 'fp-ts/Either'
import type { Message } from '../../domain/message'
import { routeWants, type DeliveryState, type OutboundQueues, type OutboundRoute, type QueueStats } from '../../domain/outbound'
import type { StoreUnavailable } from '../../domain/message-repository'
import { COMMAND_TIMEOUT_MS, type RedisConnection } from './connection'
import { ACK_SCRIPT, LEASE_SCRIPT, outboundKeys, RELEASE_SCRIPT } from './outbound-scripts'
import { defineScript, unavailable, withDeadline } from './script'

/*
 * The outbound queues on Redis (the key schema is in outbound-scripts.ts):
 * filled by the Redis message store's append script, shared by every
 * process on the prefix, kept across restarts. A lease is a key with an
 * expiry that only its holder renews or gives up; a queue is taken off only
 * by the holder of the lease (checked in the same script), so a process
 * that lost its lease while it delivered cannot take off what the new
 * holder is delivering. A watcher is told through the store's feed, which
 * every process hears: `heard` hands it every message stored.
 */

export type RedisOutboundQueuesOptions = {
  readonly connection: Pick<RedisConnection, 'client'>
  readonly prefix: string
  readonly routes: ReadonlyArray<OutboundRoute>
  /** Every message the store's feed hears, from any process (RedisMessageStore.heard). Returns the function that stops it. */
  readonly heard: (listener: (message: Message) => void) => () => void
  /** Turns a queued member (the message's JSON as the channel log keeps it) back into a Message; undefined when it does not decode. */
  readonly decode: (json: string) => Message | undefined
  readonly log?: (message: string, detail?: unknown) => void
}

const lease = defineScript(LEASE_SCRIPT)
const release = defineScript(RELEASE_SCRIPT)
const ack = defineScript(ACK_SCRIPT)

export const createRedisOutboundQueues = (options: RedisOutboundQueuesOptions): OutboundQueues => {
  const { prefix } = options
  const client = options.connection.client
  const log = options.log ?? ((message, detail) => console.error(message, detail))
  const routes = new Map(options.routes.map((r) => [r.name, r]))
  const keysOf = (target: string) => outboundKeys(prefix, target)
  /** Every call as the ports' one error; nothing here throws or rejects. */
  const attempt = <A>(run: () => Promise<A>): Promise<E.Either<StoreUnavailable, A>> => {
    try {
      return run().then(E.right, (err: unknown) => E.left(unavailable(err)))
    } catch (err) {
      return Promise.resolve(E.left(unavailable(err)))
    }
  }
  const command = (args: string[]): Promise<unknown> => withDeadline(client.sendCommand(args), COMMAND_TIMEOUT_MS)

  return {
    peek: (target, limit) => () =>
      attempt(async () => {
        const members = (await command(['ZRANGE', keysOf(target).queue, '0', String(Math.max(0, Math.min(limit, 1_000_000)) - 1)])) as string[]
        const messages: Message[] = []
        for (const member of members) {
          const message = options.decode(member)
          if (message === undefined) log('an outbound queue holds an entry that does not decode; left out', { prefix, target, length: member.length })
          else messages.push(message)
        }
        return messages
      }),
    ack: (target, holder, throughId, dropped) => () => {
      const keys = keysOf(target)
      return attempt(async () => (await ack(client, [keys.lease, keys.queue, keys.stats], [holder, String(throughId), dropped === undefined ? '' : '1'])) === 1)
    },
    lease: (target, holder, ms) => () => attempt(async () => (await lease(client, [keysOf(target).lease], [holder, String(Math.max(1, Math.round(ms)))])) === 1),
    release: (target, holder) => () =>
      attempt(async () => {
        await release(client, [keysOf(target).lease], [holder])
      }),
    report: (target, state) => () =>
      attempt(async () => {
        await command(['HSET', keysOf(target).stats, 'state', JSON.stringify(state)])
      }),
    stats: (target) => () =>
      attempt(async () => {
        const keys = keysOf(target)
        const [queued, fields] = (await Promise.all([command(['ZCARD', keys.queue]), command(['HMGET', keys.stats, 'd', 'state'])])) as [number, Array<string | null>]
        const delivery = parseState(fields[1] ?? null)
        const stats: QueueStats = { queued, dropped: Number(fields[0] ?? 0), ...(delivery === undefined ? {} : { delivery }) }
        return stats
      }),
    watch: (target, listener) => {
      const route = routes.get(target)
      if (route === undefined) return () => undefined
      return options.heard((message) => {
        if (routeWants(route, message)) listener()
      })
    },
  }
}

const STATES = new Set(['idle', 'delivering', 'retrying', 'paused'])

/** A reported state read back, or undefined when there is none or it is not one (written by another version, or by hand). */
const parseState = (text: string | null): DeliveryState | undefined => {
  if (text === null) return undefined
  try {
    const o = JSON.parse(text) as Record<string, unknown>
    if (!STATES.has(String(o.state)) || typeof o.failures !== 'number' || typeof o.delivered !== 'number' || typeof o.at !== 'number') return undefined
    return {
      state: o.state as DeliveryState['state'],
      failures: o.failures,
      delivered: o.delivered,
      at: o.at,
      ...(typeof o.until === 'number' ? { until: o.until } : {}),
      ...(typeof o.lastError === 'string' ? { lastError: o.lastError } : {}),
    }
  } catch {
    return undefined
  }
}
