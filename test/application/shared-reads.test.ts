import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { createMemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { readPage } from '../../application/read-page'
import { KEPT_MESSAGES_MAX, shareReads } from '../../application/shared-reads'
import { playerKey, type ChannelName, type Message, type MessageText, type PlayerName } from '../../domain/message'
import type { FeedFilter, ListQuery, MessageFeed, MessageRepository, Page, StoreUnavailable } from '../../domain/message-repository'
import { messageFeedContract } from '../contracts/message-feed.contract'
import { messageRepositoryContract, run } from '../contracts/message-repository.contract'
import { fakeTimer } from '../support/fake-timer'
import { until } from '../support/until'

// The wrapper is a repository and a feed like any other: both suites hold through it.
messageRepositoryContract('shareReads over memory', async (options) => ({
  repo: shareReads(createMemoryMessageStore(options)),
  close: async () => undefined,
}))
messageFeedContract('shareReads over memory', async (options) => ({
  repo: shareReads(createMemoryMessageStore({ ...options, onListenerError: () => undefined })),
  close: async () => undefined,
}), { sharedByProcesses: false, canLose: false })

const GLOBAL = 'global' as ChannelName
const RED = 'red' as ChannelName
const turn = () => new Promise((resolve) => setImmediate(resolve))

/**
 * A repository that counts its reads and answers each a turn later with a
 * new page, and a feed the test speaks for: whatever store the wrapper is
 * put in front of, this is all it sees.
 */
const countingStore = () => {
  let reads = 0
  let failing = false
  const listeners = new Set<{ filter: FeedFilter; listener: (message: Message) => void; lost?: () => void }>()
  let nextId = 100
  const repo: MessageRepository & MessageFeed = {
    append: () => async () => E.left({ _tag: 'StoreUnavailable', detail: 'not used' }),
    remove: () => async () => E.left({ _tag: 'StoreUnavailable', detail: 'not used' }),
    appendReply: () => async () => E.left({ _tag: 'StoreUnavailable', detail: 'not used' }),
    clear: () => async () => E.right(undefined),
    channels: () => async () => E.right([]),
    list: (query) => async () => {
      reads++
      await turn()
      if (failing) return E.left<StoreUnavailable, Page>({ _tag: 'StoreUnavailable', detail: 'down' })
      return E.right<StoreUnavailable, Page>({ messages: [], epoch: 'e', nextAfter: query.cursor?.after ?? 0, hasMore: false, gap: false })
    },
    subscribe: (filter, listener, lost) => {
      const entry = { filter, listener, lost }
      listeners.add(entry)
      return () => void listeners.delete(entry)
    },
  }
  return {
    repo,
    reads: () => reads,
    listeners: () => listeners.size,
    fail: (down: boolean) => (failing = down),
    /** A message stored by someone else (another process), as the feed tells of it. */
    announce: (channel: ChannelName, player = 'Bob') => {
      const message: Message = { id: ++nextId, channel, playerName: player as PlayerName, text: 'x' as MessageText, sentAt: 1, type: 'player' }
      for (const { filter, listener } of [...listeners])
        if (filter.channels.includes(channel) && (filter.player === undefined || playerKey(filter.player) === playerKey(player))) listener(message)
    },
    /** A removal made by someone else, as the feed tells of its entry: to every listener of the channel. */
    announceRemoval: (channel: ChannelName) => {
      const entry: Message = { id: ++nextId, channel, playerName: 'Server' as PlayerName, text: '' as MessageText, sentAt: 1, type: 'removal', removes: [nextId - 1] }
      for (const { filter, listener } of [...listeners]) if (filter.channels.includes(channel)) listener(entry)
    },
    loseAll: () => {
      for (const { lost } of [...listeners]) lost?.()
    },
  }
}

const texts = (page: Page): string[] => page.messages.map((m) => m.text)

const query = (overrides: Partial<ListQuery> = {}): ListQuery => ({
  channels: [GLOBAL],
  limit: 100,
  player: undefined,
  cursor: { after: 7, epoch: 'e' },
  since: undefined,
  ...overrides,
})

describe('shareReads: one read for everyone who asks the same', () => {
  it('answers 5,000 identical reads made at once with ONE read of the store and one frozen Page', async () => {
    const store = countingStore()
    const shared = shareReads(store.repo)
    const pages = await Promise.all(
      Array.from({ length: 5000 }, (_, i) => run(shared.list(query({ player: i % 2 ? 'bob' : 'BOB', cursor: { after: 7, epoch: 'e' } })))),
    )
    expect(store.reads()).to.equal(1)
    expect(shared.reads()).to.equal(1)
    expect(new Set(pages).size).to.equal(1)
    expect(Object.isFrozen(pages[0])).to.equal(true)
    expect(Object.isFrozen(pages[0]!.messages)).to.equal(true)
  })

  it('answers the same read later with the same page while the feed has told of no change', async () => {
    const store = countingStore()
    const shared = shareReads(store.repo)
    const first = await run(shared.list(query()))
    await turn()
    expect(await run(shared.list(query()))).to.equal(first)
    store.announce(RED)
    expect(await run(shared.list(query())), 'a message in another channel').to.equal(first)
    expect(store.reads()).to.equal(1)
  })

  it('reads afresh after any change: a message the feed tells of, a loss, an append or a clear through it', async () => {
    const store = countingStore()
    const shared = shareReads(store.repo)
    const changes: Array<[string, () => Promise<unknown> | void]> = [
      ['a message in the channel', () => store.announce(GLOBAL)],
      ['a removal in the channel made elsewhere (its entry on the feed)', () => store.announceRemoval(GLOBAL)],
      ['a failed removal through it (it may have removed something)', () => shared.remove({ scope: { _tag: 'Message', id: 1 }, sentAt: 1 })()],
      ['a failed late reply through it', () => shared.appendReply({ channel: GLOBAL, replyTo: 1, playerName: 'Server' as PlayerName, text: 'x' as MessageText, sentAt: 1 })()],
      ["a message of a player the query does not name", () => store.announce(GLOBAL, 'Ann')],
      ['a loss', () => store.loseAll()],
      ['a clear of the channel', () => run(shared.clear({ _tag: 'Channel', channel: GLOBAL }))],
      ['a clear of everything', () => run(shared.clear({ _tag: 'All' }))],
      ['a failed append (it may have stored something)', () => shared.append({ draft: { channel: RED, playerName: 'A' as PlayerName, text: 'x' as MessageText, sentAt: 1 } })()],
    ]
    let before = await run(shared.list(query()))
    for (const [change, make] of changes) {
      const reads = store.reads()
      await make()
      const after = await run(shared.list(query()))
      expect(after, change).not.to.equal(before)
      expect(store.reads(), change).to.equal(reads + 1)
      before = after
    }
  })

  it('never answers from a page read before a removal, whether made through it or behind its back', async () => {
    const memory = createMemoryMessageStore({ maxMessages: 100, maxChannels: 10 })
    const shared = shareReads(memory)
    const rude = () => run(memory.append({ draft: { channel: GLOBAL, playerName: 'Bob' as PlayerName, text: 'rude' as MessageText, sentAt: 1 } }))
    for (const q of [query({ cursor: undefined }), query({ cursor: { after: 0 } }), query({ player: 'bob', cursor: undefined })]) {
      const label = JSON.stringify(q)
      for (const through of [memory, shared]) {
        const sent = await rude()
        expect(texts(await run(shared.list(q))), label).to.include('rude')
        const kept = await run(shared.list(q))
        // Behind its back (the memory store itself), the wrapper hears of the removal by its entry on the feed alone.
        await run(through.remove({ scope: { _tag: 'Message', id: sent.message.id }, sentAt: 2 }))
        const after = await run(shared.list(q))
        expect(after, label).not.to.equal(kept)
        expect(texts(after), label).not.to.include('rude')
      }
    }
  })

  it('does not let a read that starts after a change join one that started before it', async () => {
    const store = countingStore()
    const shared = shareReads(store.repo)
    const early = shared.list(query())()
    store.announce(GLOBAL)
    const late = shared.list(query())()
    expect(store.reads()).to.equal(2)
    expect((await late) === (await early)).to.equal(false)
  })

  it('reads the store for each different question', async () => {
    const store = countingStore()
    const shared = shareReads(store.repo)
    const questions = [
      query(),
      query({ channels: [RED] }),
      query({ player: 'bob' }),
      query({ player: 'ann' }),
      query({ cursor: { after: 8, epoch: 'e' } }),
      query({ cursor: { after: 7, epoch: 'other' } }),
      query({ cursor: { after: 7 } }),
      query({ cursor: undefined }),
      query({ since: 5 }),
      query({ limit: 99 }),
    ]
    const pages = await Promise.all(questions.map((q) => run(shared.list(q))))
    expect(store.reads()).to.equal(questions.length)
    expect(new Set(pages).size).to.equal(questions.length)
  })

  it('shares a failed read among those who asked at once, but keeps no failure', async () => {
    const store = countingStore()
    const shared = shareReads(store.repo)
    store.fail(true)
    const failures = await Promise.all([shared.list(query())(), shared.list(query())()])
    expect(failures.every(E.isLeft)).to.equal(true)
    expect(store.reads()).to.equal(1)
    store.fail(false)
    expect(E.isRight(await shared.list(query())())).to.equal(true)
    expect(store.reads()).to.equal(2)
  })

  it('keeps pages between changes for KEPT_MESSAGES_MAX messages in all, letting go of the one kept longest ago', async () => {
    const store = createMemoryMessageStore({ maxMessages: 1000, maxChannels: 10 })
    const shared = shareReads(store)
    const half = Math.ceil(KEPT_MESSAGES_MAX / 2) + 1
    for (const channel of [GLOBAL, RED])
      for (let i = 0; i < half; i++)
        await run(store.append({ draft: { channel, playerName: 'Bob' as PlayerName, text: `m${i}` as MessageText, sentAt: 1 } }))
    const full = (channel: ChannelName): ListQuery => ({ channels: [channel], limit: 1000, player: undefined, cursor: undefined, since: undefined })
    const first = await run(shared.list(full(GLOBAL)))
    expect(await run(shared.list(full(GLOBAL)))).to.equal(first)
    expect(shared.reads()).to.equal(1)
    // A second page of more than half the budget: the first one kept goes.
    const red = await run(shared.list(full(RED)))
    expect(await run(shared.list(full(RED)))).to.equal(red)
    expect(shared.reads()).to.equal(2)
    expect(await run(shared.list(full(GLOBAL)))).not.to.equal(first)
    expect(shared.reads()).to.equal(3)
  })

  it('watches at most maxChannels channels on the feed, letting go of the one read from longest ago', async () => {
    const store = countingStore()
    const shared = shareReads(store.repo, { maxChannels: 2 })
    const channels = ['a', 'b', 'c'].map((name) => name as ChannelName)
    for (const channel of channels) await run(shared.list(query({ channels: [channel] })))
    expect(shared.watching()).to.equal(2)
    expect(store.listeners()).to.equal(2)
    // 'a' was let go: read again; 'c' is still kept.
    await run(shared.list(query({ channels: [channels[2] as ChannelName] })))
    expect(store.reads()).to.equal(3)
    await run(shared.list(query({ channels: [channels[0] as ChannelName] })))
    expect(store.reads()).to.equal(4)
  })

  it('tells its own subscribers of a message only after letting go of the pages it made stale', async () => {
    const store = countingStore()
    const shared = shareReads(store.repo)
    const stale = await run(shared.list(query()))
    let reread: Promise<Page> | undefined
    // Subscribed straight after the read: on most feeds it would be told before the wrapper's own listener.
    shared.subscribe({ channels: [GLOBAL] }, () => (reread = run(shared.list(query()))))
    store.announce(GLOBAL)
    expect(await reread).not.to.equal(stale)
    expect(store.reads()).to.equal(2)
  })

  it('wakes 5,000 held polls with ONE read of the memory store, all answered with the same page', async () => {
    const memory = createMemoryMessageStore({ maxMessages: 100, maxChannels: 10 })
    const shared = shareReads(memory)
    const read = readPage({ messages: shared, feed: shared, timer: fakeTimer() })
    const polls = Array.from({ length: 5000 }, () => run(read(query({ cursor: { after: 0 } }), { ms: 25_000 })))
    await until(() => memory.listenerCount() === 5000 + shared.watching())
    const before = shared.reads()
    await run(shared.append({ draft: { channel: GLOBAL, playerName: 'Bob' as PlayerName, text: 'wake' as MessageText, sentAt: 1 } }))
    const pages = await Promise.all(polls)
    expect(shared.reads() - before).to.equal(1)
    expect(new Set(pages).size).to.equal(1)
    expect(pages[0]!.messages.map((m) => m.text)).to.deep.equal(['wake'])
    expect(memory.listenerCount()).to.equal(shared.watching())
  })
})
