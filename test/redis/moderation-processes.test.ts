import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import { startServer, type ServerProcess } from '../hostile/harness'
import { openEventStream } from '../support/sse'
import { requireRedis, startRedis, type TestRedis } from '../support/redis'

/*
 * Moderation across real server processes (main.ts) on one real Redis: a
 * removal made through one reaches the long polls and streams held by the
 * other exactly once, a mute made through one refuses sends through the
 * other (as soon as that one hears of it: no test waits longer than it must),
 * a Right to Erasure from Roblox through one erases what was sent through the
 * other, and the audit log is one log for both.
 */

type Wire = { id: number; message: string; type: string; removes?: number[] }
type Page = { messages: Wire[]; next_after: number; gap: boolean; epoch: string }

const ADMIN_KEY = 'admin-key-0123456789abcdef'
const GAME_KEY = 'game-key-0123456789abcdef'
const WEBHOOK_SECRET = 'roblox-webhook-secret-0123456789'

describe('redis: moderation across server processes', function () {
  this.timeout(60_000)
  before(requireRedis)
  let redis: TestRedis
  const running: ServerProcess[] = []
  before(async () => {
    redis = await startRedis()
  })
  after(async () => {
    await redis?.close()
  })
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()))
  })

  const two = async (): Promise<[ServerProcess, ServerProcess]> => {
    const env = {
      STORE: 'redis',
      REDIS_URL: redis.url,
      REDIS_PREFIX: `t${randomBytes(4).toString('hex')}`,
      API_KEYS: `game:${GAME_KEY}`,
      ADMIN_KEYS: `ops:${ADMIN_KEY}`,
      ROBLOX_WEBHOOK_SECRET: WEBHOOK_SECRET,
    }
    const servers = await Promise.all([startServer(env), startServer(env)])
    running.push(...servers)
    for (const server of servers) {
      const deadline = Date.now() + 10_000
      while (!((await (await fetch(`${server.base}/api`)).json()) as { store: { available: boolean } }).store.available) {
        if (Date.now() > deadline) throw new Error('the store never became available')
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    }
    return servers as [ServerProcess, ServerProcess]
  }
  const call = async (server: ServerProcess, method: string, path: string, body?: unknown, key = ADMIN_KEY) => {
    const response = await fetch(`${server.base}${path}`, {
      method,
      headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    return { status: response.status, body: (await response.json()) as Record<string, unknown> }
  }
  const send = async (server: ServerProcess, player_name: string, message: string, more: Record<string, unknown> = {}) =>
    call(server, 'POST', '/api/send', { player_name, message, ...more }, GAME_KEY)
  const holding = async (server: ServerProcess, count: number) => {
    const deadline = Date.now() + 10_000
    for (;;) {
      const { holding } = (await (await fetch(`${server.base}/api`)).json()) as { holding: { long_polls: number; streams: number } }
      if (holding.long_polls + holding.streams === count) return
      if (Date.now() > deadline) throw new Error(`the process holds ${holding.long_polls} polls and ${holding.streams} streams, not ${count}`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  /** Asks again until the answer's status is the one expected: the other process hears of a change when its subscription delivers it. */
  const statusBecomes = async <A extends { status: number }>(ask: () => Promise<A>, status: number): Promise<A> => {
    const deadline = Date.now() + 5_000
    for (;;) {
      const answer = await ask()
      if (answer.status === status) return answer
      if (Date.now() > deadline) throw new Error(`still answered ${answer.status}, not ${status}`)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  it("tells the other process's long polls and streams of a removal once, in order, without a gap", async () => {
    const [a, b] = await two()
    const sent = (await send(b, 'Bob', 'rude')).body.message as Wire
    const head = (await call(b, 'GET', '/api/messages', undefined, GAME_KEY)).body as unknown as Page
    const held = call(b, 'GET', `/api/messages?after=${head.next_after}&epoch=${head.epoch}&wait=15`, undefined, GAME_KEY)
    const stream = await openEventStream(`${b.base}/api/stream?after=${head.next_after}&epoch=${head.epoch}`, { 'x-api-key': GAME_KEY })
    try {
      await stream.nextOf('ready')
      await holding(b, 2)
      const removed = await call(a, 'DELETE', `/api/messages/${sent.id}`)
      expect(removed.status).to.equal(200)
      const page = (await held).body as unknown as Page
      expect(page.messages.map((m) => [m.type, m.removes])).to.deep.equal([['removal', [sent.id, sent.id + 1]]])
      expect(page.gap).to.equal(false)
      const event = await stream.next()
      expect(event.event).to.equal('removal')
      expect(JSON.parse(event.data)).to.deep.equal(page.messages[0])
      await send(a, 'Ann', 'after')
      expect(JSON.parse((await stream.next()).data).message, 'the next event is the next message: the removal came once').to.equal('after')
      expect(((await call(b, 'GET', '/api/messages', undefined, GAME_KEY)).body as unknown as Page).messages.map((m) => m.message)).to.deep.equal(['after', 'Hello Ann!'])
    } finally {
      await stream.close()
    }
  })

  it("refuses a send through the other process once a mute is made, and lets it through once it is lifted", async () => {
    const [a, b] = await two()
    await send(b, 'Bob', 'before')
    expect((await call(a, 'POST', '/api/players/Bob/mute', { seconds: 600, reason: 'spam', user_id: 156 })).status).to.equal(200)
    const refused = await statusBecomes(() => send(b, 'Bob', 'muted?'), 403)
    expect(refused.body.success).to.equal(false)
    expect(refused.body.error).to.match(/^player_name Bob is muted until .*: spam$/)
    expect((await send(b, 'Renamed', 'same user', { user_id: 156 })).status).to.equal(403)
    expect(((await call(b, 'GET', '/api/mutes')).body.mutes as unknown[]).length).to.equal(1)
    expect((await call(b, 'DELETE', '/api/players/bob/mute')).status).to.equal(200)
    await statusBecomes(() => send(a, 'Bob', 'free'), 200)
  })

  it("erases through one what Roblox's Right to Erasure names, sent through the other, and both read one audit log", async () => {
    const [a, b] = await two()
    await send(b, 'Bob', 'to erase', { user_id: 156 })
    await send(b, 'Ann', 'to keep', { user_id: 157 })
    const body = JSON.stringify({ NotificationId: 'n-1', EventType: 'RightToErasureRequest', EventTime: new Date().toISOString(), EventPayload: { UserId: 156, GameIds: [1] } })
    const t = String(Math.floor(Date.now() / 1000))
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode(WEBHOOK_SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
    const v1 = Buffer.from(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${t}.${body}`))).toString('base64')
    const answer = await fetch(`${a.base}/api/roblox/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', 'roblox-signature': `t=${t},v1=${v1}` }, body })
    expect(answer.status).to.equal(200)
    expect(await answer.json()).to.deep.equal({ success: true, event: 'RightToErasureRequest', user_id: 156, removed: 2 })
    const left = (await call(b, 'GET', '/api/messages', undefined, GAME_KEY)).body as unknown as Page
    expect(left.messages.map((m) => m.message)).to.deep.equal(['to keep', 'Hello Ann!'])
    const audit = (await call(b, 'GET', '/api/admin/audit')).body as { entries: Array<Record<string, unknown>> }
    expect(audit.entries).to.have.length(1)
    expect(audit.entries[0]).to.deep.include({ actor: 'roblox', action: 'erase', user_id: 156, removed: 2, channels: ['global'], notification: 'n-1' })
  })
})
