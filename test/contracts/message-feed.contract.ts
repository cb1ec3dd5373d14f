import { expect } from 'chai'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import type { AppendRequest, FeedFilter, MessageFeed, MessageRepository } from '../../domain/message-repository'
import { eventually } from '../support/until'
import { run, type StoreUnderTest } from './message-repository.contract'

export type FeedUnderTest = StoreUnderTest & {
  /**
   * A second handle on the same store, as another server process would have
   * one (a Redis adapter's second client); absent for a store no other
   * process can reach (see FeedKind).
   */
  readonly peer?: () => Promise<MessageRepository & MessageFeed>
  /**
   * Drops the feed's connection and resolves once it is back (a networked
   * feed); absent for a feed that cannot lose anything (see FeedKind).
   */
  readonly disrupt?: () => Promise<void>
}

/**
 * What kind of feed an adapter has: one that other processes share (a
 * networked store) runs the cross-process test with `peer`, and one that can
 * lose its connection runs the loss test with `disrupt`. For a feed of one
 * process that cannot lose anything, those tests do not apply and are not
 * defined, rather than defined and skipped.
 */
export type FeedKind = { readonly sharedByProcesses: boolean; readonly canLose: boolean }

export type FeedFactory = (options: { maxMessages: number; maxChannels: number }) => Promise<FeedUnderTest>

/** How long a test waits for a delivery it expects before it fails: generous, as a networked feed answers when it can. */
export const DELIVERY_MS = 5_000

const ch = (name: string) => name as ChannelName
const GLOBAL = ch('global')

const draft = (player: string, text: string, channel = GLOBAL): AppendRequest => ({
  draft: { channel, playerName: player as PlayerName, text: text as MessageText, sentAt: 1_700_000_000_000 },
})

/** What one listener heard. Every wait has a deadline, and nothing assumes a message is heard by the time its append resolves. */
export type Hearing = {
  readonly heard: Message[]
  readonly texts: () => string[]
  /** How many times `lost` was called. */
  readonly losses: () => number
  /** Resolves once `count` messages in all have been heard. */
  readonly hasHeard: (count: number, what?: string) => Promise<void>
  readonly stop: () => void
}

export const hear = (feed: MessageFeed, filter: FeedFilter): Hearing => {
  const heard: Message[] = []
  let losses = 0
  const stop = feed.subscribe(
    filter,
    (message) => void heard.push(message),
    () => void losses++,
  )
  return {
    heard,
    texts: () => heard.map((m) => m.text),
    losses: () => losses,
    hasHeard: (count, what = `${count} message(s) heard on ${JSON.stringify(filter)}`) => eventually(() => heard.length >= count, DELIVERY_MS, what),
    stop,
  }
}

const strictlyIncreasing = (ids: number[]): boolean => ids.every((id, i) => i === 0 || id > (ids[i - 1] as number))

/**
 * What every MessageFeed must do (see its doc comment in
 * domain/message-repository.ts), whatever carries it. The store's repository
 * appends; each adapter's test file calls this with the factory it gives
 * `messageRepositoryContract`, and a networked one with `peer` and `disrupt`.
 *
 * Absence is checked with a sentinel: a listener has not heard a message if,
 * once it (or a listener with the same filter) has heard a later one meant
 * for it, that message is not among what it heard.
 */
