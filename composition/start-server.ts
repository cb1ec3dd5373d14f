import { existsSync, readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import * as E from 'fp-ts/Either'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { appOf, bodyLimitFor, createHttp, type AppDeps, type Http, type Logger } from '../adapters/http/app'
import { ADMIN_SCOPES, createAuth, PLAIN_SCOPES, type KeyConfig } from '../adapters/http/auth'
import { createGuardedServer, type ServerTimeouts } from '../adapters/http/node-server'
import { createMemoryAuditLog } from '../adapters/memory/memory-audit-log'
import { createMemoryIdempotencyKeys } from '../adapters/memory/memory-idempotency-keys'
import { createMemoryMessageStore } from '../adapters/memory/memory-message-store'
import { createMemoryOutboundQueues } from '../adapters/memory/memory-outbound-queues'
import { createMemoryMutes } from '../adapters/memory/memory-mutes'
import { createMemoryRateLimiter } from '../adapters/memory/memory-rate-limiter'
import { connectRedis } from '../adapters/redis/connection'
import { redisWriteProbe } from '../adapters/redis/readiness'
import { createRedisAuditLog } from '../adapters/redis/redis-audit-log'
import { createRedisIdempotencyKeys } from '../adapters/redis/redis-idempotency-keys'
import { createRedisMessageStore } from '../adapters/redis/redis-message-store'
import { createRedisMutes } from '../adapters/redis/redis-mutes'
import { createRedisOutboundQueues } from '../adapters/redis/redis-outbound-queues'
import { createRedisRateLimiter } from '../adapters/redis/redis-rate-limiter'
import { createLogger, type Pino } from '../adapters/telemetry/logger'
import { createMetrics, type Metrics, type OutboundGauge } from '../adapters/telemetry/metrics'
import type { RateLimiter } from '../domain/rate-limit'
import { systemClock, systemTimer } from '../adapters/system/timer'
import { autoReplyFromTemplate } from '../domain/auto-reply'
import { defaultContentPolicy } from '../domain/content-policy'
import type { AuditLog } from '../domain/audit-log'
import type { IdempotencyKeys } from '../domain/idempotency'
import type { Mutes } from '../domain/mutes'
import type { DiscardObserver, MessageFeed, MessageRepository } from '../domain/message-repository'
import type { OutboundQueues, TargetStatus } from '../domain/outbound'
import type { OutboundEvent } from '../application/deliver-outbound'
import { effectiveConfig, type Config, type StoreName } from './config'
import { OUTBOUND_SHUTDOWN_MS, routeOf, startOutbound } from './outbound'
import { parseReplyRules } from './reply-rules-file'
import { errorLog, httpObserver, measuredPorts } from './telemetry'
import { replyByRules } from '../application/reply-by-rules'
import { modelReplies, type ModelReplies } from '../application/model-replies'
import { replyLater } from '../application/reply-later'
import { createChatModel } from '../adapters/outbound/chat-model'
import type { ReplyRule } from '../domain/reply-rules'

/*
 * The composition root: the one place that knows every adapter. It reads
 * nothing itself (main.ts hands it the decoded configuration), chooses the
 * store the configuration names, builds the HTTP adapter on the ports and
 * serves it. No adapter imports another; they meet here.
 */

/** The ports the server runs on, for a program that embeds it and wants to read or write directly. */
export type Ports = {
  readonly messages: MessageRepository
  readonly feed: MessageFeed
  readonly idempotencyKeys: IdempotencyKeys
  /** A limiter of its own for each scope that has a limit: one scope's buckets never crowd out another's. */
  readonly rateLimiter: (scope: 'player' | 'client' | 'reply') => RateLimiter
  /** Which store, and whether it answers now (a networked store may be away). */
  readonly status: () => { readonly store: StoreName; readonly available: boolean }
  /**
   * Whether the store takes a write now: undefined when it does, else why
   * not. A store connected but refusing writes (Redis out of memory, or
   * refusing them after a failed snapshot) is up for `status` and not for
   * this; readiness asks this.
   */
  readonly writable: () => Promise<string | undefined>
  /** The mutes every send is checked against, and the audit log of admin actions, kept by the store. */
  readonly mutes: Mutes
  readonly audit: AuditLog
  /** The queues of the outbound targets (WEBHOOKS), kept by the store, and whether they outlive this process; absent when the store keeps none. */
  readonly outbound?: { readonly queues: OutboundQueues; readonly durable: boolean }
  /** Lets go of connections; the store's data stays where it is kept. */
  readonly close: () => Promise<void>
}

export type RunningServer = {
  readonly server: Server
  /** Where it listens, as `http://host:port` (an IPv6 host in brackets). */
  readonly url: string
  readonly ports: Ports
  /** The HTTP adapter, for what it holds open (long polls, streams). */
  readonly http: Http
  /** The structured log it writes (pino): for the lines of a program around it, such as main's shutdown lines. */
  readonly logger: Pino
  /** Stops accepting connections, releases held long polls and resolves once every connection is closed. */
  readonly close: () => Promise<void>
  /**
   * Reads AUTO_REPLY_RULES again (on SIGHUP): the new rules apply to the next
   * send; a file that does not read or parse keeps the rules in force and
   * says why. Nothing to do without AUTO_REPLY_RULES.
   */
  readonly reloadReplyRules: () => E.Either<ReadonlyArray<string>, number>
}

export type StartOptions = {
  /** The structured log (pino); by default one on standard output, at LOG_LEVEL, in LOG_FORMAT. */
  readonly logger?: Pino
  /** Where errors go (the store failing, a bug) instead of the structured log's error level. */
  readonly log?: Logger
  /** Reads AUTO_REPLY_RULES (at start and on a reload); the file system by default. */
  readonly readFile?: (path: string) => string
  /**
   * `'listener'` (the default, as `npm start`) serves the request listener
   * on node:http; `'koa'` serves the Koa app of `createApp`, as a program
   * that embeds it mounts it. Both are the same pipeline.
   */
  readonly mount?: 'listener' | 'koa'
  /** Changes to the HTTP adapter's dependencies past what the configuration sets: for tests and embedding programs. */
  readonly adjust?: (deps: AppDeps) => AppDeps
  /** The server's timeouts in milliseconds, instead of the configuration's seconds: for tests. */
  readonly timeouts?: ServerTimeouts
}

/** Buckets each limiter keeps at most: far more players or clients than are active in one window, about 20 MB at the most. */
export const RATE_LIMIT_KEYS_MAX = 100_000

/** A retried request is recognised for a day, longer than any client keeps retrying. */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000

/** Requests still running this long after a stop is asked for are cut off. */
const SHUTDOWN_GRACE_MS = 5_000

const consoleLog: Logger = { error: (message, detail) => console.error(message, detail ?? '') }

/**
 * The ports the configuration asks for. `STORE` names the store: `memory`
 * (one process, forgotten on restart) or `redis` (shared by every process
 * on one Redis, kept as long as Redis keeps it). Redis is connected in the
 * background: a Redis that is away at start-up is retried like one that
 * went away, and meanwhile every port answers StoreUnavailable at once.
 */
export const buildPorts = (config: Config, log: Logger = consoleLog, onDiscarded?: DiscardObserver): Ports => {
  const discards = onDiscarded === undefined ? {} : { onDiscarded }
  switch (config.STORE) {
    case 'memory': {
      // The store queues each message for the targets that want it in the step that stores it.
      const outbound = createMemoryOutboundQueues({ routes: config.WEBHOOKS.map(routeOf), clock: systemClock })
      const store = createMemoryMessageStore({
        maxMessages: config.MAX_MESSAGES,
        maxChannels: config.MAX_CHANNELS,
        ...(config.WEBHOOKS.length === 0 ? {} : { onStored: outbound.offer, onRemoved: outbound.withdraw }),
        ...discards,
      })
      return {
        messages: store,
        feed: store,
        mutes: createMemoryMutes(),
        audit: createMemoryAuditLog({ maxEntries: config.AUDIT_LOG_MAX }),
        outbound: { queues: outbound, durable: false },
        idempotencyKeys: createMemoryIdempotencyKeys({ maxKeys: config.IDEMPOTENCY_KEYS_MAX, retentionMs: IDEMPOTENCY_RETENTION_MS }),
        rateLimiter: () => createMemoryRateLimiter({ maxKeys: RATE_LIMIT_KEYS_MAX }),
        status: () => ({ store: 'memory', available: true }),
        writable: () => Promise.resolve(undefined),
        close: async () => undefined,
      }
    }
    case 'redis': {
      const connection = connectRedis({ url: config.REDIS_URL, log: (message, detail) => log.error(message, detail) })
      const prefix = config.REDIS_PREFIX
      const routes = config.WEBHOOKS.map(routeOf)
      const store = createRedisMessageStore({
        connection,
        prefix,
        maxMessages: config.MAX_MESSAGES,
        maxChannels: config.MAX_CHANNELS,
        outbound: routes,
        log: (m, d) => log.error(m, d),
        ...discards,
      })
      const outbound = createRedisOutboundQueues({ connection, prefix, routes, heard: store.heard, decode: store.decodeQueued, log: (m, d) => log.error(m, d) })
      const mutes = createRedisMutes({ connection, prefix, log: (m, d) => log.error(m, d) })
      return {
        messages: store,
        feed: store,
        mutes,
        audit: createRedisAuditLog({ connection, prefix, maxEntries: config.AUDIT_LOG_MAX, log: (m, d) => log.error(m, d) }),
        outbound: { queues: outbound, durable: true },
        idempotencyKeys: createRedisIdempotencyKeys({ connection, prefix, maxKeys: config.IDEMPOTENCY_KEYS_MAX, retentionMs: IDEMPOTENCY_RETENTION_MS }),
        rateLimiter: (scope) => createRedisRateLimiter({ connection, prefix: `${prefix}:${scope}` }),
        status: () => ({ store: 'redis', available: connection.ready() }),
        writable: redisWriteProbe(connection, prefix),
        close: async () => {
          await mutes.close()
          await store.close()
          await connection.close()
        },
      }
    }
  }
}

/** The HTTP adapter's dependencies as the configuration sets them. */
export const httpDeps = (config: Config, ports: Ports, shutdown: AbortSignal, log: Logger): AppDeps => ({
  messages: ports.messages,
  feed: ports.feed,
  idempotencyKeys: ports.idempotencyKeys,
  clock: systemClock,
  timer: systemTimer,
  autoReply: autoReplyFromTemplate(config.AUTO_REPLY),
  maxMessageLength: config.MAX_MESSAGE_LENGTH,
  corsOrigins: config.CORS_ORIGINS,
  longPollMaxSeconds: config.LONG_POLL_MAX_SECONDS,
  maxLongPolls: config.MAX_LONG_POLLS,
  maxStreams: config.MAX_STREAMS,
  maxStreamsPerAddress: config.MAX_STREAMS_PER_ADDRESS,
  heartbeatMs: config.STREAM_HEARTBEAT_SECONDS * 1000,
  idleTimeoutMs: config.IDLE_TIMEOUT_SECONDS * 1000,
  contentPolicy: defaultContentPolicy({ blockedWords: config.BLOCKED_WORDS }),
  trustProxy: config.TRUST_PROXY,
  // One limiter per scope, each bounded: a bucket refilled to full is forgotten, and past the bound the least recently used goes.
  ...(config.PLAYER_RATE_LIMIT === undefined ? {} : { playerRateLimit: { limiter: ports.rateLimiter('player'), limit: config.PLAYER_RATE_LIMIT } }),
  ...(config.CLIENT_RATE_LIMIT === undefined ? {} : { clientRateLimit: { limiter: ports.rateLimiter('client'), limit: config.CLIENT_RATE_LIMIT } }),
  status: ports.status,
  writable: ports.writable,
  mutes: ports.mutes,
  audit: ports.audit,
  ...(config.ROBLOX_WEBHOOK_SECRET === undefined ? {} : { robloxWebhookSecret: config.ROBLOX_WEBHOOK_SECRET }),
  auth: createAuth({
    keys: keysOf(config),
    tokenSeconds: config.STREAM_TOKEN_SECONDS,
    ...(config.STREAM_TOKEN_SECRET === undefined ? {} : { tokenSecret: config.STREAM_TOKEN_SECRET }),
  }),
  shutdown,
  log,
})

/** The configured keys with their scopes: plain keys read and send, admin keys do everything. */
const keysOf = (config: Config): ReadonlyArray<KeyConfig> => [
  ...config.API_KEYS.map((k) => ({ ...k, scopes: PLAIN_SCOPES })),
  ...config.ADMIN_KEYS.map((k) => ({ ...k, scopes: ADMIN_SCOPES })),
]

/** What an operator must hear at start-up: a server open to anyone who knows its address. */
export const startupWarnings = (config: Config): ReadonlyArray<string> => {
  const warnings: string[] = []
  if (config.API_KEYS.length === 0 && config.ADMIN_KEYS.length === 0)
    warnings.push(
      'WARNING: no API_KEYS or ADMIN_KEYS are set: anyone who can reach this server may read every message, send as anyone and clear the history ' +
        '(web pages on other sites may not change anything). Set API_KEYS (read and send) and ADMIN_KEYS (and clear) before exposing it.',
    )
  if (config.API_KEYS.length === 0 && config.ADMIN_KEYS.length === 0 && config.PLAYER_RATE_LIMIT === undefined && config.CLIENT_RATE_LIMIT === undefined)
    warnings.push('WARNING: neither PLAYER_RATE_LIMIT nor CLIENT_RATE_LIMIT is set: one client or player may send as fast as it likes.')
  return warnings
}

/** The reply rules of AUTO_REPLY_RULES as they stand, and their reload: a bad file keeps the rules in force. */
const replyRulesOf = (config: Config, readFile: (path: string) => string) => {
  const load = (): E.Either<ReadonlyArray<string>, ReadonlyArray<ReplyRule>> => {
    if (config.AUTO_REPLY_RULES === undefined) return E.right([])
    let text: string
    try {
      text = readFile(config.AUTO_REPLY_RULES)
    } catch (err) {
      return E.left([`AUTO_REPLY_RULES must name a readable file, got ${JSON.stringify(config.AUTO_REPLY_RULES)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`])
    }
    return parseReplyRules(text, 'AUTO_REPLY_RULES')
  }
  const first = load()
  // readConfig has read and checked the file already; one that changed since is refused here the same way.
  if (E.isLeft(first)) throw new Error(first.left.join('; '))
  let current = first.right
  return {
    current: () => current,
    reload: (): E.Either<ReadonlyArray<string>, number> => {
      const next = load()
      if (E.isRight(next)) current = next.right
      return E.map((rules: ReadonlyArray<ReplyRule>) => rules.length)(next)
    },
  }
}

/** The package's version, from its package.json (beside the sources, or two levels above dist/composition). */
export const packageVersion = (): string => {
  for (const file of [join(__dirname, '..', 'package.json'), join(__dirname, '..', '..', 'package.json')]) {
    if (!existsSync(file)) continue
    const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string }
    if (pkg.name === 'roblox-messaging-server' && pkg.version !== undefined) return pkg.version
  }
  return '0.0.0'
}

