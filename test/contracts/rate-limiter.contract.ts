import { expect } from 'chai'
import type { RateDecision, RateLimit, RateLimiter } from '../../domain/rate-limit'
import { run } from './message-repository.contract'

export type LimiterUnderTest = { readonly limiter: RateLimiter; readonly close: () => Promise<void> }

/**
 * Opens a fresh limiter with no buckets. `now` is the clock it must keep time
 * by (a store running the bucket elsewhere, such as a Redis script, is given
 * this time with each call rather than reading its own): the suite moves it
 * instead of sleeping.
 */
export type LimiterFactory = (options: { readonly now: () => number }) => Promise<LimiterUnderTest>

const FIVE_PER_10S: RateLimit = { limit: 5, windowMs: 10_000 }

/**
 * What every RateLimiter must do (see domain/rate-limit.ts), whatever it keeps
 * its buckets in. Each adapter's test file calls this with a factory.
 */
export const rateLimiterContract = (adapter: string, factory: LimiterFactory): void => {
  describe(`RateLimiter contract: ${adapter}`, () => {
    let now: number
    let opened: LimiterUnderTest | undefined
    let limiter: RateLimiter
    const take = (key = 'player:id:1', limit = FIVE_PER_10S, cost?: number) => run(limiter.take(key, limit, cost))
    const takeAll = async (n: number, key = 'player:id:1', limit = FIVE_PER_10S): Promise<RateDecision[]> => {
      const decisions: RateDecision[] = []
      for (let i = 0; i < n; i++) decisions.push(await take(key, limit))
      return decisions
    }
    const allowedOf = (decisions: ReadonlyArray<RateDecision>) => decisions.filter((d) => d.allowed).length

    beforeEach(async () => {
      now = 1_700_000_000_000
      opened = await factory({ now: () => now })
      limiter = opened.limiter
    })
    afterEach(async () => {
      await opened?.close()
      opened = undefined
    })

    it('allows `limit` requests at once, counting down what remains, then refuses', async () => {
      const decisions = await takeAll(6)
      expect(decisions.map((d) => d.allowed)).to.deep.equal([true, true, true, true, true, false])
      expect(decisions.map((d) => d.remaining)).to.deep.equal([4, 3, 2, 1, 0, 0])
      for (const d of decisions) expect(d).to.include({ limit: 5, windowSeconds: 10 })
      expect(decisions.slice(0, 5).map((d) => d.retryAfterSeconds)).to.deep.equal([0, 0, 0, 0, 0])
    })

    it('says when to retry: 5/10s, once spent, allows one more 2 s later, not before', async () => {
      await takeAll(5)
      expect(await take()).to.include({ allowed: false, retryAfterSeconds: 2, remaining: 0 })
      now += 1000
      expect(await take()).to.include({ allowed: false, retryAfterSeconds: 1 })
      now += 999
      expect(await take(), '1 ms early').to.include({ allowed: false, retryAfterSeconds: 1 })
      now += 1
      expect(await take()).to.include({ allowed: true, remaining: 0 })
      expect(await take()).to.include({ allowed: false, retryAfterSeconds: 2 })
    })

    it('rounds Retry-After up to whole seconds, and never below 1', async () => {
      const three = { limit: 3, windowMs: 10_000 }
      await takeAll(3, 'k', three)
      // A token every 3,333.3 ms.
      expect(await take('k', three)).to.include({ allowed: false, retryAfterSeconds: 4 })
      now += 3333
      expect(await take('k', three)).to.include({ allowed: false, retryAfterSeconds: 1 })
      now += 1
      expect(await take('k', three)).to.include({ allowed: true })
      const fast = { limit: 600, windowMs: 60_000 }
      await takeAll(600, 'fast', fast)
      // A token every 100 ms: a retry after 0.1 s is said as 1 s.
      expect(await take('fast', fast)).to.include({ allowed: false, retryAfterSeconds: 1 })
    })

    it('refills continuously, never past the limit', async () => {
      await takeAll(5)
      now += 5000
      // 2.5 tokens: two requests, and the half token waits 1 s more.
      expect(allowedOf(await takeAll(3))).to.equal(2)
      expect(await take()).to.include({ allowed: false, retryAfterSeconds: 1 })
      now += 3_600_000
      const afterAnHour = await takeAll(6)
      expect(allowedOf(afterAnHour), 'an hour refills no more than the limit').to.equal(5)
    })

    it('says how many remain and when the bucket is full again', async () => {
      expect(await take()).to.deep.equal({ allowed: true, limit: 5, windowSeconds: 10, remaining: 4, resetSeconds: 2, nextSeconds: 2, retryAfterSeconds: 0 })
      await takeAll(2)
      expect(await take()).to.deep.equal({ allowed: true, limit: 5, windowSeconds: 10, remaining: 1, resetSeconds: 8, nextSeconds: 2, retryAfterSeconds: 0 })
      now += 500
      // 1.25 tokens, 0.25 once this one is taken: the next in 1.5 s, full in 9.5 s (both rounded up).
      expect(await take('player:id:1', FIVE_PER_10S, 1)).to.deep.equal({
        allowed: true,
        limit: 5,
        windowSeconds: 10,
        remaining: 0,
        resetSeconds: 10,
        nextSeconds: 2,
        retryAfterSeconds: 0,
      })
      expect(await take()).to.deep.equal({ allowed: false, limit: 5, windowSeconds: 10, remaining: 0, resetSeconds: 10, nextSeconds: 2, retryAfterSeconds: 2 })
      const minute = { limit: 600, windowMs: 60_000 }
      expect(await take('client:key:game', minute)).to.deep.equal({
        allowed: true,
        limit: 600,
        windowSeconds: 60,
        remaining: 599,
        resetSeconds: 1,
        nextSeconds: 1,
        retryAfterSeconds: 0,
      })
    })

    it('keeps keys apart, each with the limit it is taken with', async () => {
      await takeAll(5, 'player:id:1')
      expect(await take('player:id:1')).to.include({ allowed: false })
      expect(await take('player:id:2')).to.include({ allowed: true, remaining: 4 })
      expect(await take('player:name:1')).to.include({ allowed: true, remaining: 4 })
      expect(await take('client:addr:10.0.0.1', { limit: 600, windowMs: 60_000 })).to.include({ allowed: true, remaining: 599 })
    })

    it('consumes nothing with a refused take', async () => {
      await takeAll(5)
      for (let i = 0; i < 20; i++) {
        now += 50
        expect((await take()).allowed).to.equal(false)
      }
      now += 1000
      // 2,000 ms since the bucket emptied: exactly one token, however many were refused meanwhile.
      expect(allowedOf(await takeAll(3))).to.equal(1)
    })

    it('takes a cost of several tokens, all or none', async () => {
      expect(await take('k', FIVE_PER_10S, 3)).to.include({ allowed: true, remaining: 2 })
      expect(await take('k', FIVE_PER_10S, 3)).to.include({ allowed: false, remaining: 2, retryAfterSeconds: 2 })
      expect(await take('k', FIVE_PER_10S, 2)).to.include({ allowed: true, remaining: 0 })
      now += 10_000
      expect(await take('k', FIVE_PER_10S, 5)).to.include({ allowed: true, remaining: 0 })
      now += 10_000
      expect(await take('k', FIVE_PER_10S, 6), 'a cost over the limit is never allowed').to.include({ allowed: false, remaining: 5 })
      expect(await take('k', FIVE_PER_10S, 5), 'and consumed nothing').to.include({ allowed: true })
    })

    it('allows no more than the limit of many takes on one key at once', async () => {
      const limit = { limit: 10, windowMs: 60_000 }
      const decisions = await Promise.all(Array.from({ length: 50 }, () => run(limiter.take('player:id:7', limit))))
      expect(allowedOf(decisions)).to.equal(10)
      expect(decisions.filter((d) => d.allowed).map((d) => d.remaining).sort((a, b) => a - b)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      for (const d of decisions.filter((d) => !d.allowed)) expect(d.retryAfterSeconds).to.equal(6)
    })

    it('gives back what a take took, never past the limit', async () => {
      await takeAll(5)
      await run(limiter.giveBack('player:id:1', FIVE_PER_10S))
      expect(await take()).to.include({ allowed: true, remaining: 0 })
      expect(await take()).to.include({ allowed: false })
      await run(limiter.giveBack('player:id:1', FIVE_PER_10S, 2))
      expect(await take()).to.include({ allowed: true, remaining: 1 })
      // More than was taken, and on keys never taken from: still no more than the limit.
      await run(limiter.giveBack('player:id:1', FIVE_PER_10S, 100))
      await run(limiter.giveBack('player:id:never', FIVE_PER_10S))
      expect(allowedOf(await takeAll(6))).to.equal(5)
      expect(allowedOf(await takeAll(6, 'player:id:never'))).to.equal(5)
    })

    it('neither refills nor breaks when the clock steps back', async () => {
      await takeAll(5)
      now -= 60_000
      expect(await take()).to.include({ allowed: false })
      now += 60_000 + 2000
      expect(allowedOf(await takeAll(2))).to.equal(1)
    })
  })
}
