import { expect } from 'chai'
import { ADMIN_SCOPES, createAuth, PLAIN_SCOPES } from '../../adapters/http/auth'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import { requireRedis, startRedis, type TestRedis } from '../support/redis'
import { postJson, startTestServer, type TestServer, type TestServerOptions } from '../support/server'
import { openEventStream } from '../support/sse'
import { eventually, until } from '../support/until'

/*
 * GET /metrics, read as Prometheus reads it: the values move as requests are
 * made (requests by route template and status, messages stored, evicted and
 * cleared, held polls and open streams, replays, refusals by reason, store
 * operations and their failures on a Redis that stops), route labels stay
 * templates whatever paths clients send, and METRICS_KEY guards it.
 */

const GAME_KEY = 'game-key-0123456789abcdef'
const ADMIN_KEY = 'admin-key-0123456789abcdef'
const LOBBY_KEY = 'lobby-key-0123456789abcdef'
const METRICS_KEY = 'metrics-key-0123456789abcdef'

type Sample = { readonly name: string; readonly labels: Readonly<Record<string, string>>; readonly value: number }

/** The exposition as samples: `name{a="b",…} value` lines, comments left out. */
const parse = (text: string): Sample[] =>
  text
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
      if (match === null) throw new Error(`not a sample line: ${line}`)
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]))
      return { name: match[1] as string, labels, value: Number(match[3]) }
    })

const scrape = async (t: TestServer, headers: Record<string, string> = {}): Promise<Sample[]> => {
  const res = await fetch(`${t.url}/metrics`, { headers })
  expect(res.status, await res.clone().text()).to.equal(200)
  expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/)
  return parse(await res.text())
}

/** The value of one series; 0 when it does not exist yet. */
const value = (samples: Sample[], name: string, labels: Record<string, string> = {}): number =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0)

const requests = (samples: Sample[], method: string, route: string, status: number) =>
  value(samples, 'rms_http_request_duration_seconds_count', { method, route, status: String(status) })

