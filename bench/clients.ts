import { execFileSync, fork, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import autocannon from 'autocannon'
import type { Answer, Question } from './servers/harness'

/*
 * The load generator's side: starting a server under test in its own process,
 * driving it with autocannon, and the long-poll client that holds thousands
 * of requests open at once. Everything runs over loopback.
 */

export type ServerName = 'ours' | 'minimal Koa' | 'node:http' | 'ours, key and limits' | 'ours, no logs or metrics' | 'ours on Redis' | 'ours ×2 on Redis'
export const SERVER_NAMES: ReadonlyArray<ServerName> = ['ours', 'minimal Koa', 'node:http']
/** Ours with an API key required and both rate limits on (set too high to refuse the load): what keys and limits cost a send. */
export const GUARDED: ServerName = 'ours, key and limits'
/** Ours with LOG_LEVEL=silent and METRICS=off: what the request log line and the metrics cost, at their defaults, against ours. */
export const QUIET: ServerName = 'ours, no logs or metrics'
/** Ours with STORE=redis, one process; and two such processes on the same Redis and prefix, driven as one server (see `cluster`). */
export const ON_REDIS: ServerName = 'ours on Redis'
export const TWO_ON_REDIS: ServerName = 'ours ×2 on Redis'
const FILES: Record<ServerName, string> = {
  ours: 'ours.js',
  'minimal Koa': 'minimal-koa.js',
  'node:http': 'node-http.js',
  [GUARDED]: 'ours.js',
  [QUIET]: 'ours.js',
  [ON_REDIS]: 'ours.js',
  [TWO_ON_REDIS]: 'ours.js',
}
/** The environment that puts ours on a Redis (read by servers/ours.ts only). */
export const redisEnv = (url: string, prefix: string): Record<string, string> => ({ BENCH_STORE: 'redis', BENCH_REDIS_URL: url, BENCH_REDIS_PREFIX: prefix })
/** The key the guarded server takes, and the configuration it runs with. */
export const BENCH_KEY = 'bench-key-0123456789abcdef'
const GUARDED_ENV = { BENCH_API_KEYS: `bench:${BENCH_KEY}`, BENCH_PLAYER_RATE_LIMIT: '100000000/1s', BENCH_CLIENT_RATE_LIMIT: '100000000/1s' }
const QUIET_ENV = { BENCH_LOG_LEVEL: 'silent', BENCH_METRICS: 'off' }
const ENV_OF: Partial<Record<ServerName, Record<string, string>>> = { [GUARDED]: GUARDED_ENV, [QUIET]: QUIET_ENV }
/** The headers a client of the server sends with every request. */
const headersFor = (name: ServerName): Record<string, string> => (name === GUARDED ? { 'x-api-key': BENCH_KEY } : {})

const ROOT = join(__dirname, '..')
/**
 * The V8 flags `npm start` gives the server (package.json), given to every
 * server under test: the comparison is of code, not of heap sizing.
 */
export const START_FLAGS: ReadonlyArray<string> = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start
  .split(/\s+/)
  .filter((word) => word.startsWith('--'))

/** Where bench/tsconfig.json puts the compiled servers (ignored by git). */
const BUILD = join(ROOT, '.bench-tmp', 'build', 'bench', 'servers')
/**
 * Where ours writes its log while measured: a file, as a service's log goes
 * to a file or a journal, so that writing it costs what it costs in
 * production, and this run's output stays readable. Removed when it stops.
 */
const LOGS = join(ROOT, '.bench-tmp', 'logs')
let logged = 0

/**
 * Compiles the servers under test, ours included, with tsc as `npm start`
 * runs the product: tsx's output reaches every import through a getter, a
 * cost production never pays and that falls hardest on the most layered code.
 */
export const buildServers = (): void => {
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'bench', 'tsconfig.json')], { cwd: ROOT, stdio: 'inherit' })
}