/** What the stores discard, counted (see DiscardObserver). */
const countDiscards = (metrics: Metrics): DiscardObserver => (discarded) => (discarded.reason === 'evicted' ? metrics.evicted(discarded.count) : metrics.cleared(discarded.count))

/** At most this many model calls at once (see modelReplies). */
const MODEL_CALLS_MAX = 16

/** The model reply of AUTO_REPLY_MODEL_URL, when set: asked after each player's message is stored, its reply stored as a late reply. */
const modelRepliesOf = (config: Config, ports: Ports, log: Logger, metrics: Metrics | undefined): ModelReplies | undefined => {
  if (config.AUTO_REPLY_MODEL_URL === undefined || config.AUTO_REPLY_MODEL === undefined) return undefined
  return modelReplies({
    model: createChatModel({
      url: config.AUTO_REPLY_MODEL_URL,
      model: config.AUTO_REPLY_MODEL,
      ...(config.AUTO_REPLY_MODEL_KEY === undefined ? {} : { apiKey: config.AUTO_REPLY_MODEL_KEY }),
      systemPrompt: config.AUTO_REPLY_MODEL_PROMPT,
      timeoutMs: config.AUTO_REPLY_MODEL_TIMEOUT_SECONDS * 1000,
      // Enough for a chat-sized answer; the reply is cut to MAX_MESSAGE_LENGTH anyway.
      maxTokens: 200,
      userAgent: 'roblox-messaging-server (model reply)',
    }),
    replyLater: replyLater({ messages: ports.messages, clock: systemClock, maxMessageLength: config.MAX_MESSAGE_LENGTH }),
    maxMessageLength: config.MAX_MESSAGE_LENGTH,
    policy: defaultContentPolicy({ blockedWords: config.BLOCKED_WORDS }),
    maxInFlight: MODEL_CALLS_MAX,
    onOutcome: (outcome) => {
      metrics?.modelReply(outcome._tag === 'Replied' ? 'replied' : 'failed')
      // The message's id, never its text.
      if (outcome._tag === 'Failed') log.error(`model reply to message ${outcome.to.id}: none`, outcome.reason)
    },
  })
}

