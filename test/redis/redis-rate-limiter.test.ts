import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import { connectRedis, type RedisConnection } from '../../adapters/redis/connection'
import { createRedisRateLimiter } from '../../adapters/redis/redis-rate-limiter'
import type { RateDecision, RateLimit } from '../../domain/rate-limit'
import { run } from '../contracts/message-repository.contract'
import { rateLimiterContract } from '../contracts/rate-limiter.contract'
import { requireRedis, startRedis, type TestRedis } from '../support/redis'

const freshPrefix = () => `t${randomBytes(6).toString('hex')}`
const FIVE_PER_10S: RateLimit = { limit: 5, windowMs: 10_000 }
const allowedOf = (decisions: ReadonlyArray<RateDecision>) => decisions.filter((d) => d.allowed).length

/** A small deterministic generator (mulberry32), so that a failing sequence can be run again. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

describe('redis rate limiter', function () {
  this.timeout(30_000)
  before(requireRedis)

  let redis: TestRedis
  let connection: RedisConnection
  const opened: RedisConnection[] = []
  const connect = async (): Promise<RedisConnection> => {
    const c = connectRedis({ url: redis.url })
    opened.push(c)
    await c.whenReady(5_000)
    return c
  }
  before(async () => {
    redis = await startRedis()
    connection = await connect()
  })
  after(async () => {
    await Promise.all(opened.map((c) => c.close()))
    await redis?.close()
  })

  rateLimiterContract('redis', async ({ now }) => ({ limiter: createRedisRateLimiter({ connection, prefix: freshPrefix(), now }), close: async () => undefined }))

  describe('beyond the contract', () => {
    let now: number
    let prefix: string
    const limiterOn = (c: RedisConnection, clock: () => number = () => now) => createRedisRateLimiter({ connection: c, prefix, now: clock })
    const keysUnder = async () => (await connection.client.keys(`${prefix}:*`)).sort()

    beforeEach(() => {
      now = 1_700_000_000_000
      prefix = freshPrefix()
    })

    it('shares a limit between two instances on two connections', async () => {
      const a = limiterOn(connection)
      const b = limiterOn(await connect())
      const decisions: RateDecision[] = []
      for (let i = 0; i < 8; i++) decisions.push(await run((i % 2 === 0 ? a : b).take('player:id:1', FIVE_PER_10S)))
      expect(decisions.map((d) => d.allowed)).to.deep.equal([true, true, true, true, true, false, false, false])
      expect(decisions.map((d) => d.remaining)).to.deep.equal([4, 3, 2, 1, 0, 0, 0, 0])
      await run(b.giveBack('player:id:1', FIVE_PER_10S))
      expect(await run(a.take('player:id:1', FIVE_PER_10S))).to.include({ allowed: true, remaining: 0 })
    })

    it('allows no more than the limit of many takes at once from two connections', async () => {
      const a = limiterOn(connection)
      const b = limiterOn(await connect())
      const limit = { limit: 10, windowMs: 60_000 }
      const decisions = await Promise.all(Array.from({ length: 50 }, (_, i) => run((i % 2 === 0 ? a : b).take('player:id:7', limit))))
      expect(allowedOf(decisions)).to.equal(10)
      expect(decisions.filter((d) => d.allowed).map((d) => d.remaining).sort((x, y) => x - y)).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
      for (const d of decisions.filter((d) => !d.allowed)) expect(d.retryAfterSeconds).to.equal(6)
    })

    it('decides exactly as the memory adapter over a long random sequence of takes and give-backs', async () => {
      const next = random(20240611)
      const redisLimiter = limiterOn(connection)
      const memory = createMemoryRateLimiter({ maxKeys: 10_000, now: () => now })
      const limits: RateLimit[] = [FIVE_PER_10S, { limit: 3, windowMs: 10_000 }, { limit: 7, windowMs: 1_000 }, { limit: 600, windowMs: 60_000 }, { limit: 1, windowMs: 3_600_000 }, { limit: 13, windowMs: 7_777 }]
      for (let step = 0; step < 3_000; step++) {
        const which = Math.floor(next() * limits.length)
        const limit = limits[which]!
        const key = `k${which}:${Math.floor(next() * 3)}`
        const cost = next() < 0.8 ? 1 : 1 + Math.floor(next() * (limit.limit + 1))
        now += Math.floor(next() < 0.7 ? next() * 300 : next() * 5_000)
        if (next() < 0.15) {
          await run(memory.giveBack(key, limit, cost))
          await run(redisLimiter.giveBack(key, limit, cost))
        } else {
          const expected = await run(memory.take(key, limit, cost))
          expect(await run(redisLimiter.take(key, limit, cost)), `step ${step}: ${key} ${limit.limit}/${limit.windowMs} cost ${cost}`).to.deep.equal(expected)
        }
      }
    })

    it('keeps no full bucket, and lets Redis expire a bucket once it has refilled', async () => {
      const limiter = limiterOn(connection)
      await run(limiter.take('player:id:1', FIVE_PER_10S))
      const ttl = await connection.client.pTTL(`${prefix}:rate:player:id:1`)
      expect(ttl, 'about the time to refill one token').to.be.within(1_500, 2_001)
      await run(limiter.giveBack('player:id:1', FIVE_PER_10S))
      expect(await keysUnder(), 'given back to full: the same as none').to.deep.equal([])
      expect((await run(limiter.take('k', FIVE_PER_10S, 6))).allowed).to.equal(false)
      await run(limiter.giveBack('never', FIVE_PER_10S))
      expect(await keysUnder(), 'a refused take on a full bucket, a give-back to none: nothing kept').to.deep.equal([])
      // On the real clock, a bucket of one token a 150 ms is gone from Redis once it has refilled.
      const real = limiterOn(connection, Date.now)
      for (let i = 0; i < 100; i++) await run(real.take(`flood:${i}`, { limit: 1, windowMs: 150 }))
      expect(await keysUnder()).to.have.length(100)
      await new Promise((resolve) => setTimeout(resolve, 400))
      expect(await keysUnder()).to.deep.equal([])
    })

    it('keeps keys with odd characters apart and inside the prefix, and replaces what is not a bucket', async () => {
      const limiter = limiterOn(connection)
      const odd = ['client:key:a b', 'client:key:a%0020b', 'client:key:*', 'client:key:{x}', 'client:addr:::1', 'player:name:ünï', 'line\nbreak', '\ud800', '']
      for (const key of odd) expect(await run(limiter.take(key, FIVE_PER_10S, 5)), JSON.stringify(key)).to.include({ allowed: true, remaining: 0 })
      for (const key of odd) expect((await run(limiter.take(key, FIVE_PER_10S))).allowed, JSON.stringify(key)).to.equal(false)
      const all = await keysUnder()
      expect(all).to.have.length(odd.length)
      for (const k of all) expect(k).to.match(new RegExp(`^${prefix}:rate:[A-Za-z0-9:._%-]*$`))
      await connection.client.set(`${prefix}:rate:player:id:9`, 'garbage')
      await connection.client.hSet(`${prefix}:rate:player:id:10`, { t: 'lots' })
      for (const key of ['player:id:9', 'player:id:10']) {
        expect(await run(limiter.take(key, FIVE_PER_10S)), key).to.include({ allowed: true, remaining: 4 })
        expect(await run(limiter.take(key, FIVE_PER_10S)), key).to.include({ allowed: true, remaining: 3 })
      }
    })

    it('answers StoreUnavailable within about 2 s while Redis stalls, and works again once it answers', async () => {
      const limiter = limiterOn(connection)
      // A slow refill: Redis's expiry, on its own clock, must not forget the bucket while it stalls.
      const slow = { limit: 5, windowMs: 600_000 }
      await run(limiter.take('player:id:1', slow))
      const pid = Number(/process_id:(\d+)/.exec(await connection.client.info('server'))?.[1])
      process.kill(pid, 'SIGSTOP')
      try {
        const started = Date.now()
        const result = await limiter.take('player:id:1', slow)()
        expect(E.isLeft(result) && result.left._tag).to.equal('StoreUnavailable')
        expect(Date.now() - started).to.be.within(1_900, 2_500)
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      await connection.whenReady(10_000)
      // The stalled take ran once Redis woke: a request whose answer was lost, as over any network.
      expect(await run(limiter.take('player:id:1', slow))).to.include({ allowed: true, remaining: 2 })
    })

    it('answers StoreUnavailable quickly while Redis is down, and works again once it is back', async () => {
      const limiter = limiterOn(connection)
      await run(limiter.take('player:id:1', FIVE_PER_10S))
      await redis.stop()
      try {
        for (const attempt of [() => limiter.take('player:id:1', FIVE_PER_10S), () => limiter.giveBack('player:id:1', FIVE_PER_10S)]) {
          const started = Date.now()
          const result = await attempt()()
          expect(E.isLeft(result) && result.left._tag).to.equal('StoreUnavailable')
          expect(Date.now() - started).to.be.below(2_000)
        }
      } finally {
        await redis.start({ empty: true })
      }
      await connection.whenReady(10_000)
      expect(await run(limiter.take('player:id:1', FIVE_PER_10S))).to.include({ allowed: true, remaining: 4 })
    })
  })
})
