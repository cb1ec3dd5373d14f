import { expect } from 'chai'
import { ADMIN_SCOPES, createAuth, PLAIN_SCOPES } from '../../adapters/http/auth'
import { createRefusalLog } from '../../adapters/http/refusal-log'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import { startTestServer, type TestServer } from '../support/server'

/*
 * What the admin dashboard shows of refusals: GET /api/admin/refusals counts
 * this process's refusals of the last hour by reason (the rule or scope
 * named where there is one) and lists the newest, without their query
 * strings; the log stays bounded whatever the traffic.
 */

const GAME = 'game-key-0123456789abcdef'
const ADMIN = 'admin-key-0123456789abcdef'

describe('HTTP: the refusal log', () => {
  let server: TestServer
  beforeEach(async () => {
    server = await startTestServer({
      auth: createAuth({ keys: [{ label: 'game', secret: GAME, scopes: PLAIN_SCOPES }, { label: 'ops', secret: ADMIN, scopes: ADMIN_SCOPES }] }),
      playerRateLimit: { limiter: createMemoryRateLimiter({ maxKeys: 100 }), limit: { limit: 1, windowMs: 60_000 } },
    })
  })
  afterEach(() => server.close())

  const send = (key: string | undefined, body: unknown) =>
    fetch(`${server.url}/api/send`, { method: 'POST', headers: { 'content-type': 'application/json', ...(key === undefined ? {} : { 'x-api-key': key }) }, body: JSON.stringify(body) })

  it('counts refusals by reason over the last hour and lists the newest, for an admin key', async () => {
    expect((await send(undefined, { player_name: 'Ann', message: 'hi' })).status).to.equal(401)
    expect((await send(GAME, { player_name: 'Ann', message: 'one' })).status).to.equal(200)
    expect((await send(GAME, { player_name: 'Ann', message: 'two' })).status).to.equal(429)
    expect((await send(GAME, { player_name: 'Ann', message: 'three' })).status).to.equal(429)
    expect((await send(GAME, { player_name: 'Bob', message: '' })).status).to.equal(400)
    expect((await fetch(`${server.url}/api/clear?channel=x`, { method: 'POST', headers: { 'x-api-key': GAME } })).status).to.equal(403)
    const answer = (await (await fetch(`${server.url}/api/admin/refusals`, { headers: { 'x-api-key': ADMIN } })).json()) as {
      success: boolean
      last_hour: Array<{ status: number; reason: string; count: number }>
      recent: Array<{ status: number; reason: string; method: string; path: string; at: string }>
    }
    expect(answer.success).to.equal(true)
    expect(answer.last_hour[0]).to.deep.equal({ status: 429, reason: 'RateLimited: player', count: 2 })
    expect(answer.last_hour).to.deep.include({ status: 401, reason: 'Unauthorized', count: 1 })
    expect(answer.last_hour).to.deep.include({ status: 403, reason: 'Forbidden', count: 1 })
    expect(answer.last_hour).to.deep.include({ status: 400, reason: 'Blank', count: 1 })
    expect(answer.recent[0]).to.deep.include({ status: 403, reason: 'Forbidden', method: 'POST', path: '/api/clear' })
    expect(answer.recent).to.have.length(5)
    expect(Date.parse(answer.recent[0]?.at ?? '')).to.be.closeTo(Date.now(), 60_000)
  })

  it('forgets what is older than an hour and keeps a bounded list whatever the traffic', () => {
    let now = 1_700_000_000_000
    const log = createRefusalLog(() => now)
    for (let i = 0; i < 500; i++) log.record({ _tag: 'PolicyRefused', rule: `rule-${i}`, field: 'message' }, 422, 'POST', `/api/send?i=${i}`)
    const snapshot = log.snapshot()
    expect(snapshot.recent).to.have.length(50)
    expect(snapshot.recent[0]?.path).to.equal('/api/send')
    // 64 reasons a minute at most; the rest are counted together.
    expect(snapshot.lastHour).to.have.length(65)
    expect(snapshot.lastHour.reduce((sum, r) => sum + r.count, 0)).to.equal(500)
    now += 61 * 60_000
    expect(log.snapshot()).to.deep.equal({ lastHour: [], recent: [] })
  })
})
