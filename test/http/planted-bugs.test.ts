import { request, type IncomingHttpHeaders, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { expect } from 'chai'
import {
  autoReplyFromTemplate,
  createApp,
  createGuardedServer,
  createMemoryIdempotencyKeys,
  createMemoryMessageStore,
  createRequestListener,
  systemTimer,
  type AppDeps,
  type MessageFeed,
} from '../../index'

/*
 * Regression tests for four one-line bugs that once passed every other test:
 *
 * 1. a player's gap not reported when the oldest of several of their messages is evicted;
 * 2. a held long poll woken (and answered, empty) by a message for another channel or player;
 * 3. an Idempotency-Key replayed for a body that differs in one field (channel, user_id, ...);
 * 4. a look-alike origin given Access-Control-Allow-Origin on the paths answered below Koa.
 *
 * Written against the public surface only (the library's exports, HTTP, the
 * MessageFeed port), with a server of their own, so that they hold whatever
 * the adapters and the test support look like inside. Every test runs through
 * both entries: the node:http listener (`startServer`'s) and the Koa app.
 * Nothing sleeps: a held poll is known to be held when it subscribes to the feed.
 */

type Answer = { readonly status: number; readonly headers: IncomingHttpHeaders; readonly text: string; readonly json: unknown }

type Served = {
  readonly url: string
  /** Resolves when the next reader (a long poll, a stream) subscribes to the feed: call it before the request. */
  readonly nextSubscription: () => Promise<void>
  readonly close: () => Promise<void>
}

type ServeOptions = { readonly via: 'listener' | 'koa'; readonly maxMessages?: number; readonly corsOrigins?: AppDeps['corsOrigins']; readonly autoReply?: string }

const serve = async (options: ServeOptions): Promise<Served> => {
  const store = createMemoryMessageStore({ maxMessages: options.maxMessages ?? 1000, maxChannels: 100 })
  const waiters: Array<() => void> = []
  const feed: MessageFeed = {
    subscribe: (filter, listener) => {
      const unsubscribe = store.subscribe(filter, listener)
      waiters.shift()?.()
      return unsubscribe
    },
  }
  const deps: AppDeps = {
    messages: store,
    feed,
    idempotencyKeys: createMemoryIdempotencyKeys({ maxKeys: 10_000, retentionMs: 24 * 60 * 60 * 1000 }),
    clock: { now: Date.now },
    timer: systemTimer,
    autoReply: autoReplyFromTemplate(options.autoReply ?? ''),
    maxMessageLength: 1000,
    corsOrigins: options.corsOrigins ?? '*',
    longPollMaxSeconds: 25,
  }
  const listener: RequestListener = options.via === 'koa' ? createApp(deps).callback() : createRequestListener(deps)
  const server: Server = createGuardedServer(listener)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    nextSubscription: () => new Promise<void>((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

type Call = { readonly method?: string; readonly headers?: Record<string, string>; readonly body?: string }

/** One request on its own connection, read to the end. */
const call = (url: string, path: string, options: Call = {}): Promise<Answer> =>
  new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method: options.method ?? 'GET', headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json: unknown
        try {
          json = JSON.parse(text)
        } catch {
          json = undefined
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
      })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(options.body)
  })

/** The headers of an answer that does not end (the event stream); the connection is then dropped. */
const headersOf = (url: string, path: string, headers: Record<string, string>): Promise<{ status: number; headers: IncomingHttpHeaders }> =>
  new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { headers, agent: false }, (res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers })
      res.on('error', () => undefined)
      req.destroy()
    })
    req.on('error', reject)
    req.end()
  })

const sendJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  call(url, '/api/send', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })

const texts = (answer: Answer): string[] => (answer.json as { messages: Array<{ message: string }> }).messages.map((m) => m.message)

/** The id the next message gets is above this: the `next_after` of a plain list. */
const cursorNow = async (url: string, channel = 'global'): Promise<number> =>
  ((await call(url, `/api/messages?channel=${channel}`)).json as { next_after: number }).next_after

const VIAS = ['listener', 'koa'] as const

