import type * as T from 'fp-ts/Task'
import type * as TE from 'fp-ts/TaskEither'
import type { ChannelName, Message, MessageId, MessageType } from './message'
import type { StoreUnavailable } from './message-repository'

/*
 * Messages out to the world: every stored message a target wants is queued
 * for it by the store, in id order, and delivered from that queue by one
 * process at a time (the one holding the target's lease), at least once,
 * retried until the target takes it. Two ports:
 *
 * - `OutboundQueues`, kept by the store beside the messages (the memory
 *   store in memory, the Redis store in Redis, where the queue survives a
 *   restart and every process shares it): the store queues a message in the
 *   same step that stores it, so a send never waits for a delivery, no
 *   message is queued twice, and every queue is in id order. A removal
 *   takes what it removed off every queue in the step that removes it: a
 *   message removed before its delivery is never delivered.
 * - `Deliverer`, one per target kind (adapters/outbound/: a webhook over
 *   HTTP, a Discord webhook, Roblox Open Cloud's MessagingService): hands one
 *   message to the target and says what came of it.
 *
 * `application/deliver-outbound.ts` joins them: leases, retries, backoff,
 * rate limits, pauses.
 */

/** What a target asks of the store: its name, and which messages it wants (absent: every channel, and `DEFAULT_ROUTE_TYPES`). */
export type OutboundRoute = {
  /** 1–64 of A–Z a–z 0–9 _ -: names the target in keys, logs, metrics and the status page. */
  readonly name: string
  readonly channels?: ReadonlyArray<ChannelName>
  /** The types it wants; removal entries only when it names `removal`. */
  readonly types?: ReadonlyArray<MessageType>
  /** The most messages queued for it; past this the oldest are dropped, and counted. */
  readonly maxQueue: number
}

/**
 * What a target without `types` gets: the messages people read, as before
 * removals existed. A removal entry goes only to a target that asks for it
 * (one that can act on it: take the message down where it shows it).
 */
export const DEFAULT_ROUTE_TYPES: ReadonlyArray<MessageType> = ['player', 'reply']

/** Whether a route wants a message: a pure rule every store applies when it queues. */
export const routeWants = (route: Pick<OutboundRoute, 'channels' | 'types'>, message: Pick<Message, 'channel' | 'type'>): boolean =>
  (route.channels === undefined || route.channels.includes(message.channel)) && (route.types ?? DEFAULT_ROUTE_TYPES).includes(message.type)

/** A target's delivery as the process delivering it last wrote it down, for every process's status page. */
export type DeliveryState = {
  /** idle: nothing queued; delivering; retrying: the last attempt failed and another is due; paused: it kept failing, and is left alone until `until`. */
  readonly state: 'idle' | 'delivering' | 'retrying' | 'paused'
  /** When a paused target is tried again (ms since the epoch). */
  readonly until?: number
  readonly lastError?: string
  /** Failed attempts in a row. */
  readonly failures: number
  /**
   * Messages the target took from the process that wrote this state, since
   * that process started: its own count, not the queue's. It starts again
   * from 0 when the process restarts, and when another process takes the
   * lease over (that one reports its own count).
   */
  readonly delivered: number
  /** When the process delivering it last wrote this (ms since the epoch): a state older than a lease is stale. */
  readonly at: number
}

export type QueueStats = {
  readonly queued: number
  /** Messages dropped from the queue since it was made: by overflow, refused by the target, or left at a shutdown that could not keep them. */
  readonly dropped: number
  /** The delivering process's account, if one has written it. */
  readonly delivery?: DeliveryState
}

/**
 * A target as the status page shows it: its queue's stats, or why they could
 * not be read; and `retried`, the attempts this process tried again since it
 * started (its own count, as in /metrics, not the store's).
 */
export type TargetStatus = { readonly name: string; readonly kind: string; readonly stats?: QueueStats; readonly error?: string; readonly retried?: number }

/** Why messages leave a queue without being delivered. */
export type DropReason = 'refused' | 'shutdown'

export type OutboundQueues = {
  /** The target's oldest queued messages, at most `limit`, in id order. */
  readonly peek: (target: string, limit: number) => TE.TaskEither<StoreUnavailable, ReadonlyArray<Message>>
  /**
   * Takes the target's queued messages with ids up to `throughId` off its
   * queue (delivered; or given up on, counted as dropped when `dropped` says
   * why), if `holder` still holds its lease: false, and nothing removed, when
   * it does not (another process took over and delivers them).
   */
  readonly ack: (target: string, holder: string, throughId: MessageId, dropped?: DropReason) => TE.TaskEither<StoreUnavailable, boolean>
  /** Takes the right to deliver the target for `ms`, or renews it for its holder: false while another holds it. */
  readonly lease: (target: string, holder: string, ms: number) => TE.TaskEither<StoreUnavailable, boolean>
  /** Gives the lease up (at shutdown), so that another process need not wait for it to run out. */
  readonly release: (target: string, holder: string) => TE.TaskEither<StoreUnavailable, void>
  /** Writes down how the target's delivery stands, for the status page of every process. */
  readonly report: (target: string, state: DeliveryState) => TE.TaskEither<StoreUnavailable, void>
  readonly stats: (target: string) => TE.TaskEither<StoreUnavailable, QueueStats>
  /**
   * Calls `listener` when messages are queued for the target (in this
   * process or, for a shared store, another): a hint to look, never the
   * messages themselves. Returns the function that stops it.
   */
  readonly watch: (target: string, listener: () => void) => () => void
}

/** What came of handing one message to a target. */
export type DeliveryOutcome =
  /** Taken. `waitMs`: the target's rate limit is spent and refills in that long: the next request waits for it rather than be refused. */
  | { readonly _tag: 'Delivered'; readonly waitMs?: number }
  /** Not taken, and it may be later (the network, a timeout, 429, 5xx, a target that says it is not found or not allowed). `afterMs`: what the target asked for. */
  | { readonly _tag: 'Retry'; readonly reason: string; readonly afterMs?: number }
  /** Refused for good (400, 413, 422: this message will never be taken): given up on and counted, so that it does not hold up the rest. */
  | { readonly _tag: 'Refused'; readonly reason: string }

export type Deliverer = {
  /** Never rejects: every failure is an outcome. `signal` cuts an attempt short (at shutdown): it is then a Retry. */
  readonly deliver: (message: Message, signal?: AbortSignal) => T.Task<DeliveryOutcome>
}

/**
 * The wait before attempt `failures + 1` after `failures` failed in a row:
 * exponential from `baseMs`, capped at `maxMs`, with jitter (somewhere
 * between half of it and all of it, by `random` in [0, 1)), so that targets
 * that failed together do not all come back at once; never less than what
 * the target asked for.
 */
export const backoffMs = (failures: number, random: () => number, options: { readonly baseMs: number; readonly maxMs: number }, askedMs = 0): number => {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, failures - 1))
  return Math.max(askedMs, Math.round(ceiling / 2 + (random() * ceiling) / 2))
}
