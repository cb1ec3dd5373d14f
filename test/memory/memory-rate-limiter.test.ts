import { expect } from 'chai'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import type { RateLimit } from '../../domain/rate-limit'
import { run } from '../contracts/message-repository.contract'
import { rateLimiterContract } from '../contracts/rate-limiter.contract'
import { collector } from '../support/gc'

rateLimiterContract('memory', async ({ now }) => ({ limiter: createMemoryRateLimiter({ maxKeys: 10_000, now }), close: async () => undefined }))

describe('memory rate limiter: bounded', () => {
  const FIVE_PER_10S: RateLimit = { limit: 5, windowMs: 10_000 }
  let now: number
  beforeEach(() => {
    now = 1_700_000_000_000
  })

  it('keeps at most maxKeys buckets under a flood of 100,000 distinct players', async () => {
    const limiter = createMemoryRateLimiter({ maxKeys: 1000, now: () => now })
    let largest = 0
    for (let i = 0; i < 100_000; i++) {
      // All within one window: no bucket has refilled, only the bound keeps the map small.
      if (i % 100 === 0) now += 1
      expect((await run(limiter.take(`player:id:${i}`, FIVE_PER_10S))).allowed).to.equal(true)
      largest = Math.max(largest, limiter.size())
    }
    expect(largest).to.equal(1000)
    expect(limiter.size()).to.equal(1000)
  })

  it('keeps the heap small under a flood of 100,000 distinct players', async () => {
    const gc = collector()
    if (gc === undefined) throw new Error('no full collection available (node refused --expose-gc at run time)')
    const limiter = createMemoryRateLimiter({ maxKeys: 1000, now: () => now })
    const flood = async (from: number) => {
      for (let i = from; i < from + 100_000; i++) await run(limiter.take(`player:name:flooder-${i}`, FIVE_PER_10S))
    }
    // The first flood fills the bound; what a second flood of as many new keys adds is the growth.
    await flood(0)
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    const before = process.memoryUsage().heapUsed
    await flood(100_000)
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    const growth = process.memoryUsage().heapUsed - before
    expect(limiter.size()).to.equal(1000)
    expect(growth, `${growth} bytes`).to.be.below(512 * 1024)
  })

  it('forgets buckets that have refilled, so memory follows the players active within a window', async () => {
    const limiter = createMemoryRateLimiter({ maxKeys: 10_000, now: () => now })
    for (let i = 0; i < 1000; i++) await run(limiter.take(`player:id:${i}`, FIVE_PER_10S))
    expect(limiter.size()).to.equal(1000)
    now += 1999
    await run(limiter.take('player:id:active', FIVE_PER_10S))
    expect(limiter.size(), 'none has refilled yet').to.equal(1001)
    now += 1
    // Each take drops up to two refilled buckets from the front: a steady trickle of sends empties the map.
    for (let i = 0; i < 500; i++) {
      now += 1
      await run(limiter.take(`player:id:active-${i % 3}`, FIVE_PER_10S))
    }
    expect(limiter.size()).to.be.at.most(4)
  })

  it('drops a full bucket once it is the least recently used, however it became full', async () => {
    const limiter = createMemoryRateLimiter({ maxKeys: 10, now: () => now })
    await run(limiter.take('given-back', FIVE_PER_10S))
    expect((await run(limiter.take('refused', FIVE_PER_10S, 6))).allowed).to.equal(false)
    await run(limiter.giveBack('given-back', FIVE_PER_10S))
    await run(limiter.giveBack('never', FIVE_PER_10S))
    expect(limiter.size(), 'a give-back to a key never taken from keeps nothing').to.equal(2)
    await run(limiter.take('spent', FIVE_PER_10S))
    // Both full buckets were ahead of it: the take swept them.
    expect(limiter.size()).to.equal(1)
  })

  it('forgets the least recently used bucket past maxKeys, and keeps one in use', async () => {
    const limiter = createMemoryRateLimiter({ maxKeys: 3, now: () => now })
    const spend = async (key: string) => {
      for (let i = 0; i < 5; i++) await run(limiter.take(key, FIVE_PER_10S))
    }
    await spend('a')
    await spend('b')
    await spend('c')
    // a is used again (refused), so b is now the least recently used.
    expect((await run(limiter.take('a', FIVE_PER_10S))).allowed).to.equal(false)
    await run(limiter.take('d', FIVE_PER_10S))
    expect(limiter.size()).to.equal(3)
    expect((await run(limiter.take('a', FIVE_PER_10S))).allowed, 'a is still spent').to.equal(false)
    expect((await run(limiter.take('c', FIVE_PER_10S))).allowed, 'c is still spent').to.equal(false)
    expect((await run(limiter.take('b', FIVE_PER_10S))).allowed, 'b was forgotten: it starts full').to.equal(true)
  })
})
