import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { parse as parseQuery } from 'node:querystring'
import * as E from 'fp-ts/Either'
import * as TE from 'fp-ts/TaskEither'
import Koa from 'koa'
import { unrecordedDetail, type Audited } from '../../application/audited'
import { clearMessages, clearMessagesAudited } from '../../application/clear-messages'
import { erasePlayer } from '../../application/erase-player'
import { listMutes } from '../../application/list-mutes'
import { MUTE_SECONDS_MAX, mutePlayer } from '../../application/mute-player'
import { readAuditLog } from '../../application/read-audit-log'
import { refuseMuted } from '../../application/refuse-muted'
import { removeMessage } from '../../application/remove-message'
import { unmutePlayer } from '../../application/unmute-player'
import type { AuditLog } from '../../domain/audit-log'
import type { Mutes } from '../../domain/mutes'
import { followMessages } from '../../application/follow-messages'
import { listByPlayer } from '../../application/list-by-player'
import { listChannels } from '../../application/list-channels'
import { listMessages } from '../../application/list-messages'
import { sendIdempotently } from '../../application/send-idempotently'
import { sendMessage } from '../../application/send-message'
import { shareReads } from '../../application/shared-reads'
import type { AutoReply } from '../../domain/auto-reply'
import type { Clock, Timer } from '../../domain/clock'
import type { TargetStatus } from '../../domain/outbound'
import type { RuleReplies } from '../../application/reply-by-rules'
import type { ContentPolicy } from '../../domain/content-policy'
import type { IdempotencyKeys } from '../../domain/idempotency'
import { DEFAULT_CHANNEL } from '../../domain/message'
import type { ClearScope, MessageFeed, MessageRepository } from '../../domain/message-repository'
import {
  CORS_ALLOW_HEADERS,
  CORS_ALLOW_METHODS,
  CORS_MAX_AGE_SECONDS,
  corsOrigin,
  createAnswers,
  isClientGone,
  setTrace,
  traceOf,
  type Answers,
  type Cors,
  type HttpObserver,
  type Logger,
  type Trace,
} from './answers'
import { limitPlayers } from '../../application/limit-players'
import { clientLimitKey, type RateLimit, type RateLimiter } from '../../domain/rate-limit'
import { clientAddress } from './client-address'
import { channelRefused, createAuth, crossSiteOrigin, mayAct, mayUseChannel, secretCheck, type Auth, type Identity, type Scope } from './auth'
import { channelsParam, ClearQuery, decode, LastEventId, listParamsCodec, muteBodyCodec, StreamQuery } from './codecs'
import { eventStreams } from './event-stream'
import { discardRest } from './json-body'
import { lists } from './lists'
import { actorOf, moderationHandlers } from './moderation'
import { openApiDocument } from './openapi'
import { createRefusalLog } from './refusal-log'
import { robloxWebhookHandler } from './roblox-webhook'
import { sendHandler } from './send'
import { defaultWebRoot, staticFiles } from './static-files'
import { createWire } from './wire'

export type { AnsweredRequest, HttpObserver, Logger } from './answers'

export type AppDeps = {
  readonly messages: MessageRepository
  readonly feed: MessageFeed
  /** Remembers Idempotency-Keys so that a retried send stores nothing twice. */
  readonly idempotencyKeys: IdempotencyKeys
  readonly clock: Clock
  /** Times the long polls' waits (and a stream's retries after a lost feed). */
  readonly timer: Timer
  readonly autoReply: AutoReply
  /** Replies by rule, falling back to `autoReply` (see application/reply-by-rules.ts); none by default. */
  readonly replies?: RuleReplies
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
   * once (empty, with a cursor to continue from), event streams end, and
   * every answer closes its connection, so clients reconnect elsewhere.
   */
  readonly shutdown?: AbortSignal
  /** How often an idle event stream gets a comment line; 15 s by default. */
  readonly heartbeatMs?: number
  readonly log?: Logger
  /** The browser tester's folder; `web/` beside the package by default. */
  readonly webRoot?: string
  /** Judges each message before it is stored (422 on a refusal); none by default: everything valid is stored. */
  readonly contentPolicy?: ContentPolicy
  /** The store and whether it answers now, for the status page; a store that is always there by default. */
  readonly status?: () => { readonly store: string; readonly available: boolean }
  /** Whether the store takes a write now (undefined) or why not, for readiness; `status` alone when absent. */
  readonly writable?: () => Promise<string | undefined>
  /** The outbound targets and how their deliveries stand, for the status page; none by default. */
  readonly outbound?: () => Promise<ReadonlyArray<TargetStatus>>
  /** Who may do what (see auth.ts); open to everyone, as the original server was, by default. */
  readonly auth?: Auth
  /** How many proxies in front of the server to believe in X-Forwarded-For, for limits per address; none by default. */
  readonly trustProxy?: number
  /** Sends per player (PLAYER_RATE_LIMIT); none when absent. */
  readonly playerRateLimit?: { readonly limiter: RateLimiter; readonly limit: RateLimit }
  /** Requests per client, its key when it has one, else its address (CLIENT_RATE_LIMIT); none when absent. */
  readonly clientRateLimit?: { readonly limiter: RateLimiter; readonly limit: RateLimit }
  /** Told of every request answered, every 401/403/429 and every replay, for logs and metrics; nothing is told by default. */
  readonly observe?: HttpObserver
  /** Serves GET /metrics (in Prometheus's text format), behind `key` when set; no /metrics by default. */
  readonly metrics?: { readonly text: () => Promise<string>; readonly contentType: string; readonly key?: string }
  /** The version the API description states (the package's). */
  readonly version?: string
  /**
   * Moderation: the mutes every send is checked against, and the audit log
   * of admin actions, both kept by the store. Without them the moderation
   * routes answer 404 saying so, sends are not checked, and clears are not
   * recorded.
   */
  readonly mutes?: Mutes
  readonly audit?: AuditLog
  /** ROBLOX_WEBHOOK_SECRET: the secret Roblox signs its webhook's notifications with; without it POST /api/roblox/webhook answers 404 saying so. */
  readonly robloxWebhookSecret?: string
}

