import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { createMemoryIdempotencyKeys } from '../../adapters/memory/memory-idempotency-keys'
import { createMemoryMessageStore, type MemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import { limitPlayers, type RateLimited } from '../../application/limit-players'
import { sendIdempotently } from '../../application/send-idempotently'
import { sendMessage, type SendInput } from '../../application/send-message'
import { autoReplyFromTemplate } from '../../domain/auto-reply'
import type { ChannelName } from '../../domain/message'
import { clientLimitKey, playerLimitKey, type RateLimit, type RateLimiter } from '../../domain/rate-limit'
import { run } from '../contracts/message-repository.contract'

const TWO_PER_10S: RateLimit = { limit: 2, windowMs: 10_000 }

const rateLimited = (result: E.Either<unknown, unknown>): RateLimited => {
  if (E.isRight(result) || (result.left as { _tag?: string })._tag !== 'RateLimited') throw new Error(`expected RateLimited, got ${JSON.stringify(result)}`)
  return result.left as RateLimited
}

describe('limitPlayers: the per-player limit around the send', () => {
  let now: number
  let store: MemoryMessageStore
  let limiter: ReturnType<typeof createMemoryRateLimiter>
  const clock = { now: () => now }
  const plainSend = () => sendMessage({ messages: store, clock, autoReply: autoReplyFromTemplate('Hello {player}!'), maxMessageLength: 20 })
  const limited = (limit: RateLimit | undefined = TWO_PER_10S) => limitPlayers({ limiter, limit })(plainSend())
  const stored = async (channel = 'global') => (await run(store.list({ channels: [channel as ChannelName], limit: 1000 }))).messages

  beforeEach(() => {
    now = 1_700_000_000_000
    store = createMemoryMessageStore({ maxMessages: 1000, maxChannels: 10 })
    limiter = createMemoryRateLimiter({ maxKeys: 1000, now: clock.now })
  })

  it('allows the limit, refuses the next with the decision, stores nothing and consumes no id', async () => {
    const send = limited()
    expect((await run(send({ playerName: 'Bob', message: 'one' }))).message.id).to.equal(1)
    expect((await run(send({ playerName: 'Bob', message: 'two' }))).message.id).to.equal(3)
    const refused = rateLimited(await send({ playerName: 'Bob', message: 'three' })())
    expect(refused).to.deep.include({ _tag: 'RateLimited', scope: 'player' })
    expect(refused.decision).to.include({ allowed: false, limit: 2, windowSeconds: 10, remaining: 0, retryAfterSeconds: 5 })
    expect((await stored()).map((m) => m.text)).to.deep.equal(['one', 'Hello Bob!', 'two', 'Hello Bob!'])
    now += 4999
    rateLimited(await send({ playerName: 'Bob', message: 'early' })())
    now += 1
    const next = await run(send({ playerName: 'Bob', message: 'four' }))
    expect(next.message.id, 'the next accepted message gets the next id').to.equal(5)
    expect(next.reply?.id).to.equal(6)
  })

  it('keys a player by user id when given, whatever the name, so renaming or many servers do not help', async () => {
    const send = limited()
    await run(send({ playerName: 'Bob', message: 'a', userId: 42 }))
    await run(send({ playerName: 'Robert', message: 'b', userId: 42, channel: 'trade' }))
    rateLimited(await send({ playerName: 'Bobby', message: 'c', userId: 42 })())
    // Another player with the same name but their own id is not limited by Bob's sends.
    await run(send({ playerName: 'Bob', message: 'd', userId: 43 }))
    // Nor is the name alone, without an id.
    await run(send({ playerName: 'Bob', message: 'e' }))
  })

  it('keys a player without a user id by the name, trimmed and in any case', async () => {
    const send = limited()
    await run(send({ playerName: 'Bob', message: 'a' }))
    await run(send({ playerName: ' BOB ', message: 'b' }))
    rateLimited(await send({ playerName: 'bob', message: 'c' })())
    await run(send({ playerName: 'Alice', message: 'd' }))
  })

  it('lets the send refuse a name it would refuse, without taking a token', async () => {
    const send = limited()
    for (const playerName of [' ', 'Server', 'x'.repeat(51)]) {
      const result = await send({ playerName, message: 'hi' })()
      expect(E.isLeft(result) && result.left._tag, playerName).to.be.oneOf(['Blank', 'Reserved', 'TooLong'])
    }
    expect(limiter.size(), 'no bucket was touched').to.equal(0)
  })

  it('gives the token back when the send refuses anyway (text, channel), so only stored messages count', async () => {
    const send = limited()
    for (let i = 0; i < 5; i++) {
      expect((await send({ playerName: 'Bob', message: 'x'.repeat(21) })())._tag).to.equal('Left')
      expect((await send({ playerName: 'Bob', message: 'hi', channel: 'bad channel' })())._tag).to.equal('Left')
    }
    await run(send({ playerName: 'Bob', message: 'one' }))
    await run(send({ playerName: 'Bob', message: 'two' }))
    rateLimited(await send({ playerName: 'Bob', message: 'three' })())
  })

  it('names buckets apart: players by id or by name, clients by key label or by address', () => {
    expect(playerLimitKey(42, 'bob')).to.equal('player:id:42')
    expect(playerLimitKey(undefined, '42')).to.equal('player:name:42')
    expect(clientLimitKey({ keyLabel: 'game-eu', address: '10.0.0.1' })).to.equal('client:key:game-eu')
    expect(clientLimitKey({ address: '10.0.0.1' })).to.equal('client:addr:10.0.0.1')
  })

  it('returns the send itself when the limit is off', async () => {
    const send = plainSend()
    expect(limitPlayers({ limiter, limit: undefined })(send)).to.equal(send)
  })

  it('fails the send, storing nothing, when the limiter’s store is unavailable', async () => {
    const broken: RateLimiter = {
      take: () => async () => E.left({ _tag: 'StoreUnavailable', detail: 'limiter down' }),
      giveBack: () => async () => E.right(undefined),
    }
    const send = limitPlayers({ limiter: broken, limit: TWO_PER_10S })(plainSend())
    expect(await send({ playerName: 'Bob', message: 'hi' })()).to.deep.equal(E.left({ _tag: 'StoreUnavailable', detail: 'limiter down' }))
    expect(await stored()).to.have.length(0)
  })

  describe('inside sendIdempotently', () => {
    const idempotent = () =>
      sendIdempotently({ keys: createMemoryIdempotencyKeys({ maxKeys: 100, retentionMs: 86_400_000, now: clock.now }), send: limited() })
    const bob = (message: string): SendInput => ({ playerName: 'Bob', message, userId: 42 })

    it('replays a completed key after the player’s tokens ran out, while a new message is refused', async () => {
      const send = idempotent()
      const first = await run(send(bob('one'), 'key-1'))
      await run(send(bob('two'), 'key-2'))
      const replay = await run(send(bob('one'), 'key-1'))
      expect(replay.replayed).to.equal(true)
      expect(replay.conversation.message.id).to.equal(first.conversation.message.id)
      // Replays take no token: however many, a retry of the same request is answered.
      for (let i = 0; i < 5; i++) expect((await run(send(bob('one'), 'key-1'))).replayed).to.equal(true)
      const refused = rateLimited(await send(bob('three'), 'key-3')())
      expect(refused.decision.retryAfterSeconds).to.equal(5)
      expect(await stored()).to.have.length(4)
    })

    it('releases the key of a refused send, so the same request is sent once Retry-After has passed', async () => {
      const send = idempotent()
      await run(send(bob('one'), 'key-1'))
      await run(send(bob('two'), 'key-2'))
      rateLimited(await send(bob('three'), 'key-3')())
      rateLimited(await send(bob('three'), 'key-3')())
      now += 5000
      const sent = await run(send(bob('three'), 'key-3'))
      expect(sent.replayed).to.equal(false)
      expect(sent.conversation.message.id, 'no id was consumed by the refusals').to.equal(5)
      expect((await run(send(bob('three'), 'key-3'))).replayed).to.equal(true)
    })
  })
})
