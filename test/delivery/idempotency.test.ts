import { request } from 'node:http'
import { expect } from 'chai'
import { createMemoryIdempotencyKeys } from '../../adapters/memory/memory-idempotency-keys'
import type { Conversation } from '../../domain/message-repository'
import { run } from '../contracts/message-repository.contract'
import { postJson, startTestServer, type TestServer } from '../support/server'
import { until } from '../support/until'

/** node:http, which sends Latin-1 header bytes as they are (fetch would refuse some). */
const rawPost = (url: string, headers: Record<string, string>, body: string) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })

type SendAnswer = { success: boolean; message: { id: number }; auto_reply: { id: number } | null; error?: string }

for (const via of ['listener', 'koa'] as const) {
  describe(`delivery: idempotent sends (${via})`, () => {
    let server: TestServer
    beforeEach(async () => {
      server = await startTestServer({ via })
    })
    afterEach(() => server.close())

    const send = async (body: unknown, key?: string) => {
      const response = await postJson(`${server.url}/api/send`, body, key === undefined ? {} : { 'Idempotency-Key': key })
      return { status: response.status, replayed: response.headers.get('idempotent-replayed'), body: (await response.json()) as SendAnswer }
    }
    const stored = async () => ((await (await fetch(`${server.url}/api/messages`)).json()) as { count: number }).count

    it('answers a late retry with the original response and stores nothing', async () => {
      const first = await send({ player_name: 'Bob', message: 'once' }, 'key-1')
      expect(first.status).to.equal(200)
      expect(first.replayed).to.equal(null)
      const retry = await send({ message: 'once', player_name: 'Bob' }, 'key-1')
      expect(retry.status).to.equal(200)
      expect(retry.replayed).to.equal('true')
      expect(retry.body).to.deep.equal(first.body)
      expect(await stored()).to.equal(2)
    })

    it('stores one message for many concurrent requests with one key', async () => {
      const answers = await Promise.all(Array.from({ length: 25 }, () => send({ player_name: 'Bob', message: 'race' }, 'same-key')))
      const ok = answers.filter((a) => a.status === 200)
      expect(ok.length).to.be.at.least(1)
      expect(new Set(ok.map((a) => a.body.message.id)).size).to.equal(1)
      for (const a of answers.filter((a) => a.status !== 200)) {
        expect(a.status).to.equal(409)
        expect(a.body.error).to.match(/Idempotency-Key/)
      }
      expect(await stored()).to.equal(2)
      const late = await send({ player_name: 'Bob', message: 'race' }, 'same-key')
      expect(late.body.message.id).to.equal(ok[0]!.body.message.id)
    })

    it('answers a retry that comes while the first is still being stored with 409 and Retry-After, and stores one message', async () => {
      // The memory store appends at once; a store that takes its time shows the window a slow database would.
      let open!: () => void
      const gate = new Promise<void>((resolve) => (open = resolve))
      let appends = 0
      await server.close()
      server = await startTestServer({
        via,
        wrapStore: (store) => ({
          ...store,
          append: (request) => async () => {
            appends++
            await gate
            return store.append(request)()
          },
        }),
      })
      const first = send({ player_name: 'Bob', message: 'slow' }, 'slow-key')
      await until(() => appends === 1)
      const retry = await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'slow' }, { 'Idempotency-Key': 'slow-key', Origin: 'https://game.example' })
      expect(retry.status).to.equal(409)
      expect(retry.headers.get('retry-after')).to.equal('1')
      expect(retry.headers.get('access-control-allow-origin')).to.equal('*')
      expect(await retry.json()).to.deep.equal({
        success: false,
        error: 'Idempotency-Key: the first request with this key is still being processed; retry shortly',
      })
      open()
      const answered = await first
      expect(answered.status).to.equal(200)
      const late = await send({ player_name: 'Bob', message: 'slow' }, 'slow-key')
      expect(late.replayed).to.equal('true')
      expect(late.body).to.deep.equal(answered.body)
      expect(appends).to.equal(1)
      expect(await stored()).to.equal(2)
    })

    it('refuses the same key with a different body', async () => {
      await send({ player_name: 'Bob', message: 'first' }, 'key-2')
      const other = await send({ player_name: 'Bob', message: 'second' }, 'key-2')
      expect(other.status).to.equal(422)
      expect(other.body.error).to.match(/Idempotency-Key/)
      expect(await stored()).to.equal(2)
    })

    it('processes a retry afresh when the first attempt was refused', async () => {
      const refused = await send({ player_name: 'Bob', message: ' ' }, 'key-3')
      expect(refused.status).to.equal(400)
      const fixed = await send({ player_name: 'Bob', message: ' ' }, 'key-3')
      expect(fixed.status).to.equal(400)
      expect(fixed.body.error).to.match(/message/)
    })

    it('keeps keys apart and sends without a key as before', async () => {
      const a = await send({ player_name: 'Bob', message: 'x' }, 'a')
      const b = await send({ player_name: 'Bob', message: 'x' }, 'b')
      const plain = await send({ player_name: 'Bob', message: 'x' })
      expect(new Set([a.body.message.id, b.body.message.id, plain.body.message.id]).size).to.equal(3)
    })

    it('refuses a malformed key', async () => {
      for (const key of ['x'.repeat(256), 'caf\u00e9']) {
        const { status, body } = await rawPost(`${server.url}/api/send`, { 'Idempotency-Key': key }, JSON.stringify({ player_name: 'Bob', message: 'x' }))
        expect(status, key).to.equal(400)
        expect((JSON.parse(body) as SendAnswer).error).to.match(/Idempotency-Key/)
      }
      expect(await stored()).to.equal(0)
    })
  })
}

describe('memory idempotency keys', () => {
  const conversation = { message: { id: 1 } } as unknown as Conversation

  it('forgets the oldest keys past its bound', async () => {
    const keys = createMemoryIdempotencyKeys({ maxKeys: 3, retentionMs: 60_000 })
    for (const key of ['a', 'b', 'c', 'd']) {
      await run(keys.claim(key, 'f'))
      await run(keys.complete(key, 'f', conversation))
    }
    expect(keys.size()).to.equal(3)
    expect((await run(keys.claim('a', 'f')))._tag).to.equal('Claimed')
    expect((await run(keys.claim('d', 'f')))._tag).to.equal('Completed')
  })

  it('forgets keys after the retention', async () => {
    let now = 0
    const keys = createMemoryIdempotencyKeys({ maxKeys: 100, retentionMs: 1000, now: () => now })
    await run(keys.claim('a', 'f'))
    await run(keys.complete('a', 'f', conversation))
    now = 999
    expect((await run(keys.claim('a', 'f')))._tag).to.equal('Completed')
    now = 1000
    expect((await run(keys.claim('a', 'f')))._tag).to.equal('Claimed')
  })

  it('reports a key in progress until it completes or is released', async () => {
    const keys = createMemoryIdempotencyKeys({ maxKeys: 100, retentionMs: 1000 })
    expect((await run(keys.claim('a', 'f')))._tag).to.equal('Claimed')
    expect((await run(keys.claim('a', 'f')))._tag).to.equal('InProgress')
    await run(keys.release('a'))
    expect((await run(keys.claim('a', 'f')))._tag).to.equal('Claimed')
  })
})
