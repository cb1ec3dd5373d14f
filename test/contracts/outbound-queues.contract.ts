import { expect } from 'chai'
import type { ChannelName, MessageText, PlayerName } from '../../domain/message'
import type { AppendRequest, Conversation, MessageRepository } from '../../domain/message-repository'
import type { OutboundQueues, OutboundRoute } from '../../domain/outbound'
import { eventually } from '../support/until'
import { run } from './message-repository.contract'

/**
 * The store's outbound queues as a test gets them: `append` stores through
 * the store that feeds them, `queues` is this process's handle, and `peer`,
 * for a store shared by processes, the handle another process would have
 * (on its own connections).
 */
export type OutboundUnderTest = {
  readonly append: (request: AppendRequest) => Promise<Conversation>
  /** Removes through the store that feeds the queues (and late replies through it). */
  readonly store: Pick<MessageRepository, 'remove' | 'appendReply'>
  readonly queues: OutboundQueues
  readonly peer?: OutboundQueues
  readonly close: () => Promise<void>
}
/** Opens a fresh, empty store whose queues serve these routes. */
export type OutboundFactory = (routes: ReadonlyArray<OutboundRoute>) => Promise<OutboundUnderTest>

const request = (player: string, text: string, channel = 'global', reply = true): AppendRequest => ({
  draft: { channel: channel as ChannelName, playerName: player as PlayerName, text: text as MessageText, sentAt: 1_700_000_000_000 },
  ...(reply ? { reply: { playerName: 'Server' as PlayerName, text: `Hello ${player}!` as MessageText } } : {}),
})

const route = (name: string, more: Partial<OutboundRoute> = {}): OutboundRoute => ({ name, maxQueue: 100, ...more })

/**
 * What every store's outbound queues must do (domain/outbound.ts), whatever
 * they are kept in. Each adapter's test file calls this with a factory.
 */
