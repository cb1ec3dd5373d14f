import { execFileSync, fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
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

export type ServerName = 'ours' | 'minimal Koa' | 'node:http' | 'ours, key and limits'
export const SERVER_NAMES: ReadonlyArray<ServerName> = ['ours', 'minimal Koa', 'node:http']
/** Ours with an API key required and both rate limits on (set too high to refuse the load): what keys and limits cost a send. */
export const GUARDED: ServerName = 'ours, key and limits'
const FILES: Record<ServerName, string> = { ours: 'ours.js', 'minimal Koa': 'minimal-koa.js', 'node:http': 'node-http.js', [GUARDED]: 'ours.js' }
/** The key the guarded server takes, and the configuration it runs with. */
export const BENCH_KEY = 'bench-key-0123456789abcdef'
const GUARDED_ENV = { BENCH_API_KEYS: `bench:${BENCH_KEY}`, BENCH_PLAYER_RATE_LIMIT: '100000000/1s', BENCH_CLIENT_RATE_LIMIT: '100000000/1s' }
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
  readonly url: string
  readonly port: number
  readonly ask: (what: Question['ask']) => Promise<number>
  readonly stop: () => Promise<void>
}

/** Starts one server under test (built by buildServers) in a child process of its own and resolves once it listens. */
export const startServer = (name: ServerName, extraFlags: ReadonlyArray<string> = []): Promise<RunningServer> =>
  new Promise((resolve, reject) => {
    const child: ChildProcess = fork(join(BUILD, FILES[name]), [], {
      // --expose-gc lets the server collect before it reports its memory.
      execArgv: ['--expose-gc', ...START_FLAGS, ...extraFlags],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...(name === GUARDED ? GUARDED_ENV : {}) },
    })
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
  const result = await autocannon({
    url: isSend ? `${server.url}/api/send` : `${server.url}/api/messages?limit=50`,
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

/** A raw HTTP/1.1 request on its own socket: far lighter for the client than http.request, so the client's cost stays small. */
const hold = (port: number, path: string): Promise<{ socket: Socket; answered: Promise<{ at: number; count: number }> }> =>
  new Promise((connected, failed) => {
    const socket = connect({ port, host: '127.0.0.1' })
    let text = ''
    const answered = new Promise<{ at: number; count: number }>((resolve, reject) => {
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
        resolve({ at, count: (JSON.parse(body) as { count: number }).count })
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

const until = async (condition: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> => {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}

/** Connections opened at once: well under the listen backlog (511 by default), so none is dropped and retried a second later. */
const CONNECT_WAVE = 250

/**
 * Opens `count` long polls, waits until the server holds every one, sends
 * once and times the last answer; also what the held polls cost the server
 * in memory.
 */
export const longPolls = async (server: RunningServer, count: number): Promise<PollResult> => {
  const head = (await send(server.url)).auto_reply.id
  await until(async () => (await server.ask('waiters')) === 0, `${server.name} to hold no long polls before the test`)
  const rssBefore = await server.ask('rss')
  const heapBefore = await server.ask('heap')
  const held: Array<Awaited<ReturnType<typeof hold>>> = []
  try {
    for (let opened = 0; opened < count; opened += CONNECT_WAVE) {
      const wave = Math.min(CONNECT_WAVE, count - opened)
      held.push(...(await Promise.all(Array.from({ length: wave }, () => hold(server.port, `/api/messages?after=${head}&wait=25`)))))
      // The kernel completes a connection before the server accepts it: wait for the server itself, or its accept queue overflows.
      await until(async () => (await server.ask('waiters')) >= opened + wave, `${server.name} to hold ${opened + wave} long polls`)
    }
    const rssHeld = await server.ask('rss')
    const heapHeld = await server.ask('heap')
    const sentAt = performance.now()
    await send(server.url)
    const answers = await Promise.all(held.map((h) => h.answered))
    const empty = answers.filter((a) => a.count === 0).length
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
