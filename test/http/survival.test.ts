import { expect } from 'chai'
import { ADMIN_SCOPES, createAuth } from '../../adapters/http/auth'
import { postJson, startTestServer, type TestServer, type TestServerOptions } from '../support/server'
import { openRawClient, within, type RawClient } from '../support/socket'
import { eventually } from '../support/until'
import { parseRawAnswer, rawRequest, rawSocket } from './raw'

/*
 * The findings of a hostile review, one test each (or more), in-process and
 * through both entries: a client that reads nothing, reads slowly, sends too
 * much or too slowly, or sends what no browser would, gets a defined,
 * bounded answer, and the server goes on serving everyone else.
 */

const SHORT_TIMEOUTS = { headersMs: 1_000, requestMs: 1_500, idleMs: 1_000, keepAliveMs: 1_000 }

/** A message text that costs twice its length in JSON: every `"` is escaped. */
const quoted = (length: number): string => '"'.repeat(length)

/**
 * Sends a body of spaces until the server closes the connection, and checks
 * that it did so long before the body's 10 GB: a server that kept reading
 * would take all of it (the bound allows for the kernel's buffers).
 */
const expectClosedWhileSending = async (client: RawClient): Promise<void> => {
  const chunk = Buffer.alloc(64 * 1024, 0x20)
  let written = 0
  while (!client.socket.destroyed && written < 256 * 1024 * 1024) {
    if (!client.socket.write(chunk)) await Promise.race([new Promise((resolve) => client.socket.once('drain', resolve)), client.closed])
    written += chunk.length
  }
  await within(5_000, client.closed, 'the server closing the connection')
  expect(written).to.be.lessThan(64 * 1024 * 1024)
}

