import { expect } from 'chai'
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'
import { postJson, startTestServer, type TestServer, type TestServerOptions } from '../support/server'
import { connect, type Socket } from 'node:net'
import { parseRawAnswer, rawRequest, rawSocket } from './raw'

/*
 * Every refusal is `{ success: false, error }` with the right status, and
 * the error names the field at fault; a refused send stores nothing.
 */

type Refusal = { success: false; error: string }

const expectRefusal = async (res: Response, status: number, mentions: RegExp): Promise<Refusal> => {
  const text = await res.text()
  expect(res.status, text).to.equal(status)
  expect(res.headers.get('content-type')).to.match(/^application\/json/)
  const body = JSON.parse(text) as Refusal
  expect(body).to.have.all.keys('success', 'error')
  expect(body.success).to.equal(false)
  expect(body.error).to.be.a('string').and.match(mentions)
  expect(body.error).not.to.match(/\n\s+at /)
  // A sentence for a person, not a dump of the codec's type.
  expect(body.error).not.to.match(/Exact<|Partial<|=>/)
  return body
}

// Served both ways: sends below Koa as `npm start` serves them, and through an embedded Koa app that hands them to the same code.
for (const via of ['listener', 'koa'] as const) {
  describe(`HTTP API: bad input (${via})`, () => {
    let t: TestServer
    const start = async (options: TestServerOptions = {}) => {
      t = await startTestServer({ via, ...options })
    }
    afterEach(async () => {
      await t?.close()
    })

    const sendRaw = (body: string, contentType = 'application/json') =>
      fetch(`${t.url}/api/send`, { method: 'POST', headers: { 'content-type': contentType }, body })
    const storedCount = async (): Promise<number> => ((await (await fetch(`${t.url}/api/messages`)).json()) as { count: number }).count

    describe('the body of POST /api/send', () => {
      beforeEach(() => start())
      afterEach(async () => {
        expect(await storedCount(), 'a refused send stores nothing').to.equal(0)
      })

      for (const [label, body] of [
        ['a truncated object', '{"player_name": "Bob", "message": "hi"'],
        ['single quotes', "{'player_name': 'Bob', 'message': 'hi'}"],
        ['a trailing comma', '{"player_name": "Bob", "message": "hi",}'],
        ['plain words', 'hello there'],
      ] as const) {
        it(`refuses malformed JSON (${label}) with 400 naming JSON`, async () => {
          await expectRefusal(await sendRaw(body), 400, /JSON/)
        })
      }

      for (const [label, body] of [
        ['an array', '[{"player_name": "Bob", "message": "hi"}]'],
        ['a string', '"hello"'],
        ['a number', '42'],
        ['null', 'null'],
        ['true', 'true'],
      ] as const) {
        it(`refuses a body that is ${label}, not an object, with 400`, async () => {
          await expectRefusal(await sendRaw(body), 400, /body must be a JSON object/)
        })
      }

      it('refuses an empty body with 400 asking for a JSON object', async () => {
        await expectRefusal(await sendRaw(''), 400, /body must be a JSON object/)
      })

      it('refuses an empty object with 400 naming player_name as required', async () => {
        await expectRefusal(await postJson(`${t.url}/api/send`, {}), 400, /player_name.*required/)
      })

      it('refuses a missing player_name with 400 naming it', async () => {
        await expectRefusal(await postJson(`${t.url}/api/send`, { message: 'hi' }), 400, /player_name.*required/)
      })

      it('refuses a missing message with 400 naming it', async () => {
        await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: 'Bob' }), 400, /\bmessage\b.*required/)
      })

      for (const [label, value] of [
        ['a number', 42],
        ['an object', { first: 'Bob' }],
        ['null', null],
        ['an array', ['Bob']],
        ['a boolean', true],
      ] as const) {
        it(`refuses player_name as ${label} with 400 naming player_name`, async () => {
          const body = await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: value, message: 'hi' }), 400, /player_name/)
          expect(body.error).to.match(/string/)
        })
        it(`refuses message as ${label} with 400 naming message`, async () => {
          const body = await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: value }), 400, /\bmessage\b/)
          expect(body.error).to.match(/string/)
          expect(body.error).not.to.match(/player_name/)
        })
      }

      for (const blank of ['', ' ', '   \t  ', '\u00a0\u2003']) {
        it(`refuses a blank player_name ${JSON.stringify(blank)} with 400`, async () => {
          await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: blank, message: 'hi' }), 400, /player_name.*blank/)
        })
        it(`refuses a blank message ${JSON.stringify(blank)} with 400`, async () => {
          await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: blank }), 400, /\bmessage\b.*blank/)
        })
      }

      it('refuses a blank message made of newlines with 400', async () => {
        await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: '\n\r\n' }), 400, /\bmessage\b.*blank/)
      })

      it('refuses a player_name of 51 characters with 400 naming the bound', async () => {
        const body = await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: 'a'.repeat(51), message: 'hi' }), 400, /player_name/)
        expect(body.error).to.match(/50/)
      })

      it('refuses a player_name of 51 emoji, counted as characters, with 400', async () => {
        await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: '😀'.repeat(51), message: 'hi' }), 400, /player_name.*50/)
      })

      it('refuses a message of 1001 characters with 400 naming the bound', async () => {
        const body = await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'x'.repeat(1001) }), 400, /\bmessage\b/)
        expect(body.error).to.match(/1000/)
      })

      it('refuses a message of 1001 emoji with 400', async () => {
        await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: '😀'.repeat(1001) }), 400, /\bmessage\b.*1000/)
      })

      for (const [label, name] of [
        ['a NUL', 'Bo\u0000b'],
        ['a newline', 'Bo\nb'],
        ['an escape', '\u001b[31mBob'],
        ['a tab', 'Bo\tb'],
        ['a DEL', 'Bo\u007fb'],
        ['a C1 control', 'Bo\u0085b'],
      ] as const) {
        it(`refuses ${label} in player_name with 400`, async () => {
          await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: name, message: 'hi' }), 400, /player_name.*control/)
        })
      }

      it('names the first field at fault when both are wrong', async () => {
        await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: 7, message: 8 }), 400, /player_name/)
      })
    })

    describe('the bounds that still let a send through', () => {
      beforeEach(() => start())

      it('accepts a player_name of exactly 50 characters, and of 50 emoji', async () => {
        expect((await postJson(`${t.url}/api/send`, { player_name: 'a'.repeat(50), message: 'hi' })).status).to.equal(200)
        const res = await postJson(`${t.url}/api/send`, { player_name: '😀'.repeat(50), message: 'hi' })
        expect(res.status).to.equal(200)
        expect(((await res.json()) as { message: { player_name: string } }).message.player_name).to.equal('😀'.repeat(50))
      })

      it('accepts a message of exactly 1000 characters', async () => {
        const res = await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'x'.repeat(1000) })
        expect(res.status).to.equal(200)
      })

      it('accepts 1000 emoji, each one character, and stores them intact', async () => {
        const emoji = '😀'.repeat(1000)
        expect(emoji.length).to.equal(2000)
        const res = await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: emoji })
        expect(res.status, await res.clone().text()).to.equal(200)
        expect(((await res.json()) as { message: { message: string } }).message.message).to.equal(emoji)
      })

      it('accepts a message with newlines, tabs and markup', async () => {
        const res = await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'line one\nline\ttwo <i>x</i>' })
        expect(res.status).to.equal(200)
      })

      it('ignores unknown fields rather than storing them', async () => {
        const res = await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'hi', admin: true })
        expect(res.status).to.equal(200)
        expect(((await res.json()) as { message: object }).message).not.to.have.property('admin')
      })
    })

    describe('a configured message maximum', () => {
      beforeEach(() => start({ maxMessageLength: 10 }))

      it('accepts exactly the maximum', async () => {
        expect((await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: '0123456789' })).status).to.equal(200)
        expect((await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: '😀'.repeat(10) })).status).to.equal(200)
      })

      it('refuses one character more with 400 naming message and the maximum', async () => {
        const body = await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: '0123456789a' }), 400, /\bmessage\b/)
        expect(body.error).to.match(/\b10\b/)
        await expectRefusal(await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: '😀'.repeat(11) }), 400, /\bmessage\b.*\b10\b/)
      })
    })

    describe('the size and type of the body', () => {
      it('refuses a body over 64 KiB with 413', async () => {
        await start()
        const body = JSON.stringify({ player_name: 'Bob', message: 'x'.repeat(64 * 1024) })
        await expectRefusal(await sendRaw(body), 413, /64 KiB/)
        expect(await storedCount()).to.equal(0)
      })

      it('refuses an oversized body sent in chunks without a length with 413', async () => {
        await start()
        const answer = await rawRequest(t.url, {
          method: 'POST',
          path: '/api/send',
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
          body: JSON.stringify({ player_name: 'Bob', message: 'x'.repeat(70 * 1024) }),
        })
        expect(answer.status).to.equal(413)
        expect(answer.json).to.deep.include({ success: false })
      })

      it('reads a body of exactly 64 KiB and refuses one byte more with 413', async () => {
        await start()
        const bodyOf = (bytes: number) => {
          const shell = JSON.stringify({ player_name: 'Bob', message: '' })
          return JSON.stringify({ player_name: 'Bob', message: 'x'.repeat(bytes - Buffer.byteLength(shell)) })
        }
        const exact = bodyOf(64 * 1024)
        expect(Buffer.byteLength(exact)).to.equal(65_536)
        const atLimit = await sendRaw(exact)
        // Within the body limit, so it is the message bound that speaks, not the size limit.
        await expectRefusal(atLimit, 400, /\bmessage\b.*1000/)
        await expectRefusal(await sendRaw(bodyOf(64 * 1024 + 1)), 413, /64 KiB/)
      })

      it('derives a larger body limit from a large message maximum, so the length rule speaks first', async () => {
        await start({ maxMessageLength: 60_000 })
        // The longest message, every character outside the BMP and written as two \u escapes: 12 bytes each.
        const longest = `{"player_name":"Bob","message":"${'\\ud83d\\ude00'.repeat(60_000)}"}`
        expect(Buffer.byteLength(longest)).to.be.greaterThan(700_000)
        const accepted = await sendRaw(longest)
        expect(accepted.status, (await accepted.clone().text()).slice(0, 200)).to.equal(200)
        await expectRefusal(await sendRaw(`{"player_name":"Bob","message":"${'\\ud83d\\ude00'.repeat(60_001)}"}`), 400, /\bmessage\b.*60000/)
      })

      it('reads a body just under 64 KiB (the limit is the body, not the message)', async () => {
        await start({ maxMessageLength: 60_000 })
        const res = await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'x'.repeat(60_000) })
        expect(res.status).to.equal(200)
      })

      for (const [label, type] of [
        ['text/plain', 'text/plain'],
        ['a form', 'application/x-www-form-urlencoded'],
        ['multipart', 'multipart/form-data; boundary=x'],
        ['XML', 'application/xml'],
      ] as const) {
        it(`refuses ${label} with 415 naming JSON`, async () => {
          await start()
          const body = type.startsWith('application/x-www') ? 'player_name=Bob&message=hi' : JSON.stringify({ player_name: 'Bob', message: 'hi' })
          await expectRefusal(await sendRaw(body, type), 415, /application\/json/)
          expect(await storedCount()).to.equal(0)
        })
      }

      it('refuses a body without a content type with 415', async () => {
        await start()
        const payload = JSON.stringify({ player_name: 'Bob', message: 'hi' })
        const answer = await rawRequest(t.url, {
          method: 'POST',
          path: '/api/send',
          headers: { 'content-length': Buffer.byteLength(payload) },
          body: payload,
        })
        expect(answer.status).to.equal(415)
        expect(answer.json).to.deep.include({ success: false })
        expect((answer.json as Refusal).error).to.match(/application\/json/)
        expect(await storedCount()).to.equal(0)
      })

      it('refuses a POST with no body and no content type with 415', async () => {
        await start()
        await expectRefusal(await fetch(`${t.url}/api/send`, { method: 'POST' }), 415, /application\/json/)
      })

      // Roblox's PostAsync compresses the body with gzip when its `compress` argument is true.
      for (const [encoding, compress] of [
        ['gzip', gzipSync],
        ['deflate', deflateSync],
        ['br', brotliCompressSync],
      ] as const) {
        it(`reads a ${encoding}-compressed body`, async () => {
          await start()
          const answer = await rawRequest(t.url, {
            method: 'POST',
            path: '/api/send',
            headers: { 'content-type': 'application/json', 'content-encoding': encoding },
            body: compress(Buffer.from(JSON.stringify({ player_name: 'Bob', message: 'squeezed' }))),
          })
          expect(answer.status, answer.text).to.equal(200)
          expect(answer.json).to.nested.include({ 'message.message': 'squeezed' })
          expect(await storedCount()).to.equal(2)
        })
      }

      it('applies the 64 KiB limit to the decompressed body, so a small bomb is refused with 413', async () => {
        await start()
        const bomb = gzipSync(Buffer.from(JSON.stringify({ player_name: 'Bob', message: 'x'.repeat(10 * 1024 * 1024) })))
        expect(bomb.length).to.be.below(64 * 1024)
        const answer = await rawRequest(t.url, {
          method: 'POST',
          path: '/api/send',
          headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
          body: bomb,
        })
        expect(answer.status).to.equal(413)
        expect(answer.json).to.deep.include({ success: false })
        expect(await storedCount()).to.equal(0)
      })

      it('refuses a body that claims gzip but is not with 400 naming the encoding', async () => {
        await start()
        const answer = await rawRequest(t.url, {
          method: 'POST',
          path: '/api/send',
          headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
          body: JSON.stringify({ player_name: 'Bob', message: 'hi' }),
        })
        expect(answer.status).to.equal(400)
        expect((answer.json as Refusal).error).to.match(/gzip/)
        expect(await storedCount()).to.equal(0)
      })

      it('refuses an unknown Content-Encoding with 415 naming it', async () => {
        await start()
        const answer = await rawRequest(t.url, {
          method: 'POST',
          path: '/api/send',
          headers: { 'content-type': 'application/json', 'content-encoding': 'compress' },
          body: JSON.stringify({ player_name: 'Bob', message: 'hi' }),
        })
        expect(answer.status).to.equal(415)
        expect((answer.json as Refusal).error).to.match(/Content-Encoding "compress"/)
        expect(await storedCount()).to.equal(0)
      })

      it('refuses JSON declared in another charset than UTF-8 with 415', async () => {
        await start()
        const body = JSON.stringify({ player_name: 'Bob', message: 'hi' })
        await expectRefusal(await sendRaw(body, 'application/json; charset=iso-8859-1'), 415, /UTF-8/)
        const answer = await sendRaw(body, 'application/json; charset="UTF-8"')
        expect(answer.status).to.equal(200)
      })

      it('keeps the connection usable after refusing an oversized body', async () => {
        await start()
        const { Agent } = await import('node:http')
        const agent = new Agent({ keepAlive: true, maxSockets: 1 })
        try {
          const oversized = await rawRequest(t.url, {
            method: 'POST',
            path: '/api/send',
            headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
            body: JSON.stringify({ player_name: 'Bob', message: 'x'.repeat(200 * 1024) }),
            agent,
          })
          expect(oversized.status).to.equal(413)
          const next = await rawRequest(t.url, {
            method: 'POST',
            path: '/api/send',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ player_name: 'Bob', message: 'after' }),
            agent,
          })
          expect(next.status, next.text).to.equal(200)
        } finally {
          agent.destroy()
        }
      })

      it('stores nothing and logs nothing when the client stops mid-body, and tells it so in JSON if it still listens', async () => {
        await start()
        const { port } = new URL(t.url)
        const serverSide = new Promise<Socket>((resolve) => t.server.once('connection', resolve))
        const socket = connect({ host: '127.0.0.1', port: Number(port) })
        const received: Buffer[] = []
        socket.on('data', (chunk: Buffer) => received.push(chunk))
        const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
        socket.write('POST /api/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"player_name": "Bo')
        const served = await serverSide
        const serverClosed = new Promise<void>((resolve) => served.on('close', () => resolve()))
        // Half-closed: the body will never be complete, but the client can still read an answer.
        socket.end()
        await Promise.all([closed, serverClosed])
        const answer = parseRawAnswer(Buffer.concat(received).toString('utf8'))
        expect(answer.status, answer.head).to.equal(400)
        expect(answer.head.toLowerCase()).to.include('content-type: application/json')
        expect(JSON.parse(answer.body)).to.deep.equal({ success: false, error: 'the connection ended before the request was complete' })
        expect(await storedCount()).to.equal(0)
        expect(t.logged).to.deep.equal([])
      })

      it('refuses bytes that are not HTTP with a JSON 400, and headers too large with a JSON 431', async () => {
        await start()
        const garbage = parseRawAnswer(await rawSocket(t.url, 'HELLO THERE\r\n\r\n'))
        expect(garbage.status).to.equal(400)
        expect(JSON.parse(garbage.body)).to.deep.equal({ success: false, error: 'the request is not valid HTTP/1.1' })
        const huge = parseRawAnswer(await rawSocket(t.url, `GET /api HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`))
        expect(huge.status).to.equal(431)
        expect(JSON.parse(huge.body)).to.include({ success: false })
        expect(t.logged).to.deep.equal([])
      })

      it('reads only content-length bytes: a length that cuts the JSON short leaves malformed JSON, refused with 400', async () => {
        await start()
        const payload = '{"player_name": "Bob", "message": "hi"}'
        // Only the announced five bytes are sent: Node itself refuses bytes beyond the length as a second, garbled request.
        const raw = await rawSocket(
          t.url,
          `POST /api/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n${payload.slice(0, 5)}`,
        )
        const answer = parseRawAnswer(raw)
        expect(answer.status, raw).to.equal(400)
        expect(answer.body).to.match(/"success":false/).and.match(/JSON/)
        expect(await storedCount()).to.equal(0)
      })
    })

    describe('query parameters', () => {
      beforeEach(() => start())

      for (const limit of ['0', '-1', '1.5', 'abc', '', '1e3', ' 5', '0x10']) {
        it(`refuses limit=${JSON.stringify(limit)} with 400 naming limit`, async () => {
          const body = await expectRefusal(await fetch(`${t.url}/api/messages?limit=${encodeURIComponent(limit)}`), 400, /\blimit\b/)
          expect(body.error).to.match(/positive integer/)
          await expectRefusal(await fetch(`${t.url}/api/messages/Bob?limit=${encodeURIComponent(limit)}`), 400, /\blimit\b/)
        })
      }

      it('refuses limit given twice with 400 naming limit', async () => {
        await expectRefusal(await fetch(`${t.url}/api/messages?limit=1&limit=2`), 400, /\blimit\b/)
      })

      for (const since of ['yesterday', '2025-13-01', '2025-02-30T00:00:00Z', '2025-11-22T24:00:00Z', '1732269600', '', '2025-11-22T10:00:00+25', '2025-11-22T10:00:00+05:60', '2025-11-22T10:60:00Z']) {
        it(`refuses since=${JSON.stringify(since)} with 400 naming since`, async () => {
          const body = await expectRefusal(await fetch(`${t.url}/api/messages?since=${encodeURIComponent(since)}`), 400, /\bsince\b/)
          expect(body.error).to.match(/ISO-8601/)
        })
      }

      it('takes a limit larger than anything stored as "all of them"', async () => {
        expect((await fetch(`${t.url}/api/messages?limit=99999999999999999999`)).status).to.equal(200)
      })

      it('refuses a bad limit even when since is good', async () => {
        await expectRefusal(await fetch(`${t.url}/api/messages?since=2025-11-22T10:00:00Z&limit=0`), 400, /\blimit\b/)
      })

      it('accepts since as a plain date, and with a half-hour offset', async () => {
        expect((await fetch(`${t.url}/api/messages?since=2025-11-22`)).status).to.equal(200)
        expect((await fetch(`${t.url}/api/messages?since=${encodeURIComponent('2025-11-22T10:00:00+05:30')}`)).status).to.equal(200)
      })
    })

    describe('the player name in the path', () => {
      beforeEach(() => start())

      it('refuses a blank name with 400 naming player_name', async () => {
        await expectRefusal(await fetch(`${t.url}/api/messages/%20%20`), 400, /player_name/)
      })

      it('refuses a name with a control character with 400 naming player_name', async () => {
        await expectRefusal(await fetch(`${t.url}/api/messages/Bo%00b`), 400, /player_name/)
      })

      it('refuses a name over 50 characters with 400 naming player_name', async () => {
        await expectRefusal(await fetch(`${t.url}/api/messages/${'a'.repeat(51)}`), 400, /player_name/)
      })

      it('answers a badly percent-encoded name with JSON, never a 500', async () => {
        const answer = await rawRequest(t.url, { path: '/api/messages/%E0%A4%A' })
        expect(answer.status).to.be.below(500)
        expect(answer.json).to.be.an('object').with.property('success')
      })

      it('decodes an encoded slash as part of the name', async () => {
        const answer = await rawRequest(t.url, { path: '/api/messages/a%2Fb' })
        expect(answer.status).to.equal(200)
        expect(answer.json).to.deep.include({ player_name: 'a/b' })
      })
    })

    describe('routes and methods', () => {
      beforeEach(() => start())

      for (const path of ['/api/nope', '/nope.html', '/api/messages/Bob/extra', '/apix']) {
        it(`answers GET ${path} with a JSON 404`, async () => {
          await expectRefusal(await fetch(`${t.url}${path}`), 404, /GET \/api/)
        })
      }

      it('answers POST to an unknown API route with 404', async () => {
        await expectRefusal(await postJson(`${t.url}/api/nope`, {}), 404, /\/api\/nope/)
      })

      for (const [method, path, allowed] of [
        ['GET', '/api/send', /POST/],
        ['DELETE', '/api/messages', /GET/],
        ['PUT', '/api/clear', /POST/],
        ['GET', '/api/clear', /POST/],
        ['POST', '/api/messages', /GET/],
        ['PATCH', '/api/messages/Bob', /GET/],
        ['POST', '/api', /GET/],
      ] as const) {
        it(`answers ${method} ${path} with 405 and an Allow header`, async () => {
          const res = await fetch(`${t.url}${path}`, { method })
          expect(res.headers.get('allow')).to.match(allowed)
          const body = await expectRefusal(res, 405, new RegExp(`${method} is not allowed`))
          expect(body.error).to.include(path)
          expect(body.error).to.include(res.headers.get('allow'))
        })
      }

      it('answers a non-GET on a static file with 405 and Allow: GET, HEAD', async () => {
        const res = await fetch(`${t.url}/index.html`, { method: 'POST' })
        expect(res.headers.get('allow')).to.match(/GET/)
        await expectRefusal(res, 405, /POST is not allowed/)
      })
    })
  })
}