/** The ports with every stored player's message handed to the model, after the append answered: the send never waits for it. */
const withModelReplies = (ports: Ports, model: ModelReplies): Ports => ({
  ...ports,
  messages: {
    ...ports.messages,
    append: (request) => () =>
      ports.messages.append(request)().then((stored) => {
        if (E.isRight(stored)) model.after(stored.right.message)
        return stored
      }),
  },
})

const settledWithin = (model: ModelReplies, ms: number): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    void model.settled().then(() => {
      clearTimeout(timer)
      resolve()
    })
  })

/** What the delivery loop does, counted. */
const countDeliveries =
  (metrics: Metrics) =>
  (event: OutboundEvent): void => {
    if (event._tag === 'Delivered') metrics.delivery(event.target, 'delivered')
    else if (event._tag === 'Retried') metrics.delivery(event.target, 'retried')
    else if (event._tag === 'Refused') metrics.delivery(event.target, 'refused')
    else if (event._tag === 'Paused') metrics.paused(event.target)
  }

/** A target's queue as its gauges show it; nothing while the store cannot say. */
const outboundGauge = (t: TargetStatus): ReadonlyArray<OutboundGauge> =>
  t.stats === undefined ? [] : [{ target: t.name, queued: t.stats.queued, dropped: t.stats.dropped, paused: t.stats.delivery?.state === 'paused' }]

