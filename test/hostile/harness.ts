import { expect } from 'chai'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { randomUUID } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { DEFAULTS } from '../../composition/config'

/*
 * The harness of the hostile-client suite: the real server as a child
 * process (`main.ts` through tsx, as `npm start` runs it), raw sockets that
 * misbehave on purpose, and the checks every scenario ends with: the process
 * is alive and answers, wrote no crash to stderr, and its resident memory is
 * back near where it started.
 *
 * Waiting is on events (a socket's bytes, its close, the process's output),
 * each under a deadline that fails the test. The one exception is what only
 * the kernel knows: whether the server has let go of a connection whose
 * client is not reading (a FIN queued behind unread bytes never reaches such
 * a client), or has read a request off the wire. For those the harness asks
 * `ss` every few tens of milliseconds until the condition holds or the
 * deadline passes: waiting for a condition, not for a length of time.
 */

const ROOT = join(__dirname, '..', '..')
const MAIN = join(ROOT, 'main.ts')

/** The short timeouts every hostile process runs with, so that the bounds are seconds, not minutes. */
export const SECONDS = {
  HEADERS_TIMEOUT: 2,
  REQUEST_TIMEOUT: 3,
  IDLE_TIMEOUT: 3,
  STREAM_HEARTBEAT: 1,
  KEEP_ALIVE_TIMEOUT: 2,
} as const

export const FAST_TIMEOUTS: Record<string, string> = {
  HEADERS_TIMEOUT_SECONDS: String(SECONDS.HEADERS_TIMEOUT),
  REQUEST_TIMEOUT_SECONDS: String(SECONDS.REQUEST_TIMEOUT),
  IDLE_TIMEOUT_SECONDS: String(SECONDS.IDLE_TIMEOUT),
  STREAM_HEARTBEAT_SECONDS: String(SECONDS.STREAM_HEARTBEAT),
  KEEP_ALIVE_TIMEOUT_SECONDS: String(SECONDS.KEEP_ALIVE_TIMEOUT),
}

/**
 * Slack over a timeout bound: node checks header and request timeouts on an
 * interval (about once a second when configured as intended), and a busy
 * 2-core machine adds scheduling delay on both processes. Still far below
 * node's own defaults (60 s headers, 300 s request, 30 s check interval),
 * so a server without the bounds cannot pass.
 */
export const SLACK_MS = 3_000

/**
 * How far resident memory may stand above its baseline once a scenario's
 * connections are closed. V8 does not hand freed heap pages back at once
 * (the old generation shrinks only after a major GC, and glibc's malloc keeps
 * freed arenas for reuse), so a process that served tens of MB of writes
 * legitimately reads some tens of MB higher for a while. 64 MB covers that
 * slack with room, and is still below what the scenarios would leave behind
 * if a queue grew without bound or every connection leaked its buffers
 * (a 24 MB backlog kept per non-reading reader, thousands of polls' state).
 */
export const RSS_MARGIN_KIB = 64 * 1024

/** Text in stderr that means the process failed: a write after end, an uncaught exception, a stack trace, a logged 500. */
const CRASH_TEXT = /ERR_STREAM_WRITE_AFTER_END|uncaught|unhandled|unexpected failure|^\s+at\s\S/im

export type Exit = { readonly code: number | null; readonly signal: NodeJS.Signals | null }

export type ServerProcess = {
  readonly child: ChildProcess
  readonly pid: number
  readonly port: number
  /** The address clients connect to. */
  readonly host: string
  readonly base: string
  /** Keep-alive connections for the sends a scenario makes (it honours the server's Keep-Alive hint). */
  readonly agent: Agent
  readonly output: { stdout: string; stderr: string }
  /** Set once the process has exited. */
  exit: Exit | undefined
  readonly exited: Promise<Exit>
  readonly stop: () => Promise<void>
}

/**
 * Every server process started and not yet exited. Killed when this process
 * exits, however it exits: a root hook that throws (the OpenAPI check of the
 * answers, say) skips the hooks after it, and the shared servers would
 * otherwise outlive the run.
 */
const living = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of living) child.kill('SIGKILL')
})

/**
 * Starts `main.ts` as `npm start` would (same young-generation flags, so memory
 * reads as in production), with PORT=0 and the given variables on top of the
 * short timeouts, and resolves once it prints its address.
 */
