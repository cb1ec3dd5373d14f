import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { join } from 'node:path'
import { buildServers, ENDPOINTS, GUARDED, load, longPolls, send, SERVER_NAMES, START_FLAGS, startServer, type Endpoint, type Load, type PollResult, type RunningServer, type ServerName } from './clients'

/*
 * `npm run bench`: our server against two baselines doing the same work,
 * bare node:http (the practical limit of a Node process) and minimal Koa (the
 * ceiling of our framework), each in its own process, driven in turn by
 * autocannon from this one. Absolute numbers drift on a shared machine; the
 * ratios measured in one run are what we track. A full run appends its
 * tables to bench/results.md.
 *
 * `--smoke` runs every part briefly and writes nothing: the tests use it so
 * that the benchmark cannot rot. Any setting can be changed for a quick look,
 * e.g. `BENCH_ROUNDS=1 BENCH_SENDS=100000 npm run bench` (such a run is not
 * recorded either). `BENCH_JSON=file` also writes the numbers as JSON.
 */

const SMOKE = process.argv.includes('--smoke')
const DEFAULTS = SMOKE
  ? { rounds: 1, seconds: 1, warmup: 0, connections: 16, waiters: 200, pollRounds: 1, sendsFirst: 2_000, sends: 10_000 }
  : { rounds: 5, seconds: 2, warmup: 1, connections: 32, waiters: 5_000, pollRounds: 6, sendsFirst: 10_000, sends: 1_000_000 }
type Settings = typeof DEFAULTS
const settings = Object.fromEntries(
  Object.entries(DEFAULTS).map(([key, value]) => [key, Number(process.env[`BENCH_${key.toUpperCase()}`] ?? value)]),
) as Settings
const CUSTOM = Object.keys(DEFAULTS).some((key) => process.env[`BENCH_${key.toUpperCase()}`] !== undefined)

/** The targets, checked on the medians of one run: sends and lists well ahead of a Koa app doing the same, sends near bare node:http, and a key and rate limits costing a send under a tenth. */
const TARGET = { oursOverKoa: 1.3, sendOverNode: 0.8, guardedOverOpen: 0.9, memoryGrowthBytes: 20 * 1024 * 1024, pollDelay: 1.3, pollMemory: 1.5 }

/** The headline figures of this run, for the table of runs at the top of results.md. */
const headline = { guardedOverOpen: '—', sendOverKoa: '—', sendOverNode: '—', listOverKoa: '—', pollDelay: '—', pollMemory: '—', growthMb: '—' }


// ---------------------------------------------------------------------------------------------
// Numbers and their printing

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}
const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1)
const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
const verdict = (pass: boolean): string => (pass ? 'PASS' : 'FAIL')

const lines: string[] = []
const out = (line = ''): void => {
  console.log(line)
  lines.push(line)
}

type Verdict = { readonly target: string; readonly value: string; readonly pass: boolean }
const verdicts: Verdict[] = []

// ---------------------------------------------------------------------------------------------
// Throughput: each endpoint of each server in turn, several rounds, the order rotating

type ThroughputResults = Record<Endpoint, { rounds: Array<Record<ServerName, Load>> }>

