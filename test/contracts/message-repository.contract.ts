import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import type { TaskEither } from 'fp-ts/TaskEither'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import type { AppendRequest, ListQuery, MessageFeed, MessageRepository, Page, RemovalRequest } from '../../domain/message-repository'

/** A store as a test gets it: the repository and its feed, and `close` to let go of it (connections, a fresh key space). */
export type StoreUnderTest = { readonly repo: MessageRepository & MessageFeed; readonly close: () => Promise<void> }
/** Opens a fresh, empty store; called once per test, and may be called again within one. */
export type StoreFactory = (options: { maxMessages: number; maxChannels: number }) => Promise<StoreUnderTest>

const ch = (name: string) => name as ChannelName
const GLOBAL = ch('global')

export const run = async <A>(task: TaskEither<unknown, A>): Promise<A> => {
  const result = await task()
  if (E.isLeft(result)) throw new Error(`expected Right, got ${JSON.stringify(result.left)}`)
  return result.right
}

const draft = (player: string, text: string, channel = GLOBAL, sentAt = 1_700_000_000_000, userId?: number): AppendRequest => ({
  draft: { channel, playerName: player as PlayerName, text: text as MessageText, sentAt, ...(userId === undefined ? {} : { userId }) },
})

const texts = (page: Page) => page.messages.map((m) => m.text)

/**
 * What every MessageRepository must do, whatever it stores in. Each adapter's
 * test file calls this with a factory (its feed runs
 * `messageFeedContract`, in message-feed.contract.ts, with the same one).
 * Nothing here waits on the feed: a store shared with other processes
 * announces messages when it can.
 */