export const DEFAULT_BODY_LIMIT_BYTES = 64 * 1024

/**
 * The body limit a message of `maxMessageLength` characters needs: in JSON a
 * character outside the BMP may be written as two \u escapes, 12 bytes, and
 * the other fields and the braces take a few hundred more.
 */
export const bodyLimitFor = (maxMessageLength: number): number => Math.max(DEFAULT_BODY_LIMIT_BYTES, maxMessageLength * 12 + 4096)

const DEFAULT_IDLE_TIMEOUT_MS = 30_000

/** The HTTP adapter: one request listener, and what it holds open. */
export type Http = {
  /** For `http.createServer`: every request enters here, whichever way the server is mounted. */
  readonly listener: (req: IncomingMessage, res: ServerResponse) => void
  /** Long polls held now. */
  readonly heldPolls: () => number
  /** Event streams open now. */
  readonly openStreams: () => number
  /** The API description served at /api/openapi.json (OpenAPI 3.1), for this adapter's routes and settings. */
  readonly openApi: () => Record<string, unknown>
}

/** A request as the door hands it to a route: its query string as sent, the path's parameter (a player's name) decoded, and who is asking. */
export type Call = { readonly query: string; readonly param: string | undefined; readonly identity: Identity }

type Handler = (req: IncomingMessage, res: ServerResponse, call: Call) => void | Promise<void>

type Method = 'GET' | 'POST' | 'DELETE'

type MethodRoute = {
  readonly handle: Handler
  readonly description: string
  readonly scope?: Scope
  /** The methods that read a request body; every other body is thrown away, up to a bound. */
  readonly readsBody?: boolean
}

type Route = {
  readonly path: string
  /** A health probe or a metrics scrape: cheap, never authenticated, kept out of the API's request metrics. */
  readonly probe?: boolean
  readonly methods: Readonly<Partial<Record<Method, MethodRoute>>>
}

const PLAYER_PREFIX = '/api/messages/'
const PLAYER_PATH = `${PLAYER_PREFIX}:player_name`
const PLAYERS_PREFIX = '/api/players/'
const ERASE_PATH = `${PLAYERS_PREFIX}:player_name/erase`
const MUTE_PATH = `${PLAYERS_PREFIX}:player_name/mute`

/** The routes with a parameter in their path: `prefix`, one path segment (the parameter), `suffix`. */
const PARAMETER_ROUTES: ReadonlyArray<{ readonly prefix: string; readonly suffix: string; readonly path: string }> = [
  { prefix: PLAYER_PREFIX, suffix: '', path: PLAYER_PATH },
  { prefix: PLAYERS_PREFIX, suffix: '/erase', path: ERASE_PATH },
  { prefix: PLAYERS_PREFIX, suffix: '/mute', path: MUTE_PATH },
]

/** /API and /Api are API paths too: answered in JSON (a 404, as paths are case-sensitive), never by the file server. */
const API_PATH = /^\/api(\/|$)/i

const BAD_PATH = 'the path is not valid percent-encoded UTF-8 (a name is written like /api/messages/Zo%C3%AB)'

/** Whether the path's %XX escapes decode to UTF-8: not %ZZ, overlong forms, surrogates or cut-off sequences. */
const decodablePath = (path: string): boolean => {
  try {
    decodeURIComponent(path)
    return true
  } catch {
    return false
  }
}

const silentLog: Logger = { error: () => undefined }

/** A request id a trusted proxy may set (X-Request-Id): printable, no spaces or quotes, as long as common tracing ids. */
const REQUEST_ID = /^[A-Za-z0-9._:;=+/@-]{1,128}$/

/** The route of a request that matched none (refused at the door, a 404): one label for all of them, never their paths. */
const UNMATCHED = 'unmatched'
/** The tester's files, whatever their path. */
const STATIC = 'static'

