import { expect } from 'chai'
import { randomBytes } from 'node:crypto'
import { startServer, type ServerProcess } from '../hostile/harness'
import { startReceiver, type Receiver } from '../support/receiver'
import { requireRedis, startRedis, type TestRedis } from '../support/redis'

/*
 * Outbound deliveries through the real server process (main.ts as npm start
 * runs it) to local receivers standing in for a webhook, Discord and Roblox
 * Open Cloud: every message at least once and in order through failures,
 * timeouts and both kinds of 429, the targets' state on the status page,
 * and what a shutdown does with what is still queued.
 */

type Wire = { id: number; player_name: string; message: string; channel: string; type: string }
type Status = {
  outbound: Array<{ name: string; kind: string; queued: number; dropped: number; state?: string; failures?: number; delivered?: number; retried?: number; last_error?: string; paused_until?: string }>
}

const FAST = { retry_base_ms: 20, retry_max_ms: 100 }

const send = async (server: ServerProcess, player: string, message: string, channel?: string): Promise<Wire> => {
  const response = await fetch(`${server.base}/api/send`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ player_name: player, message, ...(channel === undefined ? {} : { channel }) }),
  })
  expect(response.status).to.equal(200)
  return ((await response.json()) as { message: Wire }).message
}
const status = async (server: ServerProcess): Promise<Status> => (await (await fetch(`${server.base}/api`)).json()) as Status