export const startServer = async (env: Record<string, string> = {}): Promise<ServerProcess> => {
  const base = { ...process.env }
  for (const name of Object.keys(DEFAULTS)) delete base[name]
  const child = spawn(
    process.execPath,
    ['--min-semi-space-size=16', '--max-semi-space-size=16', '--import', 'tsx', MAIN],
    { cwd: ROOT, env: { ...base, HOST: '127.0.0.1', ...FAST_TIMEOUTS, ...env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  living.add(child)
  child.once('exit', () => living.delete(child))
  const output = { stdout: '', stderr: '' }
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output.stdout += chunk))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output.stderr += chunk))
  const holder: { exit: Exit | undefined } = { exit: undefined }
  const exited = new Promise<Exit>((resolve) =>
    child.once('exit', (code, signal) => {
      holder.exit = { code, signal }
      resolve(holder.exit)
    }),
  )
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server printed no address within 20 s: ${output.stdout} ${output.stderr}`)), 20_000)
    const check = () => {
      const found = output.stdout.split('\n').find((l) => /listening on http:\/\//.test(l))
      if (found === undefined) return
      clearTimeout(timer)
      child.stdout?.off('data', check)
      resolve(found)
    }
    child.stdout?.on('data', check)
    void exited.then((exit) => {
      clearTimeout(timer)
      reject(new Error(`the server exited (${exit.code ?? exit.signal}) before listening: ${output.stderr}`))
    })
  })
  const match = /listening on http:\/\/(\[[^\]]+\]|[^:]+):(\d+)/.exec(line)
  if (match === null) throw new Error(`no address in ${line}`)
  const listenHost = (match[1] as string).replace(/^\[|\]$/g, '')
  const host = listenHost === '0.0.0.0' || listenHost === '::' ? '127.0.0.1' : listenHost
  const port = Number(match[2])
  const agent = new Agent({ keepAlive: true, maxSockets: 8 })
  const server: ServerProcess = {
    child,
    agent,
    pid: child.pid as number,
    port,
    host,
    base: `http://${host}:${port}`,
    output,
    get exit() {
      return holder.exit
    },
    set exit(value) {
      holder.exit = value
    },
    exited,
    stop: async () => {
      agent.destroy()
      if (holder.exit !== undefined) return
      child.kill('SIGKILL')
      await exited
    },
  }
  return server
}

/** Resident memory of a process, in KiB, from /proc/<pid>/status. */
export const rssKiB = (pid: number): number => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const line = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)
  if (line === null) throw new Error(`no VmRSS for ${pid}`)
  return Number(line[1])
}

/** The soft limit on open files of a process, from /proc/<pid>/limits (Infinity when unlimited). */
export const openFilesLimit = (pid: number | 'self'): number => {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8')
  const line = /^Max open files\s+(\S+)/m.exec(limits)
  if (line === null) return Number.POSITIVE_INFINITY
  return line[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(line[1])
}

/** Rejects with `what` when `promise` has not settled within `ms`. */
export const within = <T>(ms: number, what: string, promise: Promise<T>): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err instanceof Error ? err : new Error(String(err)))
      },
    )
  })

/** Re-checks `condition` every `everyMs` until it holds; rejects naming `what` after `ms`. For state only the kernel shows. */
export const whenTrue = (ms: number, what: string, condition: () => boolean, everyMs = 40): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    const began = Date.now()
    const check = () => {
      let held: boolean
      try {
        held = condition()
      } catch (err) {
        return reject(err instanceof Error ? err : new Error(String(err)))
      }
      if (held) return resolve()
      if (Date.now() - began > ms) return reject(new Error(`${what}: not within ${ms} ms`))
      setTimeout(check, everyMs)
    }
    check()
  })

// ---------------------------------------------------------------------------------------------
// The kernel's view of connections, from `ss` (iproute2). The kernel filters
// by port, so a look costs milliseconds even on a host with tens of thousands
// of sockets (reading /proc/net/tcp there took up to a second, though it
// serves where `ss` is missing).

export type TcpRow = { readonly state: string; readonly sendQ: number; readonly recvQ: number; readonly inode: number }

let ssMissing = false