const throughput = async (): Promise<ThroughputResults> => {
  const servers = await Promise.all([...SERVER_NAMES, GUARDED].map((name) => startServer(name)))
  // The guarded server is measured on sends only: what a key and the limits add to the request every game server makes.
  const measuredOn = (endpoint: Endpoint) => (endpoint === 'POST /api/send' ? servers : servers.filter((s) => s.name !== GUARDED))
  try {
    // Enough stored for a full page of 50, then warm every path up before anything is timed.
    for (const server of servers) for (let i = 0; i < 30; i++) await send(server.url, server.name)
    if (settings.warmup > 0)
      for (const endpoint of ENDPOINTS) for (const server of measuredOn(endpoint)) await load(server, endpoint, { connections: settings.connections, seconds: settings.warmup })

    out(`## Throughput: ${settings.connections} connections, ${settings.seconds} s per run, ${settings.rounds} round(s)`)
    out()
    out('| endpoint | round | server | req/s | p50 ms | p99 ms | errors | server CPU µs/request |')
    out('|---|---:|---|---:|---:|---:|---:|---:|')
    const results = Object.fromEntries(ENDPOINTS.map((e) => [e, { rounds: [] }])) as unknown as ThroughputResults
    for (let round = 1; round <= settings.rounds; round++) {
      for (const endpoint of ENDPOINTS) {
        const byServer: Partial<Record<ServerName, Load>> = {}
        // Rotate the order each round so that no server always runs first or last.
        const measured = measuredOn(endpoint)
        const order = measured.map((_, i) => measured[(i + round - 1) % measured.length] as RunningServer)
        for (const server of order) {
          const r = await load(server, endpoint, { connections: settings.connections, seconds: settings.seconds })
          byServer[server.name] = r
          out(`| ${endpoint} | ${round} | ${server.name} | ${fmt(r.rps)} | ${r.p50} | ${r.p99} | ${r.errors} | ${fmt(r.cpuPerRequest, 1)} |`)
        }
        results[endpoint].rounds.push(byServer as Record<ServerName, Load>)
      }
    }
    return results
  } finally {
    await Promise.all(servers.map((s) => s.stop()))
  }
}

const reportRatios = (results: ThroughputResults): void => {
  out()
  out('Ratios of req/s, per round and their median (the target is on the median against minimal Koa). By CPU: the inverse ratio of server CPU time per request, which other load on the machine disturbs less.')
  out()
  out(`| endpoint | ours / minimal Koa | median | ours / node:http | median | by CPU: vs minimal Koa, vs node:http | target |`)
  out('|---|---|---:|---|---:|---|---|')
  for (const endpoint of ENDPOINTS) {
    const rounds = results[endpoint].rounds
    const koa = rounds.map((r) => r.ours.rps / r['minimal Koa'].rps)
    const node = rounds.map((r) => r.ours.rps / r['node:http'].rps)
    const cpuKoa = median(rounds.map((r) => r['minimal Koa'].cpuPerRequest / r.ours.cpuPerRequest))
    const cpuNode = median(rounds.map((r) => r['node:http'].cpuPerRequest / r.ours.cpuPerRequest))
    const isSend = endpoint === 'POST /api/send'
    const passKoa = median(koa) >= TARGET.oursOverKoa
    verdicts.push({ target: `${endpoint}: ours / minimal Koa ≥ ${TARGET.oursOverKoa.toFixed(2)} (median req/s)`, value: median(koa).toFixed(2), pass: passKoa })
    const passNode = !isSend || median(node) >= TARGET.sendOverNode
    if (isSend) verdicts.push({ target: `${endpoint}: ours / node:http ≥ ${TARGET.sendOverNode.toFixed(2)} (median req/s)`, value: median(node).toFixed(2), pass: passNode })
    if (isSend) {
      headline.sendOverKoa = median(koa).toFixed(2)
      headline.sendOverNode = median(node).toFixed(2)
    } else headline.listOverKoa = median(koa).toFixed(2)
    const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ')
    const target = isSend ? `≥ ${TARGET.oursOverKoa} Koa, ≥ ${TARGET.sendOverNode} node:http` : `≥ ${TARGET.oursOverKoa} Koa`
    out(`| ${endpoint} | ${list(koa)} | **${median(koa).toFixed(2)}** | ${list(node)} | ${isSend ? `**${median(node).toFixed(2)}**` : median(node).toFixed(2)} | ${cpuKoa.toFixed(2)}, ${cpuNode.toFixed(2)} | ${target}: ${verdict(passKoa && passNode)} |`)
  }
  const sends = results['POST /api/send'].rounds
  const guarded = sends.map((r) => r[GUARDED].rps / r.ours.rps)
  const guardedByCpu = median(sends.map((r) => r.ours.cpuPerRequest / r[GUARDED].cpuPerRequest))
  const pass = median(guarded) >= TARGET.guardedOverOpen
  headline.guardedOverOpen = median(guarded).toFixed(2)
  verdicts.push({ target: `POST /api/send with a key and both rate limits / without ≥ ${TARGET.guardedOverOpen.toFixed(2)} (median req/s)`, value: median(guarded).toFixed(2), pass })
  out()
  out(`Sends with an API key and both rate limits on, against ours without: ${guarded.map((x) => x.toFixed(2)).join(', ')}; median **${median(guarded).toFixed(2)}** (by CPU ${guardedByCpu.toFixed(2)}; target ≥ ${TARGET.guardedOverOpen}: ${verdict(pass)}).`)
}

