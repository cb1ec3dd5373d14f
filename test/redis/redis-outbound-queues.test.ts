import { expect } from 'chai'
import { randomBytes } from 'node:crypto'
import { connectRedis, type RedisConnection } from '../../adapters/redis/connection'
import { createRedisMessageStore, type RedisMessageStore } from '../../adapters/redis/redis-message-store'
import { createRedisOutboundQueues } from '../../adapters/redis/redis-outbound-queues'
import { outboundKeys } from '../../adapters/redis/outbound-scripts'
import type { ChannelName, MessageText, PlayerName } from '../../domain/message'
import type { OutboundRoute } from '../../domain/outbound'
import { run } from '../contracts/message-repository.contract'
import { outboundQueuesContract } from '../contracts/outbound-queues.contract'
import { requireRedis, startRedis, type TestRedis } from '../support/redis'

/*
 * The outbound queues on a real Redis: the contract suite, with a second
 * process's handle (its own connection and store) as the peer, and what a
 * Redis adds: queues that outlive the processes, and an entry that does
 * not decode left out and logged.
 */

describe('redis outbound queues', function () {
  let redis: TestRedis | undefined
  before(async function () {
    requireRedis.call(this)
    redis = await startRedis()
  })
  after(async () => {
    await redis?.close()
  })

  type Process = { connection: RedisConnection; store: RedisMessageStore; queues: ReturnType<typeof createRedisOutboundQueues> }
  const open = async (prefix: string, routes: ReadonlyArray<OutboundRoute>, log: (m: string, d?: unknown) => void = () => undefined): Promise<Process> => {
    const connection = connectRedis({ url: (redis as TestRedis).url })
    await connection.whenReady(5_000)
    const store = createRedisMessageStore({ connection, prefix, maxMessages: 1000, maxChannels: 32, outbound: routes, log })
    await store.whenSubscribed(5_000)
    const queues = createRedisOutboundQueues({ connection, prefix, routes, heard: store.heard, decode: store.decodeQueued, log })
    return { connection, store, queues }
  }
  const close = async (p: Process) => {
    await p.store.close()
    await p.connection.close()
  }

  outboundQueuesContract(
    'redis',
    async (routes) => {
      const prefix = `t-${randomBytes(6).toString('hex')}`
      const [a, b] = await Promise.all([open(prefix, routes), open(prefix, routes)])
      return {
        append: (request) => run(a.store.append(request)),
        store: a.store,
        queues: a.queues,
        peer: b.queues,
        close: async () => {
          await close(a)
          await close(b)
        },
      }
    },
    { sharedByProcesses: true },
  )

  it('keeps the queues when every process is gone: the next one finds them as they were', async () => {
    const prefix = `t-${randomBytes(6).toString('hex')}`
    const routes = [{ name: 'hook', maxQueue: 10 }]
    const first = await open(prefix, routes)
    await run(first.store.append({ draft: { channel: 'global' as ChannelName, playerName: 'Ann' as PlayerName, text: 'kept' as MessageText, sentAt: 1 } }))
    await close(first)
    const next = await open(prefix, routes)
    try {
      expect((await run(next.queues.peek('hook', 10))).map((m) => m.text)).to.deep.equal(['kept'])
    } finally {
      await close(next)
    }
  })

  it('leaves out and logs a queued entry that does not decode, and still takes it off when acknowledged', async () => {
    const prefix = `t-${randomBytes(6).toString('hex')}`
    const logged: string[] = []
    const p = await open(prefix, [{ name: 'hook', maxQueue: 10 }], (m) => logged.push(m))
    try {
      await p.connection.client.sendCommand(['ZADD', outboundKeys(prefix, 'hook').queue, '0', 'not json'])
      await run(p.store.append({ draft: { channel: 'global' as ChannelName, playerName: 'Ann' as PlayerName, text: 'fine' as MessageText, sentAt: 1 } }))
      expect((await run(p.queues.peek('hook', 10))).map((m) => m.text)).to.deep.equal(['fine'])
      expect(logged.some((m) => /does not decode/.test(m))).to.equal(true)
      await run(p.queues.lease('hook', 'me', 10_000))
      await run(p.queues.ack('hook', 'me', 0))
      expect((await run(p.queues.stats('hook'))).queued).to.equal(1)
    } finally {
      await close(p)
    }
  })
})
