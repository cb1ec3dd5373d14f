import { expect } from 'chai'
import fc from 'fast-check'
import { randomBytes } from 'node:crypto'
import { createMemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { connectRedis, type RedisConnection } from '../../adapters/redis/connection'
import { createRedisMessageStore, type RedisMessageStore } from '../../adapters/redis/redis-message-store'
import type { ChannelName, MessageText, PlayerName } from '../../domain/message'
import type { AppendRequest, ListQuery, MessageRepository, Page, RemovalScope } from '../../domain/message-repository'
import { DELIVERY_MS, hear, messageFeedContract, type FeedFactory } from '../contracts/message-feed.contract'
import { messageRepositoryContract, run } from '../contracts/message-repository.contract'
import { playerGapContract } from '../contracts/player-gaps.contract'
import { discardsContract } from '../contracts/discards.contract'
import { requireRedis, startRedis, type TestRedis } from '../support/redis'
import { eventually } from '../support/until'

const GLOBAL = 'global' as ChannelName
const draft = (player: string, text: string, channel = GLOBAL, sentAt = 1_700_000_000_000): AppendRequest => ({
  draft: { channel, playerName: player as PlayerName, text: text as MessageText, sentAt },
})
const texts = (page: Page) => page.messages.map((m) => m.text)

/** A key prefix no other test (nor an earlier run on the same Redis) has used. */
const freshPrefix = (): string => `t-${randomBytes(6).toString('hex')}`

type Opened = { readonly store: RedisMessageStore; readonly connection: RedisConnection }

/** A store on a connection of its own, as one server process has, with its feed subscribed. */
const openStore = async (
  url: string,
  prefix: string,
  bounds: { maxMessages: number; maxChannels: number },
  log: (message: string, detail?: unknown) => void = () => undefined,
): Promise<Opened> => {
  const connection = connectRedis({ url })
  await connection.whenReady(5_000)
  const store = createRedisMessageStore({ connection, prefix, ...bounds, log })
  await store.whenSubscribed(5_000)
  return { store, connection }
}

const closeAll = async (opened: Opened[]): Promise<void> => {
  for (const { store, connection } of opened.splice(0)) {
    await store.close()
    await connection.close()
  }
}

describe('redis message store', function () {
  let redis: TestRedis | undefined
  const url = (): string => (redis as TestRedis).url

  before(async function () {
    requireRedis.call(this)
    redis = await startRedis()
  })
  after(async () => {
    await redis?.close()
  })

  /** The contract suites' factory: a fresh prefix per store, a peer on a second connection, and a drop of the feed's connection. */
  const factory: FeedFactory = async (bounds) => {
    const prefix = freshPrefix()
    const opened: Opened[] = []
    const main = await openStore(url(), prefix, bounds)
    opened.push(main)
    return {
      repo: main.store,
      close: () => closeAll(opened),
      peer: async () => {
        const peer = await openStore(url(), prefix, bounds)
        opened.push(peer)
        return peer.store
      },
      // Every subscriber connection is dropped (only this test's stores are open); node-redis reconnects and subscribes
      // again before it is ready. Resolved once it is: a message stored before then may be missed (the feed says lost).
      disrupt: async () => {
        const back = new Promise<void>((resolve) => main.connection.subscriber.once('ready', () => resolve()))
        await main.connection.client.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])
        await back
      },
    }
  }

  messageRepositoryContract('redis', factory)
  playerGapContract('redis', factory)
  messageFeedContract('redis', factory, { sharedByProcesses: true, canLose: true })
  discardsContract('redis', async ({ onDiscarded, ...bounds }) => {
    const connection = connectRedis({ url: url() })
    await connection.whenReady(5_000)
    const store = createRedisMessageStore({ connection, prefix: freshPrefix(), ...bounds, onDiscarded })
    return { repo: store, close: () => closeAll([{ store, connection }]) }
  })

  describe('several processes on one Redis', () => {
    const opened: Opened[] = []
    afterEach(() => closeAll(opened))
    const two = async (maxMessages = 1000, maxChannels = 100): Promise<[RedisMessageStore, RedisMessageStore]> => {
      const prefix = freshPrefix()
      const a = await openStore(url(), prefix, { maxMessages, maxChannels })
      const b = await openStore(url(), prefix, { maxMessages, maxChannels })
      opened.push(a, b)
      return [a.store, b.store]
    }

    it('hands out distinct, increasing ids through both, and both read the same', async () => {
      const [a, b] = await two()
      const sent = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          run((i % 2 ? a : b).append({ ...draft(`P${i % 3}`, `m${i}`), reply: { playerName: 'Server' as PlayerName, text: `r${i}` as MessageText } })),
        ),
      )
      const ids = sent.flatMap((c) => [c.message.id, c.reply!.id])
      expect(new Set(ids).size).to.equal(80)
      for (const c of sent) expect(c.reply!.id).to.equal(c.message.id + 1)
      const fromA = await run(a.list({ channels: [GLOBAL], limit: 1000 }))
      const fromB = await run(b.list({ channels: [GLOBAL], limit: 1000 }))
      expect(fromB).to.deep.equal(fromA)
      expect(fromA.messages.map((m) => m.id)).to.deep.equal([...ids].sort((x, y) => x - y))
      expect(await run(b.channels())).to.deep.equal(await run(a.channels()))
      const p1a = await run(a.list({ channels: [GLOBAL], player: 'p1', cursor: { after: 0 }, limit: 5 }))
      const p1b = await run(b.list({ channels: [GLOBAL], player: 'P1', cursor: { after: 0 }, limit: 5 }))
      expect(p1b).to.deep.equal(p1a)
    })

    it('hears on one a message appended through the other, in id order', async () => {
      const [a, b] = await two()
      const onA = hear(a, { channels: [GLOBAL] })
      const onB = hear(b, { channels: [GLOBAL], player: 'bob' })
      try {
        await run(b.append(draft('Bob', 'via b')))
        await run(a.append(draft('Bob', 'via a')))
        await run(b.append(draft('Ann', 'ann via b')))
        await onA.hasHeard(3)
        await onB.hasHeard(2)
        expect(onA.texts()).to.deep.equal(['via b', 'via a', 'ann via b'])
        expect(onB.texts()).to.deep.equal(['via b', 'via a'])
      } finally {
        onA.stop()
        onB.stop()
      }
    })

    it('holds the bound exactly across instances, and the channel bound', async () => {
      const [a, b] = await two(5, 2)
      await Promise.all(Array.from({ length: 23 }, (_, i) => run((i % 2 ? a : b).append(draft(i % 2 ? 'Odd' : 'Even', `m${i}`)))))
      const page = await run(b.list({ channels: [GLOBAL], limit: 100 }))
      expect(page.messages).to.have.length(5)
      const odd = await run(a.list({ channels: [GLOBAL], player: 'odd', limit: 100 }))
      const even = await run(a.list({ channels: [GLOBAL], player: 'even', limit: 100 }))
      expect(odd.messages.length + even.messages.length).to.equal(5)
      await run(a.append(draft('A', 'x', 'red' as ChannelName)))
      const refused = await b.append(draft('A', 'y', 'blue' as ChannelName))()
      expect(refused).to.deep.equal({ _tag: 'Left', left: { _tag: 'ChannelLimitReached', max: 2 } })
      expect((await run(a.channels())).map((c) => [c.channel, c.count])).to.deep.equal([['global', 5], ['red', 1]])
    })

    it("tells a peer's listeners lost when a channel is cleared elsewhere", async () => {
      const [a, b] = await two()
      let redLost = 0
      let globalLost = 0
      const stops = [
        b.subscribe({ channels: ['red' as ChannelName], player: 'x' }, () => undefined, () => void redLost++),
        b.subscribe({ channels: [GLOBAL] }, () => undefined, () => void globalLost++),
      ]
      await run(a.append(draft('X', 'r', 'red' as ChannelName)))
      await run(a.clear({ _tag: 'Channel', channel: 'red' as ChannelName }))
      await eventually(() => redLost === 1, DELIVERY_MS, 'lost on the cleared channel')
      expect(globalLost).to.equal(0)
      await run(a.clear({ _tag: 'All' }))
      await eventually(() => redLost === 2 && globalLost === 1, DELIVERY_MS, 'lost everywhere after a clear of everything')
      for (const stop of stops) stop()
    })
  })

  describe('the same answers as the memory store', () => {
    type Op =
      | { readonly op: 'append'; readonly channel: string; readonly player: string; readonly reply: boolean; readonly step: number; readonly userId?: number }
      | { readonly op: 'remove'; readonly id: number; readonly step: number }
      | { readonly op: 'erase'; readonly player?: string; readonly userId?: number; readonly step: number }
      | { readonly op: 'late'; readonly channel: string; readonly replyTo: number; readonly step: number }
      | { readonly op: 'burst'; readonly appends: ReadonlyArray<{ readonly channel: string; readonly player: string; readonly reply: boolean; readonly step: number }> }
      | { readonly op: 'clear'; readonly channel?: string }
      | { readonly op: 'list'; readonly query: Omit<ListQuery, 'cursor' | 'channels'> & { channels: string[] }; readonly after?: number; readonly epoch: 'own' | 'none' | 'foreign' }
      | { readonly op: 'channels' }
    const channel = fc.constantFrom('global', 'red', 'blue')
    const player = fc.constantFrom('Ann', 'ANN', 'bob', 'Bob', 'Zoë', 'ZOË', 'Cy')
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record(
          { op: fc.constant('append' as const), channel, player, reply: fc.boolean(), step: fc.integer({ min: -2, max: 3 }), userId: fc.constantFrom(1, 2) },
          { requiredKeys: ['op', 'channel', 'player', 'reply', 'step'] },
        ),
      },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('remove' as const), id: fc.integer({ min: 1, max: 40 }), step: fc.integer({ min: -2, max: 3 }) }) },
      {
        weight: 1,
        arbitrary: fc.oneof(
          fc.record({ op: fc.constant('erase' as const), player, step: fc.integer({ min: -2, max: 3 }) }),
          fc.record({ op: fc.constant('erase' as const), player, userId: fc.constantFrom(1, 2), step: fc.integer({ min: -2, max: 3 }) }),
          fc.record({ op: fc.constant('erase' as const), userId: fc.constantFrom(1, 2), step: fc.integer({ min: -2, max: 3 }) }),
        ),
      },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('late' as const), channel, replyTo: fc.integer({ min: 1, max: 40 }), step: fc.integer({ min: -2, max: 3 }) }) },
      // Appends asked for at once: one instance sends them to Redis as one batch, in the order asked.
      {
        weight: 1,
        arbitrary: fc.record({
          op: fc.constant('burst' as const),
          appends: fc.array(fc.record({ channel, player, reply: fc.boolean(), step: fc.integer({ min: -2, max: 3 }) }), { minLength: 2, maxLength: 8 }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const), channel: fc.option(channel, { nil: undefined }) }) },
      {
        weight: 5,
        arbitrary: fc.record({
          op: fc.constant('list' as const),
          query: fc.record(
            {
              // One channel, or several read under one cursor, in any order.
              channels: fc.uniqueArray(channel, { minLength: 1, maxLength: 3 }),
              player: fc.option(player, { nil: undefined }),
              since: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
              limit: fc.integer({ min: 1, max: 6 }),
            },
            { requiredKeys: ['channels', 'limit'] },
          ),
          after: fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
          epoch: fc.constantFrom('own' as const, 'none' as const, 'foreign' as const),
        }),
      },
      { weight: 1, arbitrary: fc.constant({ op: 'channels' as const }) },
    )

    // PROPERTY_RUNS sets the runs (500 by default, a few seconds).
    it('for any sequence of appends, removals, late replies, clears and reads through two instances (ids, pages, cursors, gaps, since, players, several channels at once, bounds)', async () => {
      await fc.assert(
        fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 }), fc.array(op, { maxLength: 60 }), async (maxMessages, maxChannels, ops) => {
          const memory = createMemoryMessageStore({ maxMessages, maxChannels, epoch: 'memory' })
          // Two processes on one prefix, taking turns: together they must answer as one memory store does.
          const prefix = freshPrefix()
          const opened = [await openStore(url(), prefix, { maxMessages, maxChannels }), await openStore(url(), prefix, { maxMessages, maxChannels })]
          try {
            let clock = 5
            let redisEpoch = ''
            for (const [i, o] of ops.entries()) {
              const label = `op ${i}: ${JSON.stringify(o)}`
              const redisStore: MessageRepository = (opened[i % 2] as Opened).store
              const request = (a: { channel: string; player: string; reply: boolean; step: number; userId?: number }, text: string): AppendRequest => {
                clock = Math.max(0, clock + a.step)
                const asked = draft(a.player, text, a.channel as ChannelName, clock)
                return {
                  draft: a.userId === undefined ? asked.draft : { ...asked.draft, userId: a.userId },
                  ...(a.reply ? { reply: { playerName: 'Server' as PlayerName, text: `r${text}` as MessageText } } : {}),
                }
              }
              const tick = (step: number): number => (clock = Math.max(0, clock + step))
              if (o.op === 'remove' || o.op === 'erase') {
                const scope: RemovalScope =
                  o.op === 'remove'
                    ? { _tag: 'Message', id: o.id }
                    : o.player === undefined
                      ? { _tag: 'User', userId: o.userId as number }
                      : { _tag: 'Player', name: o.player, ...(o.userId === undefined ? {} : { userId: o.userId }) }
                const asked = { scope, sentAt: tick(o.step) }
                expect(await redisStore.remove(asked)(), label).to.deep.equal(await memory.remove(asked)())
              } else if (o.op === 'late') {
                const asked = { channel: o.channel as ChannelName, replyTo: o.replyTo, playerName: 'Server' as PlayerName, text: `late${i}` as MessageText, sentAt: tick(o.step) }
                expect(await redisStore.appendReply(asked)(), label).to.deep.equal(await memory.appendReply(asked)())
              } else if (o.op === 'append') {
                const asked = request(o, `m${i}`)
                expect(await redisStore.append(asked)(), label).to.deep.equal(await memory.append(asked)())
              } else if (o.op === 'burst') {
                const asked = o.appends.map((a, j) => request(a, `m${i}.${j}`))
                const together = await Promise.all(asked.map((a) => redisStore.append(a)()))
                const oneByOne = []
                for (const a of asked) oneByOne.push(await memory.append(a)())
                expect(together, label).to.deep.equal(oneByOne)
              } else if (o.op === 'clear') {
                const scope = o.channel === undefined ? ({ _tag: 'All' } as const) : ({ _tag: 'Channel', channel: o.channel as ChannelName } as const)
                expect(await redisStore.clear(scope)(), label).to.deep.equal(await memory.clear(scope)())
              } else if (o.op === 'channels') {
                expect(await run(redisStore.channels()), label).to.deep.equal(await run(memory.channels()))
              } else {
                const query = (epoch: string): ListQuery => ({
                  ...o.query,
                  channels: o.query.channels as ChannelName[],
                  ...(o.after === undefined ? {} : { cursor: { after: o.after, ...(o.epoch === 'none' ? {} : { epoch: o.epoch === 'own' ? epoch : 'elsewhere' }) } }),
                })
                const fromRedis = await run(redisStore.list(query(redisEpoch)))
                redisEpoch = fromRedis.epoch
                const fromMemory = await run(memory.list(query('memory')))
                expect({ ...fromRedis, epoch: 'memory' }, label).to.deep.equal(fromMemory)
              }
            }
          } finally {
            await closeAll(opened)
          }
        }),
        { numRuns: Number(process.env.PROPERTY_RUNS ?? 500) },
      )
    })
  })

  it('tells options.log of a listener that throws, and forgets listeners once they unsubscribe', async () => {
    const logged: string[] = []
    const opened = await openStore(url(), freshPrefix(), { maxMessages: 10, maxChannels: 10 }, (message) => logged.push(message))
    const { store } = opened
    try {
      const stops = Array.from({ length: 50 }, (_, i) => store.subscribe({ channels: [GLOBAL], ...(i % 2 ? { player: `p${i}` } : {}) }, () => undefined))
      const thrower = store.subscribe({ channels: [GLOBAL] }, () => {
        throw new Error('a listener with a bug')
      })
      const heard = hear(store, { channels: [GLOBAL] })
      await run(store.append(draft('A', 'one')))
      await heard.hasHeard(1)
      expect(logged).to.deep.equal(['a message feed listener threw'])
      expect(store.listenerCount()).to.equal(52)
      for (const stop of [...stops, thrower, heard.stop]) {
        stop()
        stop()
      }
      expect(store.listenerCount()).to.equal(0)
    } finally {
      await closeAll([opened])
    }
  })

  it('skips and logs a stored entry that does not decode', async () => {
    const prefix = freshPrefix()
    const logged: unknown[] = []
    const opened = await openStore(url(), prefix, { maxMessages: 10, maxChannels: 10 }, (message, detail) => logged.push([message, detail]))
    try {
      const { store, connection } = opened
      await run(store.append(draft('A', 'good one')))
      // Written by hand (or by another version) into the channel's log: not JSON, JSON that is not a message, a message of another channel, no player key.
      const log = `${prefix}:{${prefix}:global}:log`
      const other = '{"id":1002,"sentAt":1700000000000,"channel":"red","playerName":"A","text":"elsewhere","type":"player"}'
      await connection.client.sendCommand(['ZADD', log, '1000', 'a\nnot json', '1001', 'a\n{"id":1001,"hello":1}', '1002', `a\n${other}`, '1003', 'garbage'])
      await connection.client.sendCommand(['HSET', `${prefix}:meta`, 'id', '1003'])
      await run(store.append(draft('A', 'good two')))
      const page = await run(store.list({ channels: [GLOBAL], limit: 10 }))
      expect(texts(page)).to.deep.equal(['good one', 'good two'])
      const paged = await run(store.list({ channels: [GLOBAL], limit: 10, cursor: { after: 0 } }))
      expect(texts(paged)).to.deep.equal(['good one', 'good two'])
      expect(logged).to.have.length(8)
      expect(String((logged[0] as unknown[])[0])).to.match(/does not decode/)
    } finally {
      await closeAll([opened])
    }
  })

  it("tells every listener lost when the store's life ends under a live connection (its keys deleted), and goes on", async () => {
    const prefix = freshPrefix()
    const opened = await openStore(url(), prefix, { maxMessages: 10, maxChannels: 10 })
    const { store, connection } = opened
    const heard = hear(store, { channels: [GLOBAL] })
    try {
      await run(store.append(draft('A', 'm1')))
      await run(store.append(draft('A', 'm2')))
      await heard.hasHeard(2)
      const old = await run(store.list({ channels: [GLOBAL], limit: 10, cursor: { after: 0 } }))
      // As FLUSHDB would, or an operator deleting keys: the next script finds no store life and starts one.
      await connection.client.sendCommand(['DEL', `${prefix}:meta`])
      const again = await run(store.append(draft('A', 'new')))
      expect(again.message.id).to.equal(1)
      await heard.hasHeard(3)
      expect(heard.losses()).to.be.greaterThan(0)
      expect(heard.texts()).to.deep.equal(['m1', 'm2', 'new'])
      const resumed = await run(store.list({ channels: [GLOBAL], limit: 10, cursor: { after: old.nextAfter, epoch: old.epoch } }))
      expect(resumed.gap).to.equal(true)
      expect(texts(resumed)).to.deep.equal(['new'])
    } finally {
      heard.stop()
      await closeAll([opened])
    }
  })

  describe('Redis going away', () => {
    let own: TestRedis | undefined
    const opened: Opened[] = []
    afterEach(async () => {
      await closeAll(opened)
      await own?.close()
      own = undefined
    })

    const timed = async <A>(task: () => Promise<A>): Promise<{ value: A; ms: number }> => {
      const start = performance.now()
      const value = await task()
      return { value, ms: performance.now() - start }
    }

    it('answers StoreUnavailable at once while Redis is down, works again after, and the feed says lost and goes on', async () => {
      own = await startRedis({ appendOnly: true })
      const handle = await openStore(own.url, freshPrefix(), { maxMessages: 100, maxChannels: 10 })
      opened.push(handle)
      const s = handle.store
      const heard = hear(s, { channels: [GLOBAL] })
      try {
        const before = await run(s.append(draft('A', 'before')))
        await heard.hasHeard(1)
        await own.stop()
        const down = [
          await timed(() => s.append(draft('A', 'while down'))()),
          await timed(() => s.list({ channels: [GLOBAL], limit: 10 })()),
          await timed(() => s.channels()()),
          await timed(() => s.clear({ _tag: 'Channel', channel: GLOBAL })()),
        ]
        for (const { value, ms } of down) {
          expect(value._tag).to.equal('Left')
          expect((value as { left: { _tag: string } }).left._tag).to.equal('StoreUnavailable')
          expect(ms).to.be.below(2_000)
        }
        await own.start()
        await eventually(() => heard.losses() > 0, 10_000, 'lost called after the subscriber came back')
        await eventually(() => handle.connection.ready(), 10_000, 'the command connection back')
        const after = await run(s.append(draft('A', 'after')))
        expect(after.message.id).to.be.greaterThan(before.message.id)
        await heard.hasHeard(2)
        expect(heard.texts()).to.deep.equal(['before', 'after'])
        const page = await run(s.list({ channels: [GLOBAL], limit: 10 }))
        expect(texts(page)).to.deep.equal(['before', 'after'])
      } finally {
        heard.stop()
      }
    })

    it('answers StoreUnavailable within the command deadline when Redis stops answering, and works again after', async () => {
      own = await startRedis()
      const handle = await openStore(own.url, freshPrefix(), { maxMessages: 100, maxChannels: 10 })
      opened.push(handle)
      const s = handle.store
      await run(s.append(draft('A', 'before')))
      // Redis holds every client's commands (a stalled server, an unreachable host) for 3.5 s.
      const admin = connectRedis({ url: own.url })
      try {
        await admin.whenReady(5_000)
        await admin.client.sendCommand(['CLIENT', 'PAUSE', '3500', 'ALL'])
        const stalled = await Promise.all([timed(() => s.append(draft('A', 'stalled'))()), timed(() => s.list({ channels: [GLOBAL], limit: 10 })())])
        for (const { value, ms } of stalled) {
          expect(value._tag).to.equal('Left')
          expect((value as { left: { _tag: string } }).left._tag).to.equal('StoreUnavailable')
          expect(ms).to.be.within(1_900, 2_600)
        }
        await new Promise((resolve) => setTimeout(resolve, 1_500)) // the pause ends; the stalled append runs late, as a timed-out request may
        await run(s.append(draft('A', 'after')))
        expect(texts(await run(s.list({ channels: [GLOBAL], limit: 10 })))).to.include.members(['before', 'after'])
      } finally {
        await admin.close()
      }
    })

    it('tells its listeners the feed is lost when Redis stalls without closing the connection, and again once it answers', async () => {
      own = await startRedis()
      const connection = connectRedis({ url: own.url })
      await connection.whenReady(5_000)
      const logged: string[] = []
      const store = createRedisMessageStore({ connection, prefix: freshPrefix(), maxMessages: 100, maxChannels: 10, feedPingMs: 200, log: (m) => logged.push(m) })
      opened.push({ store, connection })
      await store.whenSubscribed(5_000)
      let losses = 0
      const heard: string[] = []
      const unsubscribe = store.subscribe({ channels: [GLOBAL] }, (m) => heard.push(m.text), () => losses++)
      const admin = connectRedis({ url: own.url })
      const until = async (check: () => boolean, ms: number, what: string) => {
        const deadline = Date.now() + ms
        while (!check()) {
          if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }
      try {
        await admin.whenReady(5_000)
        const t0 = Date.now()
        // Every client held: no connection closes, no error is raised, the subscriber just hears nothing.
        await admin.client.sendCommand(['CLIENT', 'PAUSE', '3000', 'ALL'])
        await until(() => losses === 1, 3_000, 'the first loss')
        expect(Date.now() - t0, 'a ping interval and the command deadline').to.be.below(2_800)
        await until(() => losses === 2, 5_000, 'the loss told again once Redis answers, so that listeners catch up')
        expect(logged.some((m) => m.startsWith('the message feed did not answer a ping'))).to.equal(true)
        await run(store.append(draft('A', 'after the stall')))
        await until(() => heard.includes('after the stall'), 3_000, 'hearing the feed again')
      } finally {
        unsubscribe()
        await admin.close()
      }
    })

    it('starts a new epoch when Redis comes back empty: an old cursor gets a gap, never silence', async () => {
      own = await startRedis()
      const handle = await openStore(own.url, freshPrefix(), { maxMessages: 100, maxChannels: 10 })
      opened.push(handle)
      const s = handle.store
      for (let i = 1; i <= 3; i++) await run(s.append(draft('A', `old${i}`)))
      const old = await run(s.list({ channels: [GLOBAL], limit: 10, cursor: { after: 0 } }))
      await own.stop()
      await own.start({ empty: true })
      await eventually(() => handle.connection.ready(), 10_000, 'the command connection back')
      await run(s.append(draft('A', 'new1')))
      const fresh = await run(s.list({ channels: [GLOBAL], limit: 10 }))
      expect(fresh.epoch).to.not.equal(old.epoch)
      expect(texts(fresh)).to.deep.equal(['new1'])
      // The old cursor (id 3, old epoch) is answered from the start of the new life, with a gap.
      const resumed = await run(s.list({ channels: [GLOBAL], limit: 10, cursor: { after: old.nextAfter, epoch: old.epoch } }))
      expect(resumed.gap).to.equal(true)
      expect(texts(resumed)).to.deep.equal(['new1'])
      // Without its epoch, a cursor beyond the new life's ids is answered the same way.
      await run(s.append(draft('A', 'new2')))
      const beyond = await run(s.list({ channels: [GLOBAL], limit: 10, cursor: { after: old.nextAfter + 10 } }))
      expect(beyond.gap).to.equal(true)
      expect(texts(beyond)).to.deep.equal(['new1', 'new2'])
    })
  })
})
