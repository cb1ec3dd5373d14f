import { existsSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { join } from 'node:path'
import cors from '@koa/cors'
import Router from '@koa/router'
import * as E from 'fp-ts/Either'
import Koa from 'koa'
import serve from 'koa-static'
import { clearMessages } from '../../application/clear-messages'
import { listByPlayer } from '../../application/list-by-player'
import { listChannels } from '../../application/list-channels'
import { listMessages } from '../../application/list-messages'
import { followMessages } from '../../application/follow-messages'
import { sendIdempotently } from '../../application/send-idempotently'
import { sendMessage } from '../../application/send-message'
import type { IdempotencyKeys } from '../../domain/idempotency'
import type { AutoReply } from '../../domain/auto-reply'
import type { Clock } from '../../domain/clock'
import type { MessageFeed, MessageRepository } from '../../domain/message-repository'
import { ClearQuery, decode, LastEventId, pageQueryCodec, StreamQuery } from './codecs'
import { eventStreams } from './event-stream'
import { heldPolls, pageRequest, type HeldPolls, type PageRequest } from './long-poll'
import { discardRest } from './json-body'
import { problemOf, type Refusal } from './problems'
import { EXPOSED_HEADERS, INTERNAL_ERROR, isClientGone, rawResponses, type RawResponses } from './raw-response'
import { isSendPath, sendRequests, SEND_PATH, type SendRequests } from './send'
import { pageJson } from './wire'

export type Logger = { readonly error: (message: string, detail?: unknown) => void }

export type AppDeps = {
  readonly messages: MessageRepository
  readonly feed: MessageFeed
  /** Remembers Idempotency-Keys so that a retried send stores nothing twice. */
  readonly idempotencyKeys: IdempotencyKeys
  readonly clock: Clock
  readonly autoReply: AutoReply
  readonly maxMessageLength: number
  /** `'*'` for every origin, or the exact origins allowed to call from a browser. */
  readonly corsOrigins: '*' | ReadonlyArray<string>
  readonly longPollMaxSeconds: number
  /** The largest request body; by default 64 KiB, or what the longest message needs when that is more. */
  readonly bodyLimitBytes?: number
  /** Long polls held at once, from all clients together; unlimited by default. */
  readonly maxLongPolls?: number
  /** Event streams open at once, in total and from one client address; unlimited by default. */
  readonly maxStreams?: number
  readonly maxStreamsPerAddress?: number
  /**
   * A stream whose reader has not taken a byte for this long is dropped, and
   * a held long poll's connection may stay quiet this long past its wait.
   * 30 s by default; it must exceed the heartbeat.
   */
  readonly idleTimeoutMs?: number
  /**
   * Aborted when the server is shutting down: held long polls are answered at
   * once (empty, with a cursor to continue from) and event streams end, so
   * clients reconnect elsewhere instead of timing out.
   */
  readonly shutdown?: AbortSignal
  /** How often an idle event stream gets a comment line; 15 s by default. */
  readonly heartbeatMs?: number
  readonly log?: Logger
  /** The browser tester's folder; `web/` beside the package by default. */
  readonly webRoot?: string
}

export const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024

/**
 * The body limit a message of `maxMessageLength` characters needs: in JSON a
 * character outside the BMP may be written as two \u escapes, 12 bytes, and
 * the other fields and the braces take a few hundred more.
 */
export const bodyLimitFor = (maxMessageLength: number): number => Math.max(DEFAULT_BODY_LIMIT_BYTES, maxMessageLength * 12 + 4096)

const DEFAULT_IDLE_TIMEOUT_MS = 30_000

/** The tester ships in `web/` at the package root, which is two levels up from source and three from `dist/`. */
const defaultWebRoot = (): string =>
  [join(__dirname, '..', '..', 'web'), join(__dirname, '..', '..', '..', 'web')].find((dir) => existsSync(join(dir, 'index.html'))) ??
  join(__dirname, '..', '..', 'web')

export const ENDPOINTS = [
  { method: 'GET', path: '/', description: 'The browser tester' },
  { method: 'GET', path: '/api', description: 'Server status and this list' },
  { method: 'POST', path: '/api/send', description: 'Send a message: JSON { player_name, message, channel?, user_id? }' },
  { method: 'GET', path: '/api/messages', description: 'List messages: ?limit, ?since, ?after, ?epoch, ?wait, ?channel' },
  { method: 'GET', path: '/api/messages/:player_name', description: "List one player's messages: same parameters" },
  { method: 'GET', path: '/api/stream', description: 'Server-Sent Events: stored messages after ?after (or Last-Event-ID), then each new one; ?channel, ?player' },
  { method: 'GET', path: '/api/channels', description: 'Channels with their message counts and newest ids' },
  { method: 'POST', path: '/api/clear', description: 'Clear all messages, or one channel with ?channel' },
] as const

const silentLog: Logger = { error: () => undefined }

/**
 * The Koa app alone, to mount in a Koa program of your own. Long polls work
 * through it too, but each held poll then also keeps Koa's context alive:
 * to serve on node:http, prefer `createRequestListener`.
 */
export const createApp = (deps: AppDeps): Koa => buildHttp(deps).app

/**
 * The request listener for `http.createServer`: sends and held long polls
 * are answered below Koa (see send.ts and long-poll.ts), everything else by
 * the Koa app.
 */
export const createRequestListener = (deps: AppDeps): ((req: IncomingMessage, res: ServerResponse) => void) => {
  const { app, sends, polls, responses, log } = buildHttp(deps)
  const koa = app.callback()
  const guard = responseGuard(log)
  return (req, res) => {
    res.on('error', guard)
    if (req.headers.host === undefined && req.httpVersionMinor === 1) return responses.refuse(req, res, 400, MISSING_HOST)
    if (!sends.take(req, res) && !polls.take(req, res)) void koa(req, res)
  }
}

const MISSING_HOST = 'the Host header is required in HTTP/1.1'

/**
 * Every response gets an error listener: our writes check that a response is
 * still writable, so an error here is a bug to log, never a reason for the
 * process to exit.
 */
const responseGuard = (log: Logger) =>
  function (this: ServerResponse, err: unknown): void {
    if (!isClientGone(err)) log.error('unexpected error on a response', err)
  }

type Http = { readonly app: Koa; readonly sends: SendRequests; readonly polls: HeldPolls; readonly responses: RawResponses; readonly log: Logger }

const buildHttp = (deps: AppDeps): Http => {
  const log = deps.log ?? silentLog
  const bodyLimit = deps.bodyLimitBytes ?? bodyLimitFor(deps.maxMessageLength)
  const idleMs = deps.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
  const send = sendIdempotently({
    keys: deps.idempotencyKeys,
    send: sendMessage({ messages: deps.messages, clock: deps.clock, autoReply: deps.autoReply, maxMessageLength: deps.maxMessageLength }),
  })
  const list = listMessages({ messages: deps.messages, feed: deps.feed })
  const listPlayer = listByPlayer({ messages: deps.messages, feed: deps.feed })
  const clear = clearMessages({ messages: deps.messages })
  const channels = listChannels({ messages: deps.messages })
  const follow = followMessages({ messages: deps.messages, feed: deps.feed })
  const streams = eventStreams({
    heartbeatMs: deps.heartbeatMs,
    idleMs,
    maxOpen: deps.maxStreams,
    maxPerAddress: deps.maxStreamsPerAddress,
    shutdown: deps.shutdown,
  })
  const pageQuery = decode(pageQueryCodec(deps.longPollMaxSeconds))
  const responses = rawResponses({ corsOrigins: deps.corsOrigins, shutdown: deps.shutdown, logError: log.error })
  const sends = sendRequests({ send, bodyLimit, responses })
  const polls = heldPolls({ list, listPlayer, pageQuery, responses, shutdown: deps.shutdown, maxHeld: deps.maxLongPolls, idleMs })

  const app = new Koa()
  // Koa reports failures outside the middleware chain here, a client hanging up mid-answer among them.
  app.on('error', (err: unknown) => {
    if (!isClientGone(err)) log.error('unexpected failure outside a request', err)
  })
  app.use(errorBoundary(log, deps.shutdown, responseGuard(log)))
  app.use(
    cors({
      origin: deps.corsOrigins === '*' ? '*' : allowListedOrigin(deps.corsOrigins),
      allowMethods: ['GET', 'HEAD', 'POST', 'OPTIONS'],
      allowHeaders: ['Content-Type', 'Authorization', 'X-Api-Key', 'Idempotency-Key', 'Last-Event-ID'],
      exposeHeaders: [...EXPOSED_HEADERS],
      maxAge: 600,
    }),
  )

  // Paths are case-sensitive, as in the original server: /api/send, never /API/Send.
  const router = new Router({ sensitive: true })

  router.get('/api', (ctx) => {
    ctx.body = { success: true, status: 'running', endpoints: ENDPOINTS }
  })

  // A send reached the router (an app embedded with createApp, or a path spelt another way): Koa steps aside for the one implementation.
  router.post(SEND_PATH, async (ctx) => {
    ctx.respond = false
    await sends.serve(ctx.req, ctx.res)
  })

  router.get('/api/messages', async (ctx) => {
    const query = pageQuery(ctx.query)
    if (E.isLeft(query)) return refuse(ctx, 400, query.left)
    const request = pageRequest(query.right, undefined)
    if (E.isLeft(request)) return refuse(ctx, 400, request.left)
    if (request.right.waitMs !== undefined && ctx.method === 'GET') return holdBelowKoa(ctx, polls, request.right)
    const page = await list(request.right.input)()
    if (E.isLeft(page)) return answerError(ctx, page.left, log)
    answerJson(ctx, pageJson(page.right))
  })

  router.get('/api/messages/:player_name', async (ctx) => {
    const query = pageQuery(ctx.query)
    if (E.isLeft(query)) return refuse(ctx, 400, query.left)
    // The boundary refused any path that does not decode, so the router's decoding is exact here.
    const request = pageRequest(query.right, ctx.params.player_name ?? '')
    if (E.isLeft(request)) return refuse(ctx, 400, request.left)
    if (request.right.waitMs !== undefined && ctx.method === 'GET') return holdBelowKoa(ctx, polls, request.right)
    const page = await listPlayer({ ...request.right.input, playerName: request.right.player ?? '' })()
    if (E.isLeft(page)) return answerError(ctx, page.left, log)
    answerJson(ctx, pageJson(page.right, `"player_name":${JSON.stringify(page.right.playerName)},`))
  })

  router.get('/api/stream', async (ctx) => {
    const query = decode(StreamQuery)(ctx.query)
    if (E.isLeft(query)) return refuse(ctx, 400, query.left)
    const lastEventId = ctx.get('Last-Event-ID')
    const resumeFrom = lastEventId === '' ? E.right(undefined) : decode(LastEventId)(lastEventId)
    if (E.isLeft(resumeFrom)) return refuse(ctx, 400, 'the Last-Event-ID header must be a message id (a whole number, 0 or more)')
    // A reconnecting EventSource repeats the original URL: its Last-Event-ID is the newer position.
    const after = resumeFrom.right ?? query.right.after
    const { channel, player, epoch } = query.right
    await streams.serve(
      ctx,
      follow,
      {
        channel,
        player,
        cursor: after === undefined ? undefined : { after, epoch },
      },
      (error) => answerError(ctx, error, log),
    )
  })

  router.get('/api/channels', async (ctx) => {
    const result = await channels()()
    if (E.isLeft(result)) return answerError(ctx, result.left, log)
    ctx.body = {
      success: true,
      count: result.right.length,
      channels: result.right.map((c) => ({ channel: c.channel, count: c.count, newest_id: c.newestId ?? null })),
    }
  })

  router.post('/api/clear', async (ctx) => {
    const query = decode(ClearQuery)(ctx.query)
    if (E.isLeft(query)) return refuse(ctx, 400, query.left)
    const cleared = await clear(query.right)()
    if (E.isLeft(cleared)) return answerError(ctx, cleared.left, log)
    ctx.body = {
      success: true,
      message: cleared.right._tag === 'All' ? 'All messages cleared' : `All messages in channel ${cleared.right.channel} cleared`,
    }
  })

  const api = router.routes()
  const apiMethods = router.allowedMethods()
  const web = serve(deps.webRoot ?? defaultWebRoot(), { index: 'index.html', hidden: false })

  // API requests never reach the static server, so it never probes the disk for them.
  app.use(async (ctx, next) => {
    // /API and /Api are API paths too, answered in JSON (a 404: paths are case-sensitive), never by the static server.
    if (API_PATH.test(ctx.path)) {
      await api(ctx as Parameters<typeof api>[0], () => apiMethods(ctx as Parameters<typeof apiMethods>[0], next))
      // The router answers a known path with the wrong method, or OPTIONS, by status and Allow header alone: give each a JSON body.
      // A method it does not know at all (501 from the router) is as wrong as any other on a path that exists.
      if (ctx.status === 405 || (ctx.status === 501 && ctx.response.get('Allow') !== ''))
        refuse(ctx, 405, `${ctx.method} is not allowed on ${ctx.path}; use ${ctx.response.get('Allow')}`)
      else if (ctx.status === 501) {
        ctx.remove('Allow')
        refuse(ctx, 404, `there is no ${ctx.method} ${ctx.path}; GET /api lists the endpoints`)
      } else if (ctx.method === 'OPTIONS' && ctx.status === 200 && !ctx.body) {
        // @koa/cors answers the preflights it allows; one that reaches the router was refused.
        if (ctx.get('Access-Control-Request-Method') !== '')
          refuse(ctx, 403, `the origin ${JSON.stringify(ctx.get('Origin'))} may not call this API from a browser (CORS_ORIGINS)`)
        else ctx.body = { success: true, allow: ctx.response.get('Allow').split(/\s*,\s*/) }
      }
      return
    }
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD')
      return refuse(ctx, 405, `${ctx.method} is not allowed on ${ctx.path}; the tester's files are read with GET`)
    }
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set(
      'Content-Security-Policy',
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    await web(ctx, next)
  })

  app.use((ctx) => {
    refuse(ctx, 404, `there is no ${ctx.method} ${ctx.path}; GET /api lists the endpoints`)
  })

  return { app, sends, polls, responses, log }
}

const API_PATH = /^\/api(\/|$)/i

const BAD_PATH = 'the path is not valid percent-encoded UTF-8 (a name is written like /api/messages/Zo%C3%AB)'

/** Whether the path's %XX escapes decode to UTF-8: not %ZZ, overlong forms, surrogates or cut-off sequences. */
const decodablePath = (path: string): boolean => {
  if (!path.includes('%')) return true
  try {
    decodeURIComponent(path)
    return true
  } catch {
    return false
  }
}

/** A long poll that reached the router: Koa steps aside and the poll is held and answered on the raw response. */
const holdBelowKoa = (ctx: Koa.Context, polls: HeldPolls, request: PageRequest): void => {
  ctx.respond = false
  polls.hold(ctx.req, ctx.res, request)
}

/** An answer already serialised (see wire.ts): Koa sends a string body as it is. */
const answerJson = (ctx: Koa.Context, json: string): void => {
  // Set as a header rather than through ctx.type, which looks the type up in the MIME database on every answer.
  ctx.set('Content-Type', 'application/json; charset=utf-8')
  ctx.body = json
}

const refuse = (ctx: Koa.Context, status: number, error: string): void => {
  ctx.status = status
  ctx.body = { success: false, error }
}

const answerError = (ctx: Koa.Context, error: Refusal, log: Logger): void => {
  if (error._tag === 'StoreUnavailable') log.error(`store unavailable on ${ctx.method} ${ctx.path}`, error.detail)
  const problem = problemOf(error)
  if (problem.retryAfterSeconds !== undefined) ctx.set('Retry-After', String(problem.retryAfterSeconds))
  refuse(ctx, problem.status, problem.error)
}

const allowListedOrigin = (origins: ReadonlyArray<string>) => (ctx: Koa.Context): string => {
  const origin = ctx.get('Origin')
  return origins.includes(origin) ? origin : ''
}

type HttpishError = { status?: unknown; statusCode?: unknown }

/**
 * Turns anything thrown below it (the router, the static server, a bug) into
 * the JSON error body, and closes connections once the server is shutting
 * down (one middleware for both: each layer costs every request). Client
 * mistakes keep their 4xx; anything else is a 500 whose details go to the
 * log only.
 */
const errorBoundary = (log: Logger, shutdown: AbortSignal | undefined, guard: (err: unknown) => void): Koa.Middleware => async (ctx, next) => {
  // Served through createApp, the response has no guard yet (createRequestListener adds one first).
  if (ctx.res.listenerCount('error') === 0) ctx.res.on('error', guard)
  // Only sends read a body: any other is thrown away, up to a bound, so that it cannot hold the connection.
  if (ctx.method !== 'POST' || !isSendPath(ctx.path)) discardRest(ctx.req)
  const api = API_PATH.test(ctx.path)
  if (api) ctx.set('X-Content-Type-Options', 'nosniff')
  if (ctx.req.headers.host === undefined && ctx.req.httpVersionMinor === 1) return refuse(ctx, 400, MISSING_HOST)
  if (api && !decodablePath(ctx.path)) return refuse(ctx, 400, BAD_PATH)
  try {
    await next()
  } catch (thrown) {
    const err = (typeof thrown === 'object' && thrown !== null ? thrown : {}) as HttpishError
    const status = typeof err.status === 'number' ? err.status : typeof err.statusCode === 'number' ? err.statusCode : 500
    if (ctx.req.destroyed && ctx.res.destroyed) return
    ctx.remove('Content-Security-Policy')
    if (status >= 400 && status < 500) {
      // A path the static server will not serve (outside web/) is answered like any missing file.
      const shown = status === 403 ? 404 : status
      return refuse(ctx, shown, clientErrorText(shown, ctx))
    }
    log.error(`unexpected failure on ${ctx.method} ${ctx.path}`, thrown)
    refuse(ctx, 500, INTERNAL_ERROR)
  } finally {
    // Once shutting down, every answer closes its connection, so the server can finish closing.
    if (shutdown?.aborted && !ctx.res.headersSent) ctx.res.shouldKeepAlive = false
  }
}

// No Koa route reads a body (sends are read in send.ts), so what reaches here is about the URL or the method.
const clientErrorText = (status: number, ctx: Koa.Context): string => {
  switch (status) {
    case 400:
      return 'the request is malformed'
    case 404:
      return `there is no ${ctx.method} ${ctx.path}; GET /api lists the endpoints`
    default:
      return 'the request could not be processed'
  }
}
