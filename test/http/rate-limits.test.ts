import { expect } from 'chai'
import { createAuth, PLAIN_SCOPES } from '../../adapters/http/auth'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import { startTestServer, type TestServer, type TestServerOptions } from '../support/server'
import { eventually } from '../support/until'
import { rawRequest, type RawAnswer } from './raw'

/*
 * Rate limits at work over HTTP, with an injected clock (nothing sleeps):
 * per player on sends, per client (its key, else its address) on every
 * request, a long poll counted once. A refusal is a 429 with Retry-After,
 * the IETF draft's fields and a JSON error naming the limit.
 */

const KEY_A = 'client-a-0123456789abcdef'
const KEY_B = 'client-b-0123456789abcdef'

const expectLimited = (answer: RawAnswer, retryAfter: number, names: RegExp): void => {
  expect(answer.status, answer.text).to.equal(429)
  expect(answer.headers['retry-after']).to.equal(String(retryAfter))
  expect(answer.headers['ratelimit-policy']).to.be.a('string')
  expect(answer.headers.ratelimit).to.be.a('string')
  expect(answer.headers['ratelimit-remaining']).to.equal('0')
  expect(answer.json).to.deep.include({ success: false })
  expect((answer.json as { error: string }).error).to.match(names)
}

for (const via of ['listener', 'koa'] as const) {
  describe(`HTTP: rate limits (${via})`, () => {
    let t: TestServer
    let now = 1_700_000_000_000
    const clock = () => now
    const start = async (options: TestServerOptions = {}) => {
      now = 1_700_000_000_000
      t = await startTestServer({ via, autoReplyTemplate: '', clock: { now: clock }, ...options })
    }
    afterEach(async () => {
      await t?.close()
    })
    const send = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
      rawRequest(t.url, { method: 'POST', path: '/api/send', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
    const newest = async () => ((await rawRequest(t.url, { path: '/api/messages' })).json as { next_after: number }).next_after

    describe('per player (PLAYER_RATE_LIMIT 3/6s)', () => {
      beforeEach(() => start({ playerRateLimit: { limiter: createMemoryRateLimiter({ maxKeys: 1000, now: clock }), limit: { limit: 3, windowMs: 6_000 } } }))

      it('lets a player send the limit at once, then refuses with Retry-After until a token comes back', async () => {
        for (let i = 0; i < 3; i++) expect((await send({ player_name: 'Bob', message: `m${i}` })).status).to.equal(200)
        expectLimited(await send({ player_name: 'Bob', message: 'one too many' }), 2, /player.*at most 3 every 6 seconds/)
        now += 1_999
        expect((await send({ player_name: 'Bob', message: 'still too soon' })).status).to.equal(429)
        now += 1
        expect((await send({ player_name: 'Bob', message: 'refilled' })).status).to.equal(200)
      })

      it('stores nothing and consumes no id for a refused send', async () => {
        for (let i = 0; i < 3; i++) await send({ player_name: 'Bob', message: `m${i}` })
        const before = await newest()
        expect((await send({ player_name: 'Bob', message: 'refused' })).status).to.equal(429)
        expect(await newest()).to.equal(before)
        const other = await send({ player_name: 'Ann', message: 'next' })
        expect((other.json as { message: { id: number } }).message.id).to.equal(before + 1)
      })

      it('keys a player by user_id when given, else by name in any case, across names and servers', async () => {
        for (const name of ['Bob', 'BOB', 'bob']) expect((await send({ player_name: name, message: 'hi' })).status).to.equal(200)
        expect((await send({ player_name: ' bOb ', message: 'hi' })).status).to.equal(429)
        for (const name of ['First', 'Renamed', 'Again']) expect((await send({ player_name: name, message: 'hi', user_id: 42 })).status).to.equal(200)
        expect((await send({ player_name: 'Another', message: 'hi', user_id: 42 })).status).to.equal(429)
        expect((await send({ player_name: 'Another', message: 'hi', user_id: 43 })).status).to.equal(200)
      })

      it('answers a replay of an Idempotency-Key without taking a token', async () => {
        const key = { 'idempotency-key': 'retry-me' }
        expect((await send({ player_name: 'Bob', message: 'm0' }, key)).status).to.equal(200)
        for (let i = 1; i < 3; i++) await send({ player_name: 'Bob', message: `m${i}` })
        const replay = await send({ player_name: 'Bob', message: 'm0' }, key)
        expect(replay.status).to.equal(200)
        expect(replay.headers['idempotent-replayed']).to.equal('true')
      })
    })

    describe('per client (CLIENT_RATE_LIMIT 4/60s)', () => {
      const limited = (options: TestServerOptions = {}) =>
        start({ clientRateLimit: { limiter: createMemoryRateLimiter({ maxKeys: 1000, now: clock }), limit: { limit: 4, windowMs: 60_000 } }, ...options })

      it('counts every request of a client on every route, and refuses the next with 429 naming the limit', async () => {
        await limited()
        expect((await rawRequest(t.url, { path: '/api/messages' })).status).to.equal(200)
        expect((await rawRequest(t.url, { path: '/api/channels' })).status).to.equal(200)
        expect((await send({ player_name: 'Bob', message: 'hi' })).status).to.equal(200)
        expect((await rawRequest(t.url, { method: 'POST', path: '/api/clear' })).status).to.equal(200)
        expectLimited(await rawRequest(t.url, { path: '/api/messages' }), 15, /client.*at most 4 every 60 seconds/)
        expectLimited(await send({ player_name: 'Bob', message: 'refused' }), 15, /client/)
      })

      it('counts a held long poll once, however long it is held', async () => {
        await limited()
        const after = await newest()
        const held = rawRequest(t.url, { path: `/api/messages?after=${after}&wait=20` })
        await eventually(() => t.http.heldPolls() === 1, 5_000, 'the poll held')
        expect((await send({ player_name: 'Bob', message: 'wakes it' })).status).to.equal(200)
        expect((await held).status).to.equal(200)
        expect((await rawRequest(t.url, { path: '/api/messages' })).status).to.equal(200)
        expect((await rawRequest(t.url, { path: '/api/messages' })).status).to.equal(429)
      })

      it('takes the key as the client when there is one, so two games on one address have their own limits', async () => {
        await limited({
          auth: createAuth({
            keys: [
              { label: 'game-a', secret: KEY_A, scopes: PLAIN_SCOPES },
              { label: 'game-b', secret: KEY_B, scopes: PLAIN_SCOPES },
            ],
          }),
        })
        for (let i = 0; i < 4; i++) expect((await rawRequest(t.url, { path: '/api/messages', headers: { 'x-api-key': KEY_A } })).status).to.equal(200)
        expect((await rawRequest(t.url, { path: '/api/messages', headers: { 'x-api-key': KEY_A } })).status).to.equal(429)
        expect((await rawRequest(t.url, { path: '/api/messages', headers: { 'x-api-key': KEY_B } })).status).to.equal(200)
      })

      it('leaves the status page and preflights alone', async () => {
        await limited()
        for (let i = 0; i < 10; i++) expect((await rawRequest(t.url, { path: '/api' })).status).to.equal(200)
        const preflight = await rawRequest(t.url, { method: 'OPTIONS', path: '/api/send', headers: { origin: 'https://a.example', 'access-control-request-method': 'POST' } })
        expect(preflight.status).to.equal(204)
      })
    })
  })
}
