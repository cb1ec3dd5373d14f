import type { IncomingMessage, ServerResponse } from 'node:http'
import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import typeis from 'type-is'
import type { RateLimited } from '../../application/limit-players'
import type { Muted } from '../../application/refuse-muted'
import type { Delivery, IdempotencyError } from '../../application/send-idempotently'
import type { SendError, SendInput } from '../../application/send-message'
import { IDEMPOTENCY_KEY_MAX_LENGTH } from '../../domain/idempotency'
import { DEFAULT_CHANNEL } from '../../domain/message'
import type { Call } from './app'
import type { Answers } from './answers'
import type { Identity } from './auth'
import { decodeSendBody } from './codecs'
import { discardRest, readJsonBody } from './json-body'
import type { Wire } from './wire'

/*
 * POST /api/send: the endpoint every game server calls, and the one a
 * process must absorb fastest. Read, checked and answered on node:http's own
 * request and response, as every route is (see pipeline.ts).
 */

export type SendDeps = {
  /** Refuses (answering true) a caller who may not use the channel: the send's channel is known only once its body is read. */
  readonly refusedChannel: (req: IncomingMessage, res: ServerResponse, identity: Identity, channel: string) => boolean
  readonly send: (input: SendInput, key: string | undefined) => TE.TaskEither<SendError | IdempotencyError | RateLimited | Muted, Delivery>
  /** The most bytes a (decompressed) body may hold. */
  readonly bodyLimit: number
  readonly answers: Answers
  readonly wire: Wire
  /** Told of each send answered by a replay (for the metrics). */
  readonly replayed?: () => void
}

const JSON_TYPES = ['application/json', 'application/*+json']

/**
 * Whether the request carries a JSON body, as type-is decides it (none for a
 * request without a body). The two spellings game servers send are settled
 * without parsing the header: that parse is a measurable share of a send.
 */
const isJsonBody = (req: IncomingMessage): boolean => {
  const type = req.headers['content-type']
  if (type === 'application/json' || type === 'application/json; charset=utf-8') return typeis.hasBody(req)
  return Boolean(typeis(req, JSON_TYPES))
}

const IDEMPOTENCY_KEY = new RegExp(`^[\\x20-\\x7e]{1,${IDEMPOTENCY_KEY_MAX_LENGTH}}$`)

const REPLAYED = ['Idempotent-Replayed', 'true'] as const

/** The Idempotency-Key header, absent when empty; a malformed one is refused with the reason. */
const idempotencyKey = (req: IncomingMessage): E.Either<string, string | undefined> => {
  const raw = req.headers['idempotency-key']
  const value = Array.isArray(raw) ? raw.join(', ') : raw
  if (value === undefined || value === '') return E.right(undefined)
  return IDEMPOTENCY_KEY.test(value)
    ? E.right(value)
    : E.left(`the Idempotency-Key header must be 1–${IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters`)
}

/** Serves a send; the promise rejects only when the client went away mid-body (nothing was stored). */
export const sendHandler = (deps: SendDeps) => {
  const { json, refuse } = deps.answers
  const { freshMessageJson } = deps.wire
  return async (req: IncomingMessage, res: ServerResponse, { identity }: Call): Promise<void> => {
    // type-is: null for a request without a body, false for another type; both are refused.
    if (!isJsonBody(req)) {
      discardRest(req)
      return refuse(req, res, { _tag: 'UnsupportedMediaType', error: 'the request body must be JSON, sent with Content-Type: application/json' })
    }
    const read = await readJsonBody(req, deps.bodyLimit)
    if (!read.ok) return refuse(req, res, read.refusal)
    const raw = read.value
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      return refuse(req, res, { _tag: 'InvalidRequest', error: 'the request body must be a JSON object such as {"player_name": "...", "message": "..."}' })
    const body = decodeSendBody(raw as { readonly [key: string]: unknown })
    if (E.isLeft(body)) return refuse(req, res, { _tag: 'InvalidRequest', error: body.left })
    const key = idempotencyKey(req)
    if (E.isLeft(key)) return refuse(req, res, { _tag: 'InvalidRequest', error: key.left })
    if (deps.refusedChannel(req, res, identity, body.right.channel ?? DEFAULT_CHANNEL)) return
    const sent = await deps.send(
      { playerName: body.right.player_name, message: body.right.message, channel: body.right.channel, userId: body.right.user_id },
      key.right,
    )()
    if (E.isLeft(sent)) return refuse(req, res, sent.left)
    const { conversation, replayed } = sent.right
    if (replayed) deps.replayed?.()
    // A new message is serialised once, here; caching its JSON would cost more than it saves (see wire.ts).
    json(
      req,
      res,
      200,
      `{"success":true,"message":${freshMessageJson(conversation.message)},"auto_reply":${conversation.reply === undefined ? 'null' : freshMessageJson(conversation.reply)}}`,
      replayed ? REPLAYED : undefined,
    )
  }
}