export type RunningServer = {
  readonly name: ServerName
  readonly pid: number
  /** The first (for one process, the only) place it listens. */
  readonly url: string
  readonly port: number
  /** Every process's port and URL: load and long polls are spread over them, connection by connection. */
  readonly ports: ReadonlyArray<number>
  readonly urls: ReadonlyArray<string>
  /** Summed over its processes. */
  readonly ask: (what: Question['ask']) => Promise<number>
  readonly stop: () => Promise<void>
}

/** Starts one server under test (built by buildServers) in a child process of its own and resolves once it listens. */
export const startServer = (name: ServerName, extraFlags: ReadonlyArray<string> = [], env: Readonly<Record<string, string>> = {}): Promise<RunningServer> =>
  new Promise((resolve, reject) => {
    mkdirSync(LOGS, { recursive: true })
    const logFile = join(LOGS, `${process.pid}-${logged++}.log`)
    const log = openSync(logFile, 'w')
    const child: ChildProcess = fork(join(BUILD, FILES[name]), [], {
      // --expose-gc lets the server collect before it reports its memory.
      execArgv: ['--expose-gc', ...START_FLAGS, ...extraFlags],
      stdio: ['ignore', log, 'inherit', 'ipc'],
      env: { ...process.env, ...(ENV_OF[name] ?? {}), ...env },
    })
    closeSync(log)
    child.once('exit', () => rmSync(logFile, { force: true }))
    let next = 0
    const pending = new Map<number, (value: number) => void>()
    const exited = new Promise<void>((done) => child.once('exit', () => done()))
    const failed = (code: number | null) => reject(new Error(`the ${name} server exited with ${code} before listening`))
    child.once('exit', failed)
    child.on('message', (m: { port?: number } | Answer) => {
      if ('port' in m && m.port !== undefined) {
        child.off('exit', failed)
        child.once('exit', (code, signal) => {
          if (pending.size > 0) console.error(`the ${name} server exited (${code ?? signal}) with questions unanswered`)
        })
        resolve({
          name,
          pid: child.pid as number,
          port: m.port,
          url: `http://127.0.0.1:${m.port}`,
          ports: [m.port],
          urls: [`http://127.0.0.1:${m.port}`],
          ask: (what) =>
            new Promise((answer) => {
              const id = next++
              pending.set(id, answer)
              child.send({ id, ask: what } satisfies Question)
            }),
          stop: () => {
            child.kill()
            return exited
          },
        })
      } else if ('id' in m) {
        pending.get(m.id)?.(m.value)
        pending.delete(m.id)
      }
    })
  })

/**
 * Several processes of ours (on one Redis) as one server under test: load
 * and long polls are spread over them, what it is asked is summed over them
 * (CPU time, held polls, memory), and stopping it stops them all.
 */
export const cluster = (name: ServerName, members: ReadonlyArray<RunningServer>): RunningServer => {
  const first = members[0] as RunningServer
  return {
    name,
    pid: first.pid,
    url: first.url,
    port: first.port,
    ports: members.flatMap((m) => m.ports),
    urls: members.flatMap((m) => m.urls),
    ask: async (what) => (await Promise.all(members.map((m) => m.ask(what)))).reduce((a, b) => a + b, 0),
    stop: async () => {
      await Promise.all(members.map((m) => m.stop()))
    },
  }
}

export const SEND_BODY = JSON.stringify({ player_name: 'Player123', message: 'Hello from Roblox!' })

type Sent = { message: { id: number }; auto_reply: { id: number } }

/** One POST /api/send, as a game server makes it. */
export const send = (url: string, name: ServerName = 'ours'): Promise<Sent> =>
  new Promise((resolve, reject) => {
    const req = request(`${url}/api/send`, { method: 'POST', headers: { 'content-type': 'application/json', ...headersFor(name) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(text) as Sent) : reject(new Error(`send answered ${res.statusCode}: ${text}`))))
    })
    req.on('error', reject)
    req.end(SEND_BODY)
  })

