import { expect } from 'chai'
import { ADMIN_SCOPES, createAuth, PLAIN_SCOPES, type KeyConfig } from '../../adapters/http/auth'
import { startTestServer, type TestServer, type TestServerOptions } from '../support/server'
import { openEventStream } from '../support/sse'
import { rawRequest, type RawAnswer } from './raw'

/*
 * API keys and scopes at the one front door: every route it guards, both
 * ways of presenting a key, the stream's read token, keys limited to
 * channels, and the open server's one refusal (a page on another site
 * clearing the history).
 */

const GAME_KEY = 'game-key-0123456789abcdef'
const ADMIN_KEY = 'admin-key-0123456789abcdef'
const LOBBY_KEY = 'lobby-key-0123456789abcdef'

const KEYS: ReadonlyArray<KeyConfig> = [
  { label: 'game', secret: GAME_KEY, scopes: PLAIN_SCOPES },
  { label: 'ops', secret: ADMIN_KEY, scopes: ADMIN_SCOPES },
  { label: 'lobbybot', secret: LOBBY_KEY, scopes: PLAIN_SCOPES, channels: ['lobby', 'trade'] },
]

const HEADERS = {
  bearer: (key: string) => ({ authorization: `Bearer ${key}` }),
  'X-Api-Key': (key: string) => ({ 'x-api-key': key }),
} as const

type Route = {
  readonly name: string
  readonly method: 'GET' | 'POST' | 'DELETE'
  readonly path: string
  readonly scope: 'read' | 'send' | 'admin'
  readonly body?: string
  /** What a key with the scope is answered, past the door, when not 200 (a removal of a message no one sent: 404). */
  readonly through?: number
}

const ROUTES: ReadonlyArray<Route> = [
  { name: 'list', method: 'GET', path: '/api/messages', scope: 'read' },
  { name: "a player's list", method: 'GET', path: '/api/messages/Bob', scope: 'read' },
  { name: 'channels', method: 'GET', path: '/api/channels', scope: 'read' },
  { name: 'stream', method: 'GET', path: '/api/stream', scope: 'read' },
  { name: 'a read token', method: 'POST', path: '/api/token', scope: 'read' },
  { name: 'send', method: 'POST', path: '/api/send', scope: 'send', body: JSON.stringify({ player_name: 'Bob', message: 'hi' }) },
  { name: 'clear', method: 'POST', path: '/api/clear', scope: 'admin' },
  { name: 'the refusals', method: 'GET', path: '/api/admin/refusals', scope: 'admin' },
  { name: 'a removal', method: 'DELETE', path: '/api/messages/99', scope: 'admin', through: 404 },
  { name: 'an erasure', method: 'POST', path: '/api/players/Bob/erase', scope: 'admin' },
  { name: 'a mute', method: 'POST', path: '/api/players/Bob/mute', scope: 'admin', body: JSON.stringify({ seconds: 60, reason: 'spam' }) },
  { name: 'an unmute', method: 'DELETE', path: '/api/players/Bob/mute', scope: 'admin', through: 404 },
  { name: 'the mutes', method: 'GET', path: '/api/mutes', scope: 'admin' },
  { name: 'the audit log', method: 'GET', path: '/api/admin/audit', scope: 'admin' },
]

const expectRefused = (answer: RawAnswer, status: number, mentions: RegExp): void => {
  expect(answer.status, answer.text).to.equal(status)
  expect(answer.headers['content-type']).to.match(/^application\/json/)
  expect(answer.json).to.deep.include({ success: false })
  expect((answer.json as { error: string }).error).to.match(mentions)
  for (const secret of [GAME_KEY, ADMIN_KEY, LOBBY_KEY]) expect(answer.text).not.to.include(secret)
}

