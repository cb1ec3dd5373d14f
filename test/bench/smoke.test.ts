import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { nginxUnavailable, redisUnavailable } from '../../bench/external'

/*
 * The benchmark is not part of `npm test`, but a short run of it is, so that
 * it cannot rot: every part runs for a moment (no thresholds; a shared
 * machine makes short timings meaningless) and must produce a number for
 * every row. The parts on Redis and against nginx+nchan run when
 * redis-server and nginx with its Nchan module are installed; when they are
 * not, the bench must say why and skip them, and so does this test.
 */

const ROOT = resolve(__dirname, '..', '..')
const RESULTS = join(ROOT, 'bench', 'results.md')

type Load = { rps: number; p50: number; p99: number; errors: number; cpuPerRequest: number }
type Poll = { delayMs: number; rssBytes: number; heapBytes: number }
type Report = {
  verdicts: Array<{ target: string; value: string; pass: boolean }>
  throughput: Record<string, { rounds: Array<Record<string, Load>> }>
  polls: Array<Record<string, Poll>>
  fanOut: Array<Record<string, Poll>>
  memory: Array<{ sends: number; rssBytes: number; heapBytes: number }>
  skipped: { redis?: string; nginx?: string; fanOut?: string }
}

const SERVERS = ['ours', 'ours, no logs or metrics', 'minimal Koa', 'node:http']
const ON_REDIS = 'ours on Redis'
const TWO_ON_REDIS = 'ours ×2 on Redis'
const NCHAN = 'nginx+nchan'
/** Why each optional part cannot run here (undefined: it must run). */
const noRedis = redisUnavailable()
const noNginx = nginxUnavailable()
const ENDPOINTS = ['POST /api/send', 'GET /api/messages?limit=50']