// ---------------------------------------------------------------------------------------------
// Long polls: ours against node:http, the baseline the targets name, in paired rounds on fresh servers

/*
 * The delay to the last of 5,000 answers is mostly the kernel writing 5,000
 * responses, and one measurement differs from the next by a quarter or more
 * on this shared machine, whichever server it is. So each server is measured
 * in six rounds and the target is on the medians, as the issue states it:
 * ours' median delay (and memory) against node:http's. The ratio within each
 * round is printed too; it turned out no steadier than single measurements
 * (0.74–1.42 in one run), so it shows the spread and is not the verdict.
 * The first of a pair measured slower, whichever server it was, so the order
 * alternates over an even number of rounds and each goes first as often.
 * Minimal Koa is left out of this phase, so that its time buys more rounds;
 * the runs recorded before 2026-11-25 16:00 have it (1.1–1.5× node:http's
 * delay, 1.25–1.4× its memory).
 */

const POLL_SERVERS: ReadonlyArray<ServerName> = ['ours', 'node:http']

type PollRound = Record<'ours' | 'node:http', PollResult>

/** Polls held and released once on each fresh server before it is measured (a tenth of the measured ones), so that what is timed is not its first burst. */
const pollWarmup = (): number => Math.max(1, Math.round(settings.waiters / 10))

const polls = async (): Promise<PollRound[]> => {
  out()
  out(`## Long polls: ${fmt(settings.waiters)} held, then one send; ours against node:http, ${settings.pollRounds} paired rounds`)
  out()
  out(`Each round starts both servers fresh and warms each with ${fmt(pollWarmup())} polls, then measures them back to back, the order alternating. Delay: from the send to the last complete answer at the client. Memory: what the held polls add to the server, after a full collection.`)
  out()
  out('| round | server | delay to the last answer, ms | resident memory added, MB | of which V8 heap, MB |')
  out('|---:|---|---:|---:|---:|')
  const rounds: PollRound[] = []
  for (let round = 1; round <= settings.pollRounds; round++) {
    const servers = await Promise.all(POLL_SERVERS.map((name) => startServer(name)))
    try {
      for (const server of servers) await longPolls(server, pollWarmup())
      const order = round % 2 === 1 ? servers : [...servers].reverse()
      const results: Partial<PollRound> = {}
      for (const server of order) {
        const r = await longPolls(server, settings.waiters)
        results[server.name as keyof PollRound] = r
        out(`| ${round} | ${server.name} | ${fmt(r.delayMs, 1)} | ${mb(r.rssBytes)} | ${mb(r.heapBytes)} |`)
      }
      rounds.push(results as PollRound)
    } finally {
      await Promise.all(servers.map((s) => s.stop()))
    }
  }
  const delayRatios = rounds.map((r) => r.ours.delayMs / r['node:http'].delayMs)
  const memoryRatios = rounds.map((r) => r.ours.rssBytes / r['node:http'].rssBytes)
  const delayOf = (n: keyof PollRound) => median(rounds.map((r) => r[n].delayMs))
  const memoryOf = (n: keyof PollRound) => median(rounds.map((r) => r[n].rssBytes))
  const delayRatio = delayOf('ours') / delayOf('node:http')
  const memoryRatio = memoryOf('ours') / memoryOf('node:http')
  const list = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ')
  out()
  out('| | ours, median | node:http, median | ours / node:http | within each round (the spread) | target |')
  out('|---|---:|---:|---:|---|---|')
  out(`| delay, ms | ${fmt(delayOf('ours'), 1)} | ${fmt(delayOf('node:http'), 1)} | **${delayRatio.toFixed(2)}** | ${list(delayRatios)} | ≤ ${TARGET.pollDelay}: ${verdict(delayRatio <= TARGET.pollDelay)} |`)
  out(`| memory, MB | ${mb(memoryOf('ours'))} | ${mb(memoryOf('node:http'))} | **${memoryRatio.toFixed(2)}** | ${list(memoryRatios)} | ≤ ${TARGET.pollMemory}: ${verdict(memoryRatio <= TARGET.pollMemory)} |`)
  headline.pollDelay = delayRatio.toFixed(2)
  headline.pollMemory = memoryRatio.toFixed(2)
  verdicts.push(
    { target: `long polls: delay to the last of ${fmt(settings.waiters)} ≤ ${TARGET.pollDelay} × node:http (medians)`, value: `${delayRatio.toFixed(2)}×`, pass: delayRatio <= TARGET.pollDelay },
    { target: `long polls: their memory ≤ ${TARGET.pollMemory} × node:http (medians)`, value: `${memoryRatio.toFixed(2)}×`, pass: memoryRatio <= TARGET.pollMemory },
  )
  return rounds
}