export const outboundQueuesContract = (adapter: string, factory: OutboundFactory, options: { readonly sharedByProcesses: boolean }): void => {
  describe(`OutboundQueues contract: ${adapter}`, () => {
    let opened: OutboundUnderTest | undefined
    const open = async (routes: ReadonlyArray<OutboundRoute>) => {
      await opened?.close()
      opened = await factory(routes)
      return opened
    }
    afterEach(async () => {
      await opened?.close()
      opened = undefined
    })
    const texts = async (queues: OutboundQueues, target: string, limit = 1000) => (await run(queues.peek(target, limit))).map((m) => m.text)

    it('queues each stored message and its reply, in id order, for a target that wants everything', async () => {
      const { append, queues } = await open([route('all')])
      const first = await append(request('Ann', 'one'))
      await append(request('Bob', 'two', 'lobby'))
      const queued = await run(queues.peek('all', 10))
      expect(queued.map((m) => m.text)).to.deep.equal(['one', 'Hello Ann!', 'two', 'Hello Bob!'])
      expect(queued[0]).to.deep.include({ id: first.message.id, playerName: 'Ann', channel: 'global', type: 'player' })
      expect(queued[1]).to.deep.include({ type: 'reply', replyTo: first.message.id })
      const ids = queued.map((m) => m.id)
      expect(ids).to.deep.equal([...ids].sort((a, b) => a - b))
      expect((await run(queues.stats('all'))).queued).to.equal(4)
    })

    it('queues for each target only the channels and the types it asks for', async () => {
      const { append, queues } = await open([route('lobby', { channels: ['lobby' as ChannelName] }), route('players', { types: ['player'] }), route('all')])
      await append(request('Ann', 'in global'))
      await append(request('Bob', 'in lobby', 'lobby'))
      expect(await texts(queues, 'lobby')).to.deep.equal(['in lobby', 'Hello Bob!'])
      expect(await texts(queues, 'players')).to.deep.equal(['in global', 'in lobby'])
      expect(await texts(queues, 'all')).to.have.length(4)
    })

    it('queues removal entries only for the targets that name removal among their types, late replies as replies', async () => {
      const { append, store, queues } = await open([route('default'), route('removals', { types: ['removal'] }), route('everything', { types: ['player', 'reply', 'removal'] })])
      const sent = await append(request('Ann', 'one'))
      const late = await run(store.appendReply({ channel: 'global' as ChannelName, replyTo: sent.message.id, playerName: 'Server' as PlayerName, text: 'late' as MessageText, sentAt: 1 }))
      const [entry] = await run(store.remove({ scope: { _tag: 'Player', name: 'ann' }, sentAt: 1 }))
      // The removed messages never go out (see below); the entry goes where it is asked for.
      expect(await run(queues.peek('default', 10))).to.deep.equal([])
      expect(await run(queues.peek('removals', 10))).to.deep.equal([entry])
      expect(await run(queues.peek('everything', 10))).to.deep.equal([entry])
      expect(entry!.removes).to.deep.equal([sent.message.id, sent.reply!.id, late.id])
    })

    it('takes what a removal took out off every queue, so a message removed before its delivery is never delivered', async () => {
      const { append, store, queues } = await open([route('all'), route('lobby', { channels: ['lobby' as ChannelName] })])
      const rude = await append(request('Bob', 'rude'))
      await append(request('Ann', 'fine'))
      await append(request('Bob', 'rude in lobby', 'lobby'))
      await run(store.remove({ scope: { _tag: 'Message', id: rude.message.id }, sentAt: 1 }))
      expect(await texts(queues, 'all')).to.deep.equal(['fine', 'Hello Ann!', 'rude in lobby', 'Hello Bob!'])
      await run(store.remove({ scope: { _tag: 'Player', name: 'bob' }, sentAt: 1 }))
      expect(await texts(queues, 'all')).to.deep.equal(['fine', 'Hello Ann!'])
      expect(await texts(queues, 'lobby')).to.deep.equal([])
      // Taken off, not dropped: the target never had them.
      expect(await run(queues.stats('all'))).to.deep.include({ queued: 2, dropped: 0 })
    })

    it('drops the oldest past a target’s bound, and counts them', async () => {
      const { append, queues } = await open([route('small', { maxQueue: 3 })])
      for (let i = 1; i <= 5; i++) await append(request('Ann', `m${i}`, 'global', false))
      expect(await texts(queues, 'small')).to.deep.equal(['m3', 'm4', 'm5'])
      expect(await run(queues.stats('small'))).to.deep.include({ queued: 3, dropped: 2 })
    })

    it('peeks the oldest, at most the limit, without taking them', async () => {
      const { append, queues } = await open([route('t')])
      for (let i = 1; i <= 4; i++) await append(request('Ann', `m${i}`, 'global', false))
      expect(await texts(queues, 't', 2)).to.deep.equal(['m1', 'm2'])
      expect(await texts(queues, 't', 2)).to.deep.equal(['m1', 'm2'])
    })

    it('takes messages off the queue through an id for the lease holder only', async () => {
      const { append, queues } = await open([route('t')])
      const ids: number[] = []
      for (let i = 1; i <= 4; i++) ids.push((await append(request('Ann', `m${i}`, 'global', false))).message.id)
      expect(await run(queues.ack('t', 'me', ids[1] as number))).to.equal(false)
      expect(await texts(queues, 't')).to.have.length(4)
      expect(await run(queues.lease('t', 'me', 10_000))).to.equal(true)
      expect(await run(queues.ack('t', 'me', ids[1] as number))).to.equal(true)
      expect(await texts(queues, 't')).to.deep.equal(['m3', 'm4'])
      expect(await run(queues.ack('t', 'someone else', ids[3] as number))).to.equal(false)
      expect(await texts(queues, 't')).to.deep.equal(['m3', 'm4'])
      expect((await run(queues.stats('t'))).dropped).to.equal(0)
    })

    it('counts as dropped what is taken off as refused or left at a shutdown', async () => {
      const { append, queues } = await open([route('t')])
      const ids: number[] = []
      for (let i = 1; i <= 3; i++) ids.push((await append(request('Ann', `m${i}`, 'global', false))).message.id)
      await run(queues.lease('t', 'me', 10_000))
      await run(queues.ack('t', 'me', ids[0] as number, 'refused'))
      await run(queues.ack('t', 'me', ids[2] as number, 'shutdown'))
      expect(await run(queues.stats('t'))).to.deep.include({ queued: 0, dropped: 3 })
    })

    it('gives a lease to one holder at a time, renews it for its holder, and lets it go on release', async () => {
      const { queues } = await open([route('t')])
      expect(await run(queues.lease('t', 'a', 10_000))).to.equal(true)
      expect(await run(queues.lease('t', 'b', 10_000))).to.equal(false)
      expect(await run(queues.lease('t', 'a', 10_000))).to.equal(true)
      await run(queues.release('t', 'b'))
      expect(await run(queues.lease('t', 'b', 10_000))).to.equal(false)
      await run(queues.release('t', 'a'))
      expect(await run(queues.lease('t', 'b', 10_000))).to.equal(true)
    })

    it('lets another holder take a lease that ran out', async () => {
      const { queues } = await open([route('t')])
      expect(await run(queues.lease('t', 'a', 100))).to.equal(true)
      expect(await run(queues.lease('t', 'b', 10_000))).to.equal(false)
      let taken = false
      const deadline = Date.now() + 5_000
      while (!taken && Date.now() < deadline) {
        taken = await run(queues.lease('t', 'b', 10_000))
        if (!taken) await new Promise((resolve) => setTimeout(resolve, 20))
      }
      expect(taken, 'b took the lease once a’s ran out').to.equal(true)
      expect(await run(queues.ack('t', 'a', 1))).to.equal(false)
    })

    it('keeps the delivery state a holder reports, for every reader', async () => {
      const { queues, peer } = await open([route('t')])
      const state = { state: 'paused', until: 1_700_000_060_000, lastError: 'answered 503', failures: 10, delivered: 7, at: 1_700_000_000_000 } as const
      await run(queues.report('t', state))
      expect((await run(queues.stats('t'))).delivery).to.deep.equal(state)
      if (peer !== undefined) expect((await run(peer.stats('t'))).delivery).to.deep.equal(state)
    })

    it('tells a watcher when a message is queued for its target, and no longer once it stops', async () => {
      const { append, queues } = await open([route('lobby', { channels: ['lobby' as ChannelName] })])
      let told = 0
      const stop = queues.watch('lobby', () => told++)
      await append(request('Ann', 'in lobby', 'lobby'))
      await eventually(() => told > 0, 5_000, 'the watcher to be told')
      stop()
      const before = told
      await append(request('Ann', 'again', 'lobby'))
      // The queue moved on; a stopped watcher is not told of it.
      expect(await texts(queues, 'lobby')).to.have.length(4)
      expect(told).to.equal(before)
    })

    if (!options.sharedByProcesses) return
    describe('shared by processes', () => {
      const peerOf = (under: OutboundUnderTest): OutboundQueues => {
        if (under.peer === undefined) throw new Error('a store shared by processes gives a peer')
        return under.peer
      }
      it('is one queue for every process: queued by one, seen, leased and taken off by the other', async () => {
        const opened = await open([route('t')])
        const { append, queues } = opened
        const peer = peerOf(opened)
        const sent = await append(request('Ann', 'shared', 'global', false))
        expect(await texts(peer, 't')).to.deep.equal(['shared'])
        expect(await run(queues.lease('t', 'process a', 10_000))).to.equal(true)
        expect(await run(peer.lease('t', 'process b', 10_000))).to.equal(false)
        expect(await run(peer.ack('t', 'process b', sent.message.id))).to.equal(false)
        expect(await run(queues.ack('t', 'process a', sent.message.id))).to.equal(true)
        expect(await texts(peer, 't')).to.deep.equal([])
      })

      it('tells a watcher in another process', async () => {
        const opened = await open([route('t')])
        const { append } = opened
        const peer = peerOf(opened)
        let told = 0
        const stop = peer.watch('t', () => told++)
        try {
          // The peer's feed may take a moment to subscribe: append until it hears one.
          const deadline = Date.now() + 5_000
          while (told === 0 && Date.now() < deadline) {
            await append(request('Ann', 'hello', 'global', false))
            await new Promise((resolve) => setTimeout(resolve, 20))
          }
          expect(told).to.be.greaterThan(0)
        } finally {
          stop()
        }
      })
    })
  })
}