export type Endpoint = 'POST /api/send' | 'GET /api/messages?limit=50'
export const ENDPOINTS: ReadonlyArray<Endpoint> = ['POST /api/send', 'GET /api/messages?limit=50']

export type Load = {
  readonly rps: number
  readonly p50: number
  readonly p99: number
  readonly errors: number
  /** The server's own CPU time per request, in µs: steadier than req/s when other work shares the machine. */
  readonly cpuPerRequest: number
}

export type LoadOptions = { readonly connections: number; readonly pipelining?: number } & ({ readonly seconds: number } | { readonly amount: number })

/** Drives one endpoint of one server with autocannon for a time or a number of requests. */
export const load = async (server: RunningServer, endpoint: Endpoint, options: LoadOptions): Promise<Load> => {
  const isSend = endpoint === 'POST /api/send'
  const cpuBefore = await server.ask('cpu')
  const urls = server.urls.map((url) => (isSend ? `${url}/api/send` : `${url}/api/messages?limit=50`))
  const result = await autocannon({
    // Several URLs: autocannon gives connection i to URL i mod n, so 32 connections over two processes are 16 each.
    url: (urls.length === 1 ? urls[0] : urls) as string,
    method: isSend ? 'POST' : 'GET',
    headers: { ...(isSend ? { 'content-type': 'application/json' } : {}), ...headersFor(server.name) },
    ...(isSend ? { body: SEND_BODY } : {}),
    connections: options.connections,
    pipelining: options.pipelining ?? 1,
    ...('amount' in options ? { amount: options.amount } : { duration: options.seconds }),
  })
  const cpu = (await server.ask('cpu')) - cpuBefore
  return {
    // Requests over the run's measured duration rather than autocannon's average of per-second samples, which a partial last second skews.
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.non2xx + result.timeouts,
    cpuPerRequest: cpu / Math.max(1, result.requests.total),
  }
}

export type PollResult = {
  /** From the send that releases them to the last complete answer, in ms. */
  readonly delayMs: number
  /** Resident memory the held polls add to the server (after a collection), in bytes. */
  readonly rssBytes: number
  /** The same for the V8 heap alone, steadier than resident memory. */
  readonly heapBytes: number
}

export type Held = { readonly socket: Socket; readonly answered: Promise<{ at: number; body: string }> }

/**
 * A raw HTTP/1.1 GET on its own socket, answered once (with a Content-Length):
 * far lighter for the client than http.request, so the client's cost stays
 * small. Used for our long polls and for nchan's long-poll subscribers alike.
 */
export const hold = (port: number, path: string): Promise<Held> =>
  new Promise((connected, failed) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let text = ''
    const answered = new Promise<{ at: number; body: string }>((resolve, reject) => {
      socket.setEncoding('utf8')
      socket.on('data', (chunk: string) => {
        text += chunk
        const headerEnd = text.indexOf('\r\n\r\n')
        if (headerEnd < 0) return
        const length = /\r\ncontent-length:\s*(\d+)/i.exec(text.slice(0, headerEnd))
        if (length === null) return reject(new Error(`a long poll answered without a Content-Length: ${text.slice(0, headerEnd)}`))
        const body = text.slice(headerEnd + 4)
        if (Buffer.byteLength(body) < Number(length[1])) return
        const at = performance.now()
        socket.destroy()
        if (!/^HTTP\/1\.1 200 /.test(text)) return reject(new Error(`a long poll answered ${text.slice(0, text.indexOf('\r\n'))}: ${body.slice(0, 200)}`))
        resolve({ at, body })
      })
      socket.on('error', reject)
      socket.on('close', () => reject(new Error(`a long poll closed before its answer: ${text.slice(0, 200)}`)))
    })
    answered.catch(() => undefined) // observed by the caller; this keeps an early failure from going unhandled
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      connected({ socket, answered })
    })
    socket.once('error', failed)
  })

