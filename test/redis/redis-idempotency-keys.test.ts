import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { connectRedis, type RedisConnection } from '../../adapters/redis/connection'
import { CLAIM_TTL_MS, createRedisIdempotencyKeys, type RedisIdempotencyOptions } from '../../adapters/redis/redis-idempotency-keys'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import type { Conversation } from '../../domain/message-repository'
import { idempotencyKeysContract } from '../contracts/idempotency-keys.contract'
import { run } from '../contracts/message-repository.contract'
import { requireRedis, startRedis, type TestRedis } from '../support/redis'

const freshPrefix = () => `t${randomBytes(6).toString('hex')}`

const conversation = (id: number, text: string): Conversation => {
  const message: Message = { id, channel: 'global' as ChannelName, playerName: 'Bob' as PlayerName, text: text as MessageText, sentAt: 1000, type: 'player', replyTo: undefined, userId: 42 }
  return { message, reply: { ...message, id: id + 1, playerName: 'Server' as PlayerName, text: 'Hello Bob!' as MessageText, type: 'reply', replyTo: id, userId: undefined } }
}

describe('redis idempotency keys', function () {
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

  idempotencyKeysContract('redis', async ({ maxKeys, retentionMs, now }) => ({
    keys: createRedisIdempotencyKeys({ connection, prefix: freshPrefix(), maxKeys, retentionMs, now }),
    close: async () => undefined,
  }))

  describe('beyond the contract', () => {
    let now: number
    let prefix: string
    let logged: string[]
    const keysOn = (c: RedisConnection, extra: Partial<RedisIdempotencyOptions> = {}) =>
      createRedisIdempotencyKeys({ connection: c, prefix, maxKeys: 100, retentionMs: 24 * 3_600_000, now: () => now, log: (m) => logged.push(m), ...extra })
    const keysUnder = async () => (await connection.client.keys(`${prefix}:*`)).sort()

    beforeEach(() => {
      now = 1_700_000_000_000
      prefix = freshPrefix()
      logged = []
    })

    it('is shared by two instances on two connections, as two processes would share it', async () => {
      const a = keysOn(connection)
      const b = keysOn(await connect())
      expect(await run(a.claim('k', 'fp'))).to.deep.equal({ _tag: 'Claimed' })
      expect(await run(b.claim('k', 'fp'))).to.deep.equal({ _tag: 'InProgress' })
      await run(a.complete('k', 'fp', conversation(7, 'hi')))
      const replay = await run(b.claim('k', 'fp'))
      expect(replay).to.deep.include({ _tag: 'Completed', sameRequest: true })
      expect(JSON.parse(JSON.stringify(replay))).to.deep.equal(JSON.parse(JSON.stringify({ _tag: 'Completed', sameRequest: true, conversation: conversation(7, 'hi') })))
      expect(await run(b.claim('k', 'another body'))).to.deep.include({ _tag: 'Completed', sameRequest: false })
      await run(b.claim('r', 'fp'))
      await run(b.release('r'))
      expect(await run(a.claim('r', 'fp'))).to.deep.equal({ _tag: 'Claimed' })
    })

    it('answers exactly one of many claims at once from two connections with Claimed', async () => {
      const a = keysOn(connection)
      const b = keysOn(await connect())
      const claims = await Promise.all(Array.from({ length: 40 }, (_, i) => run((i % 2 === 0 ? a : b).claim('k', 'fp'))))
      expect(claims.filter((c) => c._tag === 'Claimed')).to.have.length(1)
      expect(claims.filter((c) => c._tag === 'InProgress')).to.have.length(39)
    })

    it('holds maxKeys across instances, forgetting the oldest first', async () => {
      const a = keysOn(connection, { maxKeys: 5 })
      const b = keysOn(await connect(), { maxKeys: 5 })
      for (let i = 1; i <= 12; i++) {
        now += 1
        const via = i % 2 === 0 ? a : b
        await run(via.claim(`k${i}`, 'fp'))
        await run(via.complete(`k${i}`, 'fp', conversation(i, 'x')))
      }
      expect(await connection.client.zCard(`${prefix}:idem:index`)).to.equal(5)
      expect((await keysUnder()).filter((k) => k.startsWith(`${prefix}:idem:k:`))).to.have.length(5)
      for (let i = 8; i <= 12; i++) expect((await run(a.claim(`k${i}`, 'fp')))._tag, `k${i}`).to.equal('Completed')
      expect(await run(b.claim('k7', 'fp'))).to.deep.equal({ _tag: 'Claimed' })
    })

    it(`lets a claim never completed go after ${CLAIM_TTL_MS / 1000} s (its process was killed mid-send), however long the retention`, async () => {
      const keys = keysOn(connection)
      await run(keys.claim('k', 'fp'))
      const entry = `${prefix}:idem:k:k`
      const ttl = await connection.client.pTTL(entry)
      expect(ttl, 'Redis lets it go too, should no one ask again').to.be.within(CLAIM_TTL_MS - 1_000, CLAIM_TTL_MS)
      now += CLAIM_TTL_MS - 1
      expect(await run(keys.claim('k', 'fp'))).to.deep.equal({ _tag: 'InProgress' })
      now += 1
      expect(await run(keys.claim('k', 'fp'))).to.deep.equal({ _tag: 'Claimed' })
      await run(keys.complete('k', 'fp', conversation(1, 'x')))
      expect(await connection.client.pTTL(entry), 'a completed key lives for the retention').to.be.above(24 * 3_600_000 - 5_000)
      expect(await connection.client.pTTL(`${prefix}:idem:index`)).to.be.above(24 * 3_600_000 - 5_000)
    })

    it('keeps a digest of the fingerprint, never its text', async () => {
      const keys = keysOn(connection)
      const fingerprint = '{"player_name":"Bob","message":"a secret-ish message"}'
      await run(keys.claim('k', fingerprint))
      await run(keys.complete('k', fingerprint, conversation(1, 'stored text')))
      const stored = await connection.client.hGetAll(`${prefix}:idem:k:k`)
      expect(Object.keys(stored).sort()).to.deep.equal(['at', 'c', 'd', 's', 'v'])
      for (const value of Object.values(stored)) expect(value).not.to.include('secret-ish')
      expect(stored.d).to.have.length(44)
    })

    it('keeps keys with odd characters apart and inside the prefix', async () => {
      const keys = keysOn(connection)
      const odd = ['a b', 'a%0020b', 'a%b', 'a*', 'a?', '{tag}x', 'line\nbreak', 'ünï', '\ud800', '\udc00', ':idem:index', 'x:y', '']
      for (const key of odd) expect(await run(keys.claim(key, 'fp')), JSON.stringify(key)).to.deep.equal({ _tag: 'Claimed' })
      for (const key of odd) expect(await run(keys.claim(key, 'fp')), JSON.stringify(key)).to.deep.equal({ _tag: 'InProgress' })
      const all = await keysUnder()
      expect(all).to.have.length(odd.length + 1)
      for (const k of all) expect(k).to.match(new RegExp(`^${prefix}:idem:(index$|k:[A-Za-z0-9:._%-]*$)`))
      await run(keys.release('a b'))
      expect(await run(keys.claim('a%0020b', 'fp'))).to.deep.equal({ _tag: 'InProgress' })
    })

    it('treats a stored entry it cannot read as absent, and logs it', async () => {
      const keys = keysOn(connection)
      const entry = (key: string) => `${prefix}:idem:k:${key}`
      const at = String(now)
      const { client } = connection
      await client.hSet(entry('badjson'), { v: '1', s: 'c', at, d: 'x', c: '{"message":' })
      await client.hSet(entry('badshape'), { v: '1', s: 'c', at, d: 'x', c: '{"message":{"id":"one"}}' })
      await client.hSet(entry('oldversion'), { v: '0', s: 'c', at, d: 'x', c: '{}' })
      await client.hSet(entry('nostate'), { v: '1', at })
      await client.hSet(entry('badtime'), { v: '1', s: 'p', at: 'yesterday' })
      await client.set(entry('plainstring'), 'garbage')
      await client.rPush(entry('pushedlist'), 'garbage')
      const corrupt = ['badjson', 'badshape', 'oldversion', 'nostate', 'badtime', 'plainstring', 'pushedlist']
      for (const key of corrupt) {
        const claimed = await keys.claim(key, 'fp')()
        expect(claimed, key).to.deep.equal(E.right({ _tag: 'Claimed' }))
      }
      expect(logged).to.have.length(corrupt.length)
      // Why, and never which key: a client's Idempotency-Key stays out of the log.
      for (const [i, key] of corrupt.entries()) {
        expect(logged[i]).to.match(/^an idempotency key entry was unreadable \((an entry of another layout|a conversation that does not decode|a \w+, not a hash)\); treated as absent/)
        expect(logged[i]).not.to.include(key)
      }
      // Claimed for real: in progress now, and completed like any other.
      for (const key of corrupt) expect(await run(keys.claim(key, 'fp'))).to.deep.equal({ _tag: 'InProgress' })
      await run(keys.complete('badjson', 'fp', conversation(3, 'x')))
      expect((await run(keys.claim('badjson', 'fp')))._tag).to.equal('Completed')
    })

    it('answers StoreUnavailable within about 2 s while Redis stalls, and works again once it answers', async () => {
      const keys = keysOn(connection)
      const pid = Number(/process_id:(\d+)/.exec(await connection.client.info('server'))?.[1])
      process.kill(pid, 'SIGSTOP')
      try {
        const started = Date.now()
        const result = await keys.claim('k', 'fp')()
        expect(E.isLeft(result) && result.left._tag).to.equal('StoreUnavailable')
        expect(Date.now() - started).to.be.within(1_900, 2_500)
      } finally {
        process.kill(pid, 'SIGCONT')
      }
      await connection.whenReady(10_000)
      // The stalled claim ran once Redis woke: the key is in progress until its claim's lifetime passes.
      expect(await run(keys.claim('k', 'fp'))).to.deep.equal({ _tag: 'InProgress' })
      now += CLAIM_TTL_MS
      expect(await run(keys.claim('k', 'fp'))).to.deep.equal({ _tag: 'Claimed' })
    })

    it('answers StoreUnavailable quickly while Redis is down, and works again once it is back', async () => {
      const keys = keysOn(connection)
      await run(keys.claim('before', 'fp'))
      await redis.stop()
      try {
        for (const attempt of [() => keys.claim('k', 'fp'), () => keys.complete('k', 'fp', conversation(1, 'x')), () => keys.release('k')]) {
          const started = Date.now()
          const result = await attempt()()
          expect(E.isLeft(result) && result.left._tag).to.equal('StoreUnavailable')
          expect(Date.now() - started).to.be.below(2_000)
        }
      } finally {
        await redis.start({ empty: true })
      }
      await connection.whenReady(10_000)
      // A Redis that lost its data lost the scripts too: they are loaded again on the way.
      expect(await run(keys.claim('k', 'fp'))).to.deep.equal({ _tag: 'Claimed' })
      await run(keys.complete('k', 'fp', conversation(1, 'x')))
      expect((await run(keys.claim('k', 'fp')))._tag).to.equal('Completed')
    })
  })
})
