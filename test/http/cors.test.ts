import { expect } from 'chai'
import { startTestServer, type TestServer, type TestServerOptions } from '../support/server'
import { until } from '../support/until'
import { rawRequest, type RawRequest } from './raw'

/*
 * Browsers on any origin may call the API by default (web pages and bots
 * read messages too); an operator can narrow that to a list of origins.
 */

const GAME = 'https://game.example'

describe('HTTP API: CORS', () => {
  let t: TestServer
  const start = async (options: TestServerOptions = {}) => {
    t = await startTestServer(options)
  }
  afterEach(async () => {
    await t?.close()
  })
  const req = (options: RawRequest) => rawRequest(t.url, options)
  const preflight = (origin: string, path = '/api/send') =>
    req({
      method: 'OPTIONS',
      path,
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    })
  const sendFrom = (origin: string, body = JSON.stringify({ player_name: 'Bob', message: 'hi' })) =>
    req({ method: 'POST', path: '/api/send', headers: { origin, 'content-type': 'application/json' }, body })

  describe('by default, open to every origin', () => {
    beforeEach(() => start())

    it('allows any origin on GET /api', async () => {
      const answer = await req({ path: '/api', headers: { origin: GAME } })
      expect(answer.status).to.equal(200)
      expect(answer.headers['access-control-allow-origin']).to.equal('*')
    })

    it('allows any origin on a send and on a list', async () => {
      const sent = await sendFrom('http://localhost:3000')
      expect(sent.status).to.equal(200)
      expect(sent.headers['access-control-allow-origin']).to.equal('*')
      const listed = await req({ path: '/api/messages', headers: { origin: 'null' } })
      expect(listed.headers['access-control-allow-origin']).to.equal('*')
    })

    it('keeps the header on error answers, so a page can read why it was refused', async () => {
      const malformed = await sendFrom(GAME, '{not json')
      expect(malformed.status).to.equal(400)
      expect(malformed.headers['access-control-allow-origin']).to.equal('*')
      const tooBig = await sendFrom(GAME, JSON.stringify({ player_name: 'Bob', message: 'x'.repeat(70_000) }))
      expect(tooBig.status).to.equal(413)
      expect(tooBig.headers['access-control-allow-origin']).to.equal('*')
      const invalid = await sendFrom(GAME, JSON.stringify({ player_name: ' ', message: 'hi' }))
      expect(invalid.status).to.equal(400)
      expect(invalid.headers['access-control-allow-origin']).to.equal('*')
      const missing = await req({ path: '/api/nope', headers: { origin: GAME } })
      expect(missing.status).to.equal(404)
      expect(missing.headers['access-control-allow-origin']).to.equal('*')
    })

    it('answers a preflight with 204, the methods and the content-type header allowed', async () => {
      const answer = await preflight(GAME)
      expect(answer.status).to.equal(204)
      expect(answer.headers['access-control-allow-origin']).to.equal('*')
      expect(String(answer.headers['access-control-allow-methods']).split(',').map((m) => m.trim())).to.include.members(['GET', 'POST'])
      expect(String(answer.headers['access-control-allow-headers']).toLowerCase()).to.include('content-type')
      expect(answer.text).to.equal('')
    })

    it('answers a preflight for clear and for the list too', async () => {
      expect((await preflight(GAME, '/api/clear')).status).to.equal(204)
      expect((await preflight(GAME, '/api/messages')).headers['access-control-allow-origin']).to.equal('*')
    })

    it('does not store anything for a preflight', async () => {
      await preflight(GAME)
      const listed = await req({ path: '/api/messages' })
      expect(listed.json).to.deep.include({ count: 0 })
    })
  })

  describe('limited to configured origins', () => {
    beforeEach(() => start({ corsOrigins: ['https://a.example', 'http://localhost:3000'] }))

    it('echoes an allowed origin and varies on Origin', async () => {
      const answer = await req({ path: '/api', headers: { origin: 'https://a.example' } })
      expect(answer.status).to.equal(200)
      expect(answer.headers['access-control-allow-origin']).to.equal('https://a.example')
      expect(String(answer.headers.vary)).to.match(/origin/i)
      const other = await req({ path: '/api/messages', headers: { origin: 'http://localhost:3000' } })
      expect(other.headers['access-control-allow-origin']).to.equal('http://localhost:3000')
    })

    it('gives another origin no Allow-Origin header, not even *', async () => {
      for (const origin of ['https://b.example', 'https://a.example.evil.test', 'http://a.example', 'null']) {
        const answer = await req({ path: '/api', headers: { origin } })
        expect(answer.headers, origin).not.to.have.property('access-control-allow-origin')
      }
    })

    it('answers a preflight from an allowed origin with 204 and the origin echoed', async () => {
      const answer = await preflight('https://a.example')
      expect(answer.status).to.equal(204)
      expect(answer.headers['access-control-allow-origin']).to.equal('https://a.example')
      expect(String(answer.headers['access-control-allow-methods'])).to.include('POST')
    })

    it('gives a preflight from another origin no Allow-Origin header', async () => {
      const answer = await preflight('https://b.example')
      expect(answer.headers).not.to.have.property('access-control-allow-origin')
      expect(answer.headers).not.to.have.property('access-control-allow-methods')
    })

    it('still serves clients that send no Origin (game servers, bots)', async () => {
      const answer = await req({
        method: 'POST',
        path: '/api/send',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ player_name: 'Bob', message: 'hi' }),
      })
      expect(answer.status).to.equal(200)
    })
  })

  // Each CORS configuration, with the origins worth asking from under it (undefined: no Origin header, as a game server sends).
  const CORS_CASES = [
    ['open to every origin', '*', [GAME, undefined]],
    ['limited to configured origins', ['https://a.example'], ['https://a.example', 'https://b.example', undefined]],
  ] as const

  // Sends and held polls are answered below Koa (adapters/http/send.ts, long-poll.ts): their headers must be exactly Koa's.
  // What differs from one answer to the next by nature: the date, the length, the connection's, and each request's own id.
  const comparable = (headers: Record<string, unknown>) => {
    const { date, 'content-length': _length, connection, 'keep-alive': _keepAlive, 'x-request-id': requestId, ...rest } = headers
    void date, _length, connection, _keepAlive
    expect(requestId, 'every answer carries its X-Request-Id').to.be.a('string')
    return rest
  }

  describe('a send', () => {
    for (const [label, corsOrigins, origins] of CORS_CASES) {
      for (const via of ['listener', 'koa'] as const) {
        it(`answers with the same headers as Koa does, accepted or refused, ${label} (${via})`, async () => {
          await start({ corsOrigins, via })
          for (const origin of origins) {
            const headers: Record<string, string> = origin === undefined ? {} : { origin }
            const send = (body: string, extra: Record<string, string> = {}) =>
              req({ method: 'POST', path: '/api/send', headers: { 'content-type': 'application/json', ...headers, ...extra }, body })
            // Answered by Koa itself: a status page and a refusal.
            const byKoa = await req({ path: '/api', headers })
            const refusedByKoa = await req({ path: '/api/messages?limit=x', headers })
            expect(refusedByKoa.status).to.equal(400)
            const sent = await send(JSON.stringify({ player_name: 'Bob', message: 'hi' }), { 'idempotency-key': `k-${origin}` })
            // A page on a site the list leaves out may not send to a server without keys (see the tests of keys).
            if (corsOrigins !== '*' && origin !== undefined && !(corsOrigins as ReadonlyArray<string>).includes(origin)) {
              expect(sent.status).to.equal(403)
              expect(comparable(sent.headers), String(origin)).to.deep.equal(comparable(refusedByKoa.headers))
              continue
            }
            expect(sent.status).to.equal(200)
            expect(comparable(sent.headers), String(origin)).to.deep.equal(comparable(byKoa.headers))
            const replayed = await send(JSON.stringify({ player_name: 'Bob', message: 'hi' }), { 'idempotency-key': `k-${origin}` })
            expect(comparable(replayed.headers), String(origin)).to.deep.equal({ ...comparable(byKoa.headers), 'idempotent-replayed': 'true' })
            for (const refused of [
              await send('{not json'),
              await send(JSON.stringify({ player_name: ' ', message: 'hi' })),
              await send(JSON.stringify({ player_name: 'Bob', message: 'x'.repeat(70_000) })),
              await send('{}', { 'content-type': 'text/plain' }),
            ]) {
              expect(refused.status).to.be.within(400, 415)
              expect(comparable(refused.headers), `${origin} ${refused.status}`).to.deep.equal(comparable(refusedByKoa.headers))
            }
          }
        })
      }
    }
  })

  describe('a held long poll', () => {

    for (const [label, corsOrigins, origins] of CORS_CASES) {
      for (const via of ['listener', 'koa'] as const) {
        it(`answers with the same headers as an immediate list, ${label} (${via})`, async () => {
          await start({ corsOrigins, via, autoReplyTemplate: '' })
          for (const origin of origins) {
            const headers: Record<string, string> = origin === undefined ? {} : { origin }
            const immediate = await req({ path: '/api/messages?after=0', headers })
            const after = (immediate.json as { next_after: number }).next_after
            const held = req({ path: `/api/messages?after=${after}&wait=20`, headers })
            const heldForPlayer = req({ path: `/api/messages/Bob?after=${after}&wait=20`, headers })
            await until(() => t.holding() === 2)
            // Sent as a game server sends: without an Origin.
            expect((await req({ method: 'POST', path: '/api/send', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ player_name: 'Bob', message: 'hi' }) })).status).to.equal(200)
            const woken = await held
            const wokenForPlayer = await heldForPlayer
            const expired = await req({ path: `/api/messages?after=${after + 1}&wait=0.1`, headers })
            for (const answer of [woken, wokenForPlayer, expired]) {
              expect(answer.status).to.equal(200)
              expect(comparable(answer.headers), String(origin)).to.deep.equal(comparable(immediate.headers))
            }
            expect(woken.json).to.deep.include({ count: 1, next_after: after + 1 })
            expect(expired.json).to.deep.include({ count: 0, next_after: after + 1 })
          }
        })
      }
    }
  })
})