/** Builds the ports and the HTTP adapter from a decoded configuration and starts listening. */
export const startServer = async (config: Config, options: StartOptions = {}): Promise<RunningServer> => {
  const logger = options.logger ?? createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT })
  const log = options.log ?? errorLog(logger)
  const readFile = options.readFile ?? ((path: string) => readFileSync(path, 'utf8'))
  const metrics = config.METRICS ? createMetrics() : undefined
  const built = buildPorts(config, log, metrics === undefined ? undefined : countDiscards(metrics))
  // Store latency is measured for a store over the network; the memory store's calls are only counted.
  const measured = metrics === undefined ? built : measuredPorts(built, metrics, { latency: config.STORE !== 'memory' })
  const model = modelRepliesOf(config, measured, log, metrics)
  const ports = model === undefined ? measured : withModelReplies(measured, model)
  if (config.WEBHOOKS.length > 0 && ports.outbound === undefined) throw new Error(`WEBHOOKS: the ${config.STORE} store keeps no outbound queues`)
  const outbound =
    config.WEBHOOKS.length === 0 || ports.outbound === undefined ? undefined : startOutbound(config.WEBHOOKS, ports.outbound, log, metrics === undefined ? undefined : countDeliveries(metrics))
  if (outbound !== undefined) metrics?.watchOutbound(async () => (await outbound.status()).flatMap(outboundGauge))
  const rules = replyRulesOf(config, readFile)
  const shutdown = new AbortController()
  const observe = httpObserver(logger, metrics, options.logger === undefined)
  const configured = httpDeps(config, ports, shutdown.signal, log)
  const base: AppDeps = {
    ...configured,
    version: packageVersion(),
    ...(observe === undefined ? {} : { observe }),
    ...(metrics === undefined
      ? {}
      : { metrics: { text: metrics.text, contentType: metrics.contentType, ...(config.METRICS_KEY === undefined ? {} : { key: config.METRICS_KEY }) } }),
    ...(outbound === undefined ? {} : { outbound: outbound.status }),
    ...(config.AUTO_REPLY_RULES === undefined
      ? {}
      : { replies: replyByRules({ rules: rules.current, cooldowns: ports.rateLimiter('reply'), fallback: configured.autoReply, maxLength: config.MAX_MESSAGE_LENGTH }) }),
  }
  const deps = options.adjust === undefined ? base : options.adjust(base)
  const http = createHttp(deps)
  metrics?.watch({ heldPolls: http.heldPolls, openStreams: http.openStreams, storeUp: () => ports.status().available })
  const server = createGuardedServer(options.mount === 'koa' ? appOf(http).callback() : http.listener, {
    bodyLimit: deps.bodyLimitBytes ?? bodyLimitFor(deps.maxMessageLength),
    timeouts: options.timeouts ?? {
      headersMs: config.HEADERS_TIMEOUT_SECONDS * 1000,
      requestMs: config.REQUEST_TIMEOUT_SECONDS * 1000,
      idleMs: config.IDLE_TIMEOUT_SECONDS * 1000,
      keepAliveMs: config.KEEP_ALIVE_TIMEOUT_SECONDS * 1000,
    },
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.PORT, config.HOST, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const { address, port } = server.address() as AddressInfo
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`
  for (const warning of startupWarnings(config)) logger.warn(warning)
  logger.info({ url, version: packageVersion(), node: process.version, config: effectiveConfig(config) }, `roblox-messaging-server listening on ${url}`)
  return {
    reloadReplyRules: rules.reload,
    server,
    url,
    ports,
    http,
    logger,
    close: () =>
      new Promise<void>((resolve, reject) => {
        const grace = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS)
        let httpClosed: () => void = () => undefined
        // Nothing more is stored once the last request is answered and the model replies under way are in (up to their deadline).
        const storing = new Promise<void>((resolve) => (httpClosed = resolve)).then(() => (model === undefined ? undefined : settledWithin(model, OUTBOUND_SHUTDOWN_MS)))
        // Queued deliveries go on meanwhile, up to their deadline, and go on waiting for what is still being stored; what is left then is counted.
        const delivering = Promise.all([outbound?.stop(OUTBOUND_SHUTDOWN_MS, storing), storing])
        server.close((err) => {
          clearTimeout(grace)
          httpClosed()
          // The store's connections go last: answers and deliveries under way still use them.
          delivering.then(() => ports.close()).then(
            () => (err ? reject(err) : resolve()),
            (closing: unknown) => reject(err ?? closing),
          )
        })
        // Held long polls are answered and streams end; idle keep-alive sockets close now, busy ones after their answer.
        shutdown.abort()
        server.closeIdleConnections()
      }),
  }
}