/**
 * Builds the one pipeline every request goes through: the guards at the
 * door (Host, the path's encoding), the route table, CORS, the handlers and
 * the one writer of answers (answers.ts). `createRequestListener` and
 * `createApp` are two ways to mount the same listener.
 */
export const createHttp = (deps: AppDeps): Http => {
  const log = deps.log ?? silentLog
  const bodyLimit = deps.bodyLimitBytes ?? bodyLimitFor(deps.maxMessageLength)
  const idleMs = deps.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
  const cors: Cors = { origins: deps.corsOrigins }
  const observe = deps.observe
  const refusals = createRefusalLog()
  const answers = createAnswers({ cors, shutdown: deps.shutdown, log, refusals, ...(observe === undefined ? {} : { observe }) })
  const { json, refuse, fail } = answers
  const wire = createWire()
  const auth = deps.auth ?? createAuth({ keys: [] })
  /** Refuses (and answers true) when the caller may not act in the channel. */
  const refusedChannel = (req: IncomingMessage, res: ServerResponse, identity: Identity, channel: string): boolean => {
    if (mayUseChannel(identity, channel)) return false
    refuse(req, res, { _tag: 'Forbidden', reason: `the key ${labelOf(identity)} may not use the channel ${channel}` })
    return true
  }
  // Readers who ask the same at once share one read and one page (and so one JSON text): one message waking 5,000 polls costs one read.
  const store = shareReads({
    append: deps.messages.append,
    remove: deps.messages.remove,
    appendReply: deps.messages.appendReply,
    list: deps.messages.list,
    clear: deps.messages.clear,
    channels: deps.messages.channels,
    subscribe: deps.feed.subscribe,
  })
  const reading = { messages: store, feed: store, timer: deps.timer }

  // The player's limit inside the idempotency: a replay takes no token, and only a stored message keeps one.
  const limited = limitPlayers({ limiter: deps.playerRateLimit?.limiter ?? NO_LIMITER, limit: deps.playerRateLimit?.limit })(
    sendMessage({
      messages: store,
      clock: deps.clock,
      autoReply: deps.autoReply,
      maxMessageLength: deps.maxMessageLength,
      policy: deps.contentPolicy,
      ...(deps.replies === undefined ? {} : { replies: deps.replies }),
    }),
  )
  const send = sendHandler({
    refusedChannel,
    send: sendIdempotently({
      keys: deps.idempotencyKeys,
      // A muted player is refused before the limit takes a token; a replay of a send made before the mute answers as it did.
      send: deps.mutes === undefined ? limited : refuseMuted({ mutes: deps.mutes, clock: deps.clock })(limited),
    }),
    bodyLimit,
    answers,
    wire,
    ...(observe === undefined ? {} : { replayed: observe.replayed }),
  })
  const pages = lists({
    list: listMessages(reading),
    listPlayer: listByPlayer(reading),
    decodeParams: decode(listParamsCodec(deps.longPollMaxSeconds)),
    answers,
    wire,
    shutdown: deps.shutdown,
    maxHeld: deps.maxLongPolls,
    idleMs,
  })
  const streams = eventStreams({
    cors,
    wire,
    addressOf: (req) => clientAddress(req, deps.trustProxy ?? 0),
    heartbeatMs: deps.heartbeatMs,
    idleMs,
    maxOpen: deps.maxStreams,
    maxPerAddress: deps.maxStreamsPerAddress,
    shutdown: deps.shutdown,
  })
  const follow = followMessages(reading)
  const channels = listChannels({ messages: store })
  // With an audit log, every clear is recorded (a clear is an admin's action); a library's app without one clears as before.
  const unaudited = clearMessages({ messages: store })
  const clear =
    deps.audit === undefined
      ? (input: { readonly channel?: string }) => TE.map((scope: ClearScope): Audited<ClearScope> => ({ done: scope }))(unaudited(input))
      : clearMessagesAudited({ messages: store, audit: deps.audit, clock: deps.clock })
  const moderation = (() => {
    const { mutes, audit } = deps
    if (mutes === undefined || audit === undefined) return undefined
    const moderating = { messages: store, audit, clock: deps.clock }
    const erase = erasePlayer(moderating)
    return {
      erase,
      handlers: moderationHandlers({
        answers,
        wire,
        log,
        bodyLimit,
        remove: removeMessage(moderating),
        erase,
        mute: mutePlayer({ mutes, audit, clock: deps.clock }),
        unmute: unmutePlayer({ mutes, audit, clock: deps.clock }),
        mutes: listMutes({ mutes, clock: deps.clock }),
        auditLog: readAuditLog({ audit }),
        muteBody: muteBodyCodec(MUTE_SECONDS_MAX),
      }),
    }
  })()
  /** A moderation route on an app built without the mutes and audit ports: it says so. */
  const notModerated: Handler = (req, res) => {
    // A route that reads a body, refused before reading it: the rest is thrown away, so the connection can serve the next request.
    discardRest(req)
    refuse(req, res, { _tag: 'NotConfigured', what: 'moderation', setUp: 'build the app with the mutes and audit ports (startServer does, for either store)' })
  }
  const moderated = (pick: (handlers: NonNullable<typeof moderation>['handlers']) => Handler): Handler =>
    moderation === undefined ? notModerated : pick(moderation.handlers)
  const webhook: Handler =
    moderation === undefined
      ? notModerated
      : robloxWebhookHandler({ secret: deps.robloxWebhookSecret, clock: deps.clock, erase: moderation.erase, answers, log })
  /** Refuses (answering true) a key limited to channels: moderation acts on every channel at once. */
  const refusedLimitedKey = (req: IncomingMessage, res: ServerResponse, identity: Identity): boolean => {
    if (identity._tag !== 'Key' || identity.key.channels === undefined) return false
    discardRest(req)
    refuse(req, res, { _tag: 'Forbidden', reason: `the key ${identity.key.label} is limited to some channels: removing, erasing and muting act on every channel, and need an admin key for all of them` })
    return true
  }
  const unlimited = (handle: Handler): Handler => (req, res, call) => (refusedLimitedKey(req, res, call.identity) ? undefined : handle(req, res, call))
  const decodeStreamQuery = decode(StreamQuery)
  const decodeClearQuery = decode(ClearQuery)
  const decodeLastEventId = decode(LastEventId)

  const storeStatus = deps.status ?? (() => ({ store: 'memory', available: true }))
  const metricsKey = deps.metrics?.key === undefined ? undefined : secretCheck(deps.metrics.key)

  const routes: ReadonlyArray<Route> = [
    { path: '/api', methods: { GET: { description: 'Server status and this list', handle: async (req, res) => json(req, res, 200, await statusPage()) } } },
    {
      path: '/api/openapi.json',
      methods: { GET: { description: 'This API described in OpenAPI 3.1', handle: (req, res) => json(req, res, 200, openApiJson()) } },
    },
    {
      path: '/healthz',
      probe: true,
      methods: { GET: { description: 'Liveness: 200 while the process answers', handle: (req, res) => json(req, res, 200, ALIVE) } },
    },
    {
      path: '/readyz',
      probe: true,
      methods: {
        GET: {
          description: 'Readiness: 200 when the store takes a write, else 503 with the reason (the store away or refusing writes, shutting down)',
          handle: async (req, res) => {
            if (deps.shutdown?.aborted) return refuse(req, res, { _tag: 'NotReady', reason: 'the server is shutting down' })
            const { store: kind, available } = storeStatus()
            if (!available) return refuse(req, res, { _tag: 'NotReady', reason: `the store (${kind}) does not answer` })
            const refused = await deps.writable?.()
            if (refused !== undefined) return refuse(req, res, { _tag: 'NotReady', reason: refused })
            json(req, res, 200, `{"success":true,"status":"ready","store":${JSON.stringify({ kind, available })}}`)
          },
        },
      },
    },
    ...(deps.metrics === undefined
      ? []
      : [
          {
            path: '/metrics',
            probe: true,
            methods: {
              GET: {
                description: "Prometheus metrics, in its text format (behind METRICS_KEY when it is set)",
                handle: async (req: IncomingMessage, res: ServerResponse) => {
                  const presented = metricsKey?.(req)
                  if (presented === 'absent') return refuse(req, res, { _tag: 'Unauthorized', presented: false, reason: 'GET /metrics needs the METRICS_KEY' })
                  if (presented === 'wrong') return refuse(req, res, { _tag: 'Unauthorized', presented: true, reason: 'the key is not the METRICS_KEY' })
                  const text = await (deps.metrics as NonNullable<AppDeps['metrics']>).text()
                  if (res.headersSent || res.destroyed) return
                  const headers = ['Content-Type', (deps.metrics as NonNullable<AppDeps['metrics']>).contentType, 'Content-Length', String(Buffer.byteLength(text)), 'X-Content-Type-Options', 'nosniff', 'Cache-Control', 'no-store']
                  const trace = traceOf(res)
                  if (trace !== undefined) headers.push('X-Request-Id', trace.id)
                  res.writeHead(200, headers)
                  res.end(text)
                },
              },
            },
          } satisfies Route,
        ]),
    {
      path: '/api/token',
      methods: {
        POST: {
          description: 'A short-lived read token for /api/stream?token= (EventSource cannot send a key), for a key that may read',
          scope: 'read',
          handle: (req, res, { identity }) => {
            if (identity._tag !== 'Key') return refuse(req, res, { _tag: 'InvalidRequest', error: 'this server has no API keys: its stream needs no token' })
            const { token, expiresIn } = auth.issueToken(identity.key)
            json(req, res, 200, JSON.stringify({ success: true, token, expires_in: expiresIn }))
          },
        },
      },
    },
    {
      path: '/api/send',
      methods: { POST: { description: 'Send a message: JSON { player_name, message, channel?, user_id? }', scope: 'send', handle: send, readsBody: true } },
    },
    {
      path: '/api/messages',
      methods: {
        GET: {
          description: 'List messages: ?limit, ?since, ?after, ?epoch, ?wait, ?channel or ?channels=a,b (several under one cursor)',
          scope: 'read',
          handle: (req, res, { query, identity }) => pages.channel(req, res, parseQuery(query), identity),
        },
      },
    },
    {
      path: PLAYER_PATH,
      methods: {
        GET: {
          description: "List one player's messages: same parameters",
          scope: 'read',
          handle: (req, res, { query, param, identity }) => pages.player(req, res, parseQuery(query), param ?? '', identity),
        },
        DELETE: {
          description:
            'Remove one message, the path naming its id (DELETE /api/messages/42), and the replies to it, for every reader (a removal entry takes its place in the history)',
          scope: 'admin',
          handle: unlimited(moderated((h) => h.removeMessage)),
        },
      },
    },
    {
      path: ERASE_PATH,
      methods: {
        POST: {
          description: 'Erase everything a player wrote, in every channel, with the replies to it; JSON { user_id? } erases what that user id sent under any name too',
          scope: 'admin',
          readsBody: true,
          handle: unlimited(moderated((h) => h.erasePlayer)),
        },
      },
    },
    {
      path: MUTE_PATH,
      methods: {
        POST: {
          description: "Mute a player: JSON { seconds, reason, user_id? }; their sends are refused (403, with the reason) until it ends",
          scope: 'admin',
          readsBody: true,
          handle: unlimited(moderated((h) => h.mutePlayer)),
        },
        DELETE: { description: "Lift a player's mute", scope: 'admin', handle: unlimited(moderated((h) => h.unmutePlayer)) },
      },
    },
    {
      path: '/api/mutes',
      methods: { GET: { description: 'The mutes in force, with their ends', scope: 'admin', handle: moderated((h) => h.listMutes) } },
    },
    {
      path: '/api/admin/audit',
      methods: { GET: { description: 'The audit log of admin actions, newest first: ?limit, ?before', scope: 'admin', handle: moderated((h) => h.readAudit) } },
    },
    {
      path: '/api/roblox/webhook',
      methods: {
        POST: {
          description: "Roblox's webhook notifications, signed with ROBLOX_WEBHOOK_SECRET: a Right to Erasure request erases that user id's messages",
          readsBody: true,
          handle: webhook,
        },
      },
    },
    {
      path: '/api/stream',
      methods: {
        GET: {
          description: 'Server-Sent Events: stored messages after ?after (or Last-Event-ID), then each new one; ?channel or ?channels=a,b, ?player, ?token',
          scope: 'read',
          handle: (req, res, { query, identity }) => {
            const asked = decodeStreamQuery(parseQuery(query))
            if (E.isLeft(asked)) return refuse(req, res, { _tag: 'InvalidRequest', error: asked.left })
            const named = channelsParam(asked.right)
            if (E.isLeft(named)) return refuse(req, res, { _tag: 'InvalidRequest', error: named.left })
            const { channel, channels } = named.right
            // A key limited to channels may follow several at once only if it may follow each of them.
            const refused = channelRefused(identity, channels ?? [channel ?? DEFAULT_CHANNEL])
            if (refused !== undefined) return refuse(req, res, { _tag: 'Forbidden', reason: `the key ${labelOf(identity)} may not use the channel ${refused}` })
            const lastEventId = req.headers['last-event-id']
            const resumeFrom = lastEventId === undefined || lastEventId === '' ? E.right(undefined) : decodeLastEventId(lastEventId)
            if (E.isLeft(resumeFrom))
              return refuse(req, res, { _tag: 'InvalidRequest', error: 'the Last-Event-ID header must be a message id (a whole number, 0 or more)' })
            // A reconnecting EventSource repeats the original URL: its Last-Event-ID is the newer position.
            const after = resumeFrom.right ?? asked.right.after
            const { player, epoch } = asked.right
            return streams.open(req, res, follow, { channel, channels, player, cursor: after === undefined ? undefined : { after, epoch } }, (refusal) =>
              refuse(req, res, refusal),
            )
          },
        },
      },
    },
    {
      path: '/api/channels',
      methods: {
        GET: {
          description: 'Channels with their message counts and newest ids',
          scope: 'read',
          handle: async (req, res, { identity }) => {
            const result = await channels()()
            if (E.isLeft(result)) return refuse(req, res, result.left)
            // A key limited to channels sees only those.
            const list = result.right
              .filter((c) => mayUseChannel(identity, c.channel))
              .map((c) => ({ channel: c.channel, count: c.count, newest_id: c.newestId ?? null }))
            json(req, res, 200, JSON.stringify({ success: true, count: list.length, channels: list }))
          },
        },
      },
    },
    {
      path: '/api/admin/refusals',
      methods: {
        GET: {
          description: 'What this process refused in the last hour, by reason, and the newest refusals (admin)',
          scope: 'admin',
          handle: (req, res) => {
            const { lastHour, recent } = refusals.snapshot()
            const body = {
              success: true,
              last_hour: lastHour,
              recent: recent.map((r) => ({ at: new Date(r.at).toISOString(), status: r.status, reason: r.reason, method: r.method, path: r.path })),
            }
            json(req, res, 200, JSON.stringify(body))
          },
        },
      },
    },
    {
      path: '/api/clear',
      methods: {
        POST: {
          description: 'Clear all messages, or one channel with ?channel',
          scope: 'admin',
          handle: async (req, res, { query, identity }) => {
            const asked = decodeClearQuery(parseQuery(query))
            if (E.isLeft(asked)) return refuse(req, res, { _tag: 'InvalidRequest', error: asked.left })
            if (asked.right.channel === undefined && identity._tag === 'Key' && identity.key.channels !== undefined)
              return refuse(req, res, { _tag: 'Forbidden', reason: `the key ${identity.key.label} is limited to some channels: clear them one at a time with ?channel` })
            if (asked.right.channel !== undefined && refusedChannel(req, res, identity, asked.right.channel)) return
            const cleared = await clear({ ...asked.right, actor: actorOf(identity) })()
            if (E.isLeft(cleared)) return refuse(req, res, cleared.left)
            const scope = cleared.right.done
            if (cleared.right.unrecorded !== undefined) log.error('a clear was done but could not be recorded in the audit log; what it did follows', unrecordedDetail(cleared.right.unrecorded))
            const message = scope._tag === 'All' ? 'All messages cleared' : `All messages in channel ${scope.channel} cleared`
            json(req, res, 200, JSON.stringify({ success: true, message }))
          },
        },
      },
    },
  ]

  const endpoints = [
    { method: 'GET', path: '/', description: 'The browser tester' },
    { method: 'GET', path: '/admin', description: 'The admin dashboard (sign in with an admin key)' },
    ...routes.flatMap((route) => Object.entries(route.methods).map(([method, m]) => ({ method, path: route.path, description: m.description }))),
  ]
  const endpointsJson = JSON.stringify(endpoints)
  const describe = (): Record<string, unknown> =>
    openApiDocument({
      routes: routes.flatMap((route) =>
        Object.entries(route.methods).map(([method, m]) => ({ method: method as Method, path: route.path, description: m.description, scope: m.scope })),
      ),
      version: deps.version ?? '0.0.0',
      open: auth.open,
      metricsKey: deps.metrics?.key !== undefined,
      longPollMaxSeconds: deps.longPollMaxSeconds,
      maxMessageLength: deps.maxMessageLength,
    })
  // Written once, as the app is built, so that a route the description lacks fails at once: it depends only on the route table and the configuration.
  const openApiText = JSON.stringify(describe())
  const openApiJson = (): string => openApiText
  const statusPage = async (): Promise<string> => {
    const { store: kind, available } = storeStatus()
    const holding = `{"long_polls":${pages.held()},"streams":${streams.openCount()}}`
    const outbound = deps.outbound === undefined ? '' : `"outbound":${JSON.stringify((await deps.outbound()).map(targetStatusJson))},`
    return `{"success":true,"status":${JSON.stringify(available ? 'running' : 'store unavailable')},"store":${JSON.stringify({ kind, available })},"holding":${holding},${outbound}"endpoints":${endpointsJson}}`
  }
  const byPath = new Map(routes.map((route) => [route.path, route]))
  const parameterRoutes = PARAMETER_ROUTES.map((p) => ({ ...p, route: byPath.get(p.path) as Route }))
  const allowOf = (route: Route): ReadonlyArray<string> => {
    const methods: string[] = []
    if (route.methods.GET !== undefined) methods.push('GET', 'HEAD')
    if (route.methods.POST !== undefined) methods.push('POST')
    if (route.methods.DELETE !== undefined) methods.push('DELETE')
    methods.push('OPTIONS')
    return methods
  }

  /** CORS's preflight, or, without Access-Control-Request-Method, the route's methods. */
  const options = (req: IncomingMessage, res: ServerResponse, route: Route): void => {
    if (req.headers['access-control-request-method'] === undefined) {
      const allow = allowOf(route)
      return json(req, res, 200, JSON.stringify({ success: true, allow }), ['Allow', allow.join(', ')])
    }
    const origin = corsOrigin(cors, req.headers.origin)
    if (origin === undefined) return refuse(req, res, { _tag: 'OriginNotAllowed', origin: req.headers.origin ?? '' })
    res.writeHead(204, [
      'Vary',
      'Origin',
      'Access-Control-Allow-Origin',
      origin,
      'Access-Control-Allow-Methods',
      CORS_ALLOW_METHODS,
      'Access-Control-Allow-Headers',
      CORS_ALLOW_HEADERS,
      'Access-Control-Max-Age',
      String(CORS_MAX_AGE_SECONDS),
      'X-Content-Type-Options',
      'nosniff',
      'X-Request-Id',
      (traceOf(res) as Trace).id,
    ])
    res.end()
  }

  const files = staticFiles(deps.webRoot ?? defaultWebRoot(), answers)
  const guard = responseGuard(log)

  const failed = (req: IncomingMessage, res: ServerResponse, thrown: unknown): void => {
    // A client that went away mid-body has no one left to answer, and nothing half-read was stored.
    if (isClientGone(thrown)) res.destroy()
    else fail(req, res, thrown)
  }

  /** Runs a handler, turning what it throws or rejects with into the one 500 answer. */
  const run = (handle: Handler, req: IncomingMessage, res: ServerResponse, call: Call): void => {
    try {
      const done = handle(req, res, call)
      if (done !== undefined) done.then(undefined, (thrown: unknown) => failed(req, res, thrown))
    } catch (thrown) {
      failed(req, res, thrown)
    }
  }

  /** A refusal before any handler ran: the body, if any, is thrown away (up to a bound) rather than read. */
  const refuseAtDoor = (req: IncomingMessage, res: ServerResponse, refusal: Parameters<Answers['refuse']>[2]): void => {
    discardRest(req)
    refuse(req, res, refusal)
  }

  const trustProxy = (deps.trustProxy ?? 0) > 0
  /*
   * Our own ids: a random prefix for this app (so that ids of several
   * processes do not meet) and a counter, unique and in order within it. A
   * random UUID per request cost a send a microsecond of CPU for nothing an
   * id needs: it names a request in the logs, it is no secret.
   */
  const idPrefix = `${randomBytes(6).toString('hex')}-`
  let requestCount = 0
  /** The request's id: the one a trusted proxy sent, else a new one. */
  const requestId = (req: IncomingMessage): string => {
    if (trustProxy) {
      const sent = req.headers['x-request-id']
      if (typeof sent === 'string' && REQUEST_ID.test(sent)) return sent
    }
    return idPrefix + (++requestCount).toString(36)
  }
  // One function for every response (no closure per request): its trace says what to tell.
  const closed = function (this: ServerResponse): void {
    const trace = traceOf(this) as Trace
    ;(observe as HttpObserver).answered({
      id: trace.id,
      method: this.req.method ?? 'GET',
      route: trace.route,
      status: this.headersSent ? this.statusCode : CLIENT_CLOSED,
      ms: performance.now() - trace.start,
      key: trace.key,
      probe: trace.probe,
    })
  }

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    res.on('error', guard)
    const trace: Trace = { id: requestId(req), start: performance.now(), route: UNMATCHED, key: undefined, probe: false }
    setTrace(res, trace)
    if (observe !== undefined) res.on('close', closed)
    const url = req.url ?? '/'
    const mark = url.indexOf('?')
    const path = mark === -1 ? url : url.slice(0, mark)
    const method = req.method ?? 'GET'
    if (req.headers.host === undefined && req.httpVersionMinor === 1) return refuseAtDoor(req, res, { _tag: 'MissingHost' })
    if (!API_PATH.test(path) && !byPath.has(path)) {
      trace.route = STATIC
      if (method === 'GET' || method === 'HEAD') {
        res.setHeader('X-Request-Id', trace.id)
        return run(files, req, res, NO_CALL)
      }
      return refuseAtDoor(req, res, { _tag: 'MethodNotAllowed', method, path, allow: ['GET', 'HEAD'] })
    }
    if (path.includes('%') && !decodablePath(path)) return refuseAtDoor(req, res, { _tag: 'InvalidRequest', error: BAD_PATH })
    // One trailing slash is forgiven: /api/send/ is /api/send.
    const routePath = path.length > 4 && path.endsWith('/') ? path.slice(0, -1) : path
    let route = byPath.get(routePath)
    let param: string | undefined
    // A parameter is one path segment, percent-decoded: a name holding a slash is written %2F.
    if (route === undefined)
      for (const p of parameterRoutes) {
        if (!routePath.startsWith(p.prefix) || !routePath.endsWith(p.suffix)) continue
        const end = routePath.length - p.suffix.length
        const segment = routePath.slice(p.prefix.length, end)
        if (end <= p.prefix.length || segment.includes('/')) continue
        route = p.route
        param = decodeURIComponent(segment)
        break
      }
    if (route === undefined) return refuseAtDoor(req, res, { _tag: 'NotFound', method, path })
    trace.route = route.path
    trace.probe = route.probe === true
    if (method === 'OPTIONS') {
      discardRest(req)
      return options(req, res, route)
    }
    const handler = route.methods[(method === 'HEAD' ? 'GET' : method) as Method]
    if (handler === undefined) return refuseAtDoor(req, res, { _tag: 'MethodNotAllowed', method, path, allow: allowOf(route) })
    const query = mark === -1 ? '' : url.slice(mark + 1)
    // Who is asking, and whether they may: one place for every route. Only the stream takes a token, as EventSource cannot send a key.
    const identity = auth.identify(req, route.path === STREAM_PATH ? tokenIn(query) : undefined)
    if (identity._tag === 'Key') trace.key = identity.key.label
    const refusal = refusalFor(identity, handler.scope, method, req)
    if (refusal !== undefined) return refuseAtDoor(req, res, refusal)
    if (handler.readsBody !== true) discardRest(req)
    const call: Call = { query, param, identity }
    const client = deps.clientRateLimit
    // The status page is left alone: load balancers and monitors ask it often, and it costs nothing.
    if (client === undefined || handler.scope === undefined) return run(handler.handle, req, res, call)
    // Every other request counts once against its client, a long poll too, however long it is held.
    const key = clientLimitKey({ keyLabel: identity._tag === 'Key' ? identity.key.label : undefined, address: clientAddress(req, deps.trustProxy ?? 0) })
    client.limiter.take(key, client.limit)().then((taken) => {
      if (E.isLeft(taken)) return refuse(req, res, taken.left)
      if (!taken.right.allowed) return refuse(req, res, { _tag: 'RateLimited', scope: 'client', decision: taken.right })
      run(handler.handle, req, res, call)
    }, (thrown: unknown) => failed(req, res, thrown))
  }

  /** Why the identity may not make this request, if it may not. */
  const refusalFor = (identity: Identity, scope: Scope | undefined, method: string, req: IncomingMessage): Parameters<Answers['refuse']>[2] | undefined => {
    if (scope === undefined) return undefined
    if (identity._tag === 'Anonymous') return { _tag: 'Unauthorized', presented: false, reason: 'this server needs an API key' }
    if (identity._tag === 'Unknown') return { _tag: 'Unauthorized', presented: true, reason: identity.reason }
    if (!mayAct(identity, scope)) return { _tag: 'Forbidden', reason: `the key ${labelOf(identity)} may not ${SCOPE_VERBS[scope]}`, lacks: 'scope' }
    if (identity._tag === 'Open' && (method === 'POST' || method === 'DELETE')) {
      const origin = crossSiteOrigin(req, deps.corsOrigins, scope !== 'admin')
      if (origin !== undefined) return { _tag: 'CrossSite', origin }
    }
    return undefined
  }

  return { listener, heldPolls: pages.held, openStreams: streams.openCount, openApi: describe }
}