export const messageFeedContract = (adapter: string, factory: FeedFactory, kind: FeedKind): void => {
  const applies = [kind.sharedByProcesses ? '' : 'one process', kind.canLose ? '' : 'never loses'].filter((s) => s !== '')
  describe(`MessageFeed contract: ${adapter}${applies.length > 0 ? ` (${applies.join(', ')})` : ''}`, () => {
    let store: FeedUnderTest
    let repo: MessageRepository & MessageFeed
    const hearings: Hearing[] = []
    const listen = (filter: FeedFilter, on: MessageFeed = repo): Hearing => {
      const hearing = hear(on, filter)
      hearings.push(hearing)
      return hearing
    }
    const send = (player: string, text: string, channel = GLOBAL) => run(repo.append(draft(player, text, channel)))

    beforeEach(async () => {
      store = await factory({ maxMessages: 1000, maxChannels: 100 })
      repo = store.repo
    })
    afterEach(async () => {
      for (const hearing of hearings.splice(0)) hearing.stop()
      await store.close()
    })

    it("tells a channel's listener every message of that channel, and no other channel's", async () => {
      const global = listen({ channels: [GLOBAL] })
      const red = listen({ channels: [ch('red')] })
      await send('A', 'g1')
      await send('A', 'r1', ch('red'))
      await send('B', 'g2')
      await send('B', 'r2', ch('red'))
      await global.hasHeard(2)
      await red.hasHeard(2)
      expect(global.texts()).to.deep.equal(['g1', 'g2'])
      expect(red.texts()).to.deep.equal(['r1', 'r2'])
    })

    it("tells a player's listener that player's messages in that channel only, the name matched in any case", async () => {
      const bob = listen({ channels: [GLOBAL], player: 'BOB' })
      const lower = listen({ channels: [GLOBAL], player: 'bob' })
      await send('Bob', 'b1')
      await send('Ann', 'a1')
      await send('Bob', 'elsewhere', ch('red'))
      await send('bOB', 'b2')
      await bob.hasHeard(2)
      await lower.hasHeard(2)
      expect(bob.texts()).to.deep.equal(['b1', 'b2'])
      expect(lower.texts()).to.deep.equal(['b1', 'b2'])
    })

    it('delivers every message once, in id order, replies after what they answer, also when appends run at once', async () => {
      const all = listen({ channels: [GLOBAL] })
      const bob = listen({ channels: [GLOBAL], player: 'Bob' })
      const sent = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          run(repo.append({ ...draft(i % 2 ? 'Bob' : 'Ann', `m${i}`), reply: { playerName: 'Server' as PlayerName, text: `r${i}` as MessageText } })),
        ),
      )
      const stored = sent.flatMap((c) => [c.message.id, (c.reply as Message).id]).sort((a, b) => a - b)
      await all.hasHeard(60)
      await send('Bob', 'last')
      await bob.hasHeard(16)
      await all.hasHeard(61)
      const ids = all.heard.map((m) => m.id)
      expect(ids.slice(0, 60)).to.deep.equal(stored)
      expect(strictlyIncreasing(ids), 'channel listener, in id order').to.equal(true)
      expect(all.heard).to.have.length(61)
      const bobIds = bob.heard.map((m) => m.id)
      expect(bob.texts()).to.deep.equal([...sent.filter((c) => c.message.playerName === 'Bob').map((c) => c.message.text), 'last'])
      expect(strictlyIncreasing(bobIds), 'player listener, in id order').to.equal(true)
    })

    it('tells a listener of several channels every message of those channels once, in id order across them, and no other channel\'s', async () => {
      const RED = ch('red')
      const BLUE = ch('blue')
      const both = listen({ channels: [GLOBAL, RED] })
      const red = listen({ channels: [RED] })
      const bobInBoth = listen({ channels: [RED, GLOBAL], player: 'BOB' })
      // Appends asked for at once, across the channels: a networked store may send them together.
      const sent = await Promise.all(
        Array.from({ length: 30 }, (_, i) =>
          run(
            repo.append({
              ...draft(i % 2 ? 'Bob' : 'Ann', `m${i}`, [GLOBAL, RED, BLUE][i % 3]),
              reply: { playerName: 'Server' as PlayerName, text: `r${i}` as MessageText },
            }),
          ),
        ),
      )
      const stored = sent.flatMap((c) => [c.message, c.reply as Message]).sort((a, b) => a.id - b.id)
      const wanted = stored.filter((m) => m.channel !== BLUE)
      await both.hasHeard(wanted.length)
      await red.hasHeard(stored.filter((m) => m.channel === RED).length)
      // A sentinel, so that nothing more is on its way to the listeners when they are checked.
      await send('Bob', 'last', RED)
      await both.hasHeard(wanted.length + 1)
      await bobInBoth.hasHeard(wanted.filter((m) => m.playerName === 'Bob').length + 1)
      expect(both.heard.map((m) => m.id)).to.deep.equal([...wanted.map((m) => m.id), both.heard.at(-1)!.id])
      expect(strictlyIncreasing(both.heard.map((m) => m.id)), 'in id order across the channels').to.equal(true)
      expect(bobInBoth.texts()).to.deep.equal([...wanted.filter((m) => m.playerName === 'Bob').map((m) => m.text), 'last'])
      expect(red.heard.every((m) => m.channel === RED)).to.equal(true)
    })

    it('stops telling a listener of several channels in all of them once it unsubscribes', async () => {
      const RED = ch('red')
      const leaving = listen({ channels: [GLOBAL, RED] })
      const staying = listen({ channels: [RED, GLOBAL] })
      await send('A', 'g1')
      await leaving.hasHeard(1)
      leaving.stop()
      leaving.stop()
      await send('A', 'r1', RED)
      await send('A', 'g2')
      await staying.hasHeard(3)
      expect(leaving.texts()).to.deep.equal(['g1'])
      expect(staying.texts()).to.deep.equal(['g1', 'r1', 'g2'])
    })

    it('stops telling a listener once it unsubscribes, and only that one; unsubscribing twice is harmless', async () => {
      const leaving = listen({ channels: [GLOBAL] })
      const staying = listen({ channels: [GLOBAL] })
      const leavingBob = listen({ channels: [GLOBAL], player: 'bob' })
      const stayingBob = listen({ channels: [GLOBAL], player: 'BOB' })
      await send('Bob', 'before')
      await leaving.hasHeard(1)
      await leavingBob.hasHeard(1)
      leaving.stop()
      leavingBob.stop()
      leaving.stop()
      await send('Bob', 'after')
      await staying.hasHeard(2)
      await stayingBob.hasHeard(2)
      expect(leaving.texts()).to.deep.equal(['before'])
      expect(leavingBob.texts()).to.deep.equal(['before'])
      expect(staying.texts()).to.deep.equal(['before', 'after'])
    })

    it('tells each of many listeners every message once', async () => {
      const channel = Array.from({ length: 100 }, () => listen({ channels: [GLOBAL] }))
      const player = Array.from({ length: 100 }, (_, i) => listen({ channels: [GLOBAL], player: i % 2 ? 'ann' : 'ANN' }))
      await send('Ann', 'one')
      await send('Bob', 'two')
      for (const hearing of channel) await hearing.hasHeard(2)
      await send('Ann', 'three')
      for (const hearing of channel) await hearing.hasHeard(3)
      for (const hearing of player) await hearing.hasHeard(2)
      for (const hearing of channel) expect(hearing.texts()).to.deep.equal(['one', 'two', 'three'])
      for (const hearing of player) expect(hearing.texts()).to.deep.equal(['one', 'three'])
    })

    it('keeps telling the others, and fails no append, when a listener throws; the thrower stays subscribed', async () => {
      const before = listen({ channels: [GLOBAL] })
      let thrown = 0
      const stopThrower = repo.subscribe({ channels: [GLOBAL] }, () => {
        thrown++
        throw new Error('a listener with a bug')
      })
      const throwerForBob = repo.subscribe({ channels: [GLOBAL], player: 'bob' }, () => {
        throw new Error('another')
      })
      const after = listen({ channels: [GLOBAL] })
      const bob = listen({ channels: [GLOBAL], player: 'Bob' })
      try {
        const sent = await repo.append({ ...draft('Bob', 'one'), reply: { playerName: 'Server' as PlayerName, text: 'hi' as MessageText } })()
        expect(sent._tag).to.equal('Right')
        await send('Bob', 'two')
        await before.hasHeard(3)
        await after.hasHeard(3)
        await bob.hasHeard(2)
        await eventually(() => thrown >= 3, DELIVERY_MS, 'the thrower told of every message')
        expect(before.texts()).to.deep.equal(['one', 'hi', 'two'])
        expect(after.texts()).to.deep.equal(['one', 'hi', 'two'])
        expect(bob.texts()).to.deep.equal(['one', 'two'])
        expect(thrown).to.equal(3)
      } finally {
        stopThrower()
        throwerForBob()
      }
    })

    it('still tells everyone in id order when a listener appends while it hears', async () => {
      const watcher = listen({ channels: [GLOBAL] })
      let relayed = false
      const stopRelay = repo.subscribe({ channels: [GLOBAL], player: 'bob' }, (message) => {
        if (relayed) return
        relayed = true
        void repo.append(draft('Relay', `saw ${message.text}`))()
      })
      const late = listen({ channels: [GLOBAL] })
      try {
        await run(repo.append({ ...draft('Bob', 'one'), reply: { playerName: 'Server' as PlayerName, text: 'hi' as MessageText } }))
        await watcher.hasHeard(3)
        await late.hasHeard(3)
        expect(watcher.texts()).to.deep.equal(['one', 'hi', 'saw one'])
        expect(late.texts()).to.deep.equal(['one', 'hi', 'saw one'])
        expect(strictlyIncreasing(late.heard.map((m) => m.id))).to.equal(true)
      } finally {
        stopRelay()
      }
    })

    it('announces no cleared message, and what is stored after a clear', async () => {
      const all = listen({ channels: [GLOBAL] })
      await send('A', 'before')
      await all.hasHeard(1)
      await run(repo.clear({ _tag: 'All' }))
      await send('A', 'after')
      await all.hasHeard(2)
      expect(all.texts()).to.deep.equal(['before', 'after'])
    })

    it("tells a removal entry once, in id order, to the channel's listeners and to every player's listener there, and no other channel's", async () => {
      const all = listen({ channels: [GLOBAL] })
      const bob = listen({ channels: [GLOBAL], player: 'bob' })
      const cat = listen({ channels: [GLOBAL], player: 'Cat' })
      const red = listen({ channels: [ch('red')] })
      const ann = await send('Ann', 'a1')
      await send('Bob', 'b1')
      const [entry] = await run(repo.remove({ scope: { _tag: 'Message', id: ann.message.id }, sentAt: 1_700_000_000_000 }))
      await send('Bob', 'b2')
      await all.hasHeard(4)
      await bob.hasHeard(3)
      await cat.hasHeard(1)
      expect(all.heard.map((m) => m.id)).to.deep.equal([ann.message.id, ann.message.id + 1, entry!.id, entry!.id + 1])
      expect(all.heard[2]).to.deep.equal(entry)
      expect(bob.heard.map((m) => m.type)).to.deep.equal(['player', 'removal', 'player'])
      expect(cat.heard).to.deep.equal([entry])
      await send('A', 'sentinel', ch('red'))
      await red.hasHeard(1)
      expect(red.texts()).to.deep.equal(['sentinel'])
    })

    it("tells a late reply to the channel's listeners and to the listeners of the name it is sent under", async () => {
      const all = listen({ channels: [GLOBAL] })
      const server = listen({ channels: [GLOBAL], player: 'server' })
      const ann = await send('Ann', 'question')
      const reply = await run(repo.appendReply({ channel: GLOBAL, replyTo: ann.message.id, playerName: 'Server' as PlayerName, text: 'answer' as MessageText, sentAt: 1 }))
      await all.hasHeard(2)
      await server.hasHeard(1)
      expect(all.heard[1]).to.deep.equal(reply)
      expect(server.heard).to.deep.equal([reply])
    })

    if (kind.sharedByProcesses)
    it('tells listeners of a removal and a late reply made by another process on the same store', async () => {
      if (store.peer === undefined) throw new Error(`${adapter} says it is shared by processes but its factory gives no peer`)
      const peer = await store.peer()
      const here = listen({ channels: [GLOBAL] })
      const bob = listen({ channels: [GLOBAL], player: 'BOB' })
      const ann = await send('Ann', 'a1')
      const reply = await run(peer.appendReply({ channel: GLOBAL, replyTo: ann.message.id, playerName: 'Server' as PlayerName, text: 'late' as MessageText, sentAt: 1 }))
      const [entry] = await run(peer.remove({ scope: { _tag: 'Player', name: 'ann' }, sentAt: 1 }))
      await here.hasHeard(3)
      await bob.hasHeard(1)
      expect(here.heard.slice(1)).to.deep.equal([reply, entry])
      expect(entry!.removes).to.deep.equal([ann.message.id, reply.id])
      expect(bob.heard).to.deep.equal([entry])
    })

    if (kind.sharedByProcesses)
    it('tells listeners of messages appended by another process on the same store', async () => {
      if (store.peer === undefined) throw new Error(`${adapter} says it is shared by processes but its factory gives no peer`)
      const peer = await store.peer()
      const here = listen({ channels: [GLOBAL] })
      const there = listen({ channels: [GLOBAL], player: 'bob' }, peer)
      const both = listen({ channels: [GLOBAL, ch('red')] }, peer)
      await run(peer.append(draft('Bob', 'from the peer')))
      await send('Bob', 'from here')
      await send('Ann', 'red from here', ch('red'))
      await here.hasHeard(2)
      await there.hasHeard(2)
      await both.hasHeard(3)
      expect(here.texts()).to.deep.equal(['from the peer', 'from here'])
      expect(there.texts()).to.deep.equal(['from the peer', 'from here'])
      expect(both.texts()).to.deep.equal(['from the peer', 'from here', 'red from here'])
    })

    if (kind.canLose)
    it('calls lost after its connection dropped, and delivers every message stored after that', async () => {
      if (store.disrupt === undefined) throw new Error(`${adapter} says it can lose deliveries but its factory gives no disrupt`)
      const all = listen({ channels: [GLOBAL] })
      const bob = listen({ channels: [GLOBAL], player: 'BOB' })
      const both = listen({ channels: [ch('red'), GLOBAL] })
      await send('Bob', 'before')
      await all.hasHeard(1)
      await both.hasHeard(1)
      await store.disrupt()
      await eventually(() => all.losses() > 0 && bob.losses() > 0 && both.losses() > 0, DELIVERY_MS, 'lost called on every listener')
      await send('Bob', 'after')
      await all.hasHeard(2, 'a message stored after lost was called')
      await bob.hasHeard(2, 'a message stored after lost was called')
      await both.hasHeard(2, 'a message stored after lost was called')
      expect(all.texts().at(-1)).to.equal('after')
      expect(strictlyIncreasing(all.heard.map((m) => m.id))).to.equal(true)
    })
  })
}
