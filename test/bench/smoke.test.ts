import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

/*
 * The benchmark is not part of `npm test`, but a short run of it is, so that
 * it cannot rot: every part runs for a moment (no thresholds; a shared
 * machine makes short timings meaningless) and must produce a number for
 * every row.
 */

const ROOT = resolve(__dirname, '..', '..')
const RESULTS = join(ROOT, 'bench', 'results.md')

type Load = { rps: number; p50: number; p99: number; errors: number; cpuPerRequest: number }
type Report = {
  verdicts: Array<{ target: string; value: string; pass: boolean }>
  throughput: Record<string, { rounds: Array<Record<string, Load>> }>
  polls: Array<Record<string, { delayMs: number; rssBytes: number; heapBytes: number }>>
  memory: Array<{ sends: number; rssBytes: number; heapBytes: number }>
}

const SERVERS = ['ours', 'minimal Koa', 'node:http']
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

  it('samples our memory along the sends', () => {
    expect(report.memory.length).to.be.at.least(2)
    for (const sample of report.memory) expect(positive(sample.sends) && positive(sample.rssBytes) && positive(sample.heapBytes)).to.equal(true)
  })

  it('prints the tables, the ratios and a verdict for every target', () => {
    expect(printed).to.include('| endpoint | ours / minimal Koa |')
    for (const endpoint of ENDPOINTS) expect(printed).to.match(new RegExp(`\\| ${endpoint.replace(/[?/]/g, '\\$&')} \\| [0-9.]+ \\| \\*\\*[0-9.]+\\*\\* \\|`))
    // Sends against minimal Koa and node:http, lists against minimal Koa, sends with a key and limits, the long polls' delay and memory, memory over the sends.
    expect(report.verdicts.map((v) => v.target)).to.have.length(7)
    expect(printed).to.match(/\| delay, ms \| [0-9.,]+ \| [0-9.,]+ \| \*\*[0-9.]+\*\* \| [0-9., ]+ \| ≤ 1\.3: (PASS|FAIL) \|/)
    expect(printed).to.include('## Targets')
  })

  it('leaves bench/results.md alone: only a full run is recorded', () => {
    expect(existsSync(RESULTS) ? statSync(RESULTS).mtimeMs : undefined).to.equal(resultsBefore)
  })
})
