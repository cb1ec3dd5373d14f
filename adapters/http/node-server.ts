import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { answerClientError } from './raw-response'

/*
 * What node:http decides on its own, before any request listener runs, made
 * to answer in JSON like everything else and bounded in time: requests that
 * expect something other than 100-continue, CONNECT, bytes that are not
 * HTTP, and clients that send their request too slowly or not at all.
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

/** What `npm start` uses unless configured otherwise (see adapters/config.ts). */
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
  server.on('clientError', answerClientError)
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    answerRaw(res, 417, `the Expect header ${JSON.stringify(req.headers.expect)} is not supported; only 100-continue is`)
  })
  // Asked before the body is sent: a body too large is refused without the client sending a byte of it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (Number(req.headers['content-length'] ?? 0) > bodyLimit)
      return answerRaw(res, 413, `the request body is larger than ${Math.floor(bodyLimit / 1024)} KiB`)
    res.writeContinue()
    server.emit('request', req, res)
  })
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => socket.destroy())
    const body = JSON.stringify({ success: false, error: 'CONNECT is not supported: this is not a proxy' })
    socket.end(
      `HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST, OPTIONS\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    )
  })
}

/** A refusal written before any listener saw the request; the connection closes after it, as the body was never read. */
const answerRaw = (res: ServerResponse, status: number, error: string): void => {
  const body = JSON.stringify({ success: false, error })
  res.shouldKeepAlive = false
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
  })
  res.end(body)
}
