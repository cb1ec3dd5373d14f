import type { IncomingMessage, ServerResponse } from 'node:http'
import { parse as parseQuery } from 'node:querystring'
import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import { unrecordedDetail, type Audited } from '../../application/audited'
import type { EraseInput } from '../../application/erase-player'
import type { MuteInput } from '../../application/mute-player'
import type { Removed, RemoveMessageInput } from '../../application/remove-message'
import type { NotMuted } from '../../application/unmute-player'
import { AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX } from '../../application/read-audit-log'
import { OPEN_ACTOR, type AuditEntry } from '../../domain/audit-log'
import type { InvalidField } from '../../domain/message'
import type { MessageNotFound, StoreUnavailable } from '../../domain/message-repository'
import type { Mute } from '../../domain/mutes'
import type { Call } from './app'
import type { Answers, Logger } from './answers'
import type { Identity } from './auth'
import { AuditQuery, decode, EraseBody, parseMessageIdParam, type muteBodyCodec } from './codecs'
import { discardRest, hasBody, readJsonBody } from './json-body'
import type { Wire } from './wire'
import typeis from 'type-is'
import type * as t from 'io-ts'

/*
 * The admin's routes: removing a message, erasing a player, muting and
 * unmuting, and reading the mutes and the audit log. The door has checked
 * the admin scope; each handler decodes its path, query and body, asks its
 * use case, and answers. Every action is recorded in the audit log by its
 * use case; an action done but not recorded (the log could not be written)
 * is answered as done, with `"audited": false`, and logged with its record.
 */

export type ModerationDeps = {
  readonly answers: Answers
  readonly wire: Wire
  readonly log: Logger
  readonly bodyLimit: number
  readonly remove: (input: RemoveMessageInput) => TE.TaskEither<StoreUnavailable | MessageNotFound, Audited<Removed>>
  readonly erase: (input: EraseInput) => TE.TaskEither<InvalidField | StoreUnavailable, Audited<Removed>>
  readonly mute: (input: MuteInput) => TE.TaskEither<InvalidField | StoreUnavailable, Audited<Mute>>
  readonly unmute: (input: { readonly playerName: string; readonly actor: string }) => TE.TaskEither<InvalidField | StoreUnavailable | NotMuted, Audited<Mute>>
  readonly mutes: () => TE.TaskEither<StoreUnavailable, ReadonlyArray<Mute>>
  readonly auditLog: (query: { readonly limit?: number; readonly before?: number }) => TE.TaskEither<StoreUnavailable, ReadonlyArray<AuditEntry>>
  readonly muteBody: ReturnType<typeof muteBodyCodec>
}

type Handler = (req: IncomingMessage, res: ServerResponse, call: Call) => Promise<void>

/** Who acted, as the audit log names them: a key's label, never its secret. */
export const actorOf = (identity: Identity): string => (identity._tag === 'Key' ? identity.key.label : OPEN_ACTOR)

const iso = (ms: number): string => new Date(ms).toISOString()

/** A mute as the API shows it. */
export const muteJson = (mute: Mute): Record<string, unknown> => ({
  player_name: mute.playerName,
  ...(mute.userId === undefined ? {} : { user_id: mute.userId }),
  reason: mute.reason,
  since: iso(mute.since),
  until: iso(mute.until),
  by: mute.by,
})

/** An audit log entry as the API shows it: the seed's naming, ISO-8601 instants. */
export const auditEntryJson = (entry: AuditEntry): Record<string, unknown> => {
  const head = { id: entry.id, at: iso(entry.at), actor: entry.actor, action: entry.action }
  switch (entry.action) {
    case 'remove':
      return { ...head, message_id: entry.messageId, removed: entry.removed }
    case 'erase':
      return {
        ...head,
        ...(entry.playerName === undefined ? {} : { player_name: entry.playerName }),
        ...(entry.userId === undefined ? {} : { user_id: entry.userId }),
        removed: entry.removed,
        channels: entry.channels,
        ...(entry.notification === undefined ? {} : { notification: entry.notification }),
      }
    case 'mute':
      return { ...head, player_name: entry.playerName, ...(entry.userId === undefined ? {} : { user_id: entry.userId }), until: iso(entry.until), reason: entry.reason }
    case 'unmute':
      return { ...head, player_name: entry.playerName }
    case 'clear':
      // null: every channel.
      return { ...head, channel: entry.channel ?? null }
  }
}

const JSON_TYPES = ['application/json', 'application/*+json']

