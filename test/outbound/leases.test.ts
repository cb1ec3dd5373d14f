import { expect } from 'chai'
import { randomBytes } from 'node:crypto'
import { createWebhookDeliverer } from '../../adapters/outbound/webhook'
import { connectRedis, type RedisConnection } from '../../adapters/redis/connection'
import { createRedisMessageStore, type RedisMessageStore } from '../../adapters/redis/redis-message-store'
import { createRedisOutboundQueues } from '../../adapters/redis/redis-outbound-queues'
import { systemClock, systemTimer } from '../../adapters/system/timer'
import { deliverOutbound, DEFAULT_OUTBOUND_SETTINGS, type OutboundDelivery } from '../../application/deliver-outbound'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import type { OutboundQueues, OutboundRoute } from '../../domain/outbound'
import { run } from '../contracts/message-repository.contract'
import { startReceiver, type Receiver } from '../support/receiver'
import { requireRedis, startRedis, type TestRedis } from '../support/redis'

/*
 * Two delivery loops (two processes, each on its own connection) on one
 * target's queue in a real Redis, against a receiver slower to answer than a
 * lease lasts: the holder keeps its lease through every attempt, so the
 * other never takes the target over mid-attempt, and each message reaches
 * the receiver exactly once. The lease is short (300 ms) so that the test
 * does not take a real lease's 15 s.
 */

const LEASE_MS = 300
const ANSWER_MS = 3 * LEASE_MS

describe('outbound: a slow target on Redis keeps its lease through every attempt', function () {
  this.timeout(30_000)
  let redis: TestRedis | undefined
  let receiver: Receiver | undefined
  const opened: Array<{ connection: RedisConnection; store: RedisMessageStore }> = []
  before(async function () {
    requireRedis.call(this)
    redis = await startRedis()
  })
  after(async () => {
    await redis?.close()
  })
  afterEach(async () => {
    for (const p of opened.splice(0)) {
      await p.store.close()
      await p.connection.close()
    }
    await receiver?.close()
  })

  const open = async (prefix: string, routes: ReadonlyArray<OutboundRoute>): Promise<{ store: RedisMessageStore; queues: OutboundQueues }> => {
    const connection = connectRedis({ url: (redis as TestRedis).url })
    await connection.whenReady(5_000)
    const store = createRedisMessageStore({ connection, prefix, maxMessages: 1000, maxChannels: 32, outbound: routes, log: () => undefined })
    await store.whenSubscribed(5_000)
    opened.push({ connection, store })
    return { store, queues: createRedisOutboundQueues({ connection, prefix, routes, heard: store.heard, decode: store.decodeQueued, log: () => undefined }) }
  }

  it('delivers each message exactly once with two loops on one queue and a receiver slower than the lease', async () => {
    receiver = await startReceiver({ status: 200, delayMs: ANSWER_MS })
    const prefix = `t-${randomBytes(6).toString('hex')}`
    const routes = [{ name: 'slow', maxQueue: 100 }]
    const [a, b] = [await open(prefix, routes), await open(prefix, routes)]
    const deliverer = createWebhookDeliverer({ name: 'slow', url: `${receiver.url}/in`, timeoutMs: 10 * ANSWER_MS, clock: systemClock, userAgent: 'test' })
    const loop = (queues: OutboundQueues, holder: string): OutboundDelivery =>
      deliverOutbound({ queues, durable: true, clock: systemClock, timer: systemTimer, random: Math.random, holder, settings: { ...DEFAULT_OUTBOUND_SETTINGS, leaseMs: LEASE_MS } }, [
        { route: routes[0] as OutboundRoute, deliverer },
      ])
    const loops = [loop(a.queues, 'process a'), loop(b.queues, 'process b')]
    const sent: Message[] = []
    for (let i = 0; i < 3; i++)
      sent.push((await run(a.store.append({ draft: { channel: 'global' as ChannelName, playerName: 'Ann' as PlayerName, text: `m${i}` as MessageText, sentAt: Date.now() } }))).message)
    await receiver.waitFor(3, 20_000)
    // Every message is in; stopping waits for any attempt still in flight, so a repeat under way would arrive before the count below.
    await Promise.all(loops.map((l) => l.stop(10 * ANSWER_MS)))
    const ids = receiver.received.map((r) => Number(r.headers['x-message-id']))
    expect(ids).to.deep.equal(sent.map((m) => m.id))
    expect((await run(a.queues.stats('slow'))).queued).to.equal(0)
  })
})
