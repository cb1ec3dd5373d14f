import { expect } from 'chai'
import { createClient } from 'redis'
import { ADMIN_SCOPES, createAuth } from '../../adapters/http/auth'
import { requireRedis, startRedis, type TestRedis } from '../support/redis'
import { startTestServer, type TestServer } from '../support/server'
import { eventually } from '../support/until'

/*
 * GET /healthz (the process answers) and GET /readyz (the store answers,
 * the server is not shutting down): unauthenticated, listed in GET /api,
 * and kept out of the API's request metrics. Readiness is watched flipping
 * on a real Redis that stops and comes back.
 */

const KEY = 'ops-key-0123456789abcdef'

const get = async (url: string) => {
  const res = await fetch(url)
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> }
}

for (const via of ['listener', 'koa'] as const) {
  describe(`operations: health and readiness (${via})`, () => {
    let t: TestServer
    const shutdown = new AbortController()
    before(async () => {
      t = await startTestServer({ via, shutdown: shutdown.signal, auth: createAuth({ keys: [{ label: 'ops', secret: KEY, scopes: ADMIN_SCOPES }] }) })
    })
    after(() => t.close())

    it('answers /healthz with 200 and /readyz with 200 and the store, without a key on a server with keys', async () => {
      expect((await fetch(`${t.url}/api/messages`)).status, 'the API itself needs a key').to.equal(401)
      const alive = await get(`${t.url}/healthz`)
      expect(alive.status).to.equal(200)
      expect(alive.json).to.deep.equal({ success: true, status: 'alive' })
      expect(alive.headers.get('x-request-id')).to.be.a('string')
      const ready = await get(`${t.url}/readyz`)
      expect(ready.status).to.equal(200)
      expect(ready.json).to.deep.equal({ success: true, status: 'ready', store: { kind: 'memory', available: true } })
    })

    it('answers HEAD and OPTIONS on the probes, and 405 for a POST', async () => {
      expect((await fetch(`${t.url}/healthz`, { method: 'HEAD' })).status).to.equal(200)
      const options = await fetch(`${t.url}/readyz`, { method: 'OPTIONS' })
      expect(options.headers.get('allow')).to.equal('GET, HEAD, OPTIONS')
      const posted = await fetch(`${t.url}/healthz`, { method: 'POST' })
      expect(posted.status).to.equal(405)
      expect(await posted.json()).to.deep.include({ success: false })
    })

    it('lists both, and /metrics and /api/openapi.json, in GET /api', async () => {
      const status = await get(`${t.url}/api`)
      const listed = (status.json.endpoints as Array<{ method: string; path: string }>).map((e) => `${e.method} ${e.path}`)
      expect(listed).to.include.members(['GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /api/openapi.json'])
    })

    it('keeps the probes out of the request metrics', async () => {
      for (let i = 0; i < 5; i++) await fetch(`${t.url}/healthz`)
      await fetch(`${t.url}/readyz`)
      const metrics = await (await fetch(`${t.url}/metrics`)).text()
      expect(metrics).to.include('rms_http_request_duration_seconds')
      expect(metrics).not.to.match(/route="\/(healthz|readyz|metrics)"/)
    })

    // Last: the server's own shutdown signal is given, as a SIGTERM would, while its listener still answers.
    it('answers /readyz with 503 and the reason once shutting down, while /healthz stays 200', async () => {
      shutdown.abort()
      const ready = await get(`${t.url}/readyz`)
      expect(ready.status).to.equal(503)
      expect(ready.json).to.deep.equal({ success: false, error: 'not ready: the server is shutting down' })
      expect(ready.headers.get('retry-after')).to.equal('5')
      expect((await get(`${t.url}/healthz`)).status).to.equal(200)
    })
  })
}

describe('operations: readiness follows Redis', function () {
  this.timeout(60_000)
  before(requireRedis)
  let redis: TestRedis
  let t: TestServer
  before(async () => {
    redis = await startRedis({ appendOnly: true })
    t = await startTestServer({ config: { STORE: 'redis', REDIS_URL: redis.url, REDIS_PREFIX: `ready-${process.pid}` } })
  })
  after(async () => {
    await t?.close()
    await redis?.close()
  })

  const readiness = async () => (await fetch(`${t.url}/readyz`)).status

  it('is ready once Redis answers, 503 naming the store while it is down, ready again when it is back', async () => {
    await eventually(() => t.ports.status().available, 10_000, 'the Redis store connecting')
    expect(await readiness()).to.equal(200)
    await redis.stop()
    await eventually(() => !t.ports.status().available, 10_000, 'the server seeing Redis go')
    const down = await fetch(`${t.url}/readyz`)
    expect(down.status).to.equal(503)
    expect(await down.json()).to.deep.equal({ success: false, error: 'not ready: the store (redis) does not answer' })
    expect((await fetch(`${t.url}/healthz`)).status, 'the process is alive all the same').to.equal(200)
    await redis.start()
    await eventually(() => t.ports.status().available, 15_000, 'the server reconnecting')
    expect(await readiness()).to.equal(200)
  })

  it('is not ready while Redis, connected, refuses writes (out of memory), and says so; ready again once it takes them', async () => {
    await eventually(() => t.ports.status().available, 10_000, 'the Redis store connecting')
    const admin = createClient({ url: redis.url })
    await admin.connect()
    const send = (message: string) => fetch(`${t.url}/api/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ player_name: 'Ann', message }) })
    try {
      expect(await readiness()).to.equal(200)
      // One message first: a script that begins by creating the store's bookkeeping (a DEL, which Redis allows when out
      // of memory) may write the rest, as Redis lets a script that has written go on. Once it exists, a send is refused.
      expect((await send('before')).status).to.equal(200)
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '1'])
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory-policy', 'noeviction'])
      // The probe's answer stands for a second: asked again until the new one comes.
      let refused: Response | undefined
      const deadline = Date.now() + 5_000
      while ((refused = await fetch(`${t.url}/readyz`)).status === 200) {
        if (Date.now() > deadline) throw new Error('readiness never saw the writes refused')
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(refused.status).to.equal(503)
      expect(((await refused.json()) as { error: string }).error).to.match(/^not ready: the store \(redis\) refuses writes \(redis: .*OOM/)
      expect(t.ports.status().available, 'connected all the same').to.equal(true)
      const sent = await send('refused')
      expect(sent.status, await sent.text()).to.equal(503)
    } finally {
      await admin.sendCommand(['CONFIG', 'SET', 'maxmemory', '0'])
      await admin.quit()
    }
    const again = Date.now() + 5_000
    while ((await readiness()) !== 200) {
      if (Date.now() > again) throw new Error('readiness did not come back once writes were taken again')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })
})
