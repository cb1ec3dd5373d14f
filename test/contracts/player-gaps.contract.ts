import { expect } from 'chai'
import type { ChannelName, MessageText, PlayerName } from '../../domain/message'
import type { ListQuery, MessageFeed, MessageRepository, Page } from '../../domain/message-repository'
import { run, type StoreFactory } from './message-repository.contract'

/*
 * A player's gap when only SOME of that player's messages are evicted: the
 * player still has messages stored, so the store must remember, per player,
 * the newest of that player's messages it evicted. (The main contract only
 * evicts a player's last message, which empties the player's log.)
 *
 * Written against the MessageRepository port alone: any store runs it with
 * the same factory it gives `messageRepositoryContract`.
 */
export const playerGapContract = (adapter: string, factory: StoreFactory): void => {
  describe(`MessageRepository contract, player gaps: ${adapter}`, () => {
    const GLOBAL = 'global' as ChannelName
    let close: (() => Promise<void>) | undefined
    let repo: MessageRepository & MessageFeed
    const open = async (maxMessages: number) => {
      const store = await factory({ maxMessages, maxChannels: 10 })
      close = store.close
      repo = store.repo
    }
    afterEach(async () => {
      await close?.()
      close = undefined
    })
    const send = async (player: string, text: string): Promise<number> =>
      (await run(repo.append({ draft: { channel: GLOBAL, playerName: player as PlayerName, text: text as MessageText, sentAt: 1_700_000_000_000 } })))
        .message.id
    const read = (player: string, after: number): Promise<Page> =>
      run(repo.list({ channels: [GLOBAL], player, cursor: { after }, limit: 100 } satisfies ListQuery))
    const texts = (page: Page) => page.messages.map((m) => m.text)

    it("reports a gap to a player's reader whose cursor is before that player's evicted OLDEST message, while the player still has others", async () => {
      await open(4)
      const start = await run(repo.list({ channels: [GLOBAL], cursor: { after: 0 }, limit: 100 }))
      const p1 = await send('Pat', 'p1')
      await send('Other', 'o1')
      await send('Pat', 'p2')
      await send('Other', 'o2')
      await send('Other', 'o3') // evicts p1: Pat still has p2
      const behind = await read('PAT', start.nextAfter)
      expect(texts(behind)).to.deep.equal(['p2'])
      expect(behind.gap, 'cursor before the evicted p1').to.equal(true)
      const past = await read('pat', p1)
      expect(texts(past)).to.deep.equal(['p2'])
      expect(past.gap, 'cursor at the evicted p1: nothing of Pat after it was lost').to.equal(false)
      // The cursor the gap answer handed out reports no gap either.
      expect((await read('Pat', behind.nextAfter)).gap).to.equal(false)
    })

    it("reports a gap exactly up to the newest of the player's evicted messages, not for other players' evictions", async () => {
      await open(4)
      const p1 = await send('Pat', 'p1')
      const p2 = await send('Pat', 'p2')
      await send('Other', 'o1')
      const p3 = await send('Pat', 'p3')
      await send('Other', 'o2') // evicts p1
      await send('Other', 'o3') // evicts p2
      const afterP1 = await read('Pat', p1)
      expect(texts(afterP1)).to.deep.equal(['p3'])
      expect(afterP1.gap, 'cursor after p1, before the evicted p2').to.equal(true)
      const afterP2 = await read('Pat', p2)
      expect(texts(afterP2)).to.deep.equal(['p3'])
      expect(afterP2.gap, 'cursor at the evicted p2').to.equal(false)
      await send('Other', 'o4') // evicts o1, not Pat's
      expect((await read('Pat', p2)).gap, "another player's eviction").to.equal(false)
      // The other player lost o1 (and nothing else) while Pat's messages were evicted around it.
      expect((await read('Other', p1)).gap, 'Other, cursor before the evicted o1').to.equal(true)
      expect((await read('Other', p3)).gap, 'Other, cursor after the evicted o1').to.equal(false)
      await send('Other', 'o5') // evicts p3, Pat's last
      const gone = await read('Pat', p2)
      expect(texts(gone)).to.deep.equal([])
      expect(gone.gap, 'cursor before the evicted p3').to.equal(true)
    })
  })
}
