import { expect } from 'chai'
import { createMemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { Ring } from '../../adapters/memory/sequence'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import { run } from '../contracts/message-repository.contract'
import { collector } from '../support/gc'

const message = (id: number): Message => ({
  id,
  channel: 'global' as ChannelName,
  playerName: 'A' as PlayerName,
  text: `m${id}` as MessageText,
  sentAt: id,
  type: 'player',
})

const ids = (ring: Ring): number[] => Array.from({ length: ring.length }, (_, i) => ring.at(i).id)

describe('memory: the ring grows with use', () => {
  it('starts small whatever its capacity, and doubles only as messages arrive', () => {
    const ring = new Ring(10_000_000)
    expect(ring.allocated).to.equal(16)
    for (let i = 1; i <= 16; i++) ring.push(message(i))
    expect(ring.allocated).to.equal(16)
    ring.push(message(17))
    expect(ring.allocated).to.equal(32)
    for (let i = 18; i <= 100; i++) ring.push(message(i))
    expect(ring.allocated).to.equal(128)
    expect(ids(ring)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i + 1))
  })

  it('grows to exactly its capacity, not a power of two past it, then evicts the oldest', () => {
    const ring = new Ring(100)
    for (let i = 1; i <= 100; i++) expect(ring.push(message(i))).to.equal(undefined)
    expect(ring.allocated).to.equal(100)
    expect(ring.push(message(101))?.id).to.equal(1)
    expect(ring.push(message(102))?.id).to.equal(2)
    expect(ring.allocated).to.equal(100)
    expect(ring.length).to.equal(100)
    expect(ring.at(0).id).to.equal(3)
    expect(ring.newest()?.id).to.equal(102)
  })

  it('keeps id order and evicts in order through growth and many wrap-arounds, for capacities around the growth steps', () => {
    for (const capacity of [1, 2, 15, 16, 17, 31, 32, 33, 100, 1000]) {
      const ring = new Ring(capacity)
      const model: number[] = []
      for (let id = 1; id <= capacity * 3 + 7; id++) {
        const evicted = ring.push(message(id))
        model.push(id)
        const expected = model.length > capacity ? model.shift() : undefined
        expect(evicted?.id, `capacity ${capacity}, push ${id}`).to.equal(expected)
        expect(ring.length).to.equal(model.length)
        expect(ring.newest()?.id).to.equal(id)
      }
      expect(ids(ring), `capacity ${capacity}`).to.deep.equal(model)
      expect(ring.allocated).to.equal(capacity)
    }
  })

  it('lets its slots go on clear and grows again from small, in order', () => {
    const ring = new Ring(1000)
    for (let i = 1; i <= 1500; i++) ring.push(message(i))
    expect(ring.allocated).to.equal(1000)
    ring.clear()
    expect(ring.length).to.equal(0)
    expect(ring.newest()).to.equal(undefined)
    expect(ring.allocated).to.equal(16)
    for (let i = 2000; i < 2040; i++) expect(ring.push(message(i))).to.equal(undefined)
    expect(ids(ring)).to.deep.equal(Array.from({ length: 40 }, (_, i) => 2000 + i))
    expect(ring.allocated).to.equal(64)
  })

  it('a store allowed 10,000,000 messages per channel holding one message in each of 100 channels takes little heap', async function () {
    const gc = collector()
    const heap = (): number => {
      gc?.()
      return process.memoryUsage().heapUsed
    }
    const store = createMemoryMessageStore({ maxMessages: 10_000_000, maxChannels: 100 })
    const before = heap()
    // Checked channel by channel: a ring sized by its capacity (80 MB each) fails on the first, long before the heap runs out.
    const bound = 20 * 1024 * 1024
    for (let c = 0; c < 100; c++) {
      await run(store.append({ draft: { channel: `c${c}` as ChannelName, playerName: 'Bob' as PlayerName, text: 'hi' as MessageText, sentAt: c } }))
      const grown = process.memoryUsage().heapUsed - before
      expect(grown, `heap grown by ${(grown / 1024 / 1024).toFixed(1)} MB after ${c + 1} channel(s)`).to.be.below(bound)
    }
    const grown = heap() - before
    // With a collection the measure is exact: 100 channels of one message each are a few hundred bytes apiece.
    expect(grown, `heap grown by ${(grown / 1024).toFixed(0)} KB`).to.be.below(gc === undefined ? bound : 2 * 1024 * 1024)
    expect((await run(store.channels())).length).to.equal(100)
  })
})

describe('memory: removing from the middle of a ring', () => {
  it('takes out what it picks wherever the ring has wrapped, keeps the rest in order, and evicts the true oldest afterwards', () => {
    for (let pushed = 5; pushed <= 14; pushed++) {
      const ring = new Ring(8)
      for (let i = 1; i <= pushed; i++) ring.push(message(i))
      const before = ids(ring)
      const taken = ring.removeWhere((m) => m.id % 3 === 0)
      expect(taken.map((m) => m.id), `after ${pushed}`).to.deep.equal(before.filter((id) => id % 3 === 0))
      expect(ids(ring), `after ${pushed}`).to.deep.equal(before.filter((id) => id % 3 !== 0))
      // Refilled past its capacity: what falls out is always the oldest left.
      const left = ids(ring)
      const evicted: number[] = []
      for (let i = pushed + 1; i <= pushed + 10; i++) {
        const out = ring.push(message(i))
        if (out !== undefined) evicted.push(out.id)
      }
      expect(ring.length).to.equal(8)
      const all = [...left, ...Array.from({ length: 10 }, (_, i) => pushed + 1 + i)]
      expect(evicted).to.deep.equal(all.slice(0, all.length - 8))
      expect(ids(ring)).to.deep.equal(all.slice(-8))
    }
  })
})
