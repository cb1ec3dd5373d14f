import * as E from 'fp-ts/Either'
import type { Clock, Timer } from '../domain/clock'
import type { Message } from '../domain/message'
import { backoffMs, type Deliverer, type DeliveryOutcome, type DeliveryState, type OutboundQueues, type OutboundRoute } from '../domain/outbound'

/*
 * Delivers every target's queue (domain/outbound.ts), each by its own loop:
 *
 * 1. Take the target's lease, or wait while another process holds it: one
 *    process delivers a target at a time, so its messages go out once and in
 *    id order however many processes share the store.
 * 2. Take the oldest queued messages and hand them over one by one, in
 *    order; a message leaves the queue only once the target took it (at
 *    least once: a process that dies between the two leaves it for the next
 *    holder), or refused it for good (counted as dropped).
 * 3. A failure is tried again, the same message, after an exponential
 *    backoff with jitter, never sooner than the target asked for; after
 *    `pauseAfter` failures in a row the target is paused for `pauseMs`, its
 *    state on every status page, and then tried again. A target whose rate
 *    limit is spent is waited for before the next message, not refused.
 * 4. With nothing queued, wait to be told of a message (or renew the lease).
 *
 * Waits longer than a third of the lease are cut into pieces, renewing the
 * lease between them, and an attempt renews it every third of a lease while
 * it is in flight (a target's timeout may be far longer than a lease), so a
 * paused, rate-limited or slow target is never taken over in the middle of
 * a wait or an attempt. A process that lost its lease all the same (it
 * stalled past it) takes nothing off the queue: the store refuses its ack,
 * and it goes back to waiting for the lease. Nothing here throws: a store that fails is
 * waited out like a target that fails.
 */

export type OutboundSettings = {
  /** How long a lease lasts unless renewed: a dead holder's targets are taken over after this. */
  readonly leaseMs: number
  /** Messages taken from a queue at once. */
  readonly batch: number
  readonly backoff: { readonly baseMs: number; readonly maxMs: number }
  /** Failed attempts in a row after which a target is paused. */
  readonly pauseAfter: number
  readonly pauseMs: number
}

export const DEFAULT_OUTBOUND_SETTINGS: OutboundSettings = {
  leaseMs: 15_000,
  batch: 20,
  backoff: { baseMs: 1_000, maxMs: 60_000 },
  pauseAfter: 10,
  pauseMs: 5 * 60_000,
}

export type OutboundTarget = {
  readonly route: OutboundRoute
  readonly deliverer: Deliverer
  /** This target's own retry and pause settings, over the loop's. */
  readonly settings?: Partial<Pick<OutboundSettings, 'backoff' | 'pauseAfter' | 'pauseMs'>>
}

/** What happened, for metrics and logs: counted per target in this process. */
export type OutboundEvent =
  | { readonly _tag: 'Delivered'; readonly target: string; readonly message: Message }
  | { readonly _tag: 'Retried'; readonly target: string; readonly reason: string }
  | { readonly _tag: 'Refused'; readonly target: string; readonly message: Message; readonly reason: string }
  | { readonly _tag: 'Paused'; readonly target: string; readonly untilMs: number; readonly reason: string }
  | { readonly _tag: 'LeftAtShutdown'; readonly target: string; readonly count: number; readonly kept: boolean }
  | { readonly _tag: 'StoreFailed'; readonly target: string; readonly detail: string }

export type OutboundDeps = {
  readonly queues: OutboundQueues
  /** Whether queued messages outlive this process (a networked store keeps them; memory does not). */
  readonly durable: boolean
  readonly clock: Clock
  readonly timer: Timer
  /** In [0, 1): the jitter of backoffs. */
  readonly random: () => number
  /** This process, as the holder of leases: unique among the processes sharing the store. */
  readonly holder: string
  readonly settings?: OutboundSettings
  readonly onEvent?: (event: OutboundEvent) => void
}

export type OutboundDelivery = {
  /**
   * Stops every loop: they go on delivering what is queued until `deadlineMs`
   * from now, then stop at once. `storing` settles once nothing more can be
   * stored (the HTTP side has answered its last request, model replies are
   * in): until then, or the deadline, a loop with nothing queued waits for
   * more rather than stop, so a message stored during a shutdown is still
   * delivered. What is left at the end stays queued when the store is
   * durable, and is otherwise counted as dropped, once `storing` has settled
   * (so that what came in after the deadline is counted too); either way a
   * LeftAtShutdown per target says how many. Leases are given up. Resolves
   * once every loop has stopped and what was left is counted.
   */
  readonly stop: (deadlineMs: number, storing?: Promise<unknown>) => Promise<void>
}

/** A wait that ends early when `wake` is called (or was, since the last wait ended) or the loop is stopped. */
type Sleeper = { readonly sleep: (ms: number) => Promise<void>; readonly wake: () => void }