export const messageRepositoryContract = (adapter: string, factory: StoreFactory): void => {
  describe(`MessageRepository contract: ${adapter}`, () => {
    let store: StoreUnderTest | undefined
    let repo: MessageRepository
    // A test that needs other bounds opens a store of its own; the one before is closed first.
    const open = async (maxMessages = 1000, maxChannels = 100) => {
      await store?.close()
      store = await factory({ maxMessages, maxChannels })
      repo = store.repo
    }
    const list = (query: Partial<ListQuery>) => run(repo.list({ channels: [GLOBAL], limit: 1000, ...query }))
    const send = (player: string, text: string, channel = GLOBAL, sentAt?: number) => run(repo.append(draft(player, text, channel, sentAt)))

    beforeEach(() => open())
    afterEach(async () => {
      await store?.close()
      store = undefined
    })

    it('assigns strictly increasing ids and keeps messages oldest first', async () => {
      const a = await send('A', 'one')
      const b = await send('B', 'two')
      expect(b.message.id).to.be.greaterThan(a.message.id)
      expect(texts(await list({}))).to.deep.equal(['one', 'two'])
    })

    it('stores a reply with the message it answers, right after it', async () => {
      const sent = await run(repo.append({ ...draft('A', 'hi'), reply: { playerName: 'Server' as PlayerName, text: 'Hello A!' as MessageText } }))
      expect(sent.reply?.replyTo).to.equal(sent.message.id)
      expect(sent.reply?.type).to.equal('reply')
      expect(sent.message.type).to.equal('player')
      expect(sent.reply!.id).to.equal(sent.message.id + 1)
      expect(texts(await list({}))).to.deep.equal(['hi', 'Hello A!'])
    })

    it('never reuses an id, not even after a clear', async () => {
      const before = await send('A', 'one')
      await run(repo.clear({ _tag: 'All' }))
      expect((await list({})).messages).to.deep.equal([])
      const after = await send('A', 'two')
      expect(after.message.id).to.be.greaterThan(before.message.id)
    })

    it('keeps timestamps in id order even if the clock steps back', async () => {
      await send('A', 'late', GLOBAL, 2_000)
      const early = await send('A', 'early', GLOBAL, 1_000)
      expect(early.message.sentAt).to.equal(2_000)
    })

    it('returns the newest `limit` without a cursor, oldest first', async () => {
      for (let i = 1; i <= 5; i++) await send('A', `m${i}`)
      const page = await list({ limit: 2 })
      expect(texts(page)).to.deep.equal(['m4', 'm5'])
      expect(page.hasMore).to.equal(false)
      expect(page.nextAfter).to.equal(page.messages[1]!.id)
    })

    it('keeps only messages strictly after `since`, combined with limit', async () => {
      await send('A', 'm1', GLOBAL, 1_000)
      await send('A', 'm2', GLOBAL, 2_000)
      await send('A', 'm3', GLOBAL, 2_000)
      await send('A', 'm4', GLOBAL, 3_000)
      expect(texts(await list({ since: 1_000 }))).to.deep.equal(['m2', 'm3', 'm4'])
      expect(texts(await list({ since: 2_000 }))).to.deep.equal(['m4'])
      expect(texts(await list({ since: 1_000, limit: 2 }))).to.deep.equal(['m3', 'm4'])
      expect(texts(await list({ since: 3_000 }))).to.deep.equal([])
    })

    it('pages forward from a cursor without skipping: oldest first, has_more, next_after', async () => {
      const sent: Message[] = []
      for (let i = 1; i <= 5; i++) sent.push((await send('A', `m${i}`)).message)
      const first = await list({ cursor: { after: 0 }, limit: 2 })
      expect(texts(first)).to.deep.equal(['m1', 'm2'])
      expect(first.hasMore).to.equal(true)
      expect(first.nextAfter).to.equal(sent[1]!.id)
      const second = await list({ cursor: { after: first.nextAfter, epoch: first.epoch }, limit: 2 })
      expect(texts(second)).to.deep.equal(['m3', 'm4'])
      const third = await list({ cursor: { after: second.nextAfter, epoch: second.epoch }, limit: 2 })
      expect(texts(third)).to.deep.equal(['m5'])
      expect(third.hasMore).to.equal(false)
      const empty = await list({ cursor: { after: third.nextAfter }, limit: 2 })
      expect(empty.messages).to.deep.equal([])
      expect(empty.nextAfter).to.equal(third.nextAfter)
      expect(empty.gap).to.equal(false)
    })

    it("advances a filtered reader's cursor past messages it does not match", async () => {
      await send('A', 'a1')
      const b = await send('B', 'b1', ch('other'))
      const page = await list({ cursor: { after: 0 }, player: 'a' })
      expect(texts(page)).to.deep.equal(['a1'])
      expect(page.nextAfter).to.equal(b.message.id)
    })

    it('matches players case-insensitively and only their own messages', async () => {
      await send('Builderman', 'hi')
      await send('Other', 'no')
      await send('BUILDERMAN', 'again')
      expect(texts(await list({ player: 'builderMAN' }))).to.deep.equal(['hi', 'again'])
      expect(texts(await list({ player: 'builderman', limit: 1 }))).to.deep.equal(['again'])
      expect(texts(await list({ player: 'nobody' }))).to.deep.equal([])
    })

    it('keeps channels apart, each with its own bound', async () => {
      await open(2)
      await send('A', 'g1')
      await send('A', 'r1', ch('red'))
      await send('A', 'g2')
      await send('A', 'g3')
      expect(texts(await list({}))).to.deep.equal(['g2', 'g3'])
      expect(texts(await list({ channels: [ch('red')] }))).to.deep.equal(['r1'])
    })

    it('holds the bound exactly, evicting the oldest first', async () => {
      await open(3)
      for (let i = 1; i <= 10; i++) await send(i % 2 ? 'Odd' : 'Even', `m${i}`)
      expect(texts(await list({}))).to.deep.equal(['m8', 'm9', 'm10'])
      expect(texts(await list({ player: 'odd' }))).to.deep.equal(['m9'])
      expect(texts(await list({ player: 'even' }))).to.deep.equal(['m8', 'm10'])
    })

    it('reports a gap after eviction, but never on a fresh cursor', async () => {
      await open(3)
      const head = await list({ cursor: { after: 0 } })
      expect(head.gap).to.equal(false)
      for (let i = 1; i <= 3; i++) await send('A', `m${i}`)
      const fresh = await list({ cursor: { after: 0 } })
      expect(fresh.gap).to.equal(false)
      for (let i = 4; i <= 5; i++) await send('A', `m${i}`)
      const late = await list({ cursor: { after: 0 } })
      expect(late.gap).to.equal(true)
      expect(texts(late)).to.deep.equal(['m3', 'm4', 'm5'])
      const current = await list({ cursor: { after: late.nextAfter } })
      expect(current.gap).to.equal(false)
    })

    it("reports a player's gap only when that player's messages were evicted", async () => {
      await open(2)
      const start = await list({ cursor: { after: 0 } })
      await send('Keep', 'k1')
      await send('Churn', 'c1')
      await send('Churn', 'c2')
      // k1 is evicted now; Churn lost nothing that a reader starting after k1 would miss.
      const keep = await list({ cursor: { after: start.nextAfter }, player: 'keep' })
      expect(keep.gap).to.equal(true)
      const churn = await list({ cursor: { after: 1 }, player: 'churn' })
      expect(churn.gap).to.equal(false)
      expect(texts(churn)).to.deep.equal(['c1', 'c2'])
    })

    it('reports a gap after a clear to readers behind it, not to readers caught up', async () => {
      await send('A', 'm1')
      const caughtUp = await list({ cursor: { after: 0 } })
      await send('A', 'm2')
      await run(repo.clear({ _tag: 'All' }))
      expect((await list({ cursor: { after: caughtUp.nextAfter } })).gap).to.equal(true)
      const after = await list({ cursor: { after: 0 } })
      expect(after.gap).to.equal(true)
      expect((await list({ cursor: { after: after.nextAfter } })).gap).to.equal(false)
    })

    it('answers a read asked again right after any kind of change with that change', async () => {
      // A store (or shareReads in front of it) may answer a repeated read from what it answered before, never across a
      // change to what the read shows: each query is read, a change made, and the same query read again at once.
      await open(3)
      const reads: Array<Partial<ListQuery>> = [{}, { cursor: { after: 0 } }, { player: 'a' }, { player: 'A', cursor: { after: 0 } }, { limit: 2 }]
      for (const query of reads) {
        const label = JSON.stringify(query)
        await run(repo.clear({ _tag: 'All' }))
        await send('A', 'm1')
        const before = await list(query)
        await send('A', 'm2')
        const appended = await list(query)
        expect(texts(appended), label).to.include('m2')
        expect(appended.nextAfter, label).to.be.greaterThan(before.nextAfter)
        // A message in another channel changes nothing this read must show: its next_after may move past it, or stay (a page kept per channel).
        await send('B', 'r1', ch('red'))
        const elsewhere = await list(query)
        expect(texts(elsewhere), label).to.deep.equal(texts(appended))
        expect(elsewhere.nextAfter, label).to.be.at.least(appended.nextAfter)
        await send('A', 'm3')
        await list(query)
        await send('A', 'm4')
        const evicted = await list(query)
        expect(texts(evicted), label).to.include('m4').and.not.include('m1')
        await run(repo.clear({ _tag: 'Channel', channel: GLOBAL }))
        expect(texts(await list(query)), label).to.deep.equal([])
        await send('A', 'm5')
        expect(texts(await list(query)), label).to.deep.equal(['m5'])
        await run(repo.clear({ _tag: 'All' }))
        expect(texts(await list(query)), label).to.deep.equal([])
      }
    })

    it('clears one channel and leaves the others', async () => {
      await send('A', 'g1')
      await send('A', 'r1', ch('red'))
      await run(repo.clear({ _tag: 'Channel', channel: ch('red') }))
      expect(texts(await list({}))).to.deep.equal(['g1'])
      expect(texts(await list({ channels: [ch('red')] }))).to.deep.equal([])
      expect((await list({ channels: [ch('red')], cursor: { after: 0 } })).gap).to.equal(true)
    })

    describe('several channels under one cursor', () => {
      const RED = ch('red')
      const BLUE = ch('blue')
      const both = [GLOBAL, RED]

      it('merges their messages in id order and leaves out every other channel', async () => {
        const sent: Message[] = []
        for (const [i, channel] of [GLOBAL, RED, BLUE, RED, GLOBAL, BLUE, GLOBAL].entries()) sent.push((await send('A', `m${i}`, channel)).message)
        const wanted = sent.filter((m) => m.channel !== BLUE)
        const all = await list({ channels: both, cursor: { after: 0 } })
        expect(all.messages.map((m) => m.id)).to.deep.equal(wanted.map((m) => m.id))
        expect(all.hasMore).to.equal(false)
        expect(all.gap).to.equal(false)
        // The cursor moves past the other channel's newest too, so the reader never rescans it.
        expect(all.nextAfter).to.equal(sent[sent.length - 1]!.id)
        // Any order of the names reads the same.
        expect(await list({ channels: [RED, GLOBAL], cursor: { after: 0 } })).to.deep.equal(all)
      })

      it('pages forward across them without skipping or repeating: oldest first, has_more, next_after', async () => {
        for (let i = 0; i < 9; i++) await send('A', `m${i}`, [GLOBAL, RED, BLUE][i % 3])
        const seen: string[] = []
        let cursor = { after: 0, epoch: undefined as string | undefined }
        for (let pages = 0; ; pages++) {
          expect(pages, 'pages read').to.be.below(10)
          const page = await list({ channels: [BLUE, GLOBAL], cursor, limit: 2 })
          seen.push(...texts(page))
          expect(page.messages.length).to.be.at.most(2)
          cursor = { after: page.nextAfter, epoch: page.epoch }
          if (!page.hasMore) break
          expect(page.nextAfter).to.equal(page.messages[page.messages.length - 1]!.id)
        }
        expect(seen).to.deep.equal(['m0', 'm2', 'm3', 'm5', 'm6', 'm8'])
        const empty = await list({ channels: [BLUE, GLOBAL], cursor, limit: 2 })
        expect(empty.messages).to.deep.equal([])
        expect(empty.gap).to.equal(false)
      })

      it('returns the newest `limit` of them all without a cursor, oldest first, and keeps only those after `since`', async () => {
        await send('A', 'g1', GLOBAL, 1_000)
        await send('A', 'r1', RED, 2_000)
        await send('A', 'b1', BLUE, 3_000)
        await send('A', 'g2', GLOBAL, 4_000)
        await send('A', 'r2', RED, 5_000)
        expect(texts(await list({ channels: both }))).to.deep.equal(['g1', 'r1', 'g2', 'r2'])
        expect(texts(await list({ channels: both, limit: 3 }))).to.deep.equal(['r1', 'g2', 'r2'])
        expect(texts(await list({ channels: both, since: 2_000 }))).to.deep.equal(['g2', 'r2'])
        expect(texts(await list({ channels: both, since: 1_000, limit: 2 }))).to.deep.equal(['g2', 'r2'])
        expect(texts(await list({ channels: both, cursor: { after: 0 }, since: 1_000 }))).to.deep.equal(['r1', 'g2', 'r2'])
      })

      it("reads one player's messages across them, the name in any case", async () => {
        await send('Bob', 'g1', GLOBAL)
        await send('Ann', 'g2', GLOBAL)
        await send('BOB', 'r1', RED)
        await send('bob', 'b1', BLUE)
        await send('Bob', 'g3', GLOBAL)
        expect(texts(await list({ channels: both, player: 'bob' }))).to.deep.equal(['g1', 'r1', 'g3'])
        expect(texts(await list({ channels: both, player: 'BOB', limit: 2 }))).to.deep.equal(['r1', 'g3'])
        const paged = await list({ channels: both, player: 'Bob', cursor: { after: 0 }, limit: 2 })
        expect(texts(paged)).to.deep.equal(['g1', 'r1'])
        expect(paged.hasMore).to.equal(true)
        expect(texts(await list({ channels: both, player: 'Bob', cursor: { after: paged.nextAfter } }))).to.deep.equal(['g3'])
      })

      it('reports a gap when any of them lost messages after the cursor, and only then', async () => {
        await open(2)
        const start = await list({ channels: both, cursor: { after: 0 } })
        const g1 = await send('A', 'g1', GLOBAL)
        await send('A', 'r1', RED)
        await send('A', 'g2', GLOBAL)
        await send('A', 'g3', GLOBAL) // evicts g1: red lost nothing
        const behind = await list({ channels: both, cursor: { after: start.nextAfter } })
        expect(behind.gap).to.equal(true)
        expect(texts(behind)).to.deep.equal(['r1', 'g2', 'g3'])
        expect((await list({ channels: both, cursor: { after: g1.message.id } })).gap, 'a cursor at the evicted g1').to.equal(false)
        expect((await list({ channels: [RED, BLUE], cursor: { after: start.nextAfter } })).gap, 'channels that lost nothing').to.equal(false)
        expect((await list({ channels: both, cursor: { after: behind.nextAfter } })).gap, 'the cursor the gap answer gave').to.equal(false)
        await run(repo.clear({ _tag: 'Channel', channel: RED }))
        expect((await list({ channels: both, cursor: { after: behind.nextAfter } })).gap, 'red cleared of what the cursor had seen').to.equal(false)
        await send('A', 'r2', RED)
        await run(repo.clear({ _tag: 'Channel', channel: RED }))
        expect((await list({ channels: both, cursor: { after: behind.nextAfter } })).gap, 'red cleared of r2, after the cursor').to.equal(true)
      })

      it('answers a cursor from another epoch, or beyond its ids, from the start with a gap', async () => {
        await send('A', 'g1', GLOBAL)
        await send('A', 'r1', RED)
        const page = await list({ channels: both, cursor: { after: 0 } })
        const foreign = await list({ channels: both, cursor: { after: page.nextAfter, epoch: `${page.epoch}x` } })
        expect(foreign.gap).to.equal(true)
        expect(texts(foreign)).to.deep.equal(['g1', 'r1'])
        const beyond = await list({ channels: both, cursor: { after: page.nextAfter + 1000 } })
        expect(beyond.gap).to.equal(true)
        expect(texts(beyond)).to.deep.equal(['g1', 'r1'])
      })

      it('answers a read of them asked again right after a change in any one of them with that change', async () => {
        for (const query of [{ channels: both }, { channels: both, cursor: { after: 0 } }, { channels: both, player: 'a' }]) {
          const label = JSON.stringify(query)
          await run(repo.clear({ _tag: 'All' }))
          await send('A', 'g1', GLOBAL)
          expect(texts(await list(query)), label).to.deep.equal(['g1'])
          await send('A', 'r1', RED)
          expect(texts(await list(query)), label).to.deep.equal(['g1', 'r1'])
          await send('A', 'b1', BLUE)
          expect(texts(await list(query)), label).to.deep.equal(['g1', 'r1'])
          // A read of one of the channels alone, between, does not stand in for the read of both.
          expect(texts(await list({ ...query, channels: [RED] })), label).to.deep.equal(['r1'])
          await send('A', 'r2', RED)
          expect(texts(await list(query)), label).to.deep.equal(['g1', 'r1', 'r2'])
          await run(repo.clear({ _tag: 'Channel', channel: RED }))
          expect(texts(await list(query)), label).to.deep.equal(['g1'])
        }
      })
    })

    it('answers a cursor from another epoch, or beyond its ids, from the start with a gap', async () => {
      await send('A', 'm1')
      const page = await list({ cursor: { after: 0 } })
      const foreign = await list({ cursor: { after: 0, epoch: `${page.epoch}x` } })
      expect(foreign.gap).to.equal(true)
      expect(texts(foreign)).to.deep.equal(['m1'])
      const beyond = await list({ cursor: { after: page.nextAfter + 1000 } })
      expect(beyond.gap).to.equal(true)
      expect(texts(beyond)).to.deep.equal(['m1'])
    })

    it('bounds the number of channels holding messages', async () => {
      await open(10, 2)
      await send('A', 'a', ch('one'))
      await send('A', 'b', ch('two'))
      const refused = await repo.append(draft('A', 'c', ch('three')))()
      expect(refused).to.deep.equal(E.left({ _tag: 'ChannelLimitReached', max: 2 }))
      await send('A', 'more', ch('two'))
      await run(repo.clear({ _tag: 'Channel', channel: ch('one') }))
      await send('A', 'c', ch('three'))
      const summaries = await run(repo.channels())
      expect(summaries.map((c) => [c.channel, c.count])).to.deep.equal([['three', 1], ['two', 2]])
    })

    describe('removals and late replies', () => {
      const RED = ch('red')
      const SERVER = 'Server' as PlayerName
      const withReply = (player: string, text: string, channel = GLOBAL, userId?: number): AppendRequest => ({
        draft: { channel, playerName: player as PlayerName, text: text as MessageText, sentAt: 1_700_000_000_000, ...(userId === undefined ? {} : { userId }) },
        reply: { playerName: SERVER, text: `re ${text}` as MessageText },
      })
      const converse = (player: string, text: string, channel = GLOBAL, userId?: number) => run(repo.append(withReply(player, text, channel, userId)))
      const remove = (scope: RemovalRequest['scope'], sentAt = 1_700_000_001_000) => run(repo.remove({ scope, sentAt }))
      const late = (replyTo: number, text: string, channel = GLOBAL) =>
        repo.appendReply({ channel, replyTo, playerName: SERVER, text: text as MessageText, sentAt: 1_700_000_000_500 })()

      it('takes one message and its reply out of every list, and appends a removal entry with its own id', async () => {
        const before = await converse('Ann', 'keep')
        const gone = await converse('Bob', 'rude')
        const after = await converse('Ann', 'later')
        const cursor = await list({ cursor: { after: 0 } })
        const [entry, ...more] = await remove({ _tag: 'Message', id: gone.message.id })
        expect(more).to.deep.equal([])
        expect(entry).to.deep.include({ type: 'removal', channel: GLOBAL, removes: [gone.message.id, gone.reply!.id] })
        expect(entry!.id).to.be.greaterThan(after.reply!.id)
        expect(entry!.sentAt).to.equal(1_700_000_001_000)
        // Without a cursor: what is left, and never the entry.
        expect(texts(await list({}))).to.deep.equal(['keep', 're keep', 'later', 're later'])
        expect(texts(await list({ limit: 2 }))).to.deep.equal(['later', 're later'])
        expect(texts(await list({ player: 'bob' }))).to.deep.equal([])
        // After a cursor: the entry, in id order, never what it removed, and no gap.
        const fromStart = await list({ cursor: { after: 0 } })
        expect(fromStart.messages.map((m) => m.id)).to.deep.equal([before.message.id, before.reply!.id, after.message.id, after.reply!.id, entry!.id])
        expect(fromStart.gap).to.equal(false)
        const follower = await list({ cursor: { after: cursor.nextAfter, epoch: cursor.epoch } })
        expect(follower.messages).to.deep.equal([entry])
        expect(follower.gap).to.equal(false)
        expect(follower.nextAfter).to.equal(entry!.id)
        expect((await list({ cursor: { after: follower.nextAfter } })).messages).to.deep.equal([])
      })

      it("shows a player's reader after a cursor every removal entry of the channel, and no gap for it", async () => {
        const start = await list({ cursor: { after: 0 } })
        const bob = await converse('Bob', 'b1')
        const ann = await converse('Ann', 'a1')
        const [ofAnn] = await remove({ _tag: 'Message', id: ann.message.id })
        const [ofBob] = await remove({ _tag: 'Message', id: bob.reply!.id })
        const bobs = await list({ player: 'BOB', cursor: { after: start.nextAfter } })
        expect(bobs.messages.map((m) => m.id)).to.deep.equal([bob.message.id, ofAnn!.id, ofBob!.id])
        expect(bobs.gap).to.equal(false)
        expect(texts(await list({ player: 'bob' }))).to.deep.equal(['b1'])
        const paged = await list({ player: 'bob', cursor: { after: start.nextAfter }, limit: 2 })
        expect(paged.messages.map((m) => m.id)).to.deep.equal([bob.message.id, ofAnn!.id])
        expect(paged.hasMore).to.equal(true)
        expect((await list({ player: 'bob', cursor: { after: paged.nextAfter } })).messages.map((m) => m.id)).to.deep.equal([ofBob!.id])
        const sinceRemovals = await list({ player: 'bob', cursor: { after: 0 }, since: 1_700_000_000_000 })
        expect(sinceRemovals.messages.map((m) => m.id)).to.deep.equal([ofAnn!.id, ofBob!.id])
      })

      it('leaves removal entries out of a read of several channels without a cursor, and merges them in after one', async () => {
        const g = await converse('Ann', 'g1')
        await converse('Ann', 'r1', RED)
        const [entry] = await remove({ _tag: 'Message', id: g.message.id })
        expect(texts(await list({ channels: [GLOBAL, RED] }))).to.deep.equal(['r1', 're r1'])
        expect(texts(await list({ channels: [GLOBAL, RED], limit: 1 }))).to.deep.equal(['re r1'])
        const after = await list({ channels: [GLOBAL, RED], cursor: { after: 0 } })
        expect(after.messages.at(-1)).to.deep.equal(entry)
        expect((await list({ channels: [GLOBAL, RED], player: 'ann', cursor: { after: 0 } })).messages.map((m) => m.type)).to.deep.equal(['player', 'removal'])
      })

      it('counts removal entries toward the bound, and reports a gap when one is evicted before a reader saw it', async () => {
        await open(4)
        const start = await list({ cursor: { after: 0 } })
        const a = await send('Ann', 'a1')
        await send('Bob', 'b1')
        await remove({ _tag: 'Message', id: a.message.id })
        // b1 and the entry: 2 held. Three more: b1, then the entry, are evicted.
        await send('Bob', 'b2')
        await send('Bob', 'b3')
        expect(texts(await list({}))).to.deep.equal(['b1', 'b2', 'b3'])
        expect((await run(repo.channels()))[0]!.count).to.equal(4)
        const readerBeforeTheEntry = await list({ cursor: { after: a.message.id + 1 } })
        expect(readerBeforeTheEntry.gap).to.equal(false)
        await send('Bob', 'b4')
        await send('Bob', 'b5')
        expect(texts(await list({}))).to.deep.equal(['b2', 'b3', 'b4', 'b5'])
        expect((await list({ cursor: { after: start.nextAfter } })).gap).to.equal(true)
        // Bob's reader read the entry too: its eviction is a gap for them, though none of Bob's messages it removed.
        expect((await list({ player: 'bob', cursor: { after: a.message.id + 1 } })).gap).to.equal(true)
      })

      it('refuses to remove what is not stored: unknown, evicted, removed, cleared, or a removal entry', async () => {
        await open(2)
        const a = await send('Ann', 'a1')
        const missing = (id: number) => repo.remove({ scope: { _tag: 'Message', id }, sentAt: 1 })()
        expect(await missing(a.message.id + 100)).to.deep.equal(E.left({ _tag: 'MessageNotFound', id: a.message.id + 100 }))
        const [entry] = await remove({ _tag: 'Message', id: a.message.id })
        expect(await missing(a.message.id)).to.deep.equal(E.left({ _tag: 'MessageNotFound', id: a.message.id }))
        expect(await missing(entry!.id)).to.deep.equal(E.left({ _tag: 'MessageNotFound', id: entry!.id }))
        const b = await send('Bob', 'b1')
        await send('Bob', 'b2')
        await send('Bob', 'b3')
        expect(await missing(b.message.id)).to.deep.equal(E.left({ _tag: 'MessageNotFound', id: b.message.id }))
        const c = await send('Cat', 'c1')
        await run(repo.clear({ _tag: 'All' }))
        expect(await missing(c.message.id)).to.deep.equal(E.left({ _tag: 'MessageNotFound', id: c.message.id }))
      })

      it("erases a player's messages in every channel, by name in any case, with the replies, one entry per channel touched", async () => {
        const g1 = await converse('Bob', 'g1')
        await converse('Ann', 'ann')
        const r1 = await converse('BOB', 'r1', RED)
        await converse('Ann', 'blue', ch('blue'))
        const g2 = await converse('bob', 'g2')
        const entries = await remove({ _tag: 'Player', name: 'bOb' })
        // In the order of the channels' names, ids increasing.
        expect(entries.map((e) => [e.channel, e.removes])).to.deep.equal([
          [GLOBAL, [g1.message.id, g1.reply!.id, g2.message.id, g2.reply!.id]],
          [RED, [r1.message.id, r1.reply!.id]],
        ])
        expect(entries[1]!.id).to.equal(entries[0]!.id + 1)
        expect(texts(await list({}))).to.deep.equal(['ann', 're ann'])
        expect(texts(await list({ channels: [RED] }))).to.deep.equal([])
        expect(texts(await list({ channels: [ch('blue')] }))).to.deep.equal(['blue', 're blue'])
        expect(await remove({ _tag: 'Player', name: 'Bob' }), 'a repeat is harmless').to.deep.equal([])
        expect(await remove({ _tag: 'Player', name: 'Nobody' })).to.deep.equal([])
        // The entry of the emptied channel is all it holds now.
        expect((await run(repo.channels())).find((c) => c.channel === RED)?.count).to.equal(1)
      })

      it('erases by user id the messages sent under any name, and by name and user id both together', async () => {
        const old = await send('OldName', 'o1')
        await run(repo.append({ draft: { channel: GLOBAL, playerName: 'OldName' as PlayerName, text: 'with id' as MessageText, sentAt: 1, userId: 156 } }))
        await run(repo.append({ draft: { channel: RED, playerName: 'NewName' as PlayerName, text: 'renamed' as MessageText, sentAt: 1, userId: 156 } }))
        await run(repo.append({ draft: { channel: RED, playerName: 'Other' as PlayerName, text: 'other id' as MessageText, sentAt: 1, userId: 1560 } }))
        const byUser = await remove({ _tag: 'User', userId: 156 })
        expect(byUser).to.have.length(2)
        expect(texts(await list({}))).to.deep.equal(['o1'])
        expect(texts(await list({ channels: [RED] }))).to.deep.equal(['other id'])
        await run(repo.append({ draft: { channel: RED, playerName: 'Third' as PlayerName, text: 'third' as MessageText, sentAt: 1, userId: 7 } }))
        const both = await remove({ _tag: 'Player', name: 'oldname', userId: 7 })
        expect(both.flatMap((e) => e.removes ?? []).sort((x, y) => x - y)).to.have.length(2).and.include(old.message.id)
        expect(texts(await list({}))).to.deep.equal([])
        expect(texts(await list({ channels: [RED] }))).to.deep.equal(['other id'])
      })

      it('forgets a player whose every message was removed, as an eviction would', async () => {
        await converse('Bob', 'b1')
        const entries = await remove({ _tag: 'Player', name: 'Bob' })
        expect(texts(await list({ player: 'bob' }))).to.deep.equal([])
        expect((await list({ player: 'bob', cursor: { after: 0 } })).messages).to.deep.equal(entries)
        await send('Bob', 'back')
        expect(texts(await list({ player: 'bob' }))).to.deep.equal(['back'])
      })

      it('stores a late reply after the fact, in the channel of the message it answers, and refuses one to a message gone', async () => {
        const a = await send('Ann', 'question', RED)
        await send('Bob', 'meanwhile', RED)
        const reply = await late(a.message.id, 'an answer', RED)
        expect(E.isRight(reply)).to.equal(true)
        const stored = (reply as E.Right<Message>).right
        expect(stored).to.deep.include({ type: 'reply', replyTo: a.message.id, channel: RED, playerName: 'Server', text: 'an answer' })
        expect(texts(await list({ channels: [RED] }))).to.deep.equal(['question', 'meanwhile', 'an answer'])
        expect((await list({ channels: [RED], player: 'server' })).messages).to.deep.equal([stored])
        expect(await late(a.message.id + 999, 'to nothing', RED)).to.deep.equal(E.left({ _tag: 'MessageNotFound', id: a.message.id + 999 }))
        expect(await late(a.message.id, 'wrong channel', GLOBAL)).to.deep.equal(E.left({ _tag: 'MessageNotFound', id: a.message.id }))
        // Removing the message takes its late reply with it; a reply to it afterwards is refused.
        const [entry] = await remove({ _tag: 'Message', id: a.message.id })
        expect(entry!.removes).to.deep.equal([a.message.id, stored.id])
        expect(texts(await list({ channels: [RED] }))).to.deep.equal(['meanwhile'])
        expect(await late(a.message.id, 'too late', RED)).to.deep.equal(E.left({ _tag: 'MessageNotFound', id: a.message.id }))
        expect(await late(entry!.id, 'to a removal', RED)).to.deep.equal(E.left({ _tag: 'MessageNotFound', id: entry!.id }))
      })

      it("takes late replies with an erased player's messages, and the replies to those replies", async () => {
        const a = await converse('Ann', 'hi')
        const first = (await late(a.message.id, 'late one')) as E.Right<Message>
        const second = (await late(first.right.id, 'to the late one')) as E.Right<Message>
        await send('Bob', 'bob')
        const [entry] = await remove({ _tag: 'Player', name: 'ann' })
        expect(entry!.removes).to.deep.equal([a.message.id, a.reply!.id, first.right.id, second.right.id])
        expect(texts(await list({}))).to.deep.equal(['bob'])
      })

      it('answers a read asked again right after a removal with the removal', async () => {
        for (const query of [{}, { cursor: { after: 0 } }, { player: 'a' }, { player: 'A', cursor: { after: 0 } }, { limit: 2 }] as Array<Partial<ListQuery>>) {
          const label = JSON.stringify(query)
          await run(repo.clear({ _tag: 'All' }))
          const m1 = await send('A', 'm1')
          await send('A', 'm2')
          expect(texts(await list(query)), label).to.include('m1')
          await remove({ _tag: 'Message', id: m1.message.id })
          expect(texts(await list(query)), label).to.not.include('m1')
          await late((await send('A', 'm3')).message.id, 'late')
          await list(query)
          const withLate = await list(query)
          if (query.player === undefined) expect(texts(withLate), label).to.include('late')
        }
      })
    })

    it('summarises channels with counts and newest ids', async () => {
      await send('A', 'g1')
      const last = await send('A', 'r1', ch('red'))
      const summaries = await run(repo.channels())
      expect(summaries).to.deep.equal([
        { channel: 'global', count: 1, newestId: last.message.id - 1 },
        { channel: 'red', count: 1, newestId: last.message.id },
      ])
    })
  })
}
