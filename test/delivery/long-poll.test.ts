import { expect } from 'chai'
import { postJson, startTestServer, type TestServer } from '../support/server'
import { until } from '../support/until'

type Wire = { id: number; player_name: string; message: string; type: string }
type ListAnswer = { success: boolean; messages: Wire[]; next_after: number; has_more: boolean; gap: boolean; epoch: string; error?: string }

const getJson = async (url: string, init: RequestInit = {}): Promise<{ status: number; body: ListAnswer }> => {
  const response = await fetch(url, init)
  return { status: response.status, body: (await response.json()) as ListAnswer }
}

for (const via of ['listener', 'koa'] as const) {
  describe(`delivery: cursors and long polling over HTTP (${via})`, () => {
    let server: TestServer
    afterEach(() => server.close())

    it('delivers every message exactly once, in id order, to 10 long-polling clients while 20 senders send', async function () {
      this.timeout(60_000)
      server = await startTestServer({ via, autoReplyTemplate: '', store: { maxMessages: 10_000 } })
      const perSender = 15
      const total = 20 * perSender
      const clients = Array.from({ length: 10 }, async () => {
        const seen: number[] = []
        let after = 0
        let epoch = ''
        while (seen.length < total) {
          const { body } = await getJson(`${server.url}/api/messages?after=${after}&wait=5${epoch ? `&epoch=${epoch}` : ''}&limit=7`)
          expect(body.gap).to.equal(false)
          for (const m of body.messages) seen.push(m.id)
          after = body.next_after
          epoch = body.epoch
        }
        return seen
      })
      await until(() => server.holding() >= 1)
      const senders = Array.from({ length: 20 }, async (_, s) => {
        for (let i = 0; i < perSender; i++) {
          const response = await postJson(`${server.url}/api/send`, { player_name: `Sender${s}`, message: `m${i}` })
          expect(response.status).to.equal(200)
        }
      })
      await Promise.all(senders)
      const expected = (await getJson(`${server.url}/api/messages?limit=1000`)).body.messages.map((m) => m.id)
      expect(expected).to.have.length(total)
      for (const seen of await Promise.all(clients)) expect(seen).to.deep.equal(expected)
    })

    it("delivers a player's messages exactly once to per-player long polls, and nobody else's", async function () {
      this.timeout(60_000)
      server = await startTestServer({ via, store: { maxMessages: 10_000 } })
      const perSender = 10
      const clients = ['sender3', 'SENDER7'].flatMap((name) =>
        Array.from({ length: 5 }, async () => {
          const seen: Wire[] = []
          let after = 0
          while (seen.length < perSender) {
            const { body } = await getJson(`${server.url}/api/messages/${name}?after=${after}&wait=5`)
            seen.push(...body.messages)
            after = body.next_after
          }
          return { name, seen }
        }),
      )
      await Promise.all(
        Array.from({ length: 20 }, async (_, s) => {
          for (let i = 0; i < perSender; i++) await postJson(`${server.url}/api/send`, { player_name: `Sender${s}`, message: `m${i}` })
        }),
      )
      for (const { name, seen } of await Promise.all(clients)) {
        const expected = (await getJson(`${server.url}/api/messages/${name}`)).body.messages.map((m) => m.id)
        expect(seen.map((m) => m.id)).to.deep.equal(expected)
        expect(seen.every((m) => m.player_name.toLowerCase() === name.toLowerCase())).to.equal(true)
      }
    })

    it('answers a waiting long poll promptly after a matching send', async () => {
      server = await startTestServer({ via })
      const waiting = getJson(`${server.url}/api/messages?after=0&wait=20`)
      await until(() => server.holding() === 1)
      const sentAt = performance.now()
      await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'wake up' })
      const { body } = await waiting
      expect(performance.now() - sentAt).to.be.below(1000)
      expect(body.messages.map((m) => m.message)).to.deep.equal(['wake up', 'Hello Bob!'])
    })

    it('answers an expired long poll after about `wait` seconds, empty, with a cursor to continue from', async () => {
      server = await startTestServer({ via })
      await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'old' })
      const started = performance.now()
      const { status, body } = await getJson(`${server.url}/api/messages?after=2&wait=1`)
      const elapsed = performance.now() - started
      expect(status).to.equal(200)
      expect(elapsed).to.be.within(950, 2500)
      expect(body.messages).to.deep.equal([])
      expect(body.next_after).to.equal(2)
      expect(server.holding()).to.equal(0)
    })

    it('releases a waiter as soon as its client disconnects', async () => {
      server = await startTestServer({ via })
      const controllers = Array.from({ length: 50 }, () => new AbortController())
      const requests = controllers.map((c) => fetch(`${server.url}/api/messages?after=0&wait=25`, { signal: c.signal }).catch(() => 'aborted'))
      await until(() => server.holding() === 50)
      for (const c of controllers) c.abort()
      expect(await Promise.all(requests)).to.deep.equal(controllers.map(() => 'aborted'))
      await until(() => server.holding() === 0)
    })

    it('refuses a wait over the maximum, negative, non-numeric or without a cursor', async () => {
      server = await startTestServer({ via, longPollMaxSeconds: 25 })
      for (const query of ['after=0&wait=26', 'after=0&wait=-1', 'after=0&wait=soon', 'wait=5']) {
        const { status, body } = await getJson(`${server.url}/api/messages?${query}`)
        expect(status, query).to.equal(400)
        expect(body.error, query).to.match(/wait/)
      }
    })

    it('pages forward with after and limit, reporting has_more and next_after', async () => {
      server = await startTestServer({ via, autoReplyTemplate: '' })
      for (let i = 1; i <= 5; i++) await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: `m${i}` })
      const first = (await getJson(`${server.url}/api/messages?after=0&limit=3`)).body
      expect(first.messages.map((m) => m.message)).to.deep.equal(['m1', 'm2', 'm3'])
      expect(first).to.include({ has_more: true, next_after: 3, gap: false })
      const second = (await getJson(`${server.url}/api/messages?after=${first.next_after}&limit=3&epoch=${first.epoch}`)).body
      expect(second.messages.map((m) => m.message)).to.deep.equal(['m4', 'm5'])
      expect(second).to.include({ has_more: false, next_after: 5 })
      const bad = await getJson(`${server.url}/api/messages?after=-1`)
      expect(bad.status).to.equal(400)
      expect(bad.body.error).to.match(/^after /)
    })

    it('reports a gap after eviction and after a clear, never on a fresh cursor', async () => {
      server = await startTestServer({ via, autoReplyTemplate: '', store: { maxMessages: 3 } })
      const fresh = (await getJson(`${server.url}/api/messages?after=0`)).body
      expect(fresh.gap).to.equal(false)
      for (let i = 1; i <= 5; i++) await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: `m${i}` })
      const behind = (await getJson(`${server.url}/api/messages?after=${fresh.next_after}`)).body
      expect(behind.gap).to.equal(true)
      expect(behind.messages.map((m) => m.message)).to.deep.equal(['m3', 'm4', 'm5'])
      const caughtUp = (await getJson(`${server.url}/api/messages?after=${behind.next_after}`)).body
      expect(caughtUp.gap).to.equal(false)
      await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'm6' })
      await fetch(`${server.url}/api/clear`, { method: 'POST' })
      expect((await getJson(`${server.url}/api/messages?after=${caughtUp.next_after}`)).body.gap).to.equal(true)
      const afterClear = (await getJson(`${server.url}/api/messages?after=6`)).body
      expect(afterClear.gap).to.equal(false)
    })

    it('answers a cursor from another store life from the start, with a gap', async () => {
      server = await startTestServer({ via, autoReplyTemplate: '' })
      await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'new life' })
      const { body } = await getJson(`${server.url}/api/messages?after=0&epoch=someOtherEpoch`)
      expect(body.gap).to.equal(true)
      expect(body.messages.map((m) => m.message)).to.deep.equal(['new life'])
      // A restarted store's client that never sent its epoch is caught by ids beyond anything issued.
      const beyond = (await getJson(`${server.url}/api/messages?after=5000`)).body
      expect(beyond.gap).to.equal(true)
      expect(beyond.messages).to.have.length(1)
    })

    it("holds a player's poll by the name in the path, decoded, and wakes it for that player only", async () => {
      server = await startTestServer({ via, autoReplyTemplate: '' })
      const name = 'A/B Ünï'
      const waiting = getJson(`${server.url}/api/messages/${encodeURIComponent(name.toUpperCase())}?after=0&wait=20`)
      await until(() => server.holding() === 1)
      await postJson(`${server.url}/api/send`, { player_name: 'Someone', message: 'not for you' })
      await postJson(`${server.url}/api/send`, { player_name: name, message: 'for you' })
      const { status, body } = await waiting
      expect(status).to.equal(200)
      expect(body).to.include({ player_name: name.toUpperCase(), count: 1 })
      expect(body.messages.map((m) => m.message)).to.deep.equal(['for you'])
    })

    it('refuses a held poll for a blank or over-long player name with 400 naming player_name, holding nothing', async () => {
      server = await startTestServer({ via })
      for (const name of ['%20%20', 'x'.repeat(51)]) {
        const { status, body } = await getJson(`${server.url}/api/messages/${name}?after=0&wait=5`)
        expect(status, name).to.equal(400)
        expect(body.error, name).to.match(/player_name/)
      }
      expect(server.holding()).to.equal(0)
    })
  })
}