/** Until the status page says `check` of the target, or fails after a deadline. */
const eventuallyStatus = async (server: ServerProcess, name: string, check: (t: Status['outbound'][number]) => boolean, what: string): Promise<Status['outbound'][number]> => {
  const deadline = Date.now() + 10_000
  for (;;) {
    const target = (await status(server)).outbound.find((t) => t.name === name)
    if (target !== undefined && check(target)) return target
    if (Date.now() > deadline) throw new Error(`${name} never ${what}: ${JSON.stringify(target)}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

describe('outbound: bridges through the real server', function () {
  this.timeout(60_000)
  const receivers: Receiver[] = []
  const servers: ServerProcess[] = []
  const receiver = async () => {
    const r = await startReceiver()
    receivers.push(r)
    return r
  }
  const start = async (webhooks: unknown[], env: Record<string, string> = {}) => {
    const server = await startServer({ AUTO_REPLY: '', WEBHOOKS: JSON.stringify(webhooks), ...env })
    servers.push(server)
    return server
  }
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()))
    await Promise.all(receivers.splice(0).map((r) => r.close()))
  })

  it('delivers every message at least once and in id order through failures, a timeout and a 429 with Retry-After, then recovers', async () => {
    const hook = await receiver()
    hook.script = [
      { status: 500, body: 'boom' },
      'hang',
      { status: 429, headers: { 'retry-after': '1' } },
      'close',
      { status: 503 },
    ]
    const server = await start([{ name: 'hook', kind: 'http', url: `${hook.url}/in`, timeout_seconds: 1, ...FAST }])
    const sent: Wire[] = []
    for (let i = 0; i < 8; i++) sent.push(await send(server, `P${i}`, `message ${i}`))
    await eventuallyStatus(server, 'hook', (t) => t.queued === 0 && t.delivered === 8, 'delivered all 8')
    const ids = hook.received.map((r) => (JSON.parse(r.body) as { message: Wire }).message.id)
    // At least once: every id arrived; in order: ids never go back, a retry repeats the one before.
    expect([...new Set(ids)]).to.deep.equal(sent.map((m) => m.id))
    for (let i = 1; i < ids.length; i++) expect(ids[i] as number).to.be.at.least(ids[i - 1] as number)
    expect(ids.length).to.equal(8 + 5)
    // The 429 asked for a second (Retry-After: 1): the next attempt waited for it, where the backoff alone is at most 100 ms.
    const after429 = hook.received[3]?.at ?? 0
    expect(after429 - (hook.received[2]?.at ?? 0)).to.be.at.least(999)
    const target = (await status(server)).outbound.find((t) => t.name === 'hook')
    expect(target).to.deep.include({ kind: 'http', queued: 0, dropped: 0, state: 'idle', failures: 0, retried: 5 })
    const metrics = await (await fetch(`${server.base}/metrics`)).text()
    expect(metrics).to.include('rms_outbound_attempts_total{target="hook",outcome="delivered"} 8')
    expect(metrics).to.include('rms_outbound_attempts_total{target="hook",outcome="retried"} 5')
    expect(metrics).to.include('rms_outbound_queued{target="hook"} 0')
    expect(metrics).to.include('rms_outbound_dropped{target="hook"} 0')
    expect(metrics).to.include('rms_outbound_paused{target="hook"} 0')
  })

  it("posts to Discord in Discord's shape, escaped, with mentions disabled, as the player", async () => {
    const discord = await receiver()
    discord.fallback = { status: 204, headers: { 'x-ratelimit-remaining': '4', 'x-ratelimit-reset-after': '2' } }
    const server = await start([{ name: 'discord', kind: 'discord', url: `${discord.url}/api/webhooks/123/abc`, channels: ['lobby'], ...FAST }])
    await send(server, 'Builderman', 'not in lobby')
    await send(server, 'Builderman', '@everyone **free robux** <@1>', 'lobby')
    await discord.waitFor(1)
    const body = JSON.parse(discord.received[0]?.body ?? '') as Record<string, unknown>
    expect(body).to.deep.equal({ content: '\\@everyone \\*\\*free robux\\*\\* \\<\\@1\\>', username: 'Builderman', allowed_mentions: { parse: [] }, flags: 4 })
    await eventuallyStatus(server, 'discord', (t) => t.delivered === 1 && t.queued === 0, 'delivered the lobby message')
    expect(discord.received).to.have.length(1)
  })

  it("waits as long as a Discord 429 asks in its body's retry_after (seconds, fractional) before trying again", async () => {
    const discord = await receiver()
    // Discord's own shape of a 429: the wait in the body only, no Retry-After header.
    discord.script = [{ status: 429, body: '{"message":"You are being rate limited.","retry_after":0.6,"global":false}' }]
    discord.fallback = { status: 204 }
    const server = await start([{ name: 'discord', kind: 'discord', url: `${discord.url}/api/webhooks/123/abc`, ...FAST }])
    await send(server, 'Builderman', 'hello')
    await discord.waitFor(2)
    // The backoff alone is at most 100 ms (FAST): only the body's 0.6 s explains the wait (less a millisecond of timer rounding).
    expect((discord.received[1]?.at ?? 0) - (discord.received[0]?.at ?? 0)).to.be.at.least(599)
    await eventuallyStatus(server, 'discord', (t) => t.delivered === 1 && t.queued === 0, 'delivered after the 429')
    expect(discord.received).to.have.length(2)
  })

  it('publishes to Roblox Open Cloud: the universe, the key header, a topic per channel, within 1 KB', async () => {
    const openCloud = await receiver()
    const server = await start([{ name: 'live', kind: 'roblox', universe_id: '99', api_key: 'open-cloud-key-0123', topic_prefix: 'chat-', api_base: openCloud.url, ...FAST }], {
      MAX_MESSAGE_LENGTH: '2000',
    })
    const short = await send(server, 'Builderman', 'hello servers', 'lobby')
    const long = await send(server, 'Builderman', 'x'.repeat(1500))
    await openCloud.waitFor(2)
    const [first, second] = openCloud.received.map((r) => ({ path: r.path, key: r.headers['x-api-key'], body: JSON.parse(r.body) as { topic: string; message: string } }))
    expect(first).to.deep.include({ path: '/cloud/v2/universes/99:publishMessage', key: 'open-cloud-key-0123' })
    expect(first?.body.topic).to.equal('chat-lobby')
    expect(JSON.parse(first?.body.message ?? '')).to.deep.include({ id: short.id, message: 'hello servers' })
    expect(second?.body.topic).to.equal('chat-global')
    expect(Buffer.byteLength(second?.body.message ?? '')).to.be.at.most(1024)
    expect(JSON.parse(second?.body.message ?? '')).to.deep.equal({ id: long.id, channel: 'global', truncated: true })
  })

  it('pauses a target that keeps failing, visible on the status page, and keeps its messages queued', async () => {
    const gone = await receiver()
    gone.fallback = { status: 404, body: '{"message":"Unknown Webhook"}' }
    const server = await start([{ name: 'gone', kind: 'discord', url: `${gone.url}/api/webhooks/1/x`, pause_after: 3, pause_seconds: 600, ...FAST }])
    await send(server, 'Ann', 'hello')
    const paused = await eventuallyStatus(server, 'gone', (t) => t.state === 'paused', 'paused')
    expect(paused).to.deep.include({ queued: 1, failures: 3, retried: 3 })
    const metrics = await (await fetch(`${server.base}/metrics`)).text()
    expect(metrics).to.include('rms_outbound_paused{target="gone"} 1')
    expect(metrics).to.include('rms_outbound_pauses_total{target="gone"} 1')
    expect(metrics).to.include('rms_outbound_queued{target="gone"} 1')
    expect(paused.last_error).to.match(/^answered 404/)
    expect(Date.parse(paused.paused_until ?? '')).to.be.greaterThan(Date.now() + 500_000)
    expect(gone.received).to.have.length(3)
  })

  it('at a shutdown, tries what is queued until a deadline, then counts it as dropped and says so (the memory store keeps nothing)', async () => {
    const down = await receiver()
    down.fallback = { status: 503 }
    const server = await start([{ name: 'down', kind: 'http', url: `${down.url}/in`, ...FAST }])
    await send(server, 'Ann', 'quokka-text-one')
    await send(server, 'Ann', 'quokka-text-two')
    await down.waitFor(1)
    server.child.kill('SIGTERM')
    expect((await server.exited).code).to.equal(0)
    expect(server.output.stdout + server.output.stderr).to.match(/outbound down: 2 message\(s\) not delivered at shutdown, dropped/)
    // Never the text of a message in the log.
    expect(server.output.stderr + server.output.stdout).to.not.include('quokka')
  })

  it('refuses a bad WEBHOOKS at start-up, naming the variable, the target and the field, never a secret', async () => {
    const { spawnSync } = await import('node:child_process')
    const bad = JSON.stringify([{ name: 'x', kind: 'roblox', universe_id: 'abc', api_key: 'short' }, { name: 'y', kind: 'discord', url: 'nope-secret-token' }, { name: 'z', kind: 'roblox', universe_id: '1', api_key: 'open-cloud-key-0123', topic_prefix: 'p'.repeat(49) }])
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts'], { cwd: `${__dirname}/../..`, env: { ...process.env, PORT: '0', WEBHOOKS: bad }, encoding: 'utf8', timeout: 20_000 })
    expect(run.status).to.not.equal(0)
    expect(run.stderr).to.include('WEBHOOKS: target 1 (x): universe_id must be')
    expect(run.stderr).to.include('WEBHOOKS: target 1 (x): api_key must be 16–4096 characters')
    expect(run.stderr).to.include("WEBHOOKS: target 2 (y): url must be the webhook's URL")
    expect(run.stderr).to.include('WEBHOOKS: target 3 (z): topic_prefix must be 0–48')
    expect(run.stderr).to.not.include('open-cloud-key-0123')
    expect(run.stderr).to.not.include('short')
    expect(run.stderr).to.not.include('nope-secret-token')
  })
})

describe('outbound: bridges through several real servers on one Redis', function () {
  this.timeout(90_000)
  let redis: TestRedis | undefined
  const receivers: Receiver[] = []
  const servers: ServerProcess[] = []
  before(async function () {
    requireRedis.call(this)
    redis = await startRedis({ appendOnly: true })
  })
  after(async () => {
    await redis?.close()
  })
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()))
    await Promise.all(receivers.splice(0).map((r) => r.close()))
  })
  const start = async (prefix: string, webhooks: unknown[]) => {
    const server = await startServer({ STORE: 'redis', REDIS_URL: (redis as TestRedis).url, REDIS_PREFIX: prefix, AUTO_REPLY: '', WEBHOOKS: JSON.stringify(webhooks) })
    servers.push(server)
    const deadline = Date.now() + 10_000
    while (!((await (await fetch(`${server.base}/api`)).json()) as { store: { available: boolean } }).store.available) {
      if (Date.now() > deadline) throw new Error('the store never became available')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return server
  }

  it('delivers each message once per target however many processes send, in id order', async () => {
    const hook = await startReceiver()
    receivers.push(hook)
    const prefix = `t${randomBytes(4).toString('hex')}`
    const targets = [{ name: 'hook', kind: 'http', url: `${hook.url}/in`, ...FAST }]
    const [a, b] = await Promise.all([start(prefix, targets), start(prefix, targets)])
    const sent = await Promise.all(Array.from({ length: 30 }, (_, i) => send(i % 2 === 0 ? a : b, `P${i % 3}`, `m${i}`)))
    await hook.waitFor(30)
    // One more, last in id order: once it is in, anything sent twice before it would be in too.
    const last = await send(b, 'P0', 'the last')
    await hook.waitFor(31)
    await eventuallyStatus(a, 'hook', (t) => t.queued === 0 && t.state === 'idle' && t.delivered === 31, 'emptied its queue')
    const ids = hook.received.map((r) => (JSON.parse(r.body) as { message: Wire }).message.id)
    expect(ids).to.deep.equal([...sent.map((m) => m.id).sort((x, y) => x - y), last.id])
    // Both processes see the same state of the target.
    const [onA, onB] = await Promise.all([status(a), status(b)])
    expect(onA.outbound).to.deep.equal(onB.outbound)
  })

  it('keeps undelivered messages in Redis across a kill -9 of every process, and the next process delivers them', async () => {
    const hook = await startReceiver({ status: 503 })
    receivers.push(hook)
    const prefix = `t${randomBytes(4).toString('hex')}`
    const targets = [{ name: 'hook', kind: 'http', url: `${hook.url}/in`, ...FAST }]
    const first = await start(prefix, targets)
    const sent = [await send(first, 'Ann', 'kept one'), await send(first, 'Ann', 'kept two')]
    await hook.waitFor(1)
    first.child.kill('SIGKILL')
    await first.exited
    hook.fallback = { status: 200 }
    const before = hook.received.length
    const next = await start(prefix, targets)
    // The dead process's lease runs out (15 s at the most), then the next one delivers what it left.
    await hook.waitFor(before + 2, 25_000)
    expect(next.exit).to.equal(undefined)
    const delivered = hook.received.slice(before).map((r) => (JSON.parse(r.body) as { message: Wire }).message.id)
    expect([...new Set(delivered)]).to.deep.equal(sent.map((m) => m.id))
  })
})
