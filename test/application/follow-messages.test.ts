import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { createMemoryMessageStore, type MemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { CATCH_UP_RETRY_MS, followMessages, type FollowEvent, type FollowInput, type FollowOptions } from '../../application/follow-messages'
import type { ChannelName, MessageText, PlayerName } from '../../domain/message'
import type { MessageFeed, MessageRepository } from '../../domain/message-repository'
import { run } from '../contracts/message-repository.contract'
import { fakeTimer, type FakeTimer } from '../support/fake-timer'
import { lateFeed, lossyFeed, type LossyFeed } from '../support/feeds'
import { until } from '../support/until'

const GLOBAL = 'global' as ChannelName
const turn = () => new Promise((resolve) => setImmediate(resolve))

/** What a follower was given: message texts, and `GAP` where a gap was reported. */
const shown = (events: FollowEvent[]): string[] => events.map((e) => (e._tag === 'Gap' ? 'GAP' : e.message.text))
const ids = (events: FollowEvent[]): number[] => events.flatMap((e) => (e._tag === 'Message' ? [e.message.id] : []))
const strictlyIncreasing = (list: number[]): boolean => list.every((id, i) => i === 0 || id > (list[i - 1] as number))

describe('followMessages: live, and after the feed lost messages', () => {
  let store: MemoryMessageStore
  let lossy: LossyFeed
  let timer: FakeTimer
  let controller: AbortController
  let failing: boolean
  let reads: number
  // The store, whose reads can be made to fail (a store that is down) and are counted.
  let messages: Pick<MessageRepository, 'list'>
  const send = (text: string, player = 'Bob') =>
    run(store.append({ draft: { channel: GLOBAL, playerName: player as PlayerName, text: text as MessageText, sentAt: 1 } }))
  const follow = async (input: FollowInput = { cursor: { after: 0 } }, feed: MessageFeed = lossy.feed, options: FollowOptions = {}) => {
    const events: FollowEvent[] = []
    await run(followMessages({ messages, feed, timer })(input, (event) => events.push(event), controller.signal, options))
    return events
  }

  beforeEach(() => {
    store = createMemoryMessageStore({ maxMessages: 100, maxChannels: 10 })
    lossy = lossyFeed(store)
    timer = fakeTimer()
    controller = new AbortController()
    failing = false
    reads = 0
    messages = {
      list: (query) => {
        reads++
        return failing ? async () => E.left({ _tag: 'StoreUnavailable', detail: 'down' }) : store.list(query)
      },
    }
  })
  afterEach(() => controller.abort())

  it('after a loss while live, delivers from the store what the feed dropped, in order, then carries on live', async () => {
    const events = await follow()
    await send('m1')
    lossy.drop()
    await send('m2')
    await send('m3')
    lossy.restore()
    await until(() => events.length === 3)
    await send('m4')
    await until(() => events.length === 4)
    await turn()
    expect(shown(events)).to.deep.equal(['m1', 'm2', 'm3', 'm4'])
  })

  it('after a loss that was the store starting a new life (Redis restarted empty), delivers the new life from its start: its ids begin again', async () => {
    const events = await follow()
    for (const text of ['m1', 'm2', 'm3']) await send(text)
    await until(() => events.length === 3)
    lossy.drop()
    // The same reads now reach a store that lost everything: another epoch, ids from 1 again.
    store = createMemoryMessageStore({ maxMessages: 100, maxChannels: 10 })
    await send('n1')
    await send('n2')
    lossy.restore()
    await until(() => events.length === 6)
    await turn()
    expect(shown(events)).to.deep.equal(['m1', 'm2', 'm3', 'GAP', 'n1', 'n2'])
    expect(ids(events)).to.deep.equal([1, 2, 3, 1, 2])
  })

  it('reports a gap when messages were evicted while the feed was lost', async () => {
    store = createMemoryMessageStore({ maxMessages: 2, maxChannels: 10 })
    lossy = lossyFeed(store)
    const events = await follow()
    await send('m1')
    lossy.drop()
    for (const text of ['m2', 'm3', 'm4', 'm5']) await send(text)
    lossy.restore()
    await until(() => events.length === 4)
    await turn()
    expect(shown(events)).to.deep.equal(['m1', 'GAP', 'm4', 'm5'])
  })

  it('reads the store again when the feed lost messages while the backlog was read: none missed, none twice', async () => {
    for (let i = 1; i <= 60; i++) await send(`b${i}`)
    let paced = 0
    const events = await follow({ cursor: { after: 0 } }, lossy.feed, {
      // After the last backlog page: a message the feed drops, then the loss is told.
      pace: async () => {
        if (++paced !== 2) return
        lossy.drop()
        await send('dropped')
        lossy.restore()
      },
    })
    expect(shown(events)).to.deep.equal([...Array.from({ length: 60 }, (_, i) => `b${i + 1}`), 'dropped'])
    await send('live')
    await until(() => events.length === 62)
    expect(strictlyIncreasing(ids(events))).to.equal(true)
  })

  it('tries a failed catch-up read again after a while, holding live messages back meanwhile', async () => {
    const events = await follow()
    await send('m1')
    lossy.drop()
    await send('m2')
    failing = true
    lossy.restore()
    await until(() => timer.pending().length === 1)
    expect(timer.pending()[0]?.ms).to.equal(CATCH_UP_RETRY_MS)
    await send('m3')
    await turn()
    expect(shown(events), 'nothing out of order while the store is down').to.deep.equal(['m1'])
    // Still down at the first retry: the next one waits twice as long.
    timer.advance(CATCH_UP_RETRY_MS)
    await until(() => timer.pending().length === 1)
    expect(timer.pending()[0]?.ms).to.equal(CATCH_UP_RETRY_MS * 2)
    failing = false
    timer.advance(CATCH_UP_RETRY_MS * 2)
    await until(() => events.length === 3)
    await send('m4')
    await until(() => events.length === 4)
    expect(shown(events)).to.deep.equal(['m1', 'm2', 'm3', 'm4'])
  })

  it('stops on abort: the listener goes and a retry waiting for its time is cancelled', async () => {
    await follow()
    failing = true
    lossy.drop()
    lossy.restore()
    await until(() => timer.pending().length === 1)
    const before = reads
    controller.abort()
    expect(timer.pending()).to.deep.equal([])
    expect(lossy.subscribed()).to.equal(0)
    timer.advance(60_000)
    expect(reads).to.equal(before)
  })

  it('delivers each message once and in order through losses, slow reads and late delivery', async () => {
    store = createMemoryMessageStore({ maxMessages: 1000, maxChannels: 10 })
    // The store answers a turn late, and the feed delivers a turn after each append resolves.
    messages = {
      list: (query) => async () => {
        await turn()
        return store.list(query)()
      },
    }
    for (let i = 0; i < 30; i++) await send(`before ${i}`)
    const late = lossyFeed(lateFeed(store))
    const events = await follow({ cursor: { after: 10 } }, late.feed)
    let sent = 30
    for (let round = 0; round < 20; round++) {
      if (round % 3 === 0) late.drop()
      const burst = Array.from({ length: 5 }, () => send(`m${sent++}`))
      if (round % 3 === 0) {
        await turn()
        late.restore()
      }
      await Promise.all(burst)
      if (round % 4 === 0) await turn()
    }
    const stored = (await run(store.list({ channels: [GLOBAL], limit: 1000, cursor: { after: 10 } }))).messages.map((m) => m.id)
    await until(() => ids(events).length >= stored.length)
    await turn()
    await turn()
    expect(ids(events)).to.deep.equal(stored)
  })

  it('without a cursor, delivers only what is stored from now on, however late the feed tells of earlier ones', async () => {
    await send('earlier')
    const events = await follow({}, lateFeed(store))
    await send('later')
    await until(() => events.length === 1)
    await turn()
    expect(shown(events)).to.deep.equal(['later'])
  })
})
