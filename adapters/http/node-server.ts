import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { problemOf, REASONS, refusalJson, type EdgeRefusal } from './problems'

/*
 * What node:http decides on its own, before any request listener runs, made
 * to answer in JSON like everything else and bounded in time: bytes that are
 * not HTTP, requests that expect something other than 100-continue, a body
 * announced as too large, CONNECT, and clients that send their request too
 * slowly or not at all.
 */

export type ServerTimeouts = {
  /** The request line and headers must arrive within this. */
  readonly headersMs: number
  /** The whole request, body included, must arrive within this. */
  readonly requestMs: number
  /** A connection with a request under way is closed after this long without a byte moving. */
  readonly idleMs: number
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveMs: number
}

export type ServerOptions = {
  /** The server's timeouts; DEFAULT_TIMEOUTS by default. */
  readonly timeouts?: ServerTimeouts
  /**
   * A body announced as larger than this is refused before the client sends
   * it (see `checkContinue`): the app's own limit, 64 KiB by default (pass
   * `bodyLimitFor(maxMessageLength)` when the app allows longer messages).
   */
  readonly bodyLimit?: number
}

/** What `npm start` uses unless configured otherwise (see the configuration). */
export const DEFAULT_TIMEOUTS: ServerTimeouts = { headersMs: 10_000, requestMs: 30_000, idleMs: 30_000, keepAliveMs: 65_000 }

const DEFAULT_BODY_LIMIT = 64 * 1024

/** node checks the header and request timeouts on this period; its default, 30 s, would let them overrun by as much. */
const TIMEOUT_CHECK_MS = 1_000

/** A node:http server for `listener`, with every guard of `guardServer`. */
export const createGuardedServer = (listener: RequestListener, options: ServerOptions = {}): Server => {
  // The Host header is checked by the listener, which answers its absence in JSON (node would answer a bare 400).
  const server = createServer({ requireHostHeader: false, connectionsCheckingInterval: TIMEOUT_CHECK_MS }, listener)
  guardServer(server, options)
  return server
}

/**
 * Sets the timeouts and answers, in JSON, what node would otherwise answer
 * bare or not at all. For a server of your own built with
 * `http.createServer(createRequestListener(deps))`.
 */
export const guardServer = (server: Server, options: ServerOptions = {}): void => {
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS
  const bodyLimit = options.bodyLimit ?? DEFAULT_BODY_LIMIT
  server.headersTimeout = timeouts.headersMs
  server.requestTimeout = timeouts.requestMs
  server.timeout = timeouts.idleMs
  server.keepAliveTimeout = timeouts.keepAliveMs

  // The response each connection is answering now, so that bytes node cannot parse are never answered in the middle of it.
  const answering = new WeakMap<Socket, ServerResponse>()
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => answering.set(req.socket, res))

  server.on('clientError', (err: Error & { code?: string }, socket: Duplex) => {
    const current = answering.get(socket as Socket)
    // A reset connection, or one that can no longer be written to, has no one to answer; nor has one whose answer has begun.
    if (err.code === 'ECONNRESET' || !socket.writable || (current !== undefined && current.headersSent && !current.writableFinished)) return void socket.destroy()
    answerOnSocket(socket, { _tag: 'NotHttp', reason: reasonOf(err.code) })
  })
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    answerBeforeListener(res, { _tag: 'ExpectationFailed', expect: String(req.headers.expect) })
  })
  // Asked before the body is sent: a body too large is refused without the client sending a byte of it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (Number(req.headers['content-length'] ?? 0) > bodyLimit) return answerBeforeListener(res, { _tag: 'BodyTooLarge', limit: bodyLimit })
    res.writeContinue()
    server.emit('request', req, res)
  })
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy())
    answerOnSocket(socket, { _tag: 'NotAProxy' })
  })
}

const reasonOf = (code: string | undefined): Extract<EdgeRefusal, { _tag: 'NotHttp' }>['reason'] => {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return 'headers-too-large'
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return 'headers-timeout'
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return 'request-timeout'
    case 'HPE_INVALID_EOF_STATE':
      return 'cut-short'
    default:
      return 'malformed'
  }
}

/** A refusal written on the bare socket: there is no request or response object, and the connection closes after it. */
const answerOnSocket = (socket: Duplex, refusal: EdgeRefusal): void => {
  const problem = problemOf(refusal)
  const body = refusalJson(problem)
  let head = `HTTP/1.1 ${problem.status} ${REASONS[problem.status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\n`
  const extra = problem.headers ?? []
  for (let i = 0; i + 1 < extra.length; i += 2) head += `${extra[i]}: ${extra[i + 1]}\r\n`
  socket.end(`${head}Connection: close\r\n\r\n${body}`)
}

/** A refusal written before the listener saw the request; the connection closes after it, as the body was never read. */
const answerBeforeListener = (res: ServerResponse, refusal: EdgeRefusal): void => {
  const problem = problemOf(refusal)
  const body = refusalJson(problem)
  res.shouldKeepAlive = false
  res.writeHead(problem.status, [
    'Content-Type',
    'application/json; charset=utf-8',
    'Content-Length',
    String(Buffer.byteLength(body)),
    'X-Content-Type-Options',
    'nosniff',
    ...(problem.headers ?? []),
  ])
  res.end(body)
}