const STREAM_PATH = '/api/stream'

/** The status a request is counted with when its client went away before any answer (nginx's). */
const CLIENT_CLOSED = 499

const ALIVE = '{"success":true,"status":"alive"}'

/** Stands in for a limiter where no limit is set: limitPlayers never calls it then. */
const NO_LIMITER: RateLimiter = {
  take: () => () => Promise.reject(new Error('no limit is set')),
  giveBack: () => () => Promise.reject(new Error('no limit is set')),
}

const NO_CALL: Call = { query: '', param: undefined, identity: { _tag: 'Open' } }

const SCOPE_VERBS: Readonly<Record<Scope, string>> = {
  read: 'read messages',
  send: 'send messages',
  admin: 'clear messages or moderate: remove, erase, mute, read the mutes and the audit log (an admin key may)',
}

const labelOf = (identity: Identity): string => (identity._tag === 'Key' ? identity.key.label : '(none)')

/** The `token` parameter of a query string, without parsing the rest: only the stream's door looks at it. */
const tokenIn = (query: string): string | undefined => {
  if (!query.includes('token=')) return undefined
  const value = parseQuery(query).token
  return typeof value === 'string' && value !== '' ? value : undefined
}

/** The request listener for `http.createServer` (see also `createGuardedServer`). */
export const createRequestListener = (deps: AppDeps): ((req: IncomingMessage, res: ServerResponse) => void) => createHttp(deps).listener