export const until = async (condition: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> => {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

/** Connections opened at once: well under the listen backlog (511 by default), so none is dropped and retried a second later. */
export const CONNECT_WAVE = 250

/**
 * Opens `count` held requests (`open(i)` opens the i-th) in waves, each wave
 * once the server says it holds the previous ones (`heldNow`): the kernel
 * completes a connection before the server accepts it, and connecting faster
 * overflows the accept queue.
 */
export const holdMany = async (count: number, open: (i: number) => Promise<Held>, heldNow: () => Promise<number>, what: string): Promise<Held[]> => {
  const held: Held[] = []
  try {
    for (let opened = 0; opened < count; opened += CONNECT_WAVE) {
      const wave = Math.min(CONNECT_WAVE, count - opened)
      held.push(...(await Promise.all(Array.from({ length: wave }, (_, i) => open(opened + i)))))
      await until(async () => (await heldNow()) >= opened + wave, `${what} to hold ${opened + wave} long polls`)
    }
    return held
  } catch (err) {
    for (const h of held) h.socket.destroy()
    throw err
  }
}

/**
 * Opens `count` long polls, spread over the server's processes (poll i to
 * process i mod n), waits until it holds every one, sends once (to the first
 * process: the others hear of it through Redis) and times the last answer;
 * also what the held polls cost the server in memory.
 */
export const longPolls = async (server: RunningServer, count: number, channels?: ReadonlyArray<string>): Promise<PollResult> => {
  const head = (await send(server.url)).auto_reply.id
  await until(async () => (await server.ask('waiters')) === 0, `${server.name} to hold no long polls before the test`)
  const rssBefore = await server.ask('rss')
  const heapBefore = await server.ask('heap')
  // With channels, each poll follows those (the message sent is in the default channel, global, which must be among them).
  const path = `/api/messages?after=${head}&wait=25${channels === undefined ? '' : `&channels=${channels.join(',')}`}`
  const held = await holdMany(count, (i) => hold(server.ports[i % server.ports.length] as number, path), () => server.ask('waiters'), server.name)
  try {
    const rssHeld = await server.ask('rss')
    const heapHeld = await server.ask('heap')
    const sentAt = performance.now()
    await send(server.url)
    const answers = await Promise.all(held.map((h) => h.answered))
    const empty = answers.filter((a) => (JSON.parse(a.body) as { count: number }).count === 0).length
    if (empty > 0) throw new Error(`${server.name}: ${empty} of ${count} long polls were answered without the new message`)
    return {
      delayMs: Math.max(...answers.map((a) => a.at)) - sentAt,
      rssBytes: rssHeld - rssBefore,
      heapBytes: heapHeld - heapBefore,
    }
  } finally {
    for (const h of held) h.socket.destroy()
  }
}

/**
 * Until a send to the first process wakes a long poll held on every one of
 * them: each process subscribes to Redis's feed in the background, a moment
 * after its store answers. Tries a few times (bounded), each poll waiting 2 s.
 */
export const whenFeedUp = async (server: RunningServer): Promise<void> => {
  for (let attempt = 1; ; attempt++) {
    const head = (await send(server.url)).auto_reply.id
    const held = await Promise.all(server.ports.map((port) => hold(port, `/api/messages?after=${head}&wait=2`)))
    await until(async () => (await server.ask('waiters')) >= held.length, `${server.name} to hold its feed probes`)
    await send(server.url)
    const answers = await Promise.all(held.map((h) => h.answered))
    if (answers.every((a) => (JSON.parse(a.body) as { count: number }).count > 0)) return
    if (attempt === 5) throw new Error(`${server.name}: a send to one process does not wake long polls on the others`)
  }
}

/** The same server with another process's CPU time added to its own (Redis's, for ours on Redis): what a request costs the machine. */
export const withCpuOf = (server: RunningServer, cpuMicros: () => number): RunningServer => ({
  ...server,
  ask: async (what) => (await server.ask(what)) + (what === 'cpu' ? cpuMicros() : 0),
})
