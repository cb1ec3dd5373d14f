import { expect } from 'chai'
import * as TE from 'fp-ts/TaskEither'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { appOf, createHttp, type AppDeps, type Logger } from '../../adapters/http/app'
import { createMemoryIdempotencyKeys } from '../../adapters/memory/memory-idempotency-keys'
import { createMemoryMessageStore, type MemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { systemTimer } from '../../adapters/system/timer'
import { autoReplyFromTemplate } from '../../domain/auto-reply'
import type { MessageRepository } from '../../domain/message-repository'
import { postJson, startTestServer, type TestServer } from '../support/server'
import { listen } from '../support/server'
import { until } from '../support/until'
import { parseRawAnswer, rawRequest, rawSocket } from './raw'

/*
 * What the server says when something goes wrong on its side: a broken
 * adapter is a generic 500 with the details in the log only, a store that
 * reports itself down is a 503, and no stack trace ever reaches a client.
 * Static serving never leaves web/.
 */

const STACK_LINE = /\n\s+at |at .*\(.*:\d+:\d+\)|\.ts:\d+/
const SECRET = 'secret detail'

type Logged = Array<{ message: string; detail: unknown }>

/** An app on the real memory store with some of its operations swapped for broken ones. */
const brokenApp = async (
  broken: Partial<MessageRepository> | ((store: MemoryMessageStore) => Partial<MessageRepository>),
  via: 'listener' | 'koa' = 'listener',
) => {
  const store = createMemoryMessageStore({ maxMessages: 100, maxChannels: 10 })
  const logged: Logged = []
  const log: Logger = { error: (message, detail) => logged.push({ message, detail }) }
  const deps: AppDeps = {
    messages: { ...store, ...(typeof broken === 'function' ? broken(store) : broken) },
    feed: store,
    idempotencyKeys: createMemoryIdempotencyKeys({ maxKeys: 100, retentionMs: 60_000 }),
    clock: { now: Date.now },
    timer: systemTimer,
    autoReply: autoReplyFromTemplate('Hello {player}!'),
    maxMessageLength: 1000,
    corsOrigins: '*',
    longPollMaxSeconds: 25,
    log,
  }
  const http = createHttp(deps)
  return { ...(await listen(via === 'koa' ? appOf(http) : http.listener)), logged, store, http }
}

const expectGeneric500 = async (res: Response): Promise<void> => {
  const text = await res.text()
  expect(res.status, text).to.equal(500)
  expect(res.headers.get('content-type')).to.match(/^application\/json/)
  const body = JSON.parse(text) as { success: boolean; error: string }
  expect(body.success).to.equal(false)
  expect(body.error).to.be.a('string').and.not.be.empty
  expect(text).not.to.include('secret')
  expect(text).not.to.match(STACK_LINE)
  expect(text).not.to.include('Error:')
}

/** A send from a page on another origin, which must still read why it failed. */
const sendFromPage = (url: string) =>
  rawRequest(url, {
    method: 'POST',
    path: '/api/send',
    headers: { 'content-type': 'application/json', origin: 'https://game.example' },
    body: JSON.stringify({ player_name: 'Bob', message: 'hi' }),
  })

describe('HTTP API: failures on the server side', () => {
  let server: Awaited<ReturnType<typeof brokenApp>> | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  describe('a broken adapter (an exception: a bug)', () => {
    it('answers a list that throws with a generic 500 and logs the detail', async () => {
      server = await brokenApp({
        list: () => {
          throw new Error(SECRET)
        },
      })
      await expectGeneric500(await fetch(`${server.url}/api/messages`))
      expect(server.logged).to.have.length(1)
      const [entry] = server.logged
      expect(entry?.message).to.match(/GET \/api\/messages/)
      expect(entry?.detail).to.be.instanceOf(Error).with.property('message', SECRET)
    })

    it('answers a list whose task rejects with a generic 500 and logs the detail', async () => {
      server = await brokenApp({ list: () => () => Promise.reject(new Error(SECRET)) })
      await expectGeneric500(await fetch(`${server.url}/api/messages/Bob`))
      expect(server.logged.map((l) => (l.detail as Error).message)).to.deep.equal([SECRET])
    })

    it('answers a send whose append throws with a generic 500, and a clear whose clear throws', async () => {
      server = await brokenApp({
        append: () => {
          throw new TypeError(`${SECRET}: cannot read properties of undefined`)
        },
        clear: () => {
          throw new RangeError(SECRET)
        },
      })
      await expectGeneric500(await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'hi' }))
      await expectGeneric500(await postJson(`${server.url}/api/clear`, {}))
      expect(server.logged).to.have.length(2)
      expect(server.logged.every((l) => String((l.detail as Error).message).includes(SECRET))).to.equal(true)
    })

    for (const via of ['listener', 'koa'] as const) {
      it(`answers a send whose append throws or rejects with a generic 500 and logs it (${via})`, async () => {
        let calls = 0
        server = await brokenApp(
          {
            append: () => {
              if (++calls === 1) throw new Error(SECRET)
              return () => Promise.reject(new Error(SECRET))
            },
          },
          via,
        )
        for (let i = 0; i < 2; i++) {
          const res = await sendFromPage(server.url)
          expect(res.status, res.text).to.equal(500)
          expect(res.headers['access-control-allow-origin']).to.equal('*')
          expect(res.json).to.deep.equal({ success: false, error: 'internal server error; the details are in the server log' })
        }
        expect(server.logged.map((l) => (l.detail as Error).message)).to.deep.equal([SECRET, SECRET])
        expect(server.logged[0]?.message).to.match(/POST \/api\/send/)
      })
    }

    it('answers something thrown that is not an Error with a generic 500 too', async () => {
      server = await brokenApp({
        list: () => {
          throw `${SECRET} as a bare string`
        },
      })
      await expectGeneric500(await fetch(`${server.url}/api/messages`))
      expect(server.logged).to.have.length(1)
    })

    for (const via of ['listener', 'koa'] as const) {
      it(`answers a long poll whose store throws or rejects with a generic 500 and logs it (${via})`, async () => {
        server = await brokenApp(
          {
            list: (query) => {
              if (query.player === undefined) throw new Error(SECRET)
              return () => Promise.reject(new Error(SECRET))
            },
          },
          via,
        )
        await expectGeneric500(await fetch(`${server.url}/api/messages?after=0&wait=1`))
        await expectGeneric500(await fetch(`${server.url}/api/messages/Bob?after=0&wait=1`))
        expect(server.logged.map((l) => (l.detail as Error).message)).to.deep.equal([SECRET, SECRET])
        expect(server.logged[0]?.message).to.match(/GET \/api\/messages/)
        expect(server.http.heldPolls(), 'a failed poll is let go').to.equal(0)
      })

      it(`answers a held long poll whose read after the wake throws with a 500, while the send that woke it succeeds (${via})`, async () => {
        let reads = 0
        server = await brokenApp(
          (store) => ({
            list: (query) => {
              if (++reads > 1) throw new Error(SECRET)
              return store.list(query)
            },
          }),
          via,
        )
        const held = fetch(`${server.url}/api/messages?after=0&wait=20`)
        await until(() => server!.http.heldPolls() === 1)
        const sent = await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'wakes a broken read' })
        expect(sent.status).to.equal(200)
        await expectGeneric500(await held)
        expect(server.http.heldPolls()).to.equal(0)
        expect(server.logged.map((l) => (l.detail as Error).message)).to.deep.equal([SECRET])
      })
    }

    it('keeps serving after a failure', async () => {
      let failing = true
      const store = createMemoryMessageStore({ maxMessages: 100, maxChannels: 10 })
      server = await brokenApp({
        list: (query) => {
          if (failing) throw new Error(SECRET)
          return store.list(query)
        },
      })
      await expectGeneric500(await fetch(`${server.url}/api/messages`))
      failing = false
      expect((await fetch(`${server.url}/api/messages`)).status).to.equal(200)
    })

    it('keeps the CORS header on the 500, so a page learns it failed', async () => {
      server = await brokenApp({
        list: () => {
          throw new Error(SECRET)
        },
      })
      const answer = await rawRequest(server.url, { path: '/api/messages', headers: { origin: 'https://game.example' } })
      expect(answer.status).to.equal(500)
      expect(answer.headers['access-control-allow-origin']).to.equal('*')
    })
  })

  describe('a store that reports itself unavailable (an expected failure)', () => {
    const down = { _tag: 'StoreUnavailable', detail: 'redis: connection refused at secret-host:6379' } as const

    it('answers a list with 503 and a generic text, logging the detail', async () => {
      server = await brokenApp({ list: () => TE.left(down) })
      for (const path of ['/api/messages', '/api/messages/Bob?limit=3']) {
        const res = await fetch(`${server.url}${path}`)
        const text = await res.text()
        expect(res.status, text).to.equal(503)
        const body = JSON.parse(text) as { success: boolean; error: string }
        expect(body.success).to.equal(false)
        expect(body.error).to.match(/unavailable/)
        expect(text).not.to.include('secret-host')
        expect(text).not.to.match(STACK_LINE)
      }
      expect(server.logged).to.have.length(2)
      expect(server.logged[0]?.detail).to.equal(down.detail)
    })

    for (const via of ['listener', 'koa'] as const) {
      it(`answers a long poll with 503, Retry-After and a generic text (${via})`, async () => {
        server = await brokenApp({ list: () => TE.left(down) }, via)
        for (const path of ['/api/messages?after=0&wait=1', '/api/messages/Bob?after=0&wait=1']) {
          const res = await fetch(`${server.url}${path}`, { headers: { origin: 'https://game.example' } })
          const text = await res.text()
          expect(res.status, text).to.equal(503)
          expect(res.headers.get('retry-after')).to.equal('2')
          expect(res.headers.get('access-control-allow-origin')).to.equal('*')
          expect(JSON.parse(text)).to.deep.equal({ success: false, error: 'message store unavailable' })
          expect(text).not.to.include('secret-host')
        }
        expect(server.logged.map((l) => l.detail)).to.deep.equal([down.detail, down.detail])
      })
    }

    for (const via of ['listener', 'koa'] as const) {
      it(`answers a send with 503, Retry-After and a generic text (${via})`, async () => {
        server = await brokenApp({ append: () => TE.left(down) }, via)
        const res = await sendFromPage(server.url)
        expect(res.status, res.text).to.equal(503)
        expect(res.headers['retry-after']).to.equal('2')
        expect(res.headers['access-control-allow-origin']).to.equal('*')
        expect(res.json).to.deep.equal({ success: false, error: 'message store unavailable' })
        expect(server.logged.map((l) => l.detail)).to.deep.equal([down.detail])
      })
    }

    it('answers a send and a clear with 503 too', async () => {
      server = await brokenApp({ append: () => TE.left(down), clear: () => TE.left(down) })
      const sent = await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'hi' })
      expect(sent.status).to.equal(503)
      expect(await sent.text()).not.to.include('secret-host')
      const cleared = await postJson(`${server.url}/api/clear`, {})
      expect(cleared.status).to.equal(503)
      expect(await cleared.json()).to.deep.include({ success: false })
    })

    it('still refuses bad input with 400 before reaching the store', async () => {
      server = await brokenApp({ append: () => TE.left(down) })
      const res = await postJson(`${server.url}/api/send`, { player_name: '', message: 'hi' })
      expect(res.status).to.equal(400)
      expect(server.logged).to.have.length(0)
    })
  })
})

