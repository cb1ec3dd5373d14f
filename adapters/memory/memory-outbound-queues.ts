import * as E from 'fp-ts/Either'
import * as TE from 'fp-ts/TaskEither'
import type { Clock } from '../../domain/clock'
import type { Message } from '../../domain/message'
import { routeWants, type DeliveryState, type OutboundQueues, type OutboundRoute, type QueueStats } from '../../domain/outbound'
import { Queue } from './sequence'

/*
 * The outbound queues of the memory store: one FIFO of message references
 * per target (the messages themselves are the store's), fed by the store as
 * it stores (`offer`, wired by the composition root to the store's
 * `onStored`), so a message is queued in the same step that stores it and
 * in id order. Bounded: past a target's `maxQueue` the oldest is dropped and
 * counted. Not durable: what is queued when the process stops is gone with
 * it (the delivery loop counts it as dropped). A removal takes what it
 * removed off every queue (`withdraw`, wired to the store's `onRemoved`).
 */

export type MemoryOutboundQueues = OutboundQueues & {
  /** Queues each message for every target that wants it. */
  readonly offer: (messages: ReadonlyArray<Message>) => void
  /** Takes removed messages off every queue (wired to the store's `onRemoved`): what was removed is never delivered. */
  readonly withdraw: (messages: ReadonlyArray<Message>) => void
}

type TargetQueue = {
  readonly route: OutboundRoute
  readonly queue: Queue
  dropped: number
  lease: { holder: string; until: number } | undefined
  delivery: DeliveryState | undefined
  readonly watchers: Set<() => void>
}

export const createMemoryOutboundQueues = (options: { readonly routes: ReadonlyArray<OutboundRoute>; readonly clock: Clock }): MemoryOutboundQueues => {
  const targets = new Map<string, TargetQueue>(
    options.routes.map((route) => [route.name, { route, queue: new Queue(), dropped: 0, lease: undefined, delivery: undefined, watchers: new Set() }]),
  )
  const unknown = (target: string) => E.left({ _tag: 'StoreUnavailable' as const, detail: `no outbound target named ${target}` })
  const holds = (t: TargetQueue, holder: string): boolean => t.lease !== undefined && t.lease.holder === holder && t.lease.until > options.clock.now()

  const offer = (messages: ReadonlyArray<Message>): void => {
    for (const t of targets.values()) {
      let queued = false
      for (const message of messages) {
        if (!routeWants(t.route, message)) continue
        t.queue.push(message)
        queued = true
        if (t.queue.length > t.route.maxQueue) {
          t.queue.shift()
          t.dropped++
        }
      }
      // A watcher is a hint to look; one that throws must not fail the append that stored the message.
      if (queued)
        for (const watcher of t.watchers)
          try {
            watcher()
          } catch {
            // ignored: see above
          }
    }
  }

  const withdraw = (messages: ReadonlyArray<Message>): void => {
    const ids = new Set(messages.map((m) => m.id))
    for (const t of targets.values()) if (t.queue.length > 0) t.queue.removeWhere((m) => ids.has(m.id))
  }

  return {
    offer,
    withdraw,
    peek: (target, limit) =>
      TE.fromIOEither(() => {
        const t = targets.get(target)
        if (t === undefined) return unknown(target)
        const page: Message[] = []
        for (let i = 0; i < Math.min(limit, t.queue.length); i++) page.push(t.queue.at(i))
        return E.right(page)
      }),
    ack: (target, holder, throughId, dropped) =>
      TE.fromIOEither(() => {
        const t = targets.get(target)
        if (t === undefined) return unknown(target)
        if (!holds(t, holder)) return E.right(false)
        while (t.queue.length > 0 && t.queue.at(0).id <= throughId) {
          t.queue.shift()
          if (dropped !== undefined) t.dropped++
        }
        return E.right(true)
      }),
    lease: (target, holder, ms) =>
      TE.fromIOEither(() => {
        const t = targets.get(target)
        if (t === undefined) return unknown(target)
        const now = options.clock.now()
        if (t.lease !== undefined && t.lease.holder !== holder && t.lease.until > now) return E.right(false)
        t.lease = { holder, until: now + ms }
        return E.right(true)
      }),
    release: (target, holder) =>
      TE.fromIOEither(() => {
        const t = targets.get(target)
        if (t === undefined) return unknown(target)
        if (t.lease?.holder === holder) t.lease = undefined
        return E.right(undefined)
      }),
    report: (target, state) =>
      TE.fromIOEither(() => {
        const t = targets.get(target)
        if (t === undefined) return unknown(target)
        t.delivery = state
        return E.right(undefined)
      }),
    stats: (target) =>
      TE.fromIOEither(() => {
        const t = targets.get(target)
        if (t === undefined) return unknown(target)
        const stats: QueueStats = t.delivery === undefined ? { queued: t.queue.length, dropped: t.dropped } : { queued: t.queue.length, dropped: t.dropped, delivery: t.delivery }
        return E.right(stats)
      }),
    watch: (target, listener) => {
      const t = targets.get(target)
      if (t === undefined) return () => undefined
      t.watchers.add(listener)
      return () => void t.watchers.delete(listener)
    },
  }
}
