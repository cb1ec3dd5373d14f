import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { problemOf, type Refusal } from './problems'

/*
 * Answers written on node:http's own response, for the requests served below
 * Koa (held long polls and sends, see long-poll.ts and send.ts). They carry
 * the headers Koa and @koa/cors would have set, so a client cannot tell which
 * way a request went: a test compares them, header for header, with Koa's.
 */

export type RawResponseDeps = {
  readonly corsOrigins: '*' | ReadonlyArray<string>
  /** Once aborted, every answer closes its connection so the server can finish closing. */
  readonly shutdown?: AbortSignal
  readonly logError: (message: string, detail?: unknown) => void
}

/** The headers @koa/cors exposes to pages; raw answers expose the same. */
export const EXPOSED_HEADERS = ['Idempotent-Replayed', 'Retry-After'] as const
const EXPOSED = EXPOSED_HEADERS.join(',')

const JSON_TYPE = 'application/json; charset=utf-8'

export const INTERNAL_ERROR = 'internal server error; the details are in the server log'

/** The Access-Control-Allow-Origin a request from `requestOrigin` gets, as @koa/cors decides it; undefined for none. */
const allowedOrigin = (origins: '*' | ReadonlyArray<string>, requestOrigin: string | undefined): string | undefined => {
  if (origins === '*') return '*'
  return requestOrigin !== undefined && origins.includes(requestOrigin) ? requestOrigin : undefined
}

export type RawResponses = {
  /** Writes `json` with the status and, as a flat list of names and values, any further headers. */
  readonly answer: (req: IncomingMessage, res: ServerResponse, status: number, json: string, headers?: ReadonlyArray<string>) => void
  /** `{ success: false, error }` with the status. */
  readonly refuse: (req: IncomingMessage, res: ServerResponse, status: number, error: string, headers?: ReadonlyArray<string>) => void
  /** A use case's error or the edge's refusal, through the one mapping in problems.ts. */
  readonly answerError: (req: IncomingMessage, res: ServerResponse, error: Refusal) => void
  /** Something thrown: logged with its details, answered with a generic 500. */
  readonly answerFailure: (req: IncomingMessage, res: ServerResponse, thrown: unknown) => void
}

export const rawResponses = (deps: RawResponseDeps): RawResponses => {
  const answer: RawResponses['answer'] = (req, res, status, json, extra) => {
    if (res.destroyed || res.headersSent) return
    if (deps.shutdown?.aborted) res.shouldKeepAlive = false
    // A flat list, built without spreads: thousands of these are written at once when a message wakes the held polls.
    const headers: string[] = ['Content-Type', JSON_TYPE, 'Content-Length', String(Buffer.byteLength(json)), 'X-Content-Type-Options', 'nosniff', 'Vary', 'Origin']
    const origin = allowedOrigin(deps.corsOrigins, req.headers.origin)
    if (origin !== undefined) headers.push('Access-Control-Allow-Origin', origin, 'Access-Control-Expose-Headers', EXPOSED)
    if (extra !== undefined) for (const item of extra) headers.push(item)
    res.writeHead(status, headers)
    res.end(json)
  }

  const refuse: RawResponses['refuse'] = (req, res, status, error, headers) =>
    answer(req, res, status, JSON.stringify({ success: false, error }), headers)

  return {
    answer,
    refuse,
    answerError: (req, res, error) => {
      if (error._tag === 'StoreUnavailable') deps.logError(`store unavailable on ${req.method} ${req.url}`, error.detail)
      const problem = problemOf(error)
      refuse(req, res, problem.status, problem.error, problem.retryAfterSeconds === undefined ? undefined : ['Retry-After', String(problem.retryAfterSeconds)])
    },
    answerFailure: (req, res, thrown) => {
      deps.logError(`unexpected failure on ${req.method} ${req.url}`, thrown)
      refuse(req, res, 500, INTERNAL_ERROR)
    },
  }
}

// HPE_INVALID_EOF_STATE: node's parser saw the connection end in the middle of a request.
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'HPE_INVALID_EOF_STATE'])

/** An error that only says the client hung up: there is no one to answer and nothing to log. */
export const isClientGone = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && CLIENT_GONE.has(String((err as { code?: unknown }).code))

type ClientError = Error & { readonly code?: string }

const BAD_HTTP: Readonly<Record<string, readonly [number, string, string]>> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', 'the request headers are larger than the server accepts'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'the request was not received in time'],
  ERR_HTTP_HEADERS_TIMEOUT: [408, 'Request Timeout', 'the request headers were not received in time'],
  HPE_INVALID_EOF_STATE: [400, 'Bad Request', 'the connection ended before the request was complete'],
}

/**
 * For `server.on('clientError', answerClientError)`: a request node:http
 * cannot parse gets the same JSON refusal as any other bad request, where
 * node would write a bare `400 Bad Request` with no body. There is no
 * request or response object yet, so the answer goes onto the socket.
 */
export const answerClientError = (err: ClientError, socket: Duplex): void => {
  // A reset connection, or one that can no longer be written to, has no one to answer. Nor has one
  // whose answer to an earlier request has begun: bytes written now would land inside it. (node's
  // own handler makes the same check on the response it keeps on the socket.)
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } | null })._httpMessage
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) return void socket.destroy()
  const [status, reason, error] = BAD_HTTP[err.code ?? ''] ?? [400, 'Bad Request', 'the request is not valid HTTP/1.1']
  const body = JSON.stringify({ success: false, error })
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
  )
}