/**
 * The same pipeline as a Koa app, to mount in a Koa program of your own
 * (with koa-mount under a prefix, say): Koa hands every request to the
 * listener and stays out of the answer.
 */
export const createApp = (deps: AppDeps): Koa => appOf(createHttp(deps))

/** A Koa app around an adapter already built: for a program that also wants its counts. */
export const appOf = (http: Http): Koa => {
  const app = new Koa()
  // Koa reports failures outside the middleware chain here: the pipeline has answered or logged them already.
  app.on('error', () => undefined)
  app.use((ctx) => {
    ctx.respond = false
    http.listener(ctx.req, ctx.res)
  })
  return app
}

/**
 * Every response gets an error listener: our writes check that a response is
 * still writable, so an error here is a bug to log, never a reason for the
 * process to exit.
 */
const responseGuard = (log: Logger) =>
  function (this: ServerResponse, err: unknown): void {
    if (!isClientGone(err)) log.error('unexpected error on a response', err)
  }

/** A target's line on the status page, in the API's field names. */
const targetStatusJson = (t: TargetStatus): Record<string, unknown> => {
  const delivery = t.stats?.delivery
  return {
    name: t.name,
    kind: t.kind,
    ...(t.stats === undefined ? { available: false, error: t.error ?? 'unknown' } : { available: true, queued: t.stats.queued, dropped: t.stats.dropped }),
    ...(t.retried === undefined ? {} : { retried: t.retried }),
    ...(delivery === undefined
      ? {}
      : {
          state: delivery.state,
          ...(delivery.until === undefined ? {} : { paused_until: new Date(delivery.until).toISOString() }),
          failures: delivery.failures,
          delivered: delivery.delivered,
          ...(delivery.lastError === undefined ? {} : { last_error: delivery.lastError }),
          reported_at: new Date(delivery.at).toISOString(),
        }),
  }
}
