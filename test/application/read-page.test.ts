import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { createMemoryMessageStore, type MemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { readPage } from '../../application/read-page'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import type { ListQuery, MessageFeed, MessageRepository, Page } from '../../domain/message-repository'
import { run } from '../contracts/message-repository.contract'
import { fakeTimer, type FakeTimer } from '../support/fake-timer'
import { deferred, lossyFeed } from '../support/feeds'
import { until } from '../support/until'

const GLOBAL = 'global' as ChannelName
const texts = (page: Page) => page.messages.map((m) => m.text)
const turn = () => new Promise((resolve) => setImmediate(resolve))

describe('readPage: the long-poll wait', () => {
  let store: MemoryMessageStore
  let timer: FakeTimer
  const send = (text: string, player = 'Bob') =>
    run(store.append({ draft: { channel: GLOBAL, playerName: player as PlayerName, text: text as MessageText, sentAt: 1 } }))
  const query = (after: number, player?: string): ListQuery => ({ channels: [GLOBAL], limit: 100, cursor: { after }, player, since: undefined })
  /** A poll under way, and whether it has been answered yet. */
  const poll = (read: ReturnType<typeof readPage>, q: ListQuery, ms = 25_000, released?: PromiseLike<unknown>) => {
    const state = { answered: false }
    const page = run(read(q, { ms, released })).finally(() => (state.answered = true))
    return { page, state }
  }

  beforeEach(() => {
    store = createMemoryMessageStore({ maxMessages: 100, maxChannels: 10 })
    timer = fakeTimer()
  })

  it('holds an empty read until the timer runs out, then answers what is stored: no sleeping', async () => {
    const read = readPage({ messages: store, feed: store, timer })
    const { page, state } = poll(read, query(0), 25_000)
    await until(() => timer.pending().length === 1)
    expect(timer.pending()[0]?.ms).to.equal(25_000)
    timer.advance(24_999)
    await turn()
    expect(state.answered).to.equal(false)
    timer.advance(1)
    expect((await page).messages).to.deep.equal([])
    expect(store.listenerCount()).to.equal(0)
  })

  it('answers at once, setting no timer, when the first read finds messages', async () => {
    await send('there already')
    const read = readPage({ messages: store, feed: store, timer })
    expect(texts(await run(read(query(0), { ms: 25_000 })))).to.deep.equal(['there already'])
    expect(timer.pending()).to.deep.equal([])
    expect(store.listenerCount()).to.equal(0)
  })

  it('lets go of its listener and its timer when a read throws or rejects, before or after the wake', async () => {
    for (const failing of ['throws', 'rejects'] as const) {
      for (const at of [1, 2]) {
        store = createMemoryMessageStore({ maxMessages: 100, maxChannels: 10 })
        let reads = 0
        const broken: Pick<MessageRepository, 'list'> = {
          list: (q) => {
            if (++reads < at) return store.list(q)
            if (failing === 'throws') throw new Error('broken')
            return () => Promise.reject(new Error('broken'))
          },
        }
        const read = readPage({ messages: broken, feed: store, timer })
        const answered = read(query(0), { ms: 25_000 })().then(
          () => 'answered',
          () => 'failed',
        )
        if (at === 2) {
          await until(() => timer.pending().length === 1)
          await send(`wakes a broken read (${failing})`)
        }
        expect(await answered, `${failing} at read ${at}`).to.equal('failed')
        expect(store.listenerCount(), `${failing} at read ${at}`).to.equal(0)
        expect(timer.pending(), `${failing} at read ${at}`).to.deep.equal([])
      }
    }
  })

  it('ends the wait when a message past the cursor is stored, and cancels the timer', async () => {
    const read = readPage({ messages: store, feed: store, timer })
    const { page } = poll(read, query(0))
    await until(() => timer.pending().length === 1)
    await send('wake')
    expect(texts(await page)).to.deep.equal(['wake'])
    expect(timer.pending()).to.deep.equal([])
    expect(store.listenerCount()).to.equal(0)
  })

  it('keeps waiting when the feed delivers a message at or below the cursor', async () => {
    const sent = await send('old')
    let tell!: (message: Message) => void
    const feed: MessageFeed = {
      subscribe: (_filter, listener) => {
        tell = listener
        return () => undefined
      },
    }
    const read = readPage({ messages: store, feed, timer })
    const { page, state } = poll(read, query(sent.message.id))
    await until(() => timer.pending().length === 1)
    tell(sent.message)
    await turn()
    expect(state.answered).to.equal(false)
    timer.advance(25_000)
    expect((await page).messages).to.deep.equal([])
  })

  it('ends the wait when the reader is released, and cancels the timer', async () => {
    const read = readPage({ messages: store, feed: store, timer })
    const left = deferred<void>()
    const { page } = poll(read, query(0), 25_000, left.promise)
    await until(() => timer.pending().length === 1)
    left.resolve()
    expect((await page).messages).to.deep.equal([])
    expect(timer.pending()).to.deep.equal([])
    expect(store.listenerCount()).to.equal(0)
  })

  it('reads again at once when the feed says it lost messages while the reader waited', async () => {
    const lossy = lossyFeed(store)
    const read = readPage({ messages: store, feed: lossy.feed, timer })
    const { page } = poll(read, query(0))
    await until(() => timer.pending().length === 1)
    lossy.drop()
    await send('missed by the feed')
    await turn()
    lossy.restore()
    expect(texts(await page)).to.deep.equal(['missed by the feed'])
    expect(timer.pending()).to.deep.equal([])
    expect(lossy.subscribed()).to.equal(0)
  })

  it('reads again once its first read is done when a loss, or a match, came during it', async () => {
    for (const during of ['lost', 'message'] as const) {
      const reads: Array<ReturnType<typeof deferred<E.Either<never, Page>>>> = []
      const messages: Pick<MessageRepository, 'list'> = {
        list: () => () => {
          const read = deferred<E.Either<never, Page>>()
          reads.push(read)
          return read.promise
        },
      }
      let listener!: (message: Message) => void
      let lost!: () => void
      const feed: MessageFeed = {
        subscribe: (_filter, heard, onLost) => {
          listener = heard
          lost = onLost as () => void
          return () => undefined
        },
      }
      const read = readPage({ messages, feed, timer })
      const { page } = poll(read, query(0))
      await until(() => reads.length === 1)
      if (during === 'lost') lost()
      else listener({ ...(await send('match')).message })
      const empty: Page = { messages: [], epoch: 'e', nextAfter: 0, hasMore: false, gap: false }
      reads[0]!.resolve(E.right(empty))
      await until(() => reads.length === 2)
      expect(timer.pending(), during).to.deep.equal([])
      const second: Page = { ...empty, nextAfter: 9 }
      reads[1]!.resolve(E.right(second))
      expect(await page, during).to.equal(second)
    }
  })

  it('does not wait without a cursor or with no wait: one read', async () => {
    const read = readPage({ messages: store, feed: store, timer })
    expect((await run(read({ channels: [GLOBAL], limit: 10 }, { ms: 25_000 }))).messages).to.deep.equal([])
    expect((await run(read(query(0), { ms: 0 }))).messages).to.deep.equal([])
    expect(timer.pending()).to.deep.equal([])
    expect(store.listenerCount()).to.equal(0)
  })
})