for (const via of VIAS) {
  describe(`planted bugs, caught over HTTP (${via})`, () => {
    let t: Served
    afterEach(async () => {
      await t?.close()
    })

    describe('1: a player loses the oldest of several messages to eviction', () => {
      it(`GET /api/messages/<player>?after= reports gap: true for a cursor before that player's evicted oldest message, false after it (${via})`, async () => {
        t = await serve({ via, maxMessages: 4 })
        const start = await cursorNow(t.url)
        const ids: number[] = []
        for (const [player, message] of [
          ['Pat', 'p1'],
          ['Other', 'o1'],
          ['Pat', 'p2'],
          ['Other', 'o2'],
          ['Other', 'o3'], // the fifth message in a channel of 4 evicts p1; Pat still has p2
        ]) {
          const sent = await sendJson(t.url, { player_name: player, message })
          expect(sent.status).to.equal(200)
          ids.push((sent.json as { message: { id: number } }).message.id)
        }
        const p1 = ids[0]!
        const behind = await call(t.url, `/api/messages/pat?after=${start}`)
        expect(behind.status).to.equal(200)
        expect(texts(behind)).to.deep.equal(['p2'])
        expect(behind.json, 'cursor before the evicted p1').to.deep.include({ player_name: 'pat', gap: true })
        const past = await call(t.url, `/api/messages/PAT?after=${p1}`)
        expect(texts(past)).to.deep.equal(['p2'])
        expect(past.json, 'cursor at the evicted p1').to.deep.include({ gap: false })
        // The same through a long poll that has messages waiting (answered at once).
        const polled = await call(t.url, `/api/messages/Pat?after=${start}&wait=5`)
        expect(texts(polled)).to.deep.equal(['p2'])
        expect(polled.json).to.deep.include({ gap: true })
      })
    })

    describe('2: a held long poll is not woken by an unrelated message', () => {
      /** Starts a held poll and resolves once it is subscribed; `answer` records whether it came after `relatedSent()`. */
      const holdPoll = async (path: string) => {
        let related = false
        const subscribed = t.nextSubscription()
        const answer = call(t.url, path).then((a) => ({ answer: a, cameAfterRelatedSend: related }))
        await subscribed
        return { answer, relatedSent: () => (related = true) }
      }

      it(`a poll on one channel stays held through sends to other channels and answers exactly its channel's message (${via})`, async () => {
        t = await serve({ via })
        const after = await cursorNow(t.url, 'lobby')
        const poll = await holdPoll(`/api/messages?channel=lobby&after=${after}&wait=20`)
        expect((await sendJson(t.url, { player_name: 'Bob', message: 'to global' })).status).to.equal(200)
        expect((await sendJson(t.url, { player_name: 'Bob', message: 'to red', channel: 'red' })).status).to.equal(200)
        poll.relatedSent()
        const related = await sendJson(t.url, { player_name: 'Bob', message: 'to lobby', channel: 'lobby' })
        expect(related.status).to.equal(200)
        const { answer, cameAfterRelatedSend } = await poll.answer
        expect(answer.status).to.equal(200)
        expect(texts(answer), 'the held poll was answered by an unrelated send').to.deep.equal(['to lobby'])
        expect(answer.json).to.deep.include({ count: 1, next_after: (related.json as { message: { id: number } }).message.id })
        expect(cameAfterRelatedSend, 'answered before the related send').to.equal(true)
      })

      it(`a player's poll stays held through other players' messages (and the player's own elsewhere) and answers exactly the player's message (${via})`, async () => {
        t = await serve({ via, autoReply: 'Hello {player}!' })
        const after = await cursorNow(t.url)
        const poll = await holdPoll(`/api/messages/Pat?after=${after}&wait=20`)
        expect((await sendJson(t.url, { player_name: 'Other', message: 'not Pat' })).status).to.equal(200)
        expect((await sendJson(t.url, { player_name: 'Pat', message: 'Pat elsewhere', channel: 'lobby' })).status).to.equal(200)
        poll.relatedSent()
        const related = await sendJson(t.url, { player_name: 'pat', message: 'for Pat' })
        expect(related.status).to.equal(200)
        const { answer, cameAfterRelatedSend } = await poll.answer
        expect(answer.status).to.equal(200)
        expect(texts(answer), "the held poll was answered by another player's send").to.deep.equal(['for Pat'])
        expect(answer.json).to.deep.include({ player_name: 'Pat', count: 1 })
        expect(cameAfterRelatedSend, 'answered before the related send').to.equal(true)
      })
    })

    describe('3: an Idempotency-Key repeated with another body', () => {
      beforeEach(async () => {
        t = await serve({ via, autoReply: 'Hello {player}!' })
      })
      const stored = async (): Promise<number> =>
        ((await call(t.url, '/api/channels')).json as { channels: Array<{ count: number }> }).channels.reduce((sum, c) => sum + c.count, 0)
      const keyed = (body: unknown, key: string) => sendJson(t.url, body, { 'Idempotency-Key': key })

      /** The first body is stored; the second, with the same key, must be a 422 that stores nothing and spoils nothing. */
      const refusesRepeat = async (key: string, first: Record<string, unknown>, second: Record<string, unknown>) => {
        const original = await keyed(first, key)
        expect(original.status, JSON.stringify(first)).to.equal(200)
        const count = await stored()
        const repeat = await keyed(second, key)
        expect(repeat.status, `${JSON.stringify(first)} then ${JSON.stringify(second)}`).to.equal(422)
        expect(repeat.headers).not.to.have.property('idempotent-replayed')
        expect((repeat.json as { error: string }).error).to.match(/Idempotency-Key/)
        expect(await stored()).to.equal(count)
        const again = await keyed(first, key)
        expect(again.status).to.equal(200)
        expect(again.headers['idempotent-replayed']).to.equal('true')
        expect(again.json).to.deep.equal(original.json)
      }

      it(`refuses (422) a repeat that differs only in channel (${via})`, async () => {
        await refusesRepeat('ch-1', { player_name: 'Bob', message: 'hi' }, { player_name: 'Bob', message: 'hi', channel: 'lobby' })
        await refusesRepeat('ch-2', { player_name: 'Bob', message: 'hi', channel: 'lobby' }, { player_name: 'Bob', message: 'hi', channel: 'red' })
        await refusesRepeat('ch-3', { player_name: 'Bob', message: 'hi', channel: 'red' }, { player_name: 'Bob', message: 'hi' })
      })

      it(`refuses (422) a repeat that differs only in user_id (${via})`, async () => {
        await refusesRepeat('uid-1', { player_name: 'Bob', message: 'hi' }, { player_name: 'Bob', message: 'hi', user_id: 156 })
        await refusesRepeat('uid-2', { player_name: 'Bob', message: 'hi', user_id: 156 }, { player_name: 'Bob', message: 'hi', user_id: 157 })
        await refusesRepeat('uid-3', { player_name: 'Bob', message: 'hi', user_id: 156 }, { player_name: 'Bob', message: 'hi' })
      })

      it(`refuses (422) a repeat that differs only in message (${via})`, async () => {
        await refusesRepeat('msg-1', { player_name: 'Bob', message: 'hi' }, { player_name: 'Bob', message: 'hi!' })
        await refusesRepeat('msg-2', { player_name: 'Bob', message: 'hi' }, { player_name: 'Bob', message: ' hi' })
      })

      it(`refuses (422) a repeat that differs only in player_name (${via})`, async () => {
        await refusesRepeat('name-1', { player_name: 'Bob', message: 'hi' }, { player_name: 'Bobby', message: 'hi' })
        await refusesRepeat('name-2', { player_name: 'Bob', message: 'hi', channel: 'lobby', user_id: 1 }, { player_name: 'Ann', message: 'hi', channel: 'lobby', user_id: 1 })
      })

      it(`replays the same request spelt differently: field order, "channel":"global" or none, spaces around player_name (${via})`, async () => {
        const cases: Array<readonly [string, string, string]> = [
          ['order', '{"player_name":"Bob","message":"hi","user_id":5}', '{"user_id":5,"message":"hi","player_name":"Bob"}'],
          ['default channel named', '{"player_name":"Bob","message":"hi"}', '{"player_name":"Bob","message":"hi","channel":"global"}'],
          ['default channel left out', '{"player_name":"Bob","message":"hi","channel":"global"}', '{"message":"hi","player_name":"Bob"}'],
          ['spaces around the name', '{"player_name":"Bob","message":"hi","channel":"lobby"}', '{"channel":"lobby","player_name":"  Bob \\t","message":"hi"}'],
          ['JSON whitespace', '{"player_name":"Bob","message":"hi"}', '{ "player_name" : "Bob" ,\n "message" : "hi" }'],
        ]
        for (const [label, first, second] of cases) {
          const key = `same-${label}`
          const original = await keyed(first, key)
          expect(original.status, label).to.equal(200)
          const count = await stored()
          const repeat = await keyed(second, key)
          expect(repeat.status, label).to.equal(200)
          expect(repeat.headers['idempotent-replayed'], label).to.equal('true')
          expect(repeat.json, label).to.deep.equal(original.json)
          expect(await stored(), label).to.equal(count)
        }
      })
    })

    describe('4: only the exact allowed origin gets Access-Control-Allow-Origin', () => {
      const ALLOWED = 'https://a.example'
      /*
       * Origins are compared exactly. Browsers serialise an origin in lower case
       * (RFC 6454), so `https://A.EXAMPLE` never comes from a browser: it is
       * refused like any other origin, never echoed, never normalised into an allowed one.
       */
      const LOOK_ALIKES = [
        'https://a.example.evil.test',
        'https://a.example:8443',
        'http://a.example',
        'https://A.EXAMPLE',
        'https://evil.test?https://a.example',
        'https://evil.test/https://a.example',
        'https://xa.example',
        'https://a.exampl',
        'https://a.example.',
        'https://a.example/',
        'null',
      ]
      beforeEach(async () => {
        t = await serve({ via, corsOrigins: [ALLOWED] })
      })

      /** Each surface, asked from `origin`: the answer's status and headers. */
      const SURFACES: ReadonlyArray<readonly [string, (origin: string) => Promise<{ status: number; headers: IncomingHttpHeaders }>, number, number]> = [
        // A page on a site CORS_ORIGINS does not list may not change anything on a server without keys: 403, and still no Allow-Origin.
        ['POST /api/send', (origin) => sendJson(t.url, { player_name: 'Bob', message: 'hi' }, { origin }), 200, 403],
        [
          'a held long poll (/api/messages?after=N&wait=5) answered when a send wakes it',
          async (origin) => {
            const after = await cursorNow(t.url)
            const subscribed = t.nextSubscription()
            const held = call(t.url, `/api/messages?after=${after}&wait=5`, { headers: { origin } })
            await subscribed
            expect((await sendJson(t.url, { player_name: 'Bob', message: 'wake' })).status).to.equal(200)
            const answer = await held
            expect(answer.json, 'woken by the send').to.deep.include({ count: 1 })
            return answer
          },
          200,
          200,
        ],
        [
          "a held player long poll (/api/messages/Bob?after=N&wait=5) answered when the player's send wakes it",
          async (origin) => {
            const after = await cursorNow(t.url)
            const subscribed = t.nextSubscription()
            const held = call(t.url, `/api/messages/Bob?after=${after}&wait=5`, { headers: { origin } })
            await subscribed
            expect((await sendJson(t.url, { player_name: 'Bob', message: 'wake' })).status).to.equal(200)
            const answer = await held
            expect(answer.json, 'woken by the send').to.deep.include({ count: 1 })
            return answer
          },
          200,
          200,
        ],
        ['a long poll answered at once (/api/messages?after=0&wait=5, messages waiting)', async (origin) => {
          await sendJson(t.url, { player_name: 'Bob', message: 'waiting' })
          return call(t.url, '/api/messages?after=0&wait=5', { headers: { origin } })
        }, 200, 200],
        ['GET /api/messages', (origin) => call(t.url, '/api/messages', { headers: { origin } }), 200, 200],
        ['GET /api/messages/Bob', (origin) => call(t.url, '/api/messages/Bob', { headers: { origin } }), 200, 200],
        ["the event stream's headers (GET /api/stream)", (origin) => headersOf(t.url, '/api/stream?after=0', { origin, accept: 'text/event-stream' }), 200, 200],
        [
          'a preflight for POST /api/send',
          (origin) => call(t.url, '/api/send', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } }),
          204,
          403,
        ],
        [
          'a preflight for GET /api/messages',
          (origin) => call(t.url, '/api/messages', { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } }),
          204,
          403,
        ],
      ]

      for (const [surface, ask, allowedStatus, refusedStatus] of SURFACES) {
        it(`${surface}: echoes ${ALLOWED}, gives look-alike origins none (${via})`, async () => {
          const allowed = await ask(ALLOWED)
          expect(allowed.status, ALLOWED).to.equal(allowedStatus)
          expect(allowed.headers['access-control-allow-origin'], ALLOWED).to.equal(ALLOWED)
          expect(String(allowed.headers.vary), ALLOWED).to.match(/origin/i)
          for (const origin of LOOK_ALIKES) {
            const answer = await ask(origin)
            expect(answer.status, origin).to.equal(refusedStatus)
            expect(answer.headers, origin).not.to.have.property('access-control-allow-origin')
            expect(answer.headers, origin).not.to.have.property('access-control-allow-credentials')
          }
        })
      }
    })
  })
}