/** Every TCP socket, other than TIME-WAIT ones, whose local or remote port is the server's, keyed by "local peer". */
export const tcpTable = (server: ServerProcess): Map<string, TcpRow> => {
  if (ssMissing) return procTcpTable(server.port)
  let out: string
  try {
    out = execFileSync('ss', ['-tneH', 'state', 'all', 'exclude', 'time-wait', `( sport = :${server.port} or dport = :${server.port} )`], {
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    })
  } catch (err) {
    if ((err as { code?: string }).code !== 'ENOENT') throw err
    ssMissing = true
    return procTcpTable(server.port)
  }
  const rows = new Map<string, TcpRow>()
  for (const line of out.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 5) continue
    const inode = /\bino:(\d+)/.exec(line)
    rows.set(`${fields[3]} ${fields[4]}`, {
      state: fields[0] as string,
      recvQ: Number(fields[1]),
      sendQ: Number(fields[2]),
      inode: inode === null ? 0 : Number(inode[1]),
    })
  }
  return rows
}

/** The states /proc/net/tcp numbers, named as `ss` names them. */
const TCP_STATES: Readonly<Record<number, string>> = {
  1: 'ESTAB', 2: 'SYN-SENT', 3: 'SYN-RECV', 4: 'FIN-WAIT-1', 5: 'FIN-WAIT-2', 6: 'TIME-WAIT',
  7: 'UNCONN', 8: 'CLOSE-WAIT', 9: 'LAST-ACK', 10: 'LISTEN', 11: 'CLOSING',
}

const fromHex = (address: string): string => {
  const [ip, port] = address.split(':') as [string, string]
  const octets = [0, 2, 4, 6].map((i) => parseInt(ip.slice(i, i + 2), 16)).reverse()
  return `${octets.join('.')}:${parseInt(port, 16)}`
}

/** The same table from /proc/net/tcp, where `ss` is not installed (slower on a host with many sockets). */
const procTcpTable = (port: number): Map<string, TcpRow> => {
  const rows = new Map<string, TcpRow>()
  const lines = readFileSync('/proc/net/tcp', 'utf8').split('\n')
  for (let i = 1; i < lines.length; i++) {
    const fields = (lines[i] as string).trim().split(/\s+/)
    if (fields.length < 10) continue
    const local = fromHex(fields[1] as string)
    const peer = fromHex(fields[2] as string)
    if (!local.endsWith(`:${port}`) && !peer.endsWith(`:${port}`)) continue
    const state = TCP_STATES[parseInt(fields[3] as string, 16)] ?? 'UNKNOWN'
    if (state === 'TIME-WAIT') continue
    const [tx, rx] = (fields[4] as string).split(':') as [string, string]
    rows.set(`${local} ${peer}`, { state, sendQ: parseInt(tx, 16), recvQ: parseInt(rx, 16), inode: Number(fields[9]) })
  }
  return rows
}

/** The server's end of a client socket: local is the server's address, remote the client's. */
export const serverSideKey = (socket: Socket, server: ServerProcess): string =>
  `${server.host}:${server.port} ${socket.localAddress}:${socket.localPort}`

/** The client's end of a client socket. */
export const clientSideKey = (socket: Socket, server: ServerProcess): string =>
  `${socket.localAddress}:${socket.localPort} ${server.host}:${server.port}`

/**
 * Whether the server has let go of a connection: its end has been closed
 * (the socket is gone or orphaned, inode 0) or shut down for writing (past
 * ESTAB / CLOSE-WAIT: its FIN is queued).
 */
export const serverLetGo = (row: TcpRow | undefined): boolean =>
  row === undefined || row.inode === 0 || (row.state !== 'ESTAB' && row.state !== 'CLOSE-WAIT')

/** Whether the server has let go of this one connection now. */
export const letGoNow = (server: ServerProcess, conn: RawConn): boolean => serverLetGo(tcpTable(server).get(conn.serverKey))

/** Resolves once the server has let go of every one of `conns`; rejects after `ms`. */
export const awaitServerLetGo = (server: ServerProcess, conns: ReadonlyArray<RawConn>, ms: number, what: string): Promise<void> => {
  const keys = conns.map((c) => c.serverKey)
  return whenTrue(ms, what, () => {
    const table = tcpTable(server)
    return keys.every((key) => serverLetGo(table.get(key)))
  })
}

/** Resolves once the server has read every byte these clients sent (its receive queues are empty). */
export const awaitServerRead = (server: ServerProcess, conns: ReadonlyArray<RawConn>, ms: number, what: string): Promise<void> => {
  const keys = conns.map((c) => c.serverKey)
  return whenTrue(ms, what, () => {
    const table = tcpTable(server)
    return keys.every((key) => (table.get(key)?.recvQ ?? 0) === 0)
  })
}

// ---------------------------------------------------------------------------------------------
// Raw connections.