// ---------------------------------------------------------------------------------------------
// Memory under many sends: ours alone, fresh, sampled along the way

type MemorySample = { readonly sends: number; readonly rssBytes: number; readonly heapBytes: number }

const memory = async (): Promise<MemorySample[]> => {
  out()
  out(`## Memory of ours under ${fmt(settings.sends)} sends`)
  out()
  const checkpoints = [...new Set([settings.sendsFirst, 100_000, 250_000, 500_000, settings.sends])]
    .filter((n) => n >= settings.sendsFirst && n <= settings.sends)
    .sort((a, b) => a - b)
  const server = await startServer('ours')
  const samples: MemorySample[] = []
  const began = Date.now()
  try {
    let done = 0
    for (const checkpoint of checkpoints) {
      // Pipelined: the phase measures memory, not latency, and a million sends one at a time per connection would take most of the run.
      const r = await load(server, 'POST /api/send', { connections: settings.connections, pipelining: 4, amount: checkpoint - done })
      if (r.errors > 0) throw new Error(`${r.errors} sends failed on the way to ${fmt(checkpoint)}`)
      done = checkpoint
      samples.push({ sends: done, rssBytes: await server.ask('rss'), heapBytes: await server.ask('heap') })
    }
  } finally {
    await server.stop()
  }
  out('| after sends | resident MB | V8 heap MB |')
  out('|---:|---:|---:|')
  for (const s of samples) out(`| ${fmt(s.sends)} | ${mb(s.rssBytes)} | ${mb(s.heapBytes)} |`)
  const first = samples[0] as MemorySample
  const last = samples[samples.length - 1] as MemorySample
  const growth = last.rssBytes - first.rssBytes
  const pass = growth <= TARGET.memoryGrowthBytes
  out()
  headline.growthMb = mb(growth)
  out(`Growth from ${fmt(first.sends)} to ${fmt(last.sends)} sends: ${mb(growth)} MB resident, ${mb(last.heapBytes - first.heapBytes)} MB heap (target ≤ 20 MB resident: ${verdict(pass)}); ${fmt((settings.sends / (Date.now() - began)) * 1000)} sends/s.`)
  verdicts.push({ target: `memory after ${fmt(last.sends)} sends within 20 MB of after ${fmt(first.sends)}`, value: `${mb(growth)} MB`, pass })
  return samples
}

// ---------------------------------------------------------------------------------------------

/** Thousands of held polls need as many descriptors here and in the server: raise the soft limit to the hard one when short. */
const ensureDescriptors = (): void => {
  const needed = settings.waiters + 1_000
  const soft = Number(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim())
  if (!Number.isFinite(soft) || soft >= needed) return
  if (process.env.BENCH_RAISED_LIMIT !== undefined) throw new Error(`${settings.waiters} long polls need ${needed} file descriptors; the limit is ${soft} (see ulimit -n)`)
  const again = spawnSync('/bin/sh', ['-c', `ulimit -n ${needed} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`, 'sh', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_RAISED_LIMIT: '1' },
  })
  process.exit(again.status ?? 1)
}

