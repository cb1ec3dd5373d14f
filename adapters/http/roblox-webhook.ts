import { createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isUtf8 } from 'node:buffer'
import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import { unrecordedDetail, type Audited } from '../../application/audited'
import type { EraseInput } from '../../application/erase-player'
import type { Removed } from '../../application/remove-message'
import { ROBLOX_ACTOR } from '../../domain/audit-log'
import type { Clock } from '../../domain/clock'
import type { InvalidField } from '../../domain/message'
import type { StoreUnavailable } from '../../domain/message-repository'
import type { Answers, Logger } from './answers'
import { discardRest, readBodyBytes } from './json-body'

/*
 * POST /api/roblox/webhook: Roblox's webhook notifications (Creator
 * Dashboard → Webhooks), of which the one this server acts on is the Right
 * to Erasure request: every message stored with that Roblox user id is
 * erased, in every channel, for every reader. Roblox wants a 2xx within 5
 * seconds and tries a failed notification 5 times; an erasure takes
 * milliseconds, so it is done before the answer, and a store that is away
 * answers 503 so that Roblox tries again. A repeat (Roblox's retry, a
 * replay within the window) finds nothing more and answers 200.
 *
 * Every notification is signed: `roblox-signature: t=<unix seconds>,v1=<base64
 * HMAC-SHA256 of "<t>.<raw body>" with the webhook's secret>`, several v1
 * values possibly (any that matches will do). The signature is checked over
 * the body's bytes as they came, before they are parsed, in constant time;
 * a timestamp more than five minutes from this server's clock is refused,
 * so a notification captured on the way cannot be replayed later.
 */

/** How far a notification's timestamp may be from this server's clock, either way. */
export const ROBLOX_SIGNATURE_TOLERANCE_SECONDS = 300

/** Roblox's notifications are small; anything larger is not one. */
const WEBHOOK_BODY_LIMIT = 64 * 1024

/** Why the signature does not hold, or undefined when it does. */
export const robloxSignatureProblem = (secret: string, header: string | undefined, body: Buffer, nowMs: number, toleranceSeconds = ROBLOX_SIGNATURE_TOLERANCE_SECONDS): string | undefined => {
  if (header === undefined || header.trim() === '') return 'the header is missing: Roblox signs every notification of a webhook that has a secret'
  let timestamp: string | undefined
  const signatures: string[] = []
  for (const part of header.split(',')) {
    const at = part.indexOf('=')
    if (at <= 0) continue
    const name = part.slice(0, at).trim()
    const value = part.slice(at + 1).trim()
    if (name === 't') timestamp = value
    else if (name === 'v1') signatures.push(value)
  }
  if (timestamp === undefined || !/^[0-9]{1,12}$/.test(timestamp)) return 'no timestamp: the header must be t=<unix seconds>,v1=<signature>'
  if (signatures.length === 0) return 'no v1 signature: the webhook has no secret on Roblox; give it the one in ROBLOX_WEBHOOK_SECRET'
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds)
    return `the timestamp is more than ${toleranceSeconds} seconds from this server's clock: a notification replayed or held up on the way is refused`
  const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest()
  const matches = signatures.some((signature) => {
    const given = Buffer.from(signature, 'base64')
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
  return matches ? undefined : 'the signature does not match the body: the secret differs from ROBLOX_WEBHOOK_SECRET, or the body was changed'
}

export type RobloxWebhookDeps = {
  /** ROBLOX_WEBHOOK_SECRET: without it the route is not set up, and answers 404 saying so. */
  readonly secret: string | undefined
  readonly clock: Clock
  readonly erase: (input: EraseInput) => TE.TaskEither<InvalidField | StoreUnavailable, Audited<Removed>>
  readonly answers: Answers
  readonly log: Logger
}

const isUserId = (u: unknown): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u > 0

export const robloxWebhookHandler = (deps: RobloxWebhookDeps) => {
  const { json, refuse } = deps.answers
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const secret = deps.secret
    if (secret === undefined) {
      discardRest(req)
      return refuse(req, res, {
        _tag: 'NotConfigured',
        what: "Roblox's webhook",
        setUp: 'set ROBLOX_WEBHOOK_SECRET to the secret of the webhook on Roblox (Creator Dashboard → Webhooks), then point the webhook at /api/roblox/webhook',
      })
    }
    const read = await readBodyBytes(req, WEBHOOK_BODY_LIMIT)
    if (!read.ok) return refuse(req, res, read.refusal)
    const header = req.headers['roblox-signature']
    const problem = robloxSignatureProblem(secret, Array.isArray(header) ? header.join(',') : header, read.value, deps.clock.now())
    if (problem !== undefined) return refuse(req, res, { _tag: 'BadSignature', reason: problem })
    let notification: unknown
    try {
      notification = isUtf8(read.value) ? JSON.parse(read.value.toString('utf8')) : undefined
    } catch {
      notification = undefined
    }
    if (typeof notification !== 'object' || notification === null || Array.isArray(notification))
      return refuse(req, res, { _tag: 'InvalidRequest', error: 'the request body must be a Roblox notification: a JSON object with EventType and EventPayload' })
    const { EventType: event, EventPayload: payload, NotificationId: id } = notification as Record<string, unknown>
    if (typeof event !== 'string') return refuse(req, res, { _tag: 'InvalidRequest', error: 'EventType must be a string, such as RightToErasureRequest' })
    if (event !== 'RightToErasureRequest') {
      // The Dashboard's Test Response sends SampleNotification; other events (subscriptions, commerce) are not this server's: acknowledged, so that Roblox does not try them again.
      return json(req, res, 200, JSON.stringify({ success: true, event, handled: event === 'SampleNotification' }))
    }
    const userId = typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>).UserId : undefined
    if (!isUserId(userId)) return refuse(req, res, { _tag: 'InvalidRequest', error: 'EventPayload.UserId must be a positive integer, the Roblox user id to erase' })
    const erased = await deps.erase({ userId, actor: ROBLOX_ACTOR, ...(typeof id === 'string' ? { notification: id.slice(0, 200) } : {}) })()
    if (E.isLeft(erased)) return refuse(req, res, erased.left)
    if (erased.right.unrecorded !== undefined) deps.log.error('a Right to Erasure request from Roblox was done but could not be recorded in the audit log; what it did follows', unrecordedDetail(erased.right.unrecorded))
    json(req, res, 200, JSON.stringify({ success: true, event, user_id: userId, removed: erased.right.done.removed.length }))
  }
}