export type Answer = {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

type Parsed = { readonly answer: Answer; readonly end: number } | { readonly head: Omit<Answer, 'body'>; readonly end: undefined }

const HEAD_END = Buffer.from('\r\n\r\n')

/** Parses one HTTP/1.1 answer at `offset`: undefined while its head is incomplete; `end` undefined while its body is. */
const parseAnswer = (buf: Buffer, offset: number, noBody: boolean, closed: boolean): Parsed | undefined => {
  const headEnd = buf.indexOf(HEAD_END, offset)
  if (headEnd === -1) return undefined
  const lines = buf.subarray(offset, headEnd).toString('latin1').split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0)
  const headers: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':')
    if (colon <= 0) continue
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  const head = { status, headers }
  const bodyStart = headEnd + 4
  if (noBody || status === 204 || status === 304 || (status >= 100 && status < 200))
    return { answer: { ...head, body: '' }, end: bodyStart }
  if (headers['content-length'] !== undefined) {
    const end = bodyStart + Number(headers['content-length'])
    if (buf.length < end) return { head, end: undefined }
    return { answer: { ...head, body: buf.subarray(bodyStart, end).toString('utf8') }, end }
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = []
    let at = bodyStart
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at)
      if (lineEnd === -1) return { head, end: undefined }
      const size = parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16)
      if (Number.isNaN(size)) throw new Error(`bad chunk size at ${at}`)
      if (size === 0) {
        const trailerEnd = buf.indexOf(HEAD_END, lineEnd)
        if (trailerEnd === -1 && buf.length < lineEnd + 4) return { head, end: undefined }
        return { answer: { ...head, body: Buffer.concat(parts).toString('utf8') }, end: lineEnd + 4 }
      }
      if (buf.length < lineEnd + 2 + size + 2) return { head, end: undefined }
      parts.push(buf.subarray(lineEnd + 2, lineEnd + 2 + size))
      at = lineEnd + 2 + size + 2
    }
  }
  // No length: the body runs to the close.
  if (!closed) return { head, end: undefined }
  return { answer: { ...head, body: buf.subarray(bodyStart).toString('utf8') }, end: buf.length }
}

export type RawConnOptions = {
  readonly localAddress?: string
  /** false: the socket never reads (paused before it connects), so the kernel's buffers fill and stay full. */
  readonly read?: boolean
  /**
   * true: left out of the clean-up after each test, for a connection that
   * outlives the test that started it (it must be destroyed by its owner).
   */
  readonly unmanaged?: boolean
}

/** Every raw connection a test has opened and not yet seen closed, for the clean-up. */
const opened = new Set<RawConn>()

/**
 * A TCP connection written and read by hand. It records every byte received,
 * the 'end' and the 'close', and any error, so a test can await exactly what
 * it expects under a deadline.
 */
export class RawConn {
  readonly socket: Socket
  private chunks: Buffer[] = []
  private joined: Buffer = Buffer.alloc(0)
  private offset = 0
  bytes = 0
  ended = false
  closed = false
  /** This side destroyed the socket: a close that follows is not the server's doing. */
  destroyedHere = false
  error: (Error & { code?: string }) | undefined
  openedAt = Date.now()
  closedAt: number | undefined
  serverKey = ''
  clientKey = ''
  private readonly listeners = new Set<() => void>()

  private constructor(socket: Socket) {
    this.socket = socket
    socket.on('data', (chunk: Buffer) => {
      this.chunks.push(chunk)
      this.bytes += chunk.length
      this.notify()
    })
    socket.on('end', () => {
      this.ended = true
      this.notify()
    })
    socket.on('error', (err: Error & { code?: string }) => {
      this.error ??= err
      this.notify()
    })
    socket.on('close', () => {
      this.closed = true
      this.closedAt = Date.now()
      this.notify()
    })
  }

