import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import * as E from 'fp-ts/Either'
import type { Logger } from '../adapters/http/app'
import { createDiscordDeliverer } from '../adapters/outbound/discord'
import { createOpenCloudDeliverer } from '../adapters/outbound/roblox-open-cloud'
import { createWebhookDeliverer } from '../adapters/outbound/webhook'
import { systemClock, systemTimer } from '../adapters/system/timer'
import { deliverOutbound, type OutboundDelivery, type OutboundEvent } from '../application/deliver-outbound'
import type { ChannelName } from '../domain/message'
import type { Deliverer, OutboundQueues, OutboundRoute, TargetStatus } from '../domain/outbound'
import type { TargetConfig } from './webhooks'

/*
 * The outbound side of the composition root: the routes each store queues
 * for, a deliverer per target kind, and the delivery loop on the store's
 * queues. Started once the server listens, stopped at shutdown with a
 * deadline.
 */

const USER_AGENT = 'roblox-messaging-server (outbound delivery)'

/** Queued deliveries are attempted this long at a shutdown; then they stay queued (Redis) or are counted as dropped (memory). */
export const OUTBOUND_SHUTDOWN_MS = 3_000

export const routeOf = (target: TargetConfig): OutboundRoute => ({
  name: target.name,
  maxQueue: target.maxQueue,
  ...(target.channels === undefined ? {} : { channels: target.channels as ReadonlyArray<ChannelName> }),
  ...(target.types === undefined ? {} : { types: target.types }),
})

export const delivererOf = (target: TargetConfig): Deliverer => {
  const common = { timeoutMs: target.timeoutMs, clock: systemClock, userAgent: USER_AGENT }
  switch (target.kind) {
    case 'http':
      return createWebhookDeliverer({ ...common, name: target.name, url: target.url, ...(target.secret === undefined ? {} : { secret: target.secret }) })
    case 'discord':
      return createDiscordDeliverer({ ...common, url: target.url, ...(target.avatarUrl === undefined ? {} : { avatarUrl: target.avatarUrl }) })
    case 'roblox':
      return createOpenCloudDeliverer({ ...common, universeId: target.universeId, apiKey: target.apiKey, topicPrefix: target.topicPrefix, apiBase: target.apiBase })
  }
}

export type Outbound = OutboundDelivery & {
  /** Every target and how it stands, for GET /api. */
  readonly status: () => Promise<ReadonlyArray<TargetStatus>>
}

/** What a delivery event says in the log: never a message's text, nor a target's secret. */
const logEvent = (log: Logger, event: OutboundEvent): void => {
  switch (event._tag) {
    case 'Refused':
      return log.error(`outbound ${event.target}: message ${event.message.id} refused for good, dropped`, event.reason)
    case 'Paused':
      return log.error(`outbound ${event.target}: paused until ${new Date(event.untilMs).toISOString()} after failing again and again`, event.reason)
    case 'LeftAtShutdown':
      return log.error(`outbound ${event.target}: ${event.count} message(s) not delivered at shutdown, ${event.kept ? 'kept queued for the next start' : 'dropped (the memory store keeps nothing)'}`)
    case 'StoreFailed':
      return log.error(`outbound ${event.target}: the store did not answer`, event.detail)
    case 'Delivered':
    case 'Retried':
      return
  }
}

export const startOutbound = (
  targets: ReadonlyArray<TargetConfig>,
  queues: { readonly queues: OutboundQueues; readonly durable: boolean },
  log: Logger,
  onEvent?: (event: OutboundEvent) => void,
): Outbound => {
  // What this process tried again, per target, for the status page (the store keeps no such count).
  const retried = new Map<string, number>(targets.map((t) => [t.name, 0]))
  // Unique among the processes sharing a store: a lease names its holder.
  const holder = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`
  const delivery = deliverOutbound(
    {
      queues: queues.queues,
      durable: queues.durable,
      clock: systemClock,
      timer: systemTimer,
      random: Math.random,
      holder,
      onEvent: (event) => {
        if (event._tag === 'Retried') retried.set(event.target, (retried.get(event.target) ?? 0) + 1)
        logEvent(log, event)
        onEvent?.(event)
      },
    },
    targets.map((target) => ({
      route: routeOf(target),
      deliverer: delivererOf(target),
      settings: { backoff: { baseMs: target.retryBaseMs, maxMs: target.retryMaxMs }, pauseAfter: target.pauseAfter, pauseMs: target.pauseMs },
    })),
  )
  return {
    stop: delivery.stop,
    status: () =>
      Promise.all(
        targets.map(async (target): Promise<TargetStatus> => {
          const stats = await queues.queues.stats(target.name)()
          const mine = { name: target.name, kind: target.kind, retried: retried.get(target.name) ?? 0 }
          return E.isRight(stats) ? { ...mine, stats: stats.right } : { ...mine, error: stats.left.detail }
        }),
      ),
  }
}