export const deliverOutbound = (deps: OutboundDeps, targets: ReadonlyArray<OutboundTarget>): OutboundDelivery => {
  const loopSettings = deps.settings ?? DEFAULT_OUTBOUND_SETTINGS
  const emit = (event: OutboundEvent): void => {
    try {
      deps.onEvent?.(event)
    } catch {
      // A listener's mistake must not stop deliveries.
    }
  }
  let stopping = false
  // Nothing more can be stored: an idle loop may stop.
  let storingDone = false
  let hardStopAt = Number.POSITIVE_INFINITY
  // Aborted at the shutdown deadline: a delivery still under way then is cut short, and tried again by the next holder.
  const deadline = new AbortController()
  const sleepers = new Set<Sleeper>()
  const stopped = (): boolean => stopping && deps.clock.now() >= hardStopAt

  const sleeper = (): Sleeper => {
    let wakeNow: (() => void) | undefined
    // A wake with no one asleep (a message queued while the loop was busy) ends the next wait at once: none is lost.
    let woken = false
    const self: Sleeper = {
      sleep: (ms) =>
        new Promise<void>((resolve) => {
          if (woken || stopped()) {
            woken = false
            return resolve()
          }
          let cancel: (() => void) | undefined
          const done = (): void => {
            cancel?.()
            wakeNow = undefined
            woken = false
            resolve()
          }
          wakeNow = done
          cancel = deps.timer.after(Math.min(ms, Math.max(0, hardStopAt - deps.clock.now())), done)
        }),
      wake: () => {
        if (wakeNow === undefined) woken = true
        else wakeNow()
      },
    }
    sleepers.add(self)
    return self
  }

  const run = async (target: OutboundTarget): Promise<void> => {
    const name = target.route.name
    const settings: OutboundSettings = { ...loopSettings, ...target.settings }
    const { queues } = deps
    const nap = sleeper()
    const unwatch = queues.watch(name, nap.wake)
    let holding = false
    let leaseUntil = 0
    let failures = 0
    let delivered = 0
    let storeFailures = 0
    let lastError: string | undefined
    let nextRequestAt = 0
    let reported: DeliveryState['state'] | undefined

    const report = async (state: DeliveryState['state'], until?: number): Promise<void> => {
      reported = state
      const written: DeliveryState = { state, failures, delivered, at: deps.clock.now(), ...(until === undefined ? {} : { until }), ...(lastError === undefined ? {} : { lastError }) }
      await queues.report(name, written)()
    }
    const storeFailed = async (detail: string): Promise<void> => {
      emit({ _tag: 'StoreFailed', target: name, detail })
      storeFailures++
      holding = false
      await nap.sleep(backoffMs(storeFailures, deps.random, { baseMs: 500, maxMs: 15_000 }))
    }
    /** Takes or renews the lease; false (and not holding) when another holds it or the store fails. */
    const renew = async (): Promise<boolean> => {
      const taken = await queues.lease(name, deps.holder, settings.leaseMs)()
      if (E.isLeft(taken)) {
        await storeFailed(taken.left.detail)
        return false
      }
      holding = taken.right
      if (holding) leaseUntil = deps.clock.now() + settings.leaseMs
      return holding
    }
    /** Waits `ms` while keeping the lease; false when it was lost (or the loop stopped) on the way. */
    const holdFor = async (ms: number): Promise<boolean> => {
      const end = deps.clock.now() + ms
      for (;;) {
        const left = end - deps.clock.now()
        if (left <= 0) return !stopped()
        if (stopped()) return false
        if (leaseUntil - deps.clock.now() < settings.leaseMs / 2 && !(await renew())) return false
        await nap.sleep(Math.min(left, settings.leaseMs / 3))
      }
    }

    /**
     * One attempt, with the lease renewed every third of it while the attempt
     * is in flight (a target may take longer to answer than a lease lasts):
     * a live holder never loses its lease to a slow target. Should a renewal
     * find the lease held by another (this process stalled past it), the
     * attempt is cut short and `lost` says so.
     */
    const attempt = async (message: Message): Promise<{ readonly outcome: DeliveryOutcome; readonly lost: boolean }> => {
      const taken = new AbortController()
      let inFlight = true
      let cancel: (() => void) | undefined
      const renewLater = (): void => {
        cancel = deps.timer.after(settings.leaseMs / 3, () => {
          const asked = deps.clock.now()
          void queues.lease(name, deps.holder, settings.leaseMs)().then((renewed) => {
            if (!inFlight) return
            if (E.isRight(renewed) && !renewed.right) {
              holding = false
              taken.abort()
              return
            }
            // A store that did not answer is asked again at the next tick; the lease is at least as long as three of them.
            if (E.isRight(renewed)) leaseUntil = asked + settings.leaseMs
            renewLater()
          })
        })
      }
      renewLater()
      try {
        const outcome = await target.deliverer.deliver(message, AbortSignal.any([deadline.signal, taken.signal]))()
        return { outcome, lost: taken.signal.aborted }
      } finally {
        inFlight = false
        cancel?.()
      }
    }

    /** Hands over one message until it is taken or refused; false when the lease was lost or the loop stopped first. */
    const deliverOne = async (message: Message): Promise<boolean> => {
      for (;;) {
        if (stopped()) return false
        const wait = nextRequestAt - deps.clock.now()
        if (wait > 0 && !(await holdFor(wait))) return false
        if (leaseUntil - deps.clock.now() < settings.leaseMs / 2 && !(await renew())) return false
        if (reported !== 'delivering') await report('delivering')
        const { outcome, lost } = await attempt(message)
        if (outcome._tag === 'Delivered' || outcome._tag === 'Refused') {
          // Only while holding the lease (the store checks it too): a process that lost it leaves the queue to the one that took it over.
          const acked = lost ? E.right(false) : await queues.ack(name, deps.holder, message.id, outcome._tag === 'Refused' ? 'refused' : undefined)()
          if (E.isLeft(acked)) {
            // Taken but not yet off the queue: it goes out again once the store answers (at least once).
            await storeFailed(acked.left.detail)
            return false
          }
          if (!acked.right) holding = false
          failures = 0
          lastError = undefined
          if (outcome._tag === 'Delivered') {
            delivered++
            nextRequestAt = outcome.waitMs === undefined ? 0 : deps.clock.now() + outcome.waitMs
            emit({ _tag: 'Delivered', target: name, message })
          } else emit({ _tag: 'Refused', target: name, message, reason: outcome.reason })
          return acked.right
        }
        // Cut short because another process holds the lease now: its holder delivers the message; not a failure of the target.
        if (lost) return false
        failures++
        lastError = outcome.reason
        emit({ _tag: 'Retried', target: name, reason: outcome.reason })
        if (failures >= settings.pauseAfter && failures % settings.pauseAfter === 0) {
          const until = deps.clock.now() + settings.pauseMs
          emit({ _tag: 'Paused', target: name, untilMs: until, reason: outcome.reason })
          await report('paused', until)
          if (!(await holdFor(settings.pauseMs))) return false
        } else {
          await report('retrying')
          if (!(await holdFor(backoffMs(failures, deps.random, settings.backoff, outcome.afterMs)))) return false
        }
      }
    }

    try {
      while (!stopped()) {
        if (!holding) {
          if (!(await renew())) {
            if (stopping) break
            // Another process delivers this target (or the store is away): look again before its lease could run out.
            await nap.sleep(settings.leaseMs / 2)
            continue
          }
        }
        const batch = await queues.peek(name, settings.batch)()
        if (E.isLeft(batch)) {
          await storeFailed(batch.left.detail)
          continue
        }
        storeFailures = 0
        if (batch.right.length === 0) {
          if (stopping && storingDone) break
          if (reported !== 'idle') await report('idle')
          // Told of a message, or time to renew the lease.
          await nap.sleep(settings.leaseMs / 3)
          if (!stopped() && !(await renew())) continue
          continue
        }
        for (const message of batch.right) if (!(await deliverOne(message))) break
      }
    } finally {
      unwatch()
      sleepers.delete(nap)
      // A durable queue is handed over at once; one that is not is counted once nothing more can be stored (below).
      if (holding && deps.durable) await keptAtShutdown(name)
    }
  }

  /** At the end, durable: what is still queued stays for the next holder, and is said; the lease is given up. */
  const keptAtShutdown = async (name: string): Promise<void> => {
    const left = await deps.queues.stats(name)()
    const count = E.isRight(left) ? left.right.queued : 0
    if (count > 0) emit({ _tag: 'LeftAtShutdown', target: name, count, kept: true })
    await deps.queues.release(name, deps.holder)()
  }

  /**
   * At the end, not durable: what is still queued (left by the loop, or
   * stored after it stopped) goes with the process, so it is counted as
   * dropped and said. Under the lease, taken again if it ran out; skipped
   * when another holder has it (it delivers them).
   */
  const droppedAtShutdown = async (name: string): Promise<void> => {
    const taken = await deps.queues.lease(name, deps.holder, loopSettings.leaseMs)()
    if (E.isLeft(taken) || !taken.right) return
    const newest = await deps.queues.peek(name, Number.MAX_SAFE_INTEGER)()
    const left = E.isRight(newest) ? newest.right : []
    const last = left[left.length - 1]
    if (last !== undefined) {
      const acked = await deps.queues.ack(name, deps.holder, last.id, 'shutdown')()
      if (E.isRight(acked) && acked.right) emit({ _tag: 'LeftAtShutdown', target: name, count: left.length, kept: false })
    }
    await deps.queues.release(name, deps.holder)()
  }

  const loops = targets.map((target) => run(target))

  return {
    stop: async (deadlineMs, storing) => {
      stopping = true
      hardStopAt = deps.clock.now() + deadlineMs
      const stored = (storing ?? Promise.resolve()).then(
        () => undefined,
        () => undefined,
      )
      if (storing === undefined) storingDone = true
      else
        void stored.then(() => {
          storingDone = true
          for (const s of sleepers) s.wake()
        })
      // Idle loops stop once nothing more can be stored; the rest deliver until the deadline, when every wait ends.
      for (const s of sleepers) s.wake()
      const ending = deps.timer.after(deadlineMs, () => {
        deadline.abort()
        for (const s of sleepers) s.wake()
      })
      await Promise.all(loops)
      ending()
      if (deps.durable) return
      await stored
      for (const target of targets) await droppedAtShutdown(target.route.name)
    },
  }
}