  static open(server: ServerProcess, options: RawConnOptions = {}): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: server.host, port: server.port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) })
      if (options.read === false) socket.pause()
      const conn = new RawConn(socket)
      if (options.unmanaged !== true) {
        opened.add(conn)
        socket.once('close', () => opened.delete(conn))
      }
      socket.once('connect', () => {
        conn.openedAt = Date.now()
        conn.serverKey = serverSideKey(socket, server)
        conn.clientKey = clientSideKey(socket, server)
        resolve(conn)
      })
      socket.once('error', (err) => {
        if (conn.serverKey === '') reject(err)
      })
    })
  }

  private notify() {
    for (const listener of [...this.listeners]) listener()
  }

  /** Everything received so far. */
  received(): Buffer {
    if (this.chunks.length > 0) {
      this.joined = Buffer.concat([this.joined, ...this.chunks])
      this.chunks = []
    }
    return this.joined
  }

  text(): string {
    return this.received().toString('utf8')
  }

  /** What was received after the answers already read with `answer`. */
  unread(): string {
    return this.received().subarray(this.offset).toString('utf8')
  }

  /** Writes and swallows a write error (recorded in `error`): a hostile client writes into closing sockets on purpose. */
  write(data: string | Buffer): boolean {
    if (this.socket.destroyed || this.socket.writableEnded) return false
    return this.socket.write(data, () => undefined)
  }

  /** Resolves when `condition` holds, checked on every event of this socket; rejects if it throws or on the deadline. */
  until(ms: number, what: string, condition: (conn: RawConn) => boolean): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const finish = (err?: Error) => {
        clearTimeout(timer)
        this.listeners.delete(check)
        if (err === undefined) resolve()
        else reject(err)
      }
      const check = () => {
        let held: boolean
        try {
          held = condition(this)
        } catch (err) {
          return finish(err instanceof Error ? err : new Error(String(err)))
        }
        if (held) finish()
      }
      const timer = setTimeout(() => finish(new Error(`${what}: not within ${ms} ms`)), ms)
      this.listeners.add(check)
      check()
    })
  }

  /** Resolves with the next whole answer (with `noBody` for a HEAD); rejects if the socket closes first or on the deadline. */
  async answer(ms: number, what: string, noBody = false): Promise<Answer> {
    let parsed: Parsed | undefined
    await this.until(ms, what, (conn) => {
      parsed = parseAnswer(conn.received(), conn.offset, noBody, conn.closed || conn.ended)
      if (parsed !== undefined && parsed.end !== undefined) return true
      if (conn.closed || conn.ended)
        throw new Error(`${what}: the connection closed first${conn.error ? ` (${conn.error.code ?? conn.error.message})` : ''}, having received ${JSON.stringify(conn.text().slice(conn.offset, conn.offset + 300))}`)
      return false
    })
    const done = parsed as { answer: Answer; end: number }
    this.offset = done.end
    return done.answer
  }

  /** Resolves with the next answer's status and headers, without waiting for its body (an event stream's never ends). */
  async head(ms: number, what: string): Promise<Omit<Answer, 'body'>> {
    let head: Omit<Answer, 'body'> | undefined
    await this.until(ms, what, (conn) => {
      const parsed = parseAnswer(conn.received(), conn.offset, false, conn.closed || conn.ended)
      if (parsed !== undefined) head = parsed.end === undefined ? parsed.head : { status: parsed.answer.status, headers: parsed.answer.headers }
      if (head !== undefined) return true
      if (conn.closed || conn.ended) throw new Error(`${what}: the connection closed before an answer's head`)
      return false
    })
    return head as Omit<Answer, 'body'>
  }

  /**
   * Resolves once the server has closed the connection (the socket ended,
   * closed or failed, not because this side destroyed it); rejects on the deadline.
   */
  awaitClose(ms: number, what: string): Promise<void> {
    return this.until(ms, what, (conn) => !conn.destroyedHere && (conn.closed || conn.ended || conn.error !== undefined))
  }

  destroy(): void {
    this.destroyedHere = true
    this.socket.destroy()
  }
}

/** Opens `count` connections, `batch` at a time (so the listen backlog never overflows into SYN retries). */
export const openMany = async (server: ServerProcess, count: number, options: RawConnOptions = {}, batch = 250): Promise<RawConn[]> => {
  const conns: RawConn[] = []
  for (let i = 0; i < count; i += batch) {
    const size = Math.min(batch, count - i)
    conns.push(...(await Promise.all(Array.from({ length: size }, () => RawConn.open(server, options)))))
  }
  return conns
}

