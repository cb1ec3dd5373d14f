import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import type { AnsweredRequest, HttpObserver, Logger } from '../adapters/http/app'
import { requestWriter, type Pino, type RequestFields } from '../adapters/telemetry/logger'
import type { Metrics } from '../adapters/telemetry/metrics'
import type { Ports } from './start-server'

/*
 * Logs and metrics meet the other adapters here, so that none of them knows
 * pino or prom-client: the HTTP adapter tells an observer of each request,
 * the stores tell of what they removed, and the ports are measured from
 * outside, at their boundary, by a decorator that times every call.
 */

/**
 * The request log line's fields: the route's template, never the path (a
 * player's name, a stream token in the query), and a key by its label.
 * Built with one shape for every request.
 */
const requestFields = (r: AnsweredRequest): RequestFields => ({
  request_id: r.id,
  method: r.method,
  route: r.route,
  status: r.status,
  duration_ms: Math.round(r.ms * 1000) / 1000,
  key: r.key,
})

/**
 * What the HTTP adapter tells becomes a log line at info (a health probe or
 * a scrape: at debug, so that a load balancer asking every few seconds does
 * not fill the log) and the request metrics. Undefined when neither is
 * wanted: then the adapter does no bookkeeping at all. `ours` says the
 * logger is one createLogger made: its request lines are then written by
 * `requestWriter`, which writes what pino would at a fraction of the cost;
 * a logger from elsewhere may format its lines its own way, and gets them
 * through pino.
 */
export const httpObserver = (logger: Pino, metrics: Metrics | undefined, ours = false): HttpObserver | undefined => {
  const requests = logger.isLevelEnabled('info')
  const probes = logger.isLevelEnabled('debug')
  if (metrics === undefined && !requests && !probes) return undefined
  const writeRequest = ours ? requestWriter(logger, 'info') : (fields: RequestFields) => logger.info(fields, 'request')
  return {
    answered: (r) => {
      if (r.probe) {
        if (probes) logger.debug(requestFields(r), 'probe')
        return
      }
      metrics?.request(r.method, r.route, r.status, r.ms / 1000)
      if (requests) writeRequest(requestFields(r))
    },
    refused: (status, reason) => metrics?.refused(status, reason),
    replayed: () => metrics?.replayed(),
  }
}

/** The HTTP adapter's error log (the store failing, a bug), as pino error lines with the request's id. */
export const errorLog = (logger: Pino): Logger => ({
  error: (message, detail, fields) => logger.error({ ...fields, err: detail }, message),
})

/** A failure of the store itself, as opposed to a refusal it answers (a channel limit, a key in use). */
const storeFailed = (result: E.Either<unknown, unknown>): boolean =>
  E.isLeft(result) && typeof result.left === 'object' && result.left !== null && (result.left as { _tag?: unknown })._tag === 'StoreUnavailable'

/**
 * The ports, each call timed and its failures counted under the name of its
 * operation, and the messages an append stored counted: measured at the
 * boundary, whatever the store, so no adapter carries metrics of its own.
 *
 * `latency: false` (the memory store) counts what was stored and nothing
 * else: a store in the process never fails and answers in a microsecond,
 * and timing each of its calls (two rate-limit takes and an append per send
 * with limits on) cost a send more CPU than the store itself.
 */
export const measuredPorts = (ports: Ports, metrics: Metrics, options: { readonly latency: boolean } = { latency: true }): Ports => {
  const timed =
    <L, A>(operation: string, task: TE.TaskEither<L, A>, then?: (a: A) => void): TE.TaskEither<L, A> =>
    () => {
      const start = options.latency ? performance.now() : 0
      return task().then((result) => {
        if (options.latency) metrics.storeOperation(operation, (performance.now() - start) / 1000, storeFailed(result))
        if (then !== undefined && E.isRight(result)) then(result.right)
        return result
      })
    }
  if (!options.latency)
    return {
      ...ports,
      messages: {
        ...ports.messages,
        append: (request) =>
          timed('append', ports.messages.append(request), (conversation) => {
            metrics.stored('player', 1)
            if (conversation.reply !== undefined) metrics.stored('reply', 1)
          }),
        appendReply: (reply) => timed('append_reply', ports.messages.appendReply(reply), () => metrics.stored('reply', 1)),
      },
    }
  const { messages, idempotencyKeys, rateLimiter, mutes, audit } = ports
  return {
    ...ports,
    // noneInForce is a read of this process's own copy, no store call: it passes through unmeasured.
    mutes: {
      put: (mute) => timed('mute_put', mutes.put(mute)),
      lift: (playerName, now) => timed('mute_lift', mutes.lift(playerName, now)),
      inForce: (now) => timed('mutes_in_force', mutes.inForce(now)),
      find: (sender, now) => timed('mute_find', mutes.find(sender, now)),
      noneInForce: mutes.noneInForce,
    },
    audit: {
      record: (record) => timed('audit_record', audit.record(record)),
      read: (query) => timed('audit_read', audit.read(query)),
    },
    messages: {
      append: (request) =>
        timed('append', messages.append(request), (conversation) => {
          metrics.stored('player', 1)
          if (conversation.reply !== undefined) metrics.stored('reply', 1)
        }),
      list: (query) => timed('list', messages.list(query)),
      clear: (scope) => timed('clear', messages.clear(scope)),
      channels: () => timed('channels', messages.channels()),
      remove: (request) => timed('remove', messages.remove(request)),
      appendReply: (reply) => timed('append_reply', messages.appendReply(reply), () => metrics.stored('reply', 1)),
    },
    idempotencyKeys: {
      claim: (key, fingerprint) => timed('idempotency_claim', idempotencyKeys.claim(key, fingerprint)),
      complete: (key, fingerprint, conversation) => timed('idempotency_complete', idempotencyKeys.complete(key, fingerprint, conversation)),
      release: (key) => timed('idempotency_release', idempotencyKeys.release(key)),
    },
    rateLimiter: (scope) => {
      const limiter = rateLimiter(scope)
      return {
        take: (key, limit, cost) => timed('rate_limit_take', limiter.take(key, limit, cost)),
        giveBack: (key, limit, cost) => timed('rate_limit_give_back', limiter.giveBack(key, limit, cost)),
      }
    },
  }
}
