import { expect } from 'chai'
import { createMemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { Queue, Ring } from '../../adapters/memory/sequence'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import { messageFeedContract } from '../contracts/message-feed.contract'
import { messageRepositoryContract, run } from '../contracts/message-repository.contract'
import { discardsContract } from '../contracts/discards.contract'

messageRepositoryContract('memory', async (options) => {
  const repo = createMemoryMessageStore(options)
  return { repo, close: async () => undefined }
})

discardsContract('memory', async (options) => ({ repo: createMemoryMessageStore(options), close: async () => undefined }))

// A listener that throws (one of the contract's) is reported to onListenerError, kept quiet here: the test above checks it is told.
messageFeedContract('memory', async (options) => {
  const repo = createMemoryMessageStore({ ...options, onListenerError: () => undefined })
  return { repo, close: async () => undefined }
}, { sharedByProcesses: false, canLose: false })

const message = (id: number): Message => ({
  id,
  channel: 'global' as ChannelName,
  playerName: 'A' as PlayerName,
  text: `m${id}` as MessageText,
  sentAt: id,
  type: 'player',
})

describe('memory store internals', () => {
  it('tells onListenerError of a listener that throws, and carries on', async () => {
    const errors: unknown[] = []
    const store = createMemoryMessageStore({ maxMessages: 10, maxChannels: 10, onListenerError: (error) => errors.push(error) })
    const heard: string[] = []
    const bug = new Error('a listener with a bug')
    store.subscribe({ channels: ['global' as ChannelName] }, () => {
      throw bug
    })
    store.subscribe({ channels: ['global' as ChannelName] }, (m) => heard.push(m.text))
    await run(store.append({ draft: { channel: 'global' as ChannelName, playerName: 'Bob' as PlayerName, text: 'hi' as MessageText, sentAt: 1 } }))
    expect(heard).to.deep.equal(['hi'])
    expect(errors).to.deep.equal([bug])
  })

  it('reads afresh every time: sharing a page among readers is shareReads’ work', async () => {
    const store = createMemoryMessageStore({ maxMessages: 10, maxChannels: 10 })
    const query = { channels: ['global' as ChannelName], limit: 100, cursor: { after: 0 } }
    const first = await run(store.list(query))
    const again = await run(store.list(query))
    expect(again).not.to.equal(first)
    expect(again).to.deep.equal(first)
    expect(Object.isFrozen(first)).to.equal(false)
  })

  it('a ring evicts exactly the oldest once full', () => {
    const ring = new Ring(3)
    expect([1, 2, 3].map((i) => ring.push(message(i)))).to.deep.equal([undefined, undefined, undefined])
    expect(ring.push(message(4))?.id).to.equal(1)
    expect(ring.push(message(5))?.id).to.equal(2)
    expect([0, 1, 2].map((i) => ring.at(i).id)).to.deep.equal([3, 4, 5])
    expect(ring.length).to.equal(3)
  })

  it('a queue keeps its order through many shifts and compactions', () => {
    const queue = new Queue()
    let next = 1
    let expected = 1
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) queue.push(message(next++))
      for (let i = 0; i < 90; i++) expect(queue.shift()?.id).to.equal(expected++)
    }
    expect(queue.length).to.equal(500)
    expect(queue.at(0).id).to.equal(expected)
  })

  it('holds 20,000 sends within the bound, per player too', async () => {
    const store = createMemoryMessageStore({ maxMessages: 1000, maxChannels: 1 })
    for (let i = 0; i < 20_000; i++) {
      await run(
        store.append({
          draft: { channel: 'global' as ChannelName, playerName: `P${i % 7}` as PlayerName, text: 'x' as MessageText, sentAt: i },
        }),
      )
    }
    const all = await run(store.list({ channels: ['global' as ChannelName], limit: 5000 }))
    expect(all.messages).to.have.length(1000)
    expect(all.messages[0]!.id).to.equal(19_001)
    let perPlayer = 0
    for (let p = 0; p < 7; p++) perPlayer += (await run(store.list({ channels: ['global' as ChannelName], player: `p${p}`, limit: 5000 }))).messages.length
    expect(perPlayer).to.equal(1000)
  })

  it('forgets listeners when they unsubscribe, so nothing leaks', () => {
    const store = createMemoryMessageStore({ maxMessages: 10, maxChannels: 10 })
    const stops = Array.from({ length: 100 }, (_, i) =>
      store.subscribe({ channels: ['global' as ChannelName], ...(i % 2 ? { player: `p${i}` } : {}) }, () => undefined),
    )
    expect(store.listenerCount()).to.equal(100)
    for (const stop of stops) stop()
    for (const stop of stops) stop()
    expect(store.listenerCount()).to.equal(0)
  })

  it('starts a new epoch with every store life', async () => {
    const a = createMemoryMessageStore({ maxMessages: 10, maxChannels: 10 })
    const b = createMemoryMessageStore({ maxMessages: 10, maxChannels: 10 })
    const pa = await run(a.list({ channels: ['global' as ChannelName], limit: 1 }))
    const pb = await run(b.list({ channels: ['global' as ChannelName], limit: 1 }))
    expect(pa.epoch).to.not.equal(pb.epoch)
  })
})