for (const via of ['listener', 'koa'] as const) {
  describe(`operations: metrics (${via})`, () => {
    let t: TestServer
    const start = async (options: TestServerOptions = {}) => {
      t = await startTestServer({ via, ...options })
    }
    afterEach(() => t?.close())

    it('counts requests by route template and status, with their latency, as they are made', async () => {
      await start()
      const before = await scrape(t)
      expect(requests(before, 'POST', '/api/send', 200)).to.equal(0)
      for (let i = 0; i < 3; i++) expect((await postJson(`${t.url}/api/send`, { player_name: `P${i}`, message: 'hi' })).status).to.equal(200)
      expect((await postJson(`${t.url}/api/send`, { player_name: 'P', message: '' })).status).to.equal(400)
      await fetch(`${t.url}/api/messages/P1`)
      await fetch(`${t.url}/api/messages/Someone%20Else`)
      const after = await scrape(t)
      expect(requests(after, 'POST', '/api/send', 200)).to.equal(3)
      expect(requests(after, 'POST', '/api/send', 400)).to.equal(1)
      expect(requests(after, 'GET', '/api/messages/:player_name', 200)).to.equal(2)
      const sum = value(after, 'rms_http_request_duration_seconds_sum', { method: 'POST', route: '/api/send', status: '200' })
      expect(sum).to.be.greaterThan(0).and.below(10)
      expect(value(after, 'rms_http_request_duration_seconds_bucket', { method: 'POST', route: '/api/send', status: '200', le: '+Inf' })).to.equal(3)
      expect(after.some((s) => Object.values(s.labels).some((v) => v.includes('Someone') || v === '/api/messages/P1')), 'no raw path is a label').to.equal(false)
    })

    it('counts messages stored, evicted by a full channel, and cleared', async () => {
      await start({ store: { maxMessages: 4 } })
      for (let i = 0; i < 3; i++) await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: `m${i}` })
      const samples = await scrape(t)
      expect(value(samples, 'rms_messages_stored_total', { type: 'player' })).to.equal(3)
      expect(value(samples, 'rms_messages_stored_total', { type: 'reply' })).to.equal(3)
      // Six stored in a channel that keeps four.
      expect(value(samples, 'rms_messages_evicted_total')).to.equal(2)
      expect(value(samples, 'rms_messages_cleared_total')).to.equal(0)
      expect((await fetch(`${t.url}/api/clear`, { method: 'POST' })).status).to.equal(200)
      expect(value(await scrape(t), 'rms_messages_cleared_total')).to.equal(4)
    })

    it('shows the long polls held and the streams open as gauges', async () => {
      await start({ heartbeatMs: 60_000 })
      const head = (await (await fetch(`${t.url}/api/messages`)).json()) as { next_after: number }
      const polls = [0, 1].map(() => fetch(`${t.url}/api/messages?after=${head.next_after}&wait=20`))
      const stream = await openEventStream(`${t.url}/api/stream`)
      await until(() => t.holding() === 3)
      const held = await scrape(t)
      expect(value(held, 'rms_long_polls_held')).to.equal(2)
      expect(value(held, 'rms_event_streams_open')).to.equal(1)
      await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'wake up' })
      await Promise.all(polls)
      stream.close()
      await until(() => t.holding() === 0)
      const released = await scrape(t)
      expect(value(released, 'rms_long_polls_held')).to.equal(0)
      expect(value(released, 'rms_event_streams_open')).to.equal(0)
      expect(requests(released, 'GET', '/api/messages', 200), 'a long poll is a request answered once').to.equal(3)
    })

    it('counts idempotent replays', async () => {
      await start()
      const key = { 'idempotency-key': 'retry-me-1' }
      for (let i = 0; i < 3; i++) expect((await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'once' }, key)).status).to.equal(200)
      const samples = await scrape(t)
      expect(value(samples, 'rms_idempotent_replays_total')).to.equal(2)
      expect(value(samples, 'rms_messages_stored_total', { type: 'player' })).to.equal(1)
    })

    it('counts 401, 403 and 429 refusals by reason, never by what the client sent', async () => {
      await start({
        auth: createAuth({
          keys: [
            { label: 'game', secret: GAME_KEY, scopes: PLAIN_SCOPES },
            { label: 'ops', secret: ADMIN_KEY, scopes: ADMIN_SCOPES },
            { label: 'lobbybot', secret: LOBBY_KEY, scopes: PLAIN_SCOPES, channels: ['lobby'] },
          ],
        }),
        playerRateLimit: { limiter: createMemoryRateLimiter({ maxKeys: 100 }), limit: { limit: 1, windowMs: 60_000 } },
        config: { ROBLOX_WEBHOOK_SECRET: 'webhook-secret-0123456789abcdef' },
      })
      const asKey = (key: string) => ({ 'x-api-key': key })
      expect((await postJson(`${t.url}/api/players/Muted/mute`, { seconds: 600, reason: 'spam' }, asKey(ADMIN_KEY))).status).to.equal(200)
      expect((await postJson(`${t.url}/api/send`, { player_name: 'Muted', message: 'still here' }, asKey(GAME_KEY))).status).to.equal(403)
      const signed = { 'roblox-signature': `t=${Math.floor(Date.now() / 1000)},v1=${'0'.repeat(44)}` }
      expect((await postJson(`${t.url}/api/roblox/webhook`, { EventType: 'SampleNotification', EventPayload: {} }, signed)).status).to.equal(401)
      expect((await fetch(`${t.url}/api/messages`)).status).to.equal(401)
      expect((await fetch(`${t.url}/api/messages`, { headers: asKey('not-a-key-0123456789abcdef') })).status).to.equal(401)
      expect((await fetch(`${t.url}/api/clear`, { method: 'POST', headers: asKey(GAME_KEY) })).status).to.equal(403)
      expect((await fetch(`${t.url}/api/messages?channel=trade`, { headers: asKey(LOBBY_KEY) })).status).to.equal(403)
      expect((await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'one' }, asKey(GAME_KEY))).status).to.equal(200)
      expect((await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'two' }, asKey(GAME_KEY))).status).to.equal(429)
      const samples = await scrape(t)
      const refused = samples.filter((s) => s.name === 'rms_refusals_total').map((s) => `${s.labels.status} ${s.labels.reason} ${s.value}`)
      expect(refused.sort()).to.deep.equal(['401 no_credentials 1', '401 roblox_signature 1', '401 unknown_credentials 1', '403 channel 1', '403 muted 1', '403 scope 1', '429 player_rate_limit 1'])
    })

    it('counts what the memory store stored without timing its calls, and includes the process metrics', async () => {
      await start()
      await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'hi' }, { 'idempotency-key': 'timed-1' })
      await fetch(`${t.url}/api/messages?after=0`)
      await fetch(`${t.url}/api/channels`)
      const samples = await scrape(t)
      expect(value(samples, 'rms_messages_stored_total', { type: 'player' })).to.equal(1)
      // A store in the process answers in a microsecond and never fails: its latency is the Redis store's metric (below).
      expect(samples.filter((s) => s.name === 'rms_store_operation_duration_seconds_count')).to.deep.equal([])
      expect(value(samples, 'rms_store_errors_total')).to.equal(0)
      expect(value(samples, 'rms_store_up')).to.equal(1)
      for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes'])
        expect(samples.some((s) => s.name === name), name).to.equal(true)
    })

    it('keeps route labels to the templates after thousands of distinct paths', async () => {
      await start()
      const paths: string[] = []
      for (let i = 0; i < 1_000; i++) paths.push(`/api/messages/Player${i}x${Math.random().toString(36).slice(2)}`, `/api/nothing-${i}`, `/file-${i}.html`)
      for (let i = 0; i < paths.length; i += 50) await Promise.all(paths.slice(i, i + 50).map((p) => fetch(`${t.url}${p}`).then((r) => r.arrayBuffer())))
      const samples = await scrape(t)
      const routes = new Set(samples.filter((s) => s.name === 'rms_http_request_duration_seconds_count').map((s) => s.labels.route))
      expect([...routes].sort()).to.deep.equal(['/api/messages/:player_name', 'static', 'unmatched'])
      expect(requests(samples, 'GET', '/api/messages/:player_name', 200)).to.equal(1_000)
      expect(requests(samples, 'GET', 'unmatched', 404)).to.equal(1_000)
      expect(requests(samples, 'GET', 'static', 404)).to.equal(1_000)
      const series = samples.filter((s) => s.name.startsWith('rms_http_request_duration_seconds')).length
      // Three routes with one status each: (15 buckets, +Inf, sum, count) per series.
      expect(series).to.equal(3 * 18)
    })

    it('guards /metrics with METRICS_KEY when it is set', async () => {
      await start({ config: { METRICS_KEY } })
      const bare = await fetch(`${t.url}/metrics`)
      expect(bare.status).to.equal(401)
      expect(bare.headers.get('www-authenticate')).to.match(/^Bearer/)
      expect(await bare.json()).to.deep.include({ success: false })
      expect((await fetch(`${t.url}/metrics`, { headers: { authorization: 'Bearer not-the-key-0123456789' } })).status).to.equal(401)
      const samples = await scrape(t, { authorization: `Bearer ${METRICS_KEY}` })
      expect(value(samples, 'rms_refusals_total', { status: '401' })).to.equal(2)
    })

    it('serves no /metrics and measures nothing with METRICS=off', async () => {
      await start({ config: { METRICS: false } })
      const res = await fetch(`${t.url}/metrics`)
      expect(res.status).to.equal(404)
      expect(await res.json()).to.deep.include({ success: false })
    })
  })
}