for (const via of ['listener', 'koa'] as const) {
  describe(`HTTP: surviving hostile clients (${via})`, () => {
    let t: TestServer
    const start = async (options: TestServerOptions = {}) => {
      t = await startTestServer({ via, autoReplyTemplate: '', ...options })
    }
    afterEach(async () => {
      await t?.close()
    })
    const send = (message: string, extra: Record<string, unknown> = {}) => postJson(`${t.url}/api/send`, { player_name: 'Bob', message, ...extra })
    const stillServing = async () => {
      const answer = await fetch(`${t.url}/api`)
      expect(answer.status).to.equal(200)
    }

    describe('event streams', () => {
      it('streams a backlog many times the queue bound to a reader who reads, then says ready', async () => {
        await start({ maxMessageLength: 20_000, store: { maxMessages: 500 } })
        // 150 messages of 20,000 quotes: about 6 MB of JSON, six times the 1 MiB bound.
        for (let i = 0; i < 150; i++) expect((await send(quoted(20_000))).status).to.equal(200)
        const client = await openRawClient(t.url)
        client.socket.write(`GET /api/stream?after=0 HTTP/1.1\r\nHost: x\r\n\r\n`)
        const text = await within(20_000, client.receivedMatching(/event: ready\n/), 'the whole backlog then ready')
        expect(text.match(/^id: \d+$/gm)).to.have.length(150)
        client.socket.destroy()
        await stillServing()
      })

      it('drops a reader who never reads a large backlog, once its connection has been idle', async () => {
        await start({ maxMessageLength: 20_000, store: { maxMessages: 500 }, heartbeatMs: 100, idleTimeoutMs: 500 })
        for (let i = 0; i < 150; i++) await send(quoted(20_000))
        const client = await openRawClient(t.url, { paused: true })
        client.socket.write(`GET /api/stream?after=0 HTTP/1.1\r\nHost: x\r\n\r\n`)
        await eventually(() => t.holding() === 1, 5_000, 'the stream starting')
        // A paused client cannot see its connection close; the server's letting go of the stream shows it.
        await eventually(() => t.holding() === 0, 10_000, 'the server dropping the stalled stream')
        client.socket.resume()
        await within(5_000, client.closed, 'the connection closing')
        await stillServing()
      })

      it('drops a live reader who falls more than the bound behind, and heartbeats never touch the dropped stream', async () => {
        await start({ maxMessageLength: 60_000, heartbeatMs: 20, idleTimeoutMs: 60_000 })
        const client = await openRawClient(t.url)
        client.socket.write(`GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n`)
        await client.receivedMatching(/event: ready/)
        client.socket.pause()
        // Sent until the server lets go of the reader; the kernel's buffers take some megabytes first.
        for (let i = 0; i < 2_000 && !client.socket.destroyed; i++) {
          await send(quoted(60_000))
          if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve))
          if (await Promise.race([client.closed.then(() => true), Promise.resolve(false)])) break
        }
        client.socket.resume()
        await within(10_000, client.closed, 'the server dropping the reader that fell behind')
        // Several heartbeat periods pass with the dropped stream gone; a crash would end this process here.
        await new Promise((resolve) => setTimeout(resolve, 100))
        await stillServing()
      })

      it('answers HEAD /api/stream at once, with the stream headers and no body', async () => {
        await start()
        const answer = await within(2_000, rawRequest(t.url, { method: 'HEAD', path: '/api/stream' }), 'the answer to HEAD')
        expect(answer.status).to.equal(200)
        expect(answer.headers['content-type']).to.match(/^text\/event-stream/)
        expect(answer.text).to.equal('')
      })

      it('answers HEAD on a long poll at once', async () => {
        await start()
        const answer = await within(2_000, rawRequest(t.url, { method: 'HEAD', path: '/api/messages?after=0&wait=25' }), 'the answer to HEAD')
        expect(answer.status).to.equal(200)
        expect(answer.headers['content-type']).to.match(/^application\/json/)
      })

      it('caps streams per address with 429, and in total with 503, and frees a slot when one closes', async () => {
        await start({ maxStreams: 3, maxStreamsPerAddress: 2 })
        const open = async (localAddress: string) => {
          const client = await openRawClient(t.url, { localAddress })
          client.socket.write(`GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n`)
          return client
        }
        const first = await open('127.0.0.1')
        const second = await open('127.0.0.1')
        await Promise.all([first.receivedMatching(/event: ready/), second.receivedMatching(/event: ready/)])
        const third = await open('127.0.0.1')
        const overAddress = parseRawAnswer(await third.receivedMatching(/\}$/))
        expect(overAddress.status).to.equal(429)
        expect(overAddress.head).to.match(/\r\nRetry-After: \d+/i)
        expect(JSON.parse(overAddress.body)).to.deep.include({ success: false })
        expect(JSON.parse(overAddress.body).error).to.match(/MAX_STREAMS_PER_ADDRESS/)
        const other = await open('127.0.0.2')
        await other.receivedMatching(/event: ready/)
        const fourth = await open('127.0.0.3')
        const overTotal = parseRawAnswer(await fourth.receivedMatching(/\}$/))
        expect(overTotal.status).to.equal(503)
        expect(overTotal.head).to.match(/\r\nRetry-After: \d+/i)
        expect(JSON.parse(overTotal.body).error).to.match(/MAX_STREAMS\b/)
        first.socket.destroy()
        await first.closed
        const again = await openRawClient(t.url, { localAddress: '127.0.0.3' })
        // The server learns of the close on its own time: retry until the slot is free.
        for (let i = 0; i < 50; i++) {
          const candidate = i === 0 ? again : await openRawClient(t.url, { localAddress: '127.0.0.3' })
          candidate.socket.write(`GET /api/stream HTTP/1.1\r\nHost: x\r\n\r\n`)
          const got = await candidate.receivedMatching(/event: ready|\}$/)
          if (/event: ready/.test(got)) break
          candidate.socket.destroy()
          expect(i).to.be.lessThan(49)
          await new Promise((resolve) => setImmediate(resolve))
        }
        for (const client of [second, third, other, fourth]) client.socket.destroy()
      })
    })

    describe('long polls', () => {
      it('caps held polls in total with 503 and Retry-After, never per address', async () => {
        await start({ maxLongPolls: 3 })
        const head = (await (await fetch(`${t.url}/api/messages`)).json()) as { next_after: number }
        const poll = () => fetch(`${t.url}/api/messages?after=${head.next_after}&wait=20`)
        const held = [poll(), poll(), poll()]
        await eventually(() => t.holding() === 3, 5_000, 'three polls held')
        const over = await poll()
        expect(over.status).to.equal(503)
        expect(over.headers.get('retry-after')).to.match(/^\d+$/)
        expect(((await over.json()) as { error: string }).error).to.match(/MAX_LONG_POLLS/)
        await send('wakes them all')
        const answers = await Promise.all(held)
        for (const answer of answers) expect(answer.status).to.equal(200)
        const { next_after } = (await (answers[0] as Response).json()) as { next_after: number }
        // Their slots are free again.
        const next = fetch(`${t.url}/api/messages?after=${next_after}&wait=20`)
        await eventually(() => t.holding() === 1, 5_000, 'the next poll held')
        await send('and the next')
        expect((await next).status).to.equal(200)
      })

      it('keeps a held poll past the idle timeout of other requests', async () => {
        await start({ timeouts: SHORT_TIMEOUTS, idleTimeoutMs: SHORT_TIMEOUTS.idleMs })
        const head = (await (await fetch(`${t.url}/api/messages`)).json()) as { next_after: number }
        const started = Date.now()
        const answer = await fetch(`${t.url}/api/messages?after=${head.next_after}&wait=2`)
        expect(answer.status).to.equal(200)
        expect(Date.now() - started).to.be.greaterThan(1_900)
      })
    })

    describe('slow and oversized requests', () => {
      it('answers a declared body far over the limit with 413 and closes the connection after a bounded discard', async () => {
        await start()
        const client = await openRawClient(t.url)
        client.socket.write(
          `POST /api/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 ** 3}\r\n\r\n`,
        )
        await expectClosedWhileSending(client)
        const answer = parseRawAnswer(client.received())
        expect(answer.status).to.equal(413)
        expect(JSON.parse(answer.body)).to.deep.include({ success: false })
        expect(await (await fetch(`${t.url}/api/messages`)).json()).to.deep.include({ count: 0 })
      })

      it('refuses a declared body over the limit before it is sent when the client asks to continue', async () => {
        await start()
        const client = await openRawClient(t.url)
        client.socket.write(
          `POST /api/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${1024 ** 3}\r\nExpect: 100-continue\r\n\r\n`,
        )
        const answer = parseRawAnswer(await within(2_000, client.closed, 'the refusal'))
        expect(answer.status).to.equal(413)
        expect(answer.head).not.to.match(/100 Continue/)
        expect(JSON.parse(answer.body).error).to.match(/64 KiB/)
      })

      it('keeps the connection of a client that sent a little too much', async () => {
        await start()
        const body = JSON.stringify({ player_name: 'Bob', message: 'x'.repeat(70 * 1024) })
        const client = await openRawClient(t.url)
        client.socket.write(`POST /api/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
        await client.receivedMatching(/\}$/)
        expect(parseRawAnswer(client.received()).status).to.equal(413)
        client.socket.write(`GET /api HTTP/1.1\r\nHost: x\r\n\r\n`)
        await client.receivedMatching(/"status":"running"/)
        client.socket.destroy()
      })

      it('throws away the body of a route that reads none, up to a bound', async () => {
        await start()
        const client = await openRawClient(t.url)
        client.socket.write(`POST /api/clear HTTP/1.1\r\nHost: x\r\nContent-Length: ${10 * 1024 ** 3}\r\n\r\n`)
        await expectClosedWhileSending(client)
      })

      it('throws away the body of a moderation request refused before it reads it, up to a bound', async () => {
        const keys = [
          { label: 'ops', secret: 'admin-key-0123456789abcdef', scopes: ADMIN_SCOPES },
          { label: 'lobby-ops', secret: 'lobby-admin-0123456789abcdef', scopes: ADMIN_SCOPES, channels: ['lobby'] },
        ]
        await start({ auth: createAuth({ keys }) })
        // Not JSON (415), and a key limited to channels (403): both refused before the body is read.
        for (const headers of ['Content-Type: text/plain\r\nX-Api-Key: admin-key-0123456789abcdef', 'Content-Type: application/json\r\nX-Api-Key: lobby-admin-0123456789abcdef']) {
          const client = await openRawClient(t.url)
          client.socket.write(`POST /api/players/Bob/erase HTTP/1.1\r\nHost: x\r\n${headers}\r\nContent-Length: ${10 * 1024 ** 3}\r\n\r\n`)
          await expectClosedWhileSending(client)
        }
        const client = await openRawClient(t.url)
        client.socket.write(`POST /api/roblox/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${10 * 1024 ** 3}\r\n\r\n`)
        await expectClosedWhileSending(client)
      })

      it('answers trickled headers with 408 once the headers timeout passes', async () => {
        await start({ timeouts: SHORT_TIMEOUTS })
        const client = await openRawClient(t.url)
        client.socket.write('GET /api HTTP/1.1\r\nHost: x\r\n')
        const trickle = setInterval(() => client.socket.writable && client.socket.write('X-A: b\r\n'), 100)
        try {
          const text = await within(SHORT_TIMEOUTS.headersMs + 3_000, client.closed, 'the headers timeout')
          expect(parseRawAnswer(text).status).to.equal(408)
          expect(JSON.parse(parseRawAnswer(text).body)).to.deep.include({ success: false })
        } finally {
          clearInterval(trickle)
        }
      })

      it('answers a trickled body with 408 once the request timeout passes', async () => {
        await start({ timeouts: SHORT_TIMEOUTS })
        const client = await openRawClient(t.url)
        client.socket.write('POST /api/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{')
        const trickle = setInterval(() => client.socket.writable && client.socket.write(' '), 100)
        try {
          const text = await within(SHORT_TIMEOUTS.requestMs + 3_000, client.closed, 'the request timeout')
          expect(parseRawAnswer(text).status).to.equal(408)
        } finally {
          clearInterval(trickle)
        }
        expect(await (await fetch(`${t.url}/api/messages`)).json()).to.deep.include({ count: 0 })
      })

      it('closes a connection that stops halfway through its headers', async () => {
        await start({ timeouts: SHORT_TIMEOUTS })
        const client = await openRawClient(t.url)
        client.socket.write('GET /api HTTP/1.1\r\nHo')
        await within(SHORT_TIMEOUTS.headersMs + 3_000, client.closed, 'the headers timeout')
      })
    })

    describe('answers that are JSON too', () => {
      beforeEach(() => start())

      it('refuses an HTTP/1.1 request without Host with a JSON 400', async () => {
        const answer = parseRawAnswer(await rawSocket(t.url, 'GET /api HTTP/1.1\r\nConnection: close\r\n\r\n'))
        expect(answer.status).to.equal(400)
        expect(JSON.parse(answer.body).error).to.match(/Host/)
        const send = parseRawAnswer(
          await rawSocket(t.url, 'POST /api/send HTTP/1.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}'),
        )
        expect(send.status).to.equal(400)
        expect(JSON.parse(send.body).error).to.match(/Host/)
      })

      it('refuses an Expect other than 100-continue with a JSON 417', async () => {
        const answer = parseRawAnswer(await rawSocket(t.url, 'GET /api HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n'))
        expect(answer.status).to.equal(417)
        expect(JSON.parse(answer.body).error).to.match(/Expect/)
      })

      it('answers an OPTIONS that is not a preflight with the allowed methods in JSON', async () => {
        const answer = await rawRequest(t.url, { method: 'OPTIONS', path: '/api/messages' })
        expect(answer.status).to.equal(200)
        expect(answer.headers.allow).to.match(/GET/)
        expect(answer.json).to.deep.include({ success: true })
        expect((answer.json as { allow: string[] }).allow).to.include('GET')
      })

      it('refuses a preflight from an origin that is not allowed with a JSON 403', async () => {
        await t.close()
        await start({ corsOrigins: ['https://game.example'] })
        const answer = await rawRequest(t.url, {
          method: 'OPTIONS',
          path: '/api/clear',
          headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
        })
        expect(answer.status).to.equal(403)
        expect((answer.json as { error: string }).error).to.match(/evil\.example/)
        expect(answer.headers['access-control-allow-origin']).to.equal(undefined)
      })

      it('refuses CONNECT with a JSON 405', async () => {
        const answer = parseRawAnswer(await rawSocket(t.url, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'))
        expect(answer.status).to.equal(405)
        expect(JSON.parse(answer.body)).to.deep.include({ success: false })
      })

      it('refuses a body that is not UTF-8 instead of storing U+FFFD', async () => {
        const body = Buffer.concat([Buffer.from('{"player_name":"Bob","message":"caf'), Buffer.from([0xe9]), Buffer.from('"}')])
        const answer = await rawRequest(t.url, { method: 'POST', path: '/api/send', headers: { 'content-type': 'application/json' }, body })
        expect(answer.status).to.equal(400)
        expect((answer.json as { error: string }).error).to.match(/UTF-8/)
        expect(await (await fetch(`${t.url}/api/messages`)).json()).to.deep.include({ count: 0 })
      })

      it('skips a UTF-8 byte-order mark before the JSON', async () => {
        const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"player_name":"Bob","message":"hi"}')])
        const answer = await rawRequest(t.url, { method: 'POST', path: '/api/send', headers: { 'content-type': 'application/json' }, body })
        expect(answer.status, answer.text).to.equal(200)
      })

      it('marks every API answer nosniff: lists, sends, refusals and held polls', async () => {
        const head = await fetch(`${t.url}/api/messages`)
        expect(head.headers.get('x-content-type-options')).to.equal('nosniff')
        const { next_after } = (await head.json()) as { next_after: number }
        const sent = await send('hi')
        expect(sent.headers.get('x-content-type-options')).to.equal('nosniff')
        const refused = await send('')
        expect(refused.headers.get('x-content-type-options')).to.equal('nosniff')
        const missing = await fetch(`${t.url}/api/nothing`)
        expect(missing.headers.get('x-content-type-options')).to.equal('nosniff')
        const poll = await fetch(`${t.url}/api/messages?after=${next_after}&wait=5`)
        expect(poll.headers.get('x-content-type-options')).to.equal('nosniff')
      })
    })

    describe('the contract, to the letter', () => {
      beforeEach(() => start())

      for (const path of ['/api/messages/%ZZ', '/api/messages/%C0%AF', '/api/messages/%ED%A0%80', '/api/messages/%E2%82']) {
        it(`refuses ${path} with 400 rather than reading a literal name`, async () => {
          const answer = await rawRequest(t.url, { path })
          expect(answer.status).to.equal(400)
          expect((answer.json as { error: string }).error).to.match(/percent-encoded/)
          const poll = await rawRequest(t.url, { path: `${path}?after=0&wait=1` })
          expect(poll.status).to.equal(400)
        })
      }

      it('takes since instants in years before 100', async () => {
        await send('hi')
        const answer = await fetch(`${t.url}/api/messages?since=0042-03-04T05:06:07Z`)
        expect(answer.status).to.equal(200)
        expect(await answer.json()).to.deep.include({ count: 1 })
      })

      it('replays a retry that names the default channel the first one left out', async () => {
        const first = await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'hi' }, { 'Idempotency-Key': 'k1' })
        expect(first.status).to.equal(200)
        const retry = await postJson(`${t.url}/api/send`, { player_name: ' Bob ', message: 'hi', channel: 'global' }, { 'Idempotency-Key': 'k1' })
        expect(retry.status).to.equal(200)
        expect(retry.headers.get('idempotent-replayed')).to.equal('true')
        expect(await (await fetch(`${t.url}/api/messages`)).json()).to.deep.include({ count: 1 })
      })

      it('treats paths as case-sensitive everywhere, answering the wrong case with a JSON 404', async () => {
        for (const [method, path] of [
          ['POST', '/API/SEND'],
          ['POST', '/api/Send'],
          ['GET', '/api/MESSAGES/bob'],
          ['GET', '/Api/channels'],
          ['GET', '/API'],
        ] as const) {
          const answer = await rawRequest(t.url, method === 'POST' ? { method, path, headers: { 'content-type': 'application/json' }, body: '{}' } : { method, path })
          expect(answer.status, `${method} ${path}`).to.equal(404)
          expect(answer.json, `${method} ${path}`).to.deep.include({ success: false })
        }
      })
    })
  })
}
