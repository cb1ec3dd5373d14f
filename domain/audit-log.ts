import type * as TE from 'fp-ts/TaskEither'
import type { MessageId } from './message'
import type { StoreUnavailable } from './message-repository'

/*
 * The audit log: what admins did (and Roblox, through its Right to Erasure
 * webhook), who, when and to what. Kept by the store, beside the messages
 * (bounded in memory, capped in Redis), read back by GET /api/admin/audit.
 * It never holds a message's text, nor a key's secret: an entry names the
 * message by id, the player by the name and user id the action was asked
 * for, the actor by its key's label.
 */

/** What was done, and to what. */
export type AuditAction =
  /** One message removed by id; `removed`: every id the removal took (the message and the replies to it). */
  | { readonly action: 'remove'; readonly messageId: MessageId; readonly removed: ReadonlyArray<MessageId> }
  /** Everything a player (by name, and user id) or a Roblox user id wrote, erased; how many, in which channels; Roblox's notification id for its requests. */
  | {
      readonly action: 'erase'
      readonly playerName?: string
      readonly userId?: number
      readonly removed: number
      readonly channels: ReadonlyArray<string>
      readonly notification?: string
    }
  | { readonly action: 'mute'; readonly playerName: string; readonly userId?: number; readonly until: number; readonly reason: string }
  | { readonly action: 'unmute'; readonly playerName: string }
  /** One channel cleared, or every channel (no `channel`). */
  | { readonly action: 'clear'; readonly channel?: string }

export type AuditRecord = AuditAction & {
  /** When, in ms since the Unix epoch (the Clock's). */
  readonly at: number
  /** Who: the label of the key that asked, `open` on a server without keys, `roblox` for Roblox's webhook. */
  readonly actor: string
}

/** A record as the log keeps it, with the id it was given: ids increase with every record. */
export type AuditEntry = AuditRecord & { readonly id: number }

export type AuditQuery = {
  /** At most this many. */
  readonly limit: number
  /** Only entries with a smaller id (the `id` of the oldest one read so far, to page back). */
  readonly before?: number
}

/**
 * What of a record may go to the operator's log when the audit log could not
 * keep it: the action, when, who, and the ids and counts, never the player's
 * name, user id or a mute's reason (the log's promise, README "Logs"). The
 * name and user id are what the action was asked for, so the request that
 * asked, which the log line's request id points at, still says it.
 */
export const loggableRecord = (record: AuditRecord): Readonly<Record<string, unknown>> => {
  const kept: Record<string, unknown> = { action: record.action, at: record.at, actor: record.actor }
  switch (record.action) {
    case 'remove':
      kept.message_id = record.messageId
      kept.removed = record.removed
      break
    case 'erase':
      kept.removed = record.removed
      kept.channels = record.channels
      kept.by_name = record.playerName !== undefined
      kept.by_user_id = record.userId !== undefined
      if (record.notification !== undefined) kept.notification = record.notification
      break
    case 'mute':
      kept.until = record.until
      kept.by_user_id = record.userId !== undefined
      break
    case 'unmute':
      break
    case 'clear':
      if (record.channel !== undefined) kept.channel = record.channel
      break
  }
  return kept
}

/** Who acts when Roblox's webhook asks for an erasure. */
export const ROBLOX_ACTOR = 'roblox'
/** Who acts on a server without keys: anyone. */
export const OPEN_ACTOR = 'open'

export type AuditLog = {
  /** Keeps the record with the next id; past the log's bound the oldest entries are let go. */
  readonly record: (record: AuditRecord) => TE.TaskEither<StoreUnavailable, AuditEntry>
  /** The newest first. */
  readonly read: (query: AuditQuery) => TE.TaskEither<StoreUnavailable, ReadonlyArray<AuditEntry>>
}
