import type { IncomingMessage, ServerResponse } from 'node:http'
import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import typeis from 'type-is'
import type { Delivery, IdempotencyError } from '../../application/send-idempotently'
import type { SendError, SendInput } from '../../application/send-message'
import { decode, SendBody } from './codecs'
import { discardRest, readJsonBody } from './json-body'
import { isClientGone, type RawResponses } from './raw-response'
import { freshMessageJson } from './wire'

/*
 * POST /api/send, answered on node:http's own request and response.
 *
 * The send is the endpoint every game server calls, and the one a process
 * must absorb fastest. Through Koa each send also paid for a context, the
 * CORS and error middleware, the router and Koa's response handling: about
 * as much CPU again as the send itself (the numbers are in ARCHITECTURE.md).
 * So `take` serves it before Koa sees it, and the Koa route, for an app
 * embedded with `createApp`, hands its sends to the same `serve`: one
 * implementation, whichever way a request comes in.
 */

export type SendRequestDeps = {
  readonly send: (input: SendInput, key: string | undefined) => TE.TaskEither<SendError | IdempotencyError, Delivery>
  /** The most bytes a (decompressed) body may hold. */
  readonly bodyLimit: number
  readonly responses: RawResponses
}

export type SendRequests = {
  /** Serves a request to POST /api/send and answers true; answers false for every other request. */
  readonly take: (req: IncomingMessage, res: ServerResponse) => boolean
  /** Serves a send; the promise settles once it is answered and never rejects. */
  readonly serve: (req: IncomingMessage, res: ServerResponse) => Promise<void>
}

export const SEND_PATH = '/api/send'

/** The send's path as the router matches it: with or without a trailing slash. */
export const isSendPath = (path: string): boolean => path === SEND_PATH || path === `${SEND_PATH}/`

const JSON_TYPES = ['application/json', 'application/*+json']

const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/

const REPLAYED = ['Idempotent-Replayed', 'true'] as const

/** The Idempotency-Key header, absent when empty; a malformed one is refused with the reason. */
const idempotencyKey = (req: IncomingMessage): E.Either<string, string | undefined> => {
  const raw = req.headers['idempotency-key']
  const value = Array.isArray(raw) ? raw.join(', ') : raw
  if (value === undefined || value === '') return E.right(undefined)
  return IDEMPOTENCY_KEY.test(value) ? E.right(value) : E.left('the Idempotency-Key header must be 1–255 printable ASCII characters')
}

export const sendRequests = (deps: SendRequestDeps): SendRequests => {
  const { answer, refuse, answerError, answerFailure } = deps.responses
  const decodeBody = decode(SendBody)

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    // type-is, as Koa's ctx.is: null for a request without a body, false for another type; both are refused.
    if (!typeis(req, JSON_TYPES)) {
      discardRest(req)
      return refuse(req, res, 415, 'the request body must be JSON, sent with Content-Type: application/json')
    }
    const read = await readJsonBody(req, deps.bodyLimit)
    if (!read.ok) return refuse(req, res, read.status, read.error)
    const raw = read.value
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
      return refuse(req, res, 400, 'the request body must be a JSON object such as {"player_name": "...", "message": "..."}')
    const body = decodeBody(raw)
    if (E.isLeft(body)) return refuse(req, res, 400, body.left)
    const key = idempotencyKey(req)
    if (E.isLeft(key)) return refuse(req, res, 400, key.left)
    const sent = await deps.send(
      { playerName: body.right.player_name, message: body.right.message, channel: body.right.channel, userId: body.right.user_id },
      key.right,
    )()
    if (E.isLeft(sent)) return answerError(req, res, sent.left)
    const { conversation, replayed } = sent.right
    // A new message is serialised once, here; caching its JSON would cost more than it saves (see wire.ts).
    answer(
      req,
      res,
      200,
      `{"success":true,"message":${freshMessageJson(conversation.message)},"auto_reply":${conversation.reply === undefined ? 'null' : freshMessageJson(conversation.reply)}}`,
      replayed ? REPLAYED : undefined,
    )
  }

  const serve = (req: IncomingMessage, res: ServerResponse): Promise<void> =>
    handle(req, res).catch((thrown: unknown) => {
      // A client that went away mid-body has no one left to answer, and nothing half-read was stored.
      if (isClientGone(thrown)) res.destroy()
      else answerFailure(req, res, thrown)
    })

  const take = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'POST') return false
    const url = req.url ?? ''
    const mark = url.indexOf('?')
    if ((mark === -1 ? url : url.slice(0, mark)) !== SEND_PATH) return false
    void serve(req, res)
    return true
  }

  return { take, serve }
}