for (const via of ['listener', 'koa'] as const) {
  describe(`HTTP: API keys and scopes (${via})`, () => {
    let t: TestServer
    const start = async (options: TestServerOptions = {}) => {
      t = await startTestServer({ via, autoReplyTemplate: '', auth: createAuth({ keys: KEYS }), ...options })
    }
    afterEach(async () => {
      await t?.close()
    })
    /** A request that does not wait: a stream is asked with HEAD, which answers at once with what GET would. */
    const ask = (route: Route, headers: Record<string, string>, query = '') =>
      rawRequest(t.url, {
        method: route.path === '/api/stream' ? 'HEAD' : route.method,
        path: `${route.path}${query}`,
        headers: { ...(route.body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
        ...(route.body === undefined ? {} : { body: route.body }),
      })
    const stored = async (channel = 'global') =>
      (
        (await (
          await rawRequest(t.url, { path: `/api/messages?channel=${channel}`, headers: { 'x-api-key': ADMIN_KEY } })
        ).json) as { count: number }
      ).count

    describe('every route it guards', () => {
      beforeEach(() => start())

      for (const route of ROUTES) {
        it(`refuses ${route.name} without a key: 401 with WWW-Authenticate`, async () => {
          const answer = await ask(route, {})
          expect(answer.status).to.equal(401)
          expect(answer.headers['www-authenticate']).to.equal('Bearer realm="roblox-messaging-server"')
          if (route.path !== '/api/stream') expectRefused(answer, 401, /API key/)
        })

        for (const [how, header] of Object.entries(HEADERS)) {
          it(`refuses ${route.name} with an unknown key (${how}): 401, invalid_token`, async () => {
            const answer = await ask(route, header('not-a-key-of-ours-0123456789'))
            expect(answer.status).to.equal(401)
            expect(answer.headers['www-authenticate']).to.match(/error="invalid_token"/)
            if (route.path !== '/api/stream') expectRefused(answer, 401, /not one this server knows/)
          })

          it(`lets ${route.name} through for a key with its scope (${how}), and ${route.scope === 'admin' ? 'refuses' : 'allows'} a plain key`, async () => {
            expect((await ask(route, header(ADMIN_KEY))).status).to.be.oneOf([route.through ?? 200, 204])
            const plain = await ask(route, header(GAME_KEY))
            if (route.scope === 'admin') expectRefused(plain, 403, /may not clear/)
            else expect(plain.status, plain.text).to.equal(200)
          })
        }
      }

      it('refuses a malformed Authorization header as an unknown key', async () => {
        const answer = await rawRequest(t.url, { path: '/api/messages', headers: { authorization: 'Basic Z2FtZTprZXk=' } })
        expectRefused(answer, 401, /API key/)
      })

      it('keeps the status page, the tester and CORS preflights open', async () => {
        expect((await rawRequest(t.url, { path: '/api' })).status).to.equal(200)
        expect((await rawRequest(t.url, { path: '/' })).status).to.equal(200)
        const preflight = await rawRequest(t.url, {
          method: 'OPTIONS',
          path: '/api/send',
          headers: { origin: 'https://game.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-api-key' },
        })
        expect(preflight.status).to.equal(204)
        expect(String(preflight.headers['access-control-allow-headers']).toLowerCase()).to.include('x-api-key')
      })

      it('stores nothing for a refused send and does not echo the key or log it', async () => {
        const send = ROUTES.find((r) => r.name === 'send') as Route
        await ask(send, HEADERS.bearer('not-a-key-of-ours-0123456789'))
        await ask(send, {})
        expect(await stored()).to.equal(0)
        expect(JSON.stringify(t.logged)).not.to.include('key-0123456789')
      })
    })

    describe('keys limited to channels', () => {
      beforeEach(() => start())

      it('reads and sends in its channels only, refusing others with 403 and storing nothing there', async () => {
        const key = HEADERS['X-Api-Key'](LOBBY_KEY)
        const send = (channel: string) =>
          rawRequest(t.url, { method: 'POST', path: '/api/send', headers: { 'content-type': 'application/json', ...key }, body: JSON.stringify({ player_name: 'Bob', message: 'hi', channel }) })
        expect((await send('lobby')).status).to.equal(200)
        expectRefused(await send('global'), 403, /lobbybot may not use the channel global/)
        expect(await stored('global')).to.equal(0)
        expect((await rawRequest(t.url, { path: '/api/messages?channel=trade', headers: key })).status).to.equal(200)
        expectRefused(await rawRequest(t.url, { path: '/api/messages', headers: key }), 403, /channel global/)
        expectRefused(await rawRequest(t.url, { path: '/api/messages/Bob?channel=secret', headers: key }), 403, /channel secret/)
        expectRefused(await rawRequest(t.url, { path: '/api/stream?channel=global', headers: key }), 403, /channel global/)
      })

      it('reads several channels at once only when it may read every one of them', async () => {
        const key = HEADERS['X-Api-Key'](LOBBY_KEY)
        const both = await rawRequest(t.url, { path: '/api/messages?channels=trade,lobby', headers: key })
        expect(both.status).to.equal(200)
        expectRefused(await rawRequest(t.url, { path: '/api/messages?channels=lobby,global,trade', headers: key }), 403, /lobbybot may not use the channel global/)
        expectRefused(await rawRequest(t.url, { path: '/api/messages/Bob?channels=lobby,secret', headers: key }), 403, /channel secret/)
        expectRefused(await rawRequest(t.url, { path: '/api/messages?channels=lobby,trade,global&after=0&wait=5', headers: key }), 403, /channel global/)
        expectRefused(await rawRequest(t.url, { path: '/api/stream?channels=trade,global', headers: key }), 403, /channel global/)
        expect((await rawRequest(t.url, { method: 'HEAD', path: '/api/stream?channels=trade,lobby', headers: key })).status).to.equal(200)
      })

      it('lists only its channels', async () => {
        for (const channel of ['lobby', 'global', 'secret'])
          await rawRequest(t.url, { method: 'POST', path: '/api/send', headers: { 'content-type': 'application/json', 'x-api-key': ADMIN_KEY }, body: JSON.stringify({ player_name: 'Bob', message: 'hi', channel }) })
        const answer = await rawRequest(t.url, { path: '/api/channels', headers: { 'x-api-key': LOBBY_KEY } })
        expect((answer.json as { channels: Array<{ channel: string }> }).channels.map((c) => c.channel)).to.deep.equal(['lobby'])
      })
    })

    describe('the stream, which EventSource opens without headers', () => {
      beforeEach(() => start())

      it('accepts a read token from POST /api/token, and refuses the key itself in the URL', async () => {
        const issued = await rawRequest(t.url, { method: 'POST', path: '/api/token', headers: { 'x-api-key': GAME_KEY } })
        expect(issued.status).to.equal(200)
        const { token, expires_in } = issued.json as { token: string; expires_in: number }
        expect(expires_in).to.equal(600)
        expect(token).not.to.include(GAME_KEY)
        const stream = await openEventStream(`${t.url}/api/stream?token=${encodeURIComponent(token)}`)
        expect(stream.response.status).to.equal(200)
        expect((await stream.nextOf('ready')).event).to.equal('ready')
        await stream.close()
        expectRefused(await rawRequest(t.url, { path: `/api/stream?token=${GAME_KEY}` }), 401, /token/)
        expectRefused(await rawRequest(t.url, { path: `/api/stream?token=${token}x` }), 401, /not one this server issued/)
      })

      it('takes a token for the stream only, and only for reading', async () => {
        const { token } = (await rawRequest(t.url, { method: 'POST', path: '/api/token', headers: { 'x-api-key': ADMIN_KEY } })).json as { token: string }
        expectRefused(await rawRequest(t.url, { path: `/api/messages?token=${token}` }), 401, /API key/)
        expectRefused(await rawRequest(t.url, { method: 'POST', path: `/api/clear?token=${token}` }), 401, /API key/)
      })

      it('refuses an expired token, and a token limited to its key’s channels', async () => {
        let now = Date.now()
        await t.close()
        await start({ auth: createAuth({ keys: KEYS, now: () => now, tokenSeconds: 60 }) })
        const { token } = (await rawRequest(t.url, { method: 'POST', path: '/api/token', headers: { 'x-api-key': LOBBY_KEY } })).json as { token: string }
        expectRefused(await rawRequest(t.url, { path: `/api/stream?channel=global&token=${token}` }), 403, /channel global/)
        expect((await rawRequest(t.url, { method: 'HEAD', path: `/api/stream?channel=lobby&token=${token}` })).status).to.equal(200)
        now += 61_000
        expectRefused(await rawRequest(t.url, { path: `/api/stream?channel=lobby&token=${token}` }), 401, /expired/)
      })
    })

    describe('an open server (no keys)', () => {
      const clearFrom = (headers: Record<string, string>) => rawRequest(t.url, { method: 'POST', path: '/api/clear', headers })

      it('refuses a clear from a page on another site, even with CORS_ORIGINS=*', async () => {
        await start({ auth: createAuth({ keys: [] }) })
        await rawRequest(t.url, { method: 'POST', path: '/api/send', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ player_name: 'Bob', message: 'keep me' }) })
        expectRefused(await clearFrom({ origin: 'https://evil.example' }), 403, /another site \(https:\/\/evil\.example\)/)
        expectRefused(await clearFrom({ 'sec-fetch-site': 'cross-site' }), 403, /another site/)
        expect(await stored()).to.equal(1)
        // The tester on this server, a game server, curl: all may.
        const host = new URL(t.url).host
        expect((await clearFrom({ origin: `http://${host}`, 'sec-fetch-site': 'same-origin' })).status).to.equal(200)
        expect((await clearFrom({})).status).to.equal(200)
      })

      it('lets a listed origin clear, and refuses a send from a page whose origin the list leaves out', async () => {
        await start({ auth: createAuth({ keys: [] }), corsOrigins: ['https://game.example'] })
        expect((await clearFrom({ origin: 'https://game.example' })).status).to.equal(200)
        const send = (origin: string) =>
          rawRequest(t.url, { method: 'POST', path: '/api/send', headers: { 'content-type': 'application/json', origin }, body: JSON.stringify({ player_name: 'Bob', message: 'hi' }) })
        expect((await send('https://game.example')).status).to.equal(200)
        expectRefused(await send('https://evil.example'), 403, /another site/)
      })

      it('lets pages on any site send under CORS_ORIGINS=*, as the original server did', async () => {
        await start({ auth: createAuth({ keys: [] }) })
        const answer = await rawRequest(t.url, {
          method: 'POST',
          path: '/api/send',
          headers: { 'content-type': 'application/json', origin: 'https://fan-site.example' },
          body: JSON.stringify({ player_name: 'Bob', message: 'hi' }),
        })
        expect(answer.status).to.equal(200)
      })

      it('answers POST /api/token with why a token is not needed', async () => {
        await start({ auth: createAuth({ keys: [] }) })
        expectRefused(await rawRequest(t.url, { method: 'POST', path: '/api/token' }), 400, /no API keys/)
      })
    })
  })
}

describe('auth: keys compared in constant time', () => {
  it('hashes what is presented and compares it with every configured key through timingSafeEqual, never with ===', () => {
    // The module object itself (not an import's namespace, whose properties are read-only): auth.ts reads its functions from it at each call.
    const crypto = require('node:crypto') as { timingSafeEqual: typeof import('node:crypto').timingSafeEqual }
    const original = crypto.timingSafeEqual
    let calls = 0
    const spy: typeof original = (a, b) => {
      calls++
      return original(a, b)
    }
    crypto.timingSafeEqual = spy
    try {
      const auth = createAuth({ keys: KEYS })
      const identify = (key: string) => auth.identify({ headers: { 'x-api-key': key } } as never, undefined)
      expect(identify(GAME_KEY)).to.deep.include({ _tag: 'Key' })
      // Every key compared, whichever matched, and for an unknown key too.
      expect(calls).to.equal(KEYS.length)
      calls = 0
      expect(identify('not-a-key-of-ours-0123456789')).to.deep.include({ _tag: 'Unknown' })
      expect(calls).to.equal(KEYS.length)
    } finally {
      crypto.timingSafeEqual = original
    }
  })
})
