import { expect } from 'chai'
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import * as E from 'fp-ts/Either'
import pino from 'pino'
import { readConfig, SETTINGS } from '../../composition/config'
import { startServer } from '../../composition/start-server'
import { freePort } from '../support/redis'
import { postJson, startTestServer, type TestServer } from '../support/server'
import { openEventStream } from '../support/sse'
import { until } from '../support/until'

/*
 * The structured log: a JSON line per request (method, route template,
 * status, duration, the request id the answer carries as X-Request-Id, taken
 * from a trusted proxy), the start-up line with the configuration in force
 * and its secrets masked, the shutdown lines, LOG_LEVEL and LOG_FORMAT. And
 * what never reaches it at the default level, checked by grepping the whole
 * output of real processes driven through every kind of request: message
 * text, player names, API keys, tokens and the other secrets.
 */

const ROOT = join(__dirname, '..', '..')

describe('operations: the request log line', () => {
  let t: TestServer | undefined
  afterEach(async () => {
    await t?.close()
    t = undefined
  })
  const requestLines = (server: TestServer) => server.logLines.filter((l) => l.msg === 'request')

  it('writes one JSON line per request: method, route template, status, duration and the id the answer carries', async () => {
    t = await startTestServer()
    const sent = await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'hi' })
    const listed = await fetch(`${t.url}/api/messages/Bob?limit=5`)
    const missing = await fetch(`${t.url}/api/nope`)
    await until(() => requestLines(t as TestServer).length === 3)
    const [send, list, notFound] = requestLines(t)
    expect(send).to.deep.include({ level: 30, method: 'POST', route: '/api/send', status: 200, request_id: sent.headers.get('x-request-id') })
    expect(send?.duration_ms).to.be.a('number').and.at.least(0)
    expect(send?.time).to.be.a('number')
    expect(list).to.deep.include({ method: 'GET', route: '/api/messages/:player_name', status: 200, request_id: listed.headers.get('x-request-id') })
    expect(notFound).to.deep.include({ method: 'GET', route: 'unmatched', status: 404, request_id: missing.headers.get('x-request-id') })
    expect(new Set([send, list, notFound].map((l) => l?.request_id)).size, 'each request its own id').to.equal(3)
    expect(String(send?.request_id)).to.match(/^[0-9a-f]{12}-[0-9a-z]+$/)
  })

  it("takes X-Request-Id from a trusted proxy, and only a well-formed one; never from a client when no proxy is trusted", async () => {
    t = await startTestServer({ config: { TRUST_PROXY: 1 } })
    const kept = await fetch(`${t.url}/api`, { headers: { 'x-request-id': 'lb-7f3a:req=42' } })
    expect(kept.headers.get('x-request-id')).to.equal('lb-7f3a:req=42')
    const malformed = await fetch(`${t.url}/api`, { headers: { 'x-request-id': 'has spaces "and quotes"' } })
    expect(malformed.headers.get('x-request-id')).to.match(/^[0-9a-f]{12}-[0-9a-z]+$/)
    await until(() => requestLines(t as TestServer).length === 2)
    expect(requestLines(t)[0]?.request_id).to.equal('lb-7f3a:req=42')
    await t.close()
    t = await startTestServer()
    const direct = await fetch(`${t.url}/api`, { headers: { 'x-request-id': 'chosen-by-a-client' } })
    expect(direct.headers.get('x-request-id')).to.match(/^[0-9a-f]{12}-[0-9a-z]+$/)
  })

  it('logs a long poll and a stream once each, when they end, and a key by its label', async () => {
    t = await startTestServer({ heartbeatMs: 60_000 })
    const head = (await (await fetch(`${t.url}/api/messages`)).json()) as { next_after: number }
    const poll = fetch(`${t.url}/api/messages?after=${head.next_after}&wait=20`)
    const stream = await openEventStream(`${t.url}/api/stream`)
    await until(() => (t as TestServer).holding() === 2)
    await postJson(`${t.url}/api/send`, { player_name: 'Bob', message: 'wake' })
    await poll
    await stream.close()
    await until(() => requestLines(t as TestServer).filter((l) => l.route === '/api/stream').length === 1)
    expect(requestLines(t).filter((l) => l.route === '/api/messages').map((l) => l.status)).to.deep.equal([200, 200])
  })

  it('logs the health probes and scrapes at debug only', async () => {
    t = await startTestServer()
    await fetch(`${t.url}/healthz`)
    await fetch(`${t.url}/api`)
    await until(() => requestLines(t as TestServer).length === 1)
    expect(t.logLines.some((l) => l.route === '/healthz')).to.equal(false)
    await t.close()
    t = await startTestServer({ config: { LOG_LEVEL: 'debug' } })
    await fetch(`${t.url}/healthz`)
    await fetch(`${t.url}/metrics`)
    await until(() => (t as TestServer).logLines.filter((l) => l.msg === 'probe').length === 2)
    expect((t.logLines.find((l) => l.msg === 'probe') as Record<string, unknown>).level).to.equal(20)
  })

  it('writes no request lines at LOG_LEVEL=warn, yet still answers with an id', async () => {
    t = await startTestServer({ config: { LOG_LEVEL: 'warn' } })
    const res = await fetch(`${t.url}/api`)
    expect(res.headers.get('x-request-id')).to.be.a('string')
    expect(t.logLines.filter((l) => (l.level as number) < 40)).to.deep.equal([])
  })

  it("logs a failure at error with the request's id and its route, never its path", async () => {
    const lines: Array<Record<string, unknown>> = []
    const config = readConfig({ PORT: '0', HOST: '127.0.0.1' })
    if (E.isLeft(config)) throw new Error(config.left.join())
    const running = await startServer(config.right, {
      logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }),
      adjust: (deps) => ({ ...deps, messages: { ...deps.messages, list: () => () => Promise.reject(new Error('the disk is on fire')) } }),
    })
    try {
      const res = await fetch(`${running.url}/api/messages/Zoe?limit=3`)
      expect(res.status).to.equal(500)
      expect(await res.text()).not.to.include('fire')
      await until(() => lines.some((l) => l.msg === 'request'))
      const failure = lines.find((l) => l.level === 50) as Record<string, unknown>
      expect(failure.msg).to.equal('Internal on GET /api/messages/:player_name')
      expect(failure.request_id).to.equal(res.headers.get('x-request-id'))
      expect((failure.err as { message: string }).message).to.equal('the disk is on fire')
      expect(JSON.stringify(lines)).not.to.include('Zoe')
    } finally {
      await running.close()
    }
  })
})

