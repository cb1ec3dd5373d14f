import type { IncomingMessage, ServerResponse } from 'node:http'
import { problemOf, refusalJson, refusalReason, type Refusal } from './problems'
import type { RefusalLog } from './refusal-log'

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

/** Where the adapter reports what the operator must hear of: the store failing, a bug. `fields` say which request. */
export type Logger = { readonly error: (message: string, detail?: unknown, fields?: { readonly request_id?: string }) => void }

/** A request as its log line and its metrics know it, from the door to its last byte (or its client going away). */
export type AnsweredRequest = {
  /** Returned as X-Request-Id: the one a trusted proxy sent, or one of ours. */
  readonly id: string
  readonly method: string
  /** The route's template (`/api/messages/:player_name`), `static` for the tester's files, `unmatched` for no route: never the path. */
  readonly route: string
  /** The status answered; 499 when the client went away before an answer was written (as nginx counts it). */
  readonly status: number
  readonly ms: number
  /** The label of the API key that made it, never its secret. */
  readonly key: string | undefined
  /** A health probe or a metrics scrape: kept out of the API's request metrics, logged at debug. */
  readonly probe: boolean
}

/** What the adapter tells of the requests it answers, for logs and metrics: the composition root decides what becomes of it. */
export type HttpObserver = {
  /** Once per request, when its answer is complete or its connection closed. */
  readonly answered: (request: AnsweredRequest) => void
  /** A 401, 403 or 429, by a reason from a fixed list (see `refusalReason`). */
  readonly refused: (status: number, reason: string) => void
  /** A send answered by replaying the first answer to its Idempotency-Key. */
  readonly replayed: () => void
}

/** What the door records of a request, kept on its response until it closes. */
export type Trace = {
  readonly id: string
  readonly start: number
  route: string
  key: string | undefined
  probe: boolean
}

const TRACE = Symbol('trace')
type Traced = ServerResponse & { [TRACE]?: Trace }

export const traceOf = (res: ServerResponse): Trace | undefined => (res as Traced)[TRACE]
export const setTrace = (res: ServerResponse, trace: Trace): void => {
  ;(res as Traced)[TRACE] = trace
}

export type Answers = {
  /** Writes `json` with the status and, as a flat list of names and values, any further headers. */
  readonly json: (req: IncomingMessage, res: ServerResponse, status: number, json: string, headers?: ReadonlyArray<string>) => void
  /** The refusal's status, headers and `{ success: false, error }`; logged when the operator must hear of it. */
  readonly refuse: (req: IncomingMessage, res: ServerResponse, refusal: Refusal, detail?: unknown) => void
  /** Something thrown: logged with its details, answered with a generic 500. */
  readonly fail: (req: IncomingMessage, res: ServerResponse, thrown: unknown) => void
}

const JSON_TYPE = 'application/json; charset=utf-8'

export const createAnswers = (deps: {
  readonly cors: Cors
  readonly shutdown?: AbortSignal
  readonly log: Logger
  readonly observe?: HttpObserver
  readonly refusals?: RefusalLog
}): Answers => {
  const json: Answers['json'] = (req, res, status, body, extra) => {
    if (res.headersSent || res.destroyed) return
    // Once shutting down, every answer closes its connection, so that the server can finish closing.
    if (deps.shutdown?.aborted) res.shouldKeepAlive = false
    // A flat list, built without spreads: thousands of these are written at once when a message wakes the held polls.
    const headers: string[] = ['Content-Type', JSON_TYPE, 'Content-Length', String(Buffer.byteLength(body)), 'X-Content-Type-Options', 'nosniff']
    pushCorsHeaders(headers, deps.cors, req)
    const trace = (res as Traced)[TRACE]
    if (trace !== undefined) headers.push('X-Request-Id', trace.id)
    if (extra !== undefined) for (const item of extra) headers.push(item)
    res.writeHead(status, headers)
    res.end(body)
  }

  const refuse: Answers['refuse'] = (req, res, refusal, detail) => {
    const problem = problemOf(refusal)
    const trace = (res as Traced)[TRACE]
    deps.refusals?.record(refusal, problem.status, req.method ?? '', trace?.route ?? req.url ?? '')
    // The route's template, never the path: a player's name or a token in the query string stays out of the log.
    if (problem.logged === true)
      deps.log.error(
        `${refusal._tag} on ${req.method} ${trace?.route ?? 'a request'}`,
        detail ?? (refusal._tag === 'StoreUnavailable' ? refusal.detail : undefined),
        trace === undefined ? undefined : { request_id: trace.id },
      )
    if (deps.observe !== undefined && (problem.status === 401 || problem.status === 403 || problem.status === 429)) {
      const reason = refusalReason(refusal)
      if (reason !== undefined) deps.observe.refused(problem.status, reason)
    }
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