export const moderationHandlers = (deps: ModerationDeps) => {
  const { json, refuse } = deps.answers
  const decodeErase = decode(EraseBody)
  const decodeMute = decode(deps.muteBody)
  const decodeAudit = decode(AuditQuery)

  /** Says whether the action is in the audit log; one that is not is logged with its record, for the operator. */
  const audited = <A>(req: IncomingMessage, result: Audited<A>): string => {
    if (result.unrecorded === undefined) return '"audited":true'
    // The method only, not the URL: a player's name in the path stays out of the log line (the record itself is the operator's to keep).
    // What was done, by whom, to which ids: never the player's name, user id or the mute's reason (loggableRecord).
    deps.log.error(`an admin action (${req.method}) was done but could not be recorded in the audit log; what it did follows`, unrecordedDetail(result.unrecorded))
    return '"audited":false'
  }

  /**
   * The JSON object a body holds, {} for none; undefined once refused (and
   * answered). A body, when sent, must be JSON.
   */
  const objectBody = async (req: IncomingMessage, res: ServerResponse, required: string | undefined): Promise<Record<string, unknown> | undefined> => {
    if (!hasBody(req)) {
      if (required === undefined) return {}
      return void refuse(req, res, { _tag: 'InvalidRequest', error: `the request body is required: a JSON object such as ${required}` })
    }
    if (!typeis(req, JSON_TYPES)) {
      discardRest(req)
      return void refuse(req, res, { _tag: 'UnsupportedMediaType', error: 'the request body must be JSON, sent with Content-Type: application/json' })
    }
    const read = await readJsonBody(req, deps.bodyLimit)
    if (!read.ok) return void refuse(req, res, read.refusal)
    if (read.value === undefined && required === undefined) return {}
    if (typeof read.value !== 'object' || read.value === null || Array.isArray(read.value))
      return void refuse(req, res, { _tag: 'InvalidRequest', error: `the request body must be a JSON object such as ${required ?? '{"user_id": 156}'}` })
    return read.value as Record<string, unknown>
  }

  /** A removal's answer: every id it took out, and its removal entries (one per channel), as readers get them. */
  const removedJson = (req: IncomingMessage, result: Audited<Removed>): string =>
    `{"success":true,"removed":${JSON.stringify(result.done.removed)},"removals":[${result.done.entries.map(deps.wire.freshMessageJson).join(',')}],${audited(req, result)}}`

  const removeMessage: Handler = async (req, res, { param, identity }) => {
    const id = parseMessageIdParam(param ?? '')
    if (id === undefined)
      return refuse(req, res, { _tag: 'InvalidRequest', error: 'id: DELETE /api/messages/<id> removes one message by its id, a positive integer such as /api/messages/42' })
    const removed = await deps.remove({ id, actor: actorOf(identity) })()
    if (E.isLeft(removed)) return refuse(req, res, removed.left)
    json(req, res, 200, removedJson(req, removed.right))
  }

  const erasePlayer: Handler = async (req, res, { param, identity }) => {
    const body = await objectBody(req, res, undefined)
    if (body === undefined) return
    const asked = decodeErase(body)
    if (E.isLeft(asked)) return refuse(req, res, { _tag: 'InvalidRequest', error: asked.left })
    const userId = asked.right.user_id
    const erased = await deps.erase({ playerName: param ?? '', ...(userId === undefined ? {} : { userId }), actor: actorOf(identity) })()
    if (E.isLeft(erased)) return refuse(req, res, erased.left)
    json(req, res, 200, removedJson(req, erased.right))
  }

  const mutePlayer: Handler = async (req, res, { param, identity }) => {
    const body = await objectBody(req, res, '{"seconds": 600, "reason": "spamming"}')
    if (body === undefined) return
    const asked = decodeMute(body) as E.Either<string, t.TypeOf<ModerationDeps['muteBody']>>
    if (E.isLeft(asked)) return refuse(req, res, { _tag: 'InvalidRequest', error: asked.left })
    const { seconds, reason, user_id: userId } = asked.right
    const muted = await deps.mute({ playerName: param ?? '', ...(userId === undefined ? {} : { userId }), seconds, reason, actor: actorOf(identity) })()
    if (E.isLeft(muted)) return refuse(req, res, muted.left)
    json(req, res, 200, `{"success":true,"mute":${JSON.stringify(muteJson(muted.right.done))},${audited(req, muted.right)}}`)
  }

  const unmutePlayer: Handler = async (req, res, { param, identity }) => {
    const lifted = await deps.unmute({ playerName: param ?? '', actor: actorOf(identity) })()
    if (E.isLeft(lifted)) return refuse(req, res, lifted.left)
    json(req, res, 200, `{"success":true,"lifted":${JSON.stringify(muteJson(lifted.right.done))},${audited(req, lifted.right)}}`)
  }

  const listMutes: Handler = async (req, res) => {
    const mutes = await deps.mutes()()
    if (E.isLeft(mutes)) return refuse(req, res, mutes.left)
    json(req, res, 200, JSON.stringify({ success: true, count: mutes.right.length, mutes: mutes.right.map(muteJson) }))
  }

  const readAudit: Handler = async (req, res, { query }) => {
    const asked = decodeAudit(parseQuery(query))
    if (E.isLeft(asked)) return refuse(req, res, { _tag: 'InvalidRequest', error: asked.left })
    const entries = await deps.auditLog(asked.right)()
    if (E.isLeft(entries)) return refuse(req, res, entries.left)
    const list = entries.right
    // Where to page back from: the oldest entry read, while there may be older ones.
    const limit = Math.min(asked.right.limit ?? AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX)
    const nextBefore = list.length === limit && list.length > 0 ? (list[list.length - 1] as AuditEntry).id : null
    json(req, res, 200, JSON.stringify({ success: true, count: list.length, entries: list.map(auditEntryJson), next_before: nextBefore }))
  }

  return { removeMessage, erasePlayer, mutePlayer, unmutePlayer, listMutes, readAudit }
}