type Run = { readonly child: ChildProcess; output: string; readonly exited: Promise<number | null> }

/** The server's own command, as `npx roblox-messaging-server` runs it (through tsx: the sources), with flags and variables. */
const runCommand = (args: string[], env: Record<string, string>): Run => {
  const base = { ...process.env }
  for (const name of SETTINGS) delete base[name]
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'main.ts'), ...args], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const run: Run = { child, output: '', exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))) }
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (run.output += chunk))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (run.output += chunk))
  return run
}

const listeningOn = (run: Run): Promise<string> =>
  new Promise((resolve, reject) => {
    const check = () => {
      const url = /listening on (http:\/\/[0-9.]+:\d+)/.exec(run.output)?.[1]
      if (url === undefined) return
      run.child.stdout?.off('data', check)
      resolve(url)
    }
    run.child.stdout?.on('data', check)
    void run.exited.then((code) => reject(new Error(`exited (${code}) before listening:\n${run.output}`)))
  })

const jsonLines = (output: string): Array<Record<string, unknown>> =>
  output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)

describe('operations: what the log of a real process holds, and never holds', function () {
  this.timeout(60_000)
  const MARKERS = {
    gameKey: 'game-key-LOGMARK-0123456789abcdef',
    adminKey: 'admin-key-LOGMARK-0123456789abcdef',
    lobbyKey: 'lobby-key-LOGMARK-0123456789abcdef',
    wrongKey: 'wrong-key-LOGMARK-0123456789abcdef',
    metricsKey: 'metrics-key-LOGMARK-0123456789abcdef',
    tokenSecret: 'token-secret-LOGMARK-0123456789abcdef0123',
    redisPassword: 'redis-pass-LOGMARK',
    player: 'Qzv9LogMarkPlayer',
    otherPlayer: 'Wq7PathOnlyMarker',
    text: 'marker-text-4f8e1c',
    refusedText: 'blockedmarker',
    idempotencyKey: 'idem-LOGMARK-7734',
  }
  const started: Run[] = []
  after(() => {
    for (const run of started) if (run.child.exitCode === null) run.child.kill('SIGKILL')
  })

  const stop = async (run: Run): Promise<number | null> => {
    run.child.kill('SIGTERM')
    return run.exited
  }

  it('logs every kind of request with its route and the start-up and shutdown lines, and none of the secrets, names or texts', async () => {
    const port = await freePort()
    // Flags and variables mixed, as an operator would: secrets in the environment, the rest on the command line.
    const run = runCommand(['--port', String(port), '--host', '127.0.0.1', '--player-rate-limit', '2/60s', '--blocked-words', MARKERS.refusedText], {
      API_KEYS: `game:${MARKERS.gameKey},lobbybot:${MARKERS.lobbyKey}:lobby`,
      ADMIN_KEYS: `ops:${MARKERS.adminKey}`,
      METRICS_KEY: MARKERS.metricsKey,
      STREAM_TOKEN_SECRET: MARKERS.tokenSecret,
      REDIS_URL: `redis://:${MARKERS.redisPassword}@127.0.0.1:6399`,
    })
    started.push(run)
    const url = await listeningOn(run)
    const as = (key: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${key}`, ...extra })
    const send = (body: unknown, headers: Record<string, string>) => postJson(`${url}/api/send`, body, headers)

    expect((await send({ player_name: MARKERS.player, message: MARKERS.text, user_id: 42 }, as(MARKERS.gameKey, { 'idempotency-key': MARKERS.idempotencyKey }))).status).to.equal(200)
    expect((await send({ player_name: MARKERS.player, message: MARKERS.text, user_id: 42 }, as(MARKERS.gameKey, { 'idempotency-key': MARKERS.idempotencyKey }))).status, 'a replay').to.equal(200)
    expect((await send({ player_name: MARKERS.player, message: `${MARKERS.text} again`, user_id: 42 }, as(MARKERS.gameKey))).status).to.equal(200)
    expect((await send({ player_name: MARKERS.player, message: `${MARKERS.text} thrice`, user_id: 42 }, as(MARKERS.gameKey))).status, 'over the player limit').to.equal(429)
    expect((await send({ player_name: MARKERS.otherPlayer, message: `so ${MARKERS.refusedText}` }, as(MARKERS.gameKey))).status, 'the content policy').to.equal(422)
    expect((await send({ player_name: MARKERS.otherPlayer, message: MARKERS.text, channel: 'trade' }, as(MARKERS.lobbyKey))).status, 'a channel the key may not use').to.equal(403)
    expect((await send({ player_name: `${MARKERS.player}\u0000`, message: MARKERS.text }, as(MARKERS.gameKey))).status, 'a bad name').to.equal(400)
    expect((await fetch(`${url}/api/messages`, { headers: as(MARKERS.wrongKey) })).status).to.equal(401)
    expect((await fetch(`${url}/api/messages/${MARKERS.otherPlayer}?limit=5`, { headers: as(MARKERS.gameKey) })).status).to.equal(200)
    expect((await fetch(`${url}/api/nothing/${MARKERS.otherPlayer}`, { headers: as(MARKERS.gameKey) })).status).to.equal(404)
    const head = (await (await fetch(`${url}/api/messages`, { headers: as(MARKERS.gameKey) })).json()) as { next_after: number }
    expect((await fetch(`${url}/api/messages?after=${head.next_after}&wait=0.05`, { headers: as(MARKERS.gameKey) })).status, 'a long poll').to.equal(200)
    const { token } = (await (await fetch(`${url}/api/token`, { method: 'POST', headers: as(MARKERS.gameKey) })).json()) as { token: string }
    const stream = await openEventStream(`${url}/api/stream?token=${encodeURIComponent(token)}&player=${MARKERS.player}&after=0`)
    expect((await stream.next()).data).to.include(MARKERS.text)
    await stream.close()
    expect((await fetch(`${url}/api/stream?token=${encodeURIComponent(`${token}x`)}`)).status, 'a forged token').to.equal(401)
    expect((await fetch(`${url}/metrics`, { headers: as(MARKERS.metricsKey) })).status).to.equal(200)
    expect((await fetch(`${url}/metrics`, { headers: as(MARKERS.wrongKey) })).status).to.equal(401)
    expect((await fetch(`${url}/api/clear?channel=global`, { method: 'POST', headers: as(MARKERS.adminKey) })).status).to.equal(200)

    expect(await stop(run)).to.equal(0)
    const lines = jsonLines(run.output)
    expect(lines.length, run.output).to.be.at.least(18)
    for (const [name, marker] of Object.entries(MARKERS)) expect(run.output, `the log holds the ${name}`).not.to.include(marker)
    expect(run.output, 'the log holds a stream token').not.to.include(token.split('.')[1] as string)

    const startup = lines.find((l) => typeof l.msg === 'string' && l.msg.includes('listening on')) as { config: Record<string, unknown>; url: string }
    expect(startup.url).to.equal(url)
    expect(startup.config).to.deep.include({
      PORT: String(port),
      PLAYER_RATE_LIMIT: '2/60s',
      API_KEYS: ['game', 'lobbybot (lobby)'],
      ADMIN_KEYS: ['ops'],
      METRICS_KEY: '(set, not shown)',
      STREAM_TOKEN_SECRET: '(set, not shown)',
      REDIS_URL: 'redis://:***@127.0.0.1:6399',
      BLOCKED_WORDS: '(1 words, not shown)',
      LOG_LEVEL: 'info',
    })
    const requests = lines.filter((l) => l.msg === 'request')
    const seen = requests.map((l) => `${l.method} ${l.route} ${l.status}`)
    expect(seen).to.include.members([
      'POST /api/send 200',
      'POST /api/send 429',
      'POST /api/send 422',
      'POST /api/send 403',
      'POST /api/send 400',
      'GET /api/messages 401',
      'GET /api/messages/:player_name 200',
      'GET unmatched 404',
      'POST /api/token 200',
      'GET /api/stream 200',
      'GET /api/stream 401',
      'POST /api/clear 200',
    ])
    expect(requests.find((l) => l.route === '/api/send')?.key).to.equal('game')
    expect(lines.some((l) => l.route === '/metrics'), 'scrapes are at debug').to.equal(false)
    expect(lines.map((l) => l.msg)).to.include.members(['SIGTERM received: shutting down', 'stopped'])
  })

  it('logs the store failing without its URL or password, on a Redis that is not there', async () => {
    const port = await freePort()
    const run = runCommand(['--port', String(port), '--host', '127.0.0.1', '--store', 'redis'], { REDIS_URL: `redis://:${MARKERS.redisPassword}@127.0.0.1:${await freePort()}` })
    started.push(run)
    const url = await listeningOn(run)
    expect((await fetch(`${url}/readyz`)).status).to.equal(503)
    expect((await postJson(`${url}/api/send`, { player_name: MARKERS.player, message: MARKERS.text })).status).to.equal(503)
    expect(await stop(run)).to.equal(0)
    const lines = jsonLines(run.output)
    expect(lines.some((l) => l.level === 50 && l.msg === 'StoreUnavailable on POST /api/send'), run.output).to.equal(true)
    for (const marker of [MARKERS.redisPassword, MARKERS.player, MARKERS.text]) expect(run.output).not.to.include(marker)
  })

  it('prints lines for a person with LOG_FORMAT=pretty', async () => {
    const port = await freePort()
    const run = runCommand(['--port', String(port), '--host', '127.0.0.1', '--log-format', 'pretty'], {})
    started.push(run)
    const url = await listeningOn(run)
    await fetch(`${url}/api/messages`)
    await until(() => /request/.test(run.output.split('listening on')[1] ?? ''))
    expect(await stop(run)).to.equal(0)
    expect(jsonLines(run.output), 'no JSON lines').to.deep.equal([])
    expect(run.output).to.match(/INFO.*listening on http:/)
    expect(run.output).to.match(/INFO.*request/)
    expect(run.output).to.match(/route: "\/api\/messages"/)
  })
})