describe('HTTP API: static files never leave web/', () => {
  let t: TestServer
  const packageJson = readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')
  before(async () => {
    t = await startTestServer()
  })
  after(async () => {
    await t.close()
  })

  const TRAVERSALS = [
    '/../package.json',
    '/%2e%2e/package.json',
    '/%2E%2E/package.json',
    '/..%2fpackage.json',
    '/..%5cpackage.json',
    '/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
    '/../../../../etc/passwd',
    '/web/../package.json',
    '/./../package.json',
    '/%252e%252e/package.json',
    '/....//package.json',
  ]

  const expectNotLeaked = (status: number, body: string, path: string) => {
    expect(status, `${path}: ${body}`).not.to.equal(200)
    expect(status, path).to.be.within(400, 499)
    expect(body, path).not.to.include('roblox-messaging-server')
    expect(body, path).not.to.include(packageJson.slice(0, 40))
    expect(body, path).not.to.match(/root:.*:0:0:/)
    expect(body, path).not.to.match(STACK_LINE)
    expect(JSON.parse(body), path).to.deep.include({ success: false })
  }

  for (const path of TRAVERSALS) {
    it(`refuses ${path} over http.request with a JSON error`, async () => {
      const answer = await rawRequest(t.url, { path })
      expectNotLeaked(answer.status, answer.text, path)
      expect(answer.headers['content-type']).to.match(/^application\/json/)
    })
  }

  for (const path of TRAVERSALS.slice(0, 6)) {
    it(`refuses ${path} on a raw socket with a JSON error`, async () => {
      const raw = await rawSocket(t.url, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)
      const answer = parseRawAnswer(raw)
      expectNotLeaked(answer.status, answer.body, path)
    })
  }

  it('still serves the tester itself by its file name', async () => {
    const answer = await rawRequest(t.url, { path: '/index.html' })
    expect(answer.status).to.equal(200)
    expect(answer.headers['content-type']).to.match(/^text\/html/)
  })
})