export const getRequest = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nHost: hostile.test\r\n${extra}\r\n`

// ---------------------------------------------------------------------------------------------
// Ordinary requests, on connections of their own.

export type HttpAnswer = { readonly status: number; readonly headers: IncomingHttpHeaders; readonly text: string; readonly json: unknown }

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** One request, on a fresh connection unless an agent is given, read to the end, under a deadline. */
export const call = (
  server: ServerProcess,
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string>; ms?: number; agent?: Agent } = {},
): Promise<HttpAnswer> =>
  within(
    options.ms ?? 10_000,
    `${method} ${path}`,
    new Promise<HttpAnswer>((resolve, reject) => {
      const req = httpRequest(
        {
          host: server.host,
          port: server.port,
          method,
          path,
          agent: options.agent ?? false,
          headers: { ...(options.agent === undefined ? { connection: 'close' } : {}), ...(options.headers ?? {}) },
        },
        (res) => {
          const chunks: Buffer[] = []
          res.on('data', (chunk: Buffer) => chunks.push(chunk))
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8')
            resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parseJson(text) })
          })
          res.on('error', reject)
        },
      )
      req.on('error', reject)
      req.end(options.body)
    }),
  )

export type Sent = { readonly id: number }

/**
 * Sends one message over the keep-alive agent and resolves with its stored id;
 * fails the test on any other answer. A kept-alive connection the server closes
 * just as a request goes out is retried with the same Idempotency-Key, which
 * stores nothing twice.
 */
export const sendMessage = async (
  server: ServerProcess,
  message: { player_name: string; message: string; channel?: string },
): Promise<Sent> => {
  const options = {
    body: JSON.stringify(message),
    headers: { 'content-type': 'application/json', 'idempotency-key': randomUUID() },
    agent: server.agent,
  }
  let answer: HttpAnswer
  for (let attempt = 1; ; attempt++) {
    try {
      answer = await call(server, 'POST', '/api/send', options)
      break
    } catch (err) {
      const code = (err as { code?: string }).code
      if (attempt >= 3 || (code !== 'ECONNRESET' && code !== 'EPIPE')) throw err
    }
  }
  expect(answer.status, `a send answered ${answer.status}: ${answer.text.slice(0, 300)}`).to.equal(200)
  return { id: (answer.json as { message: { id: number } }).message.id }
}

/** Sends `count` messages, `parallel` at a time. */
export const sendMany = async (
  server: ServerProcess,
  count: number,
  make: (i: number) => { player_name: string; message: string; channel?: string },
  parallel = 8,
): Promise<Sent[]> => {
  const sent: Sent[] = []
  for (let i = 0; i < count; i += parallel) {
    const batch = Array.from({ length: Math.min(parallel, count - i) }, (_, j) => sendMessage(server, make(i + j)))
    sent.push(...(await Promise.all(batch)))
  }
  return sent
}

/** The cursor after everything stored in a channel now. */
export const newestCursor = async (server: ServerProcess, channel = 'global'): Promise<number> => {
  const answer = await call(server, 'GET', `/api/messages?limit=1&channel=${channel}`)
  expect(answer.status).to.equal(200)
  return (answer.json as { next_after: number }).next_after
}

// ---------------------------------------------------------------------------------------------
// The checks.

/**
 * The answer is the API's refusal: the status, a JSON body
 * `{ "success": false, "error": "<text>" }` whose text matches `names`.
 */
export const expectRefusal = (answer: { status: number; headers: Record<string, unknown>; body?: string; text?: string }, status: number, names: RegExp): { error: string } => {
  const body = answer.body ?? answer.text ?? ''
  expect(answer.status, `status, with body ${body.slice(0, 300)}`).to.equal(status)
  expect(String(answer.headers['content-type']), 'a JSON refusal').to.match(/^application\/json/)
  const json = parseJson(body) as { success?: unknown; error?: unknown } | undefined
  expect(json, `the body is JSON: ${body.slice(0, 300)}`).to.be.an('object')
  expect(json).to.have.property('success', false)
  expect(json?.error, 'the refusal names what is wrong').to.be.a('string').and.match(names)
  return { error: json?.error as string }
}

/** A Retry-After of whole seconds, at least 1. */
export const expectRetryAfter = (headers: Record<string, unknown>): void => {
  const value = String(headers['retry-after'] ?? '')
  expect(value, 'Retry-After').to.match(/^[1-9][0-9]*$/)
}

/** An error its log reported (pino's JSON lines on stdout, level 50 error and 60 fatal), or crash text on stderr; undefined for none. */
const failureIn = (output: ServerProcess['output']): string | undefined => {
  if (CRASH_TEXT.test(output.stderr)) return `stderr:\n${output.stderr.slice(0, 4000)}`
  const logged = output.stdout.split('\n').find((line) => /^\{"level":[56]0,/.test(line))
  return logged === undefined ? undefined : `its log:\n${logged.slice(0, 4000)}`
}

/** Fails when the process wrote crash text to stderr or logged an error. */
export const expectNoCrashText = (server: ServerProcess): void => {
  const failure = failureIn(server.output)
  expect(failure, `the server shows a failure in ${failure}`).to.equal(undefined)
}

/**
 * Why a connection ended early, for a failure message: waits (at most `ms`)
 * for the process's exit, which may arrive a moment after its sockets close.
 */
export const exitNote = async (server: ServerProcess, ms = 1_000): Promise<string> => {
  const exit = await within(ms, 'exit', server.exited).catch(() => undefined)
  return exit === undefined
    ? 'the server process is still running'
    : `the server process EXITED (code ${exit.code}, signal ${exit.signal}); stderr:\n${server.output.stderr.slice(0, 1500)}`
}

/** The process has not exited; if it has, say how, with its stderr. */
export const expectAlive = (server: ServerProcess): void => {
  const exit = server.exit
  expect(
    exit,
    exit === undefined ? '' : `the server exited (code ${exit.code}, signal ${exit.signal}); stderr:\n${server.output.stderr.slice(0, 4000)}`,
  ).to.equal(undefined)
}

/**
 * What every scenario ends with, once its misbehaving connections are closed:
 * the process is alive, answers GET /api with 200 JSON, wrote no crash text,
 * and its memory is within RSS_MARGIN_KIB of `baselineKiB`.
 */
export const expectSurvived = async (server: ServerProcess, baselineKiB: number): Promise<void> => {
  expectAlive(server)
  const status = await call(server, 'GET', '/api', { ms: 5_000 }).catch(async (err: Error) =>
    expect.fail(`GET /api failed (${err.message}); ${await exitNote(server)}`),
  )
  expect(status.status, 'GET /api').to.equal(200)
  expect(String(status.headers['content-type'])).to.match(/^application\/json/)
  expect(status.json).to.deep.include({ success: true })
  expectNoCrashText(server)
  expectAlive(server)
  const rss = rssKiB(server.pid)
  expect(
    rss,
    `resident memory ${Math.round(rss / 1024)} MB against a baseline of ${Math.round(baselineKiB / 1024)} MB (margin ${RSS_MARGIN_KIB / 1024} MB)`,
  ).to.be.at.most(baselineKiB + RSS_MARGIN_KIB)
}

/** A baseline for the memory check: the process after a few ordinary requests. */
export const warmBaseline = async (server: ServerProcess): Promise<number> => {
  for (let i = 0; i < 3; i++) await call(server, 'GET', '/api')
  return rssKiB(server.pid)
}

/** The variables of the shared processes, on top of the short timeouts. */
export const PROFILES = {
  /**
   * Long messages (to build a backlog of many MB) without automatic replies,
   * stream caps high enough for a hundred streams from one address, the
   * default long-poll cap (6,000).
   */
  main: { AUTO_REPLY: '', MAX_MESSAGE_LENGTH: '60000', MAX_STREAMS: '2000', MAX_STREAMS_PER_ADDRESS: '400' },
  /** As `main`, but a stream that stops reading can only be dropped by the 256 KiB rule within the test: the idle timeout is 30 s. */
  patient: { AUTO_REPLY: '', MAX_MESSAGE_LENGTH: '60000', IDLE_TIMEOUT_SECONDS: '30' },
  /**
   * For the flood of thousands of long polls: the default header and request timeouts, so that a
   * loaded machine parsing thousands of requests at once is not mistaken for slow clients.
   */
  flood: { AUTO_REPLY: '', HEADERS_TIMEOUT_SECONDS: '10', REQUEST_TIMEOUT_SECONDS: '30', IDLE_TIMEOUT_SECONDS: '30' },
  /** Small caps, to reach them: 3 streams per address, 6 in all, 200 held long polls; the default message length and body limit. */
  capped: { AUTO_REPLY: '', MAX_STREAMS: '6', MAX_STREAMS_PER_ADDRESS: '3', MAX_LONG_POLLS: '200' },
} as const satisfies Record<string, Record<string, string>>

/**
 * The server processes of the suite, shared: one per profile (a set of
 * variables), started on first use and stopped after the whole run, so the
 * suite pays tsx's start-up a few times rather than once per test. A test
 * that leaves the process dead or crash text in its stderr gets it replaced
 * before the next test, so one failure never explains another.
 */
const shared = new Map<string, ServerProcess>()

export type Shared = {
  /** The running process of this profile. */
  readonly server: () => ServerProcess
  /** Its resident memory when the current test began, after a few ordinary requests. */
  readonly baseline: () => number
}

export const useServer = (profile: keyof typeof PROFILES): Shared => {
  const env: Record<string, string> = PROFILES[profile]
  let baselineKiB = 0
  beforeEach(async function () {
    this.timeout(40_000)
    let server = shared.get(profile)
    const tainted = server !== undefined && (server.exit !== undefined || failureIn(server.output) !== undefined)
    if (server === undefined || tainted) {
      await server?.stop()
      server = await startServer(env)
      shared.set(profile, server)
    }
    try {
      baselineKiB = await warmBaseline(server)
    } catch {
      // Dying, though its exit had not been seen yet when the last test ended: a fresh one.
      await server.stop()
      server = await startServer(env)
      shared.set(profile, server)
      baselineKiB = await warmBaseline(server)
    }
  })
  afterEach(function () {
    // Whatever a test left open (a failed one especially) is closed before the next begins.
    for (const conn of [...opened]) conn.destroy()
    opened.clear()
    const server = shared.get(profile)
    if (this.currentTest?.state === 'failed' && server !== undefined && server.output.stderr.trim() !== '')
      console.log(`      [server stderr, last 3000 characters]\n${server.output.stderr.slice(-3000)}`)
  })
  return {
    server: () => {
      const server = shared.get(profile)
      if (server === undefined) throw new Error(`no server for ${profile}`)
      return server
    },
    baseline: () => baselineKiB,
  }
}

// Stops every shared process once the whole run is over (a root hook: this module is loaded at the top of a test file).
// (Guarded so the harness can also be loaded outside mocha, to probe a server by hand.)
if (typeof after === 'function')
  after(async () => {
    for (const server of shared.values()) await server.stop()
    shared.clear()
  })

/**
 * The end of every scenario: close every connection the test opened, wait
 * until the server has let go of them too, then check the process survived
 * with its memory near the baseline.
 */
export const finish = async (server: ServerProcess, baselineKiB: number): Promise<void> => {
  const conns = [...opened]
  for (const conn of conns) conn.destroy()
  await awaitServerLetGo(server, conns.filter((c) => c.serverKey !== ''), 5_000, 'the server closes the connections its clients closed')
  await expectSurvived(server, baselineKiB)
}

/** Closes every connection from the client side. */
export const destroyAll = (conns: ReadonlyArray<RawConn>): void => {
  for (const conn of conns) conn.destroy()
}

// ---------------------------------------------------------------------------------------------
// Event streams on raw connections.

/** Comment lines (heartbeats) received so far on a raw event stream. */
export const commentLines = (conn: RawConn): number => (conn.text().match(/(?:^|\n):/g) ?? []).length

/** Opens `GET path` as an event stream and waits for its 200 and `event: ready`. */
export const openStream = async (server: ServerProcess, path: string, options: RawConnOptions = {}): Promise<RawConn> => {
  const conn = await RawConn.open(server, options)
  conn.write(getRequest(path, 'Accept: text/event-stream\r\n'))
  const head = await conn.head(5_000, `the answer to GET ${path}`)
  expect(head.status, `GET ${path}: ${conn.text().slice(0, 300)}`).to.equal(200)
  await conn.until(5_000, `event: ready on ${path}`, (c) => c.text().includes('event: ready'))
  return conn
}

/**
 * Waits for `count` heartbeats on a fresh quiet stream: proof that the heartbeat
 * timer has ticked that often since, over every stream still registered.
 */
export const awaitHeartbeats = async (server: ServerProcess, count: number, channel = 'heartbeat-probe'): Promise<void> => {
  const probe = await openStream(server, `/api/stream?channel=${channel}`)
  const before = commentLines(probe)
  await probe.until(
    count * SECONDS.STREAM_HEARTBEAT * 1000 + SLACK_MS,
    `${count} heartbeats (STREAM_HEARTBEAT_SECONDS=${SECONDS.STREAM_HEARTBEAT}) on a quiet stream`,
    (c) => commentLines(c) >= before + count,
  )
  probe.destroy()
}

/**
 * A long text of ordinary characters whose JSON is larger than itself: each
 * `"` is escaped to two bytes. 52,200 characters, about 63.8 KB as JSON, so
 * a send's body stays under the 64 KiB limit and each event is ~64 KB.
 */
export const LONG_TEXT = '"quoted" '.repeat(5800)