describe('operations: metrics of a store that fails', function () {
  this.timeout(60_000)
  before(requireRedis)
  let redis: TestRedis
  let t: TestServer
  before(async () => {
    redis = await startRedis()
    t = await startTestServer({ config: { STORE: 'redis', REDIS_URL: redis.url, REDIS_PREFIX: `metrics-${process.pid}` } })
  })
  after(async () => {
    await t?.close()
    await redis?.close()
  })

  it('counts store errors by operation and says the store is down, while Redis is away', async () => {
    await eventually(() => t.ports.status().available, 10_000, 'the Redis store connecting')
    expect((await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'stored' }, { 'idempotency-key': 'timed-redis-1' })).status).to.equal(200)
    await fetch(`${t.url}/api/channels`)
    // Every call to the Redis store is timed, by operation.
    const timed = await scrape(t)
    for (const operation of ['append', 'channels', 'idempotency_claim', 'idempotency_complete'])
      expect(value(timed, 'rms_store_operation_duration_seconds_count', { operation }), operation).to.equal(1)
    await redis.stop()
    await eventually(() => !t.ports.status().available, 10_000, 'the server seeing Redis go')
    expect((await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'refused' })).status).to.equal(503)
    expect((await fetch(`${t.url}/api/messages`)).status).to.equal(503)
    const samples = await scrape(t)
    // The refused send failed at its first call to the store: the mute check, which reads Redis while this process's copy of the mutes cannot be trusted.
    expect(value(samples, 'rms_store_errors_total', { operation: 'mute_find' })).to.equal(1)
    expect(value(samples, 'rms_store_errors_total', { operation: 'list' })).to.equal(1)
    expect(value(samples, 'rms_store_operation_duration_seconds_count', { operation: 'append' })).to.equal(1)
    expect(value(samples, 'rms_store_up')).to.equal(0)
    expect(requests(samples, 'POST', '/api/send', 503)).to.equal(1)
    expect(value(samples, 'rms_messages_stored_total', { type: 'player' })).to.equal(1)
  })
})