describe('bench: a smoke run of npm run bench', function () {
  this.timeout(90_000)
  let dir: string
  let report: Report
  let printed: string
  let resultsBefore: number | undefined

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'))
    resultsBefore = existsSync(RESULTS) ? statSync(RESULTS).mtimeMs : undefined
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', join(ROOT, 'bench', 'run.ts'), '--smoke'], {
      cwd: ROOT,
      env: { ...process.env, BENCH_JSON: join(dir, 'report.json') },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const code = await new Promise<number | null>((done) => child.on('close', done))
    expect(code, `the smoke run failed:\n${stdout}\n${stderr}`).to.equal(0)
    printed = stdout
    report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as Report
  })

  after(() => rmSync(dir, { recursive: true, force: true }))

  const positive = (n: unknown) => typeof n === 'number' && Number.isFinite(n) && n > 0

  it('loads every endpoint of every server without errors, with rate, latencies and CPU time', () => {
    for (const endpoint of ENDPOINTS) {
      const rounds = report.throughput[endpoint]?.rounds ?? []
      expect(rounds, endpoint).to.have.length.greaterThan(0)
      for (const round of rounds)
        for (const server of SERVERS) {
          const load = round[server]
          expect(load, `${endpoint} on ${server}`).to.not.equal(undefined)
          expect(positive(load?.rps) && positive(load?.cpuPerRequest), `${endpoint} on ${server}: ${JSON.stringify(load)}`).to.equal(true)
          expect(Number.isFinite(load?.p50) && Number.isFinite(load?.p99)).to.equal(true)
          expect(load?.errors, `${endpoint} on ${server}`).to.equal(0)
        }
    }
  })

  it('releases every held long poll on ours and node:http, round by round, and measures the delay and the memory', () => {
    expect(report.polls).to.have.length.greaterThan(0)
    for (const round of report.polls)
      for (const server of ['ours', 'node:http']) {
        const p = round[server]
        expect(positive(p?.delayMs), `${server}: ${JSON.stringify(p)}`).to.equal(true)
        expect(Number.isFinite(p?.rssBytes) && Number.isFinite(p?.heapBytes)).to.equal(true)
      }
  })

  it('measures ours on Redis against ours in memory on both endpoints, and two processes on Redis against one on sends, when redis-server is installed', function () {
    if (noRedis !== undefined) {
      if (process.env.CI === 'true') throw new Error(`CI needs redis-server for the bench's Redis parts: ${noRedis}`)
      console.log(`      skipping the Redis parts of the smoke run: ${noRedis}`)
      expect(report.skipped.redis, 'the bench says why it skipped Redis').to.be.a('string')
      expect(printed).to.include('Skipping ours on Redis:')
      return this.skip()
    }
    expect(report.skipped.redis).to.equal(undefined)
    for (const endpoint of ENDPOINTS)
      for (const round of report.throughput[endpoint]?.rounds ?? []) {
        const servers = endpoint === 'POST /api/send' ? [ON_REDIS, TWO_ON_REDIS] : [ON_REDIS]
        for (const server of servers) {
          const load = round[server]
          expect(positive(load?.rps) && positive(load?.cpuPerRequest), `${endpoint} on ${server}: ${JSON.stringify(load)}`).to.equal(true)
          expect(load?.errors, `${endpoint} on ${server}`).to.equal(0)
        }
      }
    expect(printed).to.include("--save '' --appendonly no")
    expect(printed).to.match(/\| POST \/api\/send \| [0-9.]+ \| \*\*[0-9.]+\*\* \| [0-9.]+ \| ≥ 0\.5: (PASS|FAIL)[^|]* \| [0-9.]+ \| \*\*[0-9.]+\*\* \|/)
  })

  it('releases the long polls on one process and on two on Redis, and nchan subscribers on nginx, when installed', function () {
    if (report.skipped.fanOut !== undefined) {
      if (process.env.CI === 'true') throw new Error(`CI needs a C compiler for the bench's fan-out client: ${report.skipped.fanOut}`)
      console.log(`      skipping the fan-out in the smoke run: ${report.skipped.fanOut}`)
      return this.skip()
    }
    const expected = [...(noRedis === undefined ? [ON_REDIS, TWO_ON_REDIS] : []), ...(noNginx === undefined ? [NCHAN] : [])]
    if (noNginx !== undefined) {
      if (process.env.CI === 'true') throw new Error(`CI needs nginx with its Nchan module for the bench's fan-out reference: ${noNginx}`)
      console.log(`      skipping nginx+nchan in the smoke run: ${noNginx}`)
      expect(report.skipped.nginx, 'the bench says why it skipped nginx').to.be.a('string')
    }
    if (expected.length === 0) return this.skip()
    expect(report.fanOut).to.have.length.greaterThan(0)
    for (const round of report.fanOut) {
      expect(Object.keys(round).sort()).to.deep.equal([...expected].sort())
      for (const server of expected) expect(positive(round[server]?.delayMs), `${server}: ${JSON.stringify(round[server])}`).to.equal(true)
    }
    if (noRedis === undefined && noNginx === undefined) expect(printed).to.match(/\| ours ×2 on Redis \| [0-9.,]+ \| nginx\+nchan, one worker \| \*\*[0-9.]+\*\* \|/)
  })

  it('samples our memory along the sends', () => {
    expect(report.memory.length).to.be.at.least(2)
    for (const sample of report.memory) expect(positive(sample.sends) && positive(sample.rssBytes) && positive(sample.heapBytes)).to.equal(true)
  })

  it('prints the tables, the ratios and a verdict for every target', () => {
    expect(printed).to.include('| endpoint | ours / minimal Koa |')
    for (const endpoint of ENDPOINTS) expect(printed).to.match(new RegExp(`\\| ${endpoint.replace(/[?/]/g, '\\$&')} \\| [0-9.]+ \\| \\*\\*[0-9.]+\\*\\* \\|`))
    // Sends against minimal Koa and node:http, lists against minimal Koa, sends with a key and limits, sends and lists with logs and metrics against
    // without, the long polls' delay and memory, polls of several channels against one, memory over the sends; with Redis, sends and lists on Redis
    // against in memory; with nginx too, two of ours against nginx+nchan.
    expect(printed).to.match(/\| GET \/api\/messages\?limit=50 \| [0-9.]+ \| \*\*[0-9.]+\*\* \| [0-9.]+ \| ≥ 0\.9: (PASS|FAIL) \|/)
    expect(report.verdicts.map((v) => v.target)).to.have.length(10 + (noRedis === undefined ? 2 : 0) + (noRedis === undefined && noNginx === undefined && report.skipped.fanOut === undefined ? 1 : 0))
    expect(printed).to.match(/\| delay, ms \| [0-9.,]+ \| [0-9.,]+ \| \*\*[0-9.]+\*\* \| [0-9., ]+ \| ≤ 1\.3: (PASS|FAIL) \|/)
    expect(printed).to.match(/\| 1 \| ours, channels=global,lobby,team-red \| [0-9.,]+ \|/)
    expect(printed).to.match(/against ours following one: delay [0-9.,]+ ms against [0-9.,]+ \(\*\*[0-9.]+\*\*.*target ≤ 1\.2: (PASS|FAIL)\)/)
    expect(printed).to.include('## Targets')
  })

  it('leaves bench/results.md alone: only a full run is recorded', () => {
    expect(existsSync(RESULTS) ? statSync(RESULTS).mtimeMs : undefined).to.equal(resultsBefore)
  })
})
