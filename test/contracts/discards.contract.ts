import { expect } from 'chai'
import type { ChannelName, MessageText, PlayerName } from '../../domain/message'
import type { AppendRequest, MessageRepository, DiscardObserver } from '../../domain/message-repository'
import { run } from './message-repository.contract'

/** A store told to report what it removes; `close` lets go of it. */
export type DiscardsFactory = (options: { maxMessages: number; maxChannels: number; onDiscarded: DiscardObserver }) => Promise<{ readonly repo: MessageRepository; readonly close: () => Promise<void> }>

const append = (channel: string, text: string, reply = false): AppendRequest => ({
  draft: { channel: channel as ChannelName, playerName: 'A' as PlayerName, text: text as MessageText, sentAt: 1_700_000_000_000 },
  ...(reply ? { reply: { playerName: 'Server' as PlayerName, text: `re ${text}` as MessageText } } : {}),
})

/**
 * What every store tells of the messages it removes (the metrics count it):
 * each one evicted by a full channel, once, and what each clear removed.
 */
export const discardsContract = (adapter: string, factory: DiscardsFactory): void => {
  describe(`MessageRepository discards: ${adapter}`, () => {
    let told: Array<{ reason: string; count: number }>
    let close: (() => Promise<void>) | undefined
    const open = async (maxMessages: number) => {
      told = []
      const opened = await factory({ maxMessages, maxChannels: 10, onDiscarded: (removed) => void told.push({ ...removed }) })
      close = opened.close
      return opened.repo
    }
    afterEach(async () => {
      await close?.()
      close = undefined
    })
    const total = (reason: string) => told.filter((t) => t.reason === reason).reduce((sum, t) => sum + t.count, 0)

    it('tells of every message a full channel evicts, replies included', async () => {
      const repo = await open(3)
      await run(repo.append(append('global', 'one')))
      await run(repo.append(append('global', 'two')))
      expect(told).to.deep.equal([])
      await run(repo.append(append('global', 'three', true)))
      expect(total('evicted')).to.equal(1)
      await run(repo.append(append('global', 'four', true)))
      await run(repo.append(append('lobby', 'elsewhere')))
      expect(total('evicted')).to.equal(3)
      expect(total('cleared')).to.equal(0)
    })

    it('tells how many a clear removed, of one channel or of all, and nothing for an empty one', async () => {
      const repo = await open(100)
      for (const text of ['a', 'b', 'c']) await run(repo.append(append('global', text)))
      await run(repo.append(append('lobby', 'd', true)))
      await run(repo.clear({ _tag: 'Channel', channel: 'lobby' as ChannelName }))
      expect(told).to.deep.equal([{ reason: 'cleared', count: 2 }])
      await run(repo.clear({ _tag: 'Channel', channel: 'lobby' as ChannelName }))
      await run(repo.clear({ _tag: 'Channel', channel: 'nowhere' as ChannelName }))
      expect(told).to.have.length(1)
      await run(repo.append(append('trade', 'e')))
      await run(repo.clear({ _tag: 'All' }))
      expect(told).to.deep.equal([{ reason: 'cleared', count: 2 }, { reason: 'cleared', count: 4 }])
      await run(repo.clear({ _tag: 'All' }))
      expect(total('cleared')).to.equal(6)
      expect(total('evicted')).to.equal(0)
    })
  })
}
