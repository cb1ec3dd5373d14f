import type { IncomingMessage, ServerResponse } from 'node:http'
import { problemOf, refusalJson, type Refusal } from './problems'

/*
 * Every API answer is written here: the JSON ones by `json`, every refusal
 * by `refuse` (through the one status map in problems.ts), anything thrown
 * by `fail`. Each writes only to a response that has not begun, and sets the
 * same headers: the JSON type, its length, nosniff, and CORS as decided by
 * `corsOrigin`, the one function that decides it.
 */

export type Cors = {
  /** `'*'` for every origin, or the exact origins allowed to call from a browser. */
  readonly origins: '*' | ReadonlyArray<string>
}

/** Methods and request headers a browser may use, as a preflight answer lists them. */
export const CORS_ALLOW_METHODS = 'GET,HEAD,POST,DELETE,OPTIONS'
export const CORS_ALLOW_HEADERS = 'Content-Type,Authorization,X-Api-Key,Idempotency-Key,Last-Event-ID'
/** Headers a page may read from an answer. */
export const CORS_EXPOSE_HEADERS = 'Idempotent-Replayed,Retry-After'
export const CORS_MAX_AGE_SECONDS = 600

/**
 * The Access-Control-Allow-Origin an Origin gets, undefined for none: `*`
 * when every origin is allowed, otherwise the origin itself when it is one
 * of the configured ones, compared exactly (a browser sends the serialised
 * origin, scheme and host in lower case), never by prefix or substring.
 */
export const corsOrigin = (cors: Cors, requestOrigin: string | undefined): string | undefined => {
  if (cors.origins === '*') return '*'
  return requestOrigin !== undefined && cors.origins.includes(requestOrigin) ? requestOrigin : undefined
}

/** The CORS headers of an answer to `req`, pushed onto a flat list of names and values. */
export const pushCorsHeaders = (headers: string[], cors: Cors, req: IncomingMessage): void => {
  // Open to every origin, the answer is the same whatever the Origin: no Vary, which would split caches for nothing.
  if (cors.origins === '*') {
    headers.push('Access-Control-Allow-Origin', '*', 'Access-Control-Expose-Headers', CORS_EXPOSE_HEADERS)
    return
  }
  headers.push('Vary', 'Origin')
  const origin = corsOrigin(cors, req.headers.origin)
  if (origin !== undefined) headers.push('Access-Control-Allow-Origin', origin, 'Access-Control-Expose-Headers', CORS_EXPOSE_HEADERS)
}

export type Logger = { readonly error: (message: string, detail?: unknown) => void }

export type Answers = {
  /** Writes `json` with the status and, as a flat list of names and values, any further headers. */
  readonly json: (req: IncomingMessage, res: ServerResponse, status: number, json: string, headers?: ReadonlyArray<string>) => void
  /** The refusal's status, headers and `{ success: false, error }`; logged when the operator must hear of it. */
  readonly refuse: (req: IncomingMessage, res: ServerResponse, refusal: Refusal, detail?: unknown) => void
  /** Something thrown: logged with its details, answered with a generic 500. */
  readonly fail: (req: IncomingMessage, res: ServerResponse, thrown: unknown) => void
}

const JSON_TYPE = 'application/json; charset=utf-8'

export const createAnswers = (deps: { readonly cors: Cors; readonly shutdown?: AbortSignal; readonly log: Logger }): Answers => {
  const json: Answers['json'] = (req, res, status, body, extra) => {
    if (res.headersSent || res.destroyed) return
    // Once shutting down, every answer closes its connection, so that the server can finish closing.
    if (deps.shutdown?.aborted) res.shouldKeepAlive = false
    // A flat list, built without spreads: thousands of these are written at once when a message wakes the held polls.
    const headers: string[] = ['Content-Type', JSON_TYPE, 'Content-Length', String(Buffer.byteLength(body)), 'X-Content-Type-Options', 'nosniff']
    pushCorsHeaders(headers, deps.cors, req)
    if (extra !== undefined) for (const item of extra) headers.push(item)
    res.writeHead(status, headers)
    res.end(body)
  }

  const refuse: Answers['refuse'] = (req, res, refusal, detail) => {
    const problem = problemOf(refusal)
    if (problem.logged === true) deps.log.error(`${refusal._tag} on ${req.method} ${req.url}`, detail ?? (refusal._tag === 'StoreUnavailable' ? refusal.detail : undefined))
    json(req, res, problem.status, refusalJson(problem), problem.headers)
  }

  return {
    json,
    refuse,
    fail: (req, res, thrown) => refuse(req, res, { _tag: 'Internal' }, thrown),
  }
}

// HPE_INVALID_EOF_STATE: node's parser saw the connection end in the middle of a request.
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'ERR_STREAM_DESTROYED', 'HPE_INVALID_EOF_STATE'])

/** An error that only says the client hung up: there is no one to answer and nothing to log. */
export const isClientGone = (err: unknown): boolean =>
  typeof err === 'object' && err !== null && CLIENT_GONE.has(String((err as { code?: unknown }).code))