const HISTORY_START = '<!-- history:start -->'
const HISTORY_END = '<!-- history:end -->'
const HISTORY_HEADER =
  '| run (UTC) | commit | send / minimal Koa | send / node:http | list / minimal Koa | long-poll delay / node:http | long-poll memory / node:http | memory growth over 1M sends, MB | run, s | send with a key and limits / without |'

/** The commit measured, with a mark when the tree had changes of its own. */
const commit = (): string => {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: __dirname, encoding: 'utf8' })
  if (head.status !== 0) return '—'
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: __dirname, encoding: 'utf8' }).stdout.trim() !== ''
  return `${head.stdout.trim()}${dirty ? ' (changed)' : ''}`
}

/** results.md: the table of runs so far with this run's line added, then this run in full (the previous full run is in git's history). */
const resultsFile = (previous: string, row: string, run: string): string => {
  const start = previous.indexOf(HISTORY_START)
  const end = previous.indexOf(HISTORY_END)
  const columns = HISTORY_HEADER.split('|').length
  const rows = (start === -1 || end === -1 ? [] : previous.slice(start + HISTORY_START.length, end).split('\n').filter((line) => /^\| \d{4}-/.test(line)))
    // Lines from before a column was added have — in it.
    .map((line) => line + ' — |'.repeat(Math.max(0, columns - line.split('|').length)))
  return [
    '# Benchmark results',
    '',
    "The latest full run of `npm run bench`, whole, and above it one line per run with its headline",
    "figures, oldest first (earlier runs' full tables are in the history of this file). Ratios from",
    'one run are what we compare; absolute numbers depend on the machine and on whatever else it was',
    'doing.',
    '',
    '## Headline figures, run by run',
    '',
    'Medians of each run (see the full run for how each is measured); — where that run did not',
    'measure it.',
    '',
    HISTORY_START,
    HISTORY_HEADER,
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
    row,
    HISTORY_END,
    '',
    run,
  ].join('\n')
}

const machine = (): string =>
  `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, ${mb(totalmem())} MB, Node ${process.version}, every server run with ${START_FLAGS.join(' ') || 'no flags'} as npm start runs ours`

const main = async (): Promise<void> => {
  ensureDescriptors()
  const began = Date.now()
  buildServers()
  console.log(`${SMOKE ? 'Smoke run' : 'Benchmark'} on ${machine()}\n`)
  const phases: Array<[string, number]> = []
  const timed = async <T>(phase: string, work: () => Promise<T>): Promise<T> => {
    const t0 = Date.now()
    const result = await work()
    phases.push([phase, Math.round((Date.now() - t0) / 1000)])
    return result
  }
  const results = { throughput: await timed('throughput', throughput), polls: [] as PollRound[], memory: [] as MemorySample[] }
  reportRatios(results.throughput)
  results.polls = await timed('long polls', polls)
  results.memory = await timed('memory', memory)

  out()
  out('## Targets')
  out()
  for (const v of verdicts) out(`- ${verdict(v.pass)}: ${v.target} (${v.value})`)
  const seconds = Math.round((Date.now() - began) / 1000)
  out()
  out(`The run took ${seconds} s (${phases.map(([phase, s]) => `${phase} ${s} s`).join(', ')}).`)

  if (process.env.BENCH_JSON !== undefined) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ settings, seconds, verdicts, ...results }, null, 2))
  if (!SMOKE && !CUSTOM) {
    const file = join(__dirname, 'results.md')
    const when = new Date().toISOString().slice(0, 16).replace('T', ' ')
    const row = `| ${when} | ${commit()} | ${headline.sendOverKoa} | ${headline.sendOverNode} | ${headline.listOverKoa} | ${headline.pollDelay} | ${headline.pollMemory} | ${headline.growthMb} | ${seconds} | ${headline.guardedOverOpen} |`
    writeFileSync(file, resultsFile(existsSync(file) ? readFileSync(file, 'utf8') : '', row, `# Latest full run: ${when} UTC, ${machine()}\n\n${lines.join('\n')}\n`))
    console.log(`\nWritten to ${file}: this run in full, and its line in the table of runs`)
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
