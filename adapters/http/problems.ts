import { absurd } from 'fp-ts/function'
import { SERVER_NAME, type InvalidField } from '../../domain/message'
import type { ChannelLimitReached, MessageNotFound, StoreUnavailable } from '../../domain/message-repository'
import type { PolicyRefusal } from '../../domain/content-policy'
import type { IdempotencyError } from '../../application/send-idempotently'
import type { RateLimited } from '../../application/limit-players'
import type { Muted } from '../../application/refuse-muted'
import type { NotMuted } from '../../application/unmute-player'
import { rateLimitHeaders, rateLimitText } from '../../application/rate-limit-headers'

/** Every error a use case can return. */
export type UseCaseError =
  | InvalidField
  | PolicyRefusal
  | StoreUnavailable
  | ChannelLimitReached
  | IdempotencyError
  | RateLimited
  | MessageNotFound
  | Muted
  | NotMuted

/** Refusals of the HTTP edge itself: requests no use case is asked about, and limits that protect the process. */
export type EdgeRefusal =
  /** A query, header, path or body that does not decode; `error` names what is wrong. */
  | { readonly _tag: 'InvalidRequest'; readonly error: string }
  | { readonly _tag: 'MissingHost' }
  | { readonly _tag: 'NotFound'; readonly method: string; readonly path: string }
  | { readonly _tag: 'MethodNotAllowed'; readonly method: string; readonly path: string; readonly allow: ReadonlyArray<string> }
  | { readonly _tag: 'OriginNotAllowed'; readonly origin: string }
  /** No key presented where one is needed (`presented: false`), or one this server does not know. */
  | { readonly _tag: 'Unauthorized'; readonly presented: boolean; readonly reason: string }
  /** A key without the scope or the channel (when `lacks` is absent) the request needs. */
  | { readonly _tag: 'Forbidden'; readonly reason: string; readonly lacks?: 'scope' | 'channel' }
  /** A web page on another site changing state on a server without keys. */
  | { readonly _tag: 'CrossSite'; readonly origin: string }
  /** A route whose part of the server is not set up here; `setUp` says how to set it up. */
  | { readonly _tag: 'NotConfigured'; readonly what: string; readonly setUp: string }
  /** A signed request (Roblox's webhook) whose signature is missing, wrong or too old. */
  | { readonly _tag: 'BadSignature'; readonly reason: string }
  | { readonly _tag: 'UnsupportedMediaType'; readonly error: string }
  | { readonly _tag: 'BodyTooLarge'; readonly limit: number }
  | { readonly _tag: 'ExpectationFailed'; readonly expect: string }
  | { readonly _tag: 'NotHttp'; readonly reason: 'malformed' | 'headers-too-large' | 'headers-timeout' | 'request-timeout' | 'cut-short' }
  | { readonly _tag: 'NotAProxy' }
  | { readonly _tag: 'ShuttingDown' }
  /** GET /readyz while the server should not be sent traffic: its store is away, or it is shutting down. */
  | { readonly _tag: 'NotReady'; readonly reason: string }
  | { readonly _tag: 'TooManyLongPolls'; readonly max: number }
  | { readonly _tag: 'TooManyStreams'; readonly max: number }
  | { readonly _tag: 'TooManyStreamsFromAddress'; readonly max: number }
  /** Something thrown: a bug or a broken adapter. The details go to the log, never to the client. */
  | { readonly _tag: 'Internal' }

export type Refusal = UseCaseError | EdgeRefusal

export type Problem = {
  readonly status: number
  readonly error: string
  /** Headers the answer carries besides the JSON ones, as a flat list of names and values. */
  readonly headers?: ReadonlyArray<string>
  /** Whether the operator must hear of it: the store failing, a bug. A client's mistake, a limit or a shutdown is not. */
  readonly logged?: boolean
}

const REALM = 'roblox-messaging-server'

const retryAfter = (seconds: number): ReadonlyArray<string> => ['Retry-After', String(seconds)]

export const INTERNAL_ERROR = 'internal server error; the details are in the server log'

/**
 * The one place that turns a refusal into a status, its headers and a text.
 * The switch is exhaustive: a new tag does not compile until it has an answer.
 */
export const problemOf = (refusal: Refusal): Problem => {
  switch (refusal._tag) {
    case 'Blank':
      return { status: 400, error: `${refusal.field} must not be blank` }
    case 'TooLong':
      return { status: 400, error: `${refusal.field} is longer than ${refusal.max} characters` }
    case 'ControlCharacters':
      return {
        status: 400,
        error:
          refusal.field === 'message'
            ? 'message must not contain control characters other than tab, line feed and carriage return'
            : `${refusal.field} must not contain control characters`,
      }
    case 'BadCharacters':
      return { status: 400, error: `${refusal.field} may only contain ${refusal.allowed}` }
    case 'Reserved':
      return {
        status: 400,
        error: `${refusal.field} ${refusal.value} is reserved: it reads as ${SERVER_NAME}, the name of the server's automatic replies (look-alike letters, accents and case included)`,
      }
    case 'InvisibleCharacters':
      return {
        status: 400,
        error: `${refusal.field} must not contain invisible or formatting characters such as zero-width spaces, direction overrides, variation selectors or blank fillers`,
      }
    case 'UnassignedCharacters':
      return { status: 400, error: `${refusal.field} must not contain private-use or unassigned Unicode characters` }
    case 'TooManyCombiningMarks':
      return { status: 400, error: `${refusal.field} must not stack more than ${refusal.max} combining marks (accents) on one character` }
    case 'MalformedText':
      return { status: 400, error: `${refusal.field} is not well-formed Unicode text (it contains a lone surrogate)` }
    case 'TooMany':
      return { status: 400, error: `${refusal.field} names more than ${refusal.max}; one read follows at most ${refusal.max} channels` }
    case 'InvalidEntry':
      return { status: 400, error: `${refusal.field}: ${JSON.stringify(refusal.entry)} is not a channel name (${problemOf(refusal.problem).error})` }
    case 'ChannelLimitReached':
      return {
        status: 409,
        error: `channel: the server already holds messages in ${refusal.max} channels, the most it allows; use an existing channel or clear one`,
      }
    case 'PolicyRefused':
      // The rule's name only: never the words it looks for.
      return { status: 422, error: `${refusal.field} was refused by the content policy (rule: ${refusal.rule})` }
    case 'IdempotencyKeyReused':
      return { status: 422, error: 'Idempotency-Key was already used for a different request; use a new key for a new message' }
    case 'IdempotencyKeyInProgress':
      return {
        status: 409,
        error: 'Idempotency-Key: the first request with this key is still being processed; retry shortly',
        headers: retryAfter(1),
      }
    case 'RateLimited':
      // The headers carry Retry-After already, with the IETF draft's RateLimit fields.
      return { status: 429, error: rateLimitText(refusal.scope, refusal.decision), headers: rateLimitHeaders([{ policy: refusal.scope, decision: refusal.decision }]) }
    case 'MessageNotFound':
      return { status: 404, error: `id: no message ${refusal.id} is stored (never sent, or already removed, evicted or cleared)` }
    case 'Muted': {
      const { mute, now } = refusal
      return {
        status: 403,
        error: `player_name ${mute.playerName} is muted until ${new Date(mute.until).toISOString()}: ${mute.reason}`,
        headers: retryAfter(Math.max(1, Math.ceil((mute.until - now) / 1000))),
      }
    }
    case 'NotMuted':
      return { status: 404, error: `player_name ${refusal.playerName} is not muted` }
    case 'StoreUnavailable':
      return { status: 503, error: STORE_UNAVAILABLE_TEXT, headers: retryAfter(STORE_RETRY_AFTER_SECONDS), logged: true }
    case 'InvalidRequest':
      return { status: 400, error: refusal.error }
    case 'MissingHost':
      return { status: 400, error: 'the Host header is required in HTTP/1.1' }
    case 'NotFound':
      return { status: 404, error: `there is no ${refusal.method} ${refusal.path}; GET /api lists the endpoints` }
    case 'MethodNotAllowed':
      return {
        status: 405,
        error: `${refusal.method} is not allowed on ${refusal.path}; use ${refusal.allow.join(', ')}`,
        headers: ['Allow', refusal.allow.join(', ')],
      }
    case 'OriginNotAllowed':
      return { status: 403, error: `the origin ${JSON.stringify(refusal.origin)} may not call this API from a browser (CORS_ORIGINS)` }
    case 'Unauthorized':
      return {
        status: 401,
        error: `${refusal.reason}: send a key as Authorization: Bearer <key> or X-Api-Key: <key>`,
        headers: ['WWW-Authenticate', refusal.presented ? `Bearer realm="${REALM}", error="invalid_token"` : `Bearer realm="${REALM}"`],
      }
    case 'Forbidden':
      return { status: 403, error: refusal.reason }
    case 'CrossSite':
      return {
        status: 403,
        error: `a web page on another site (${refusal.origin}) may not change anything on this server; list its origin in CORS_ORIGINS, or configure API keys`,
      }
    case 'NotConfigured':
      return { status: 404, error: `${refusal.what} is not set up on this server: ${refusal.setUp}` }
    case 'BadSignature':
      // A 401 names a scheme: this one is Roblox's webhook signature, not a key.
      return { status: 401, error: `roblox-signature: ${refusal.reason}`, headers: ['WWW-Authenticate', `Roblox-Signature realm="${REALM}"`] }
    case 'UnsupportedMediaType':
      return { status: 415, error: refusal.error }
    case 'BodyTooLarge':
      return { status: 413, error: `the request body is larger than ${Math.floor(refusal.limit / 1024)} KiB` }
    case 'ExpectationFailed':
      return { status: 417, error: `the Expect header ${JSON.stringify(refusal.expect)} is not supported; only 100-continue is` }
    case 'NotHttp':
      return notHttp(refusal.reason)
    case 'NotAProxy':
      return { status: 405, error: 'CONNECT is not supported: this is not a proxy', headers: ['Allow', 'GET, HEAD, POST, DELETE, OPTIONS'] }
    case 'ShuttingDown':
      return { status: 503, error: 'the server is shutting down; retry, and another instance or the restarted one will answer', headers: retryAfter(1) }
    case 'NotReady':
      return { status: 503, error: `not ready: ${refusal.reason}`, headers: retryAfter(5) }
    case 'TooManyLongPolls':
      return {
        status: 503,
        error: `the server holds ${refusal.max} long polls, the most it allows (MAX_LONG_POLLS); retry shortly`,
        headers: retryAfter(1),
      }
    case 'TooManyStreams':
      return {
        status: 503,
        error: `the server has ${refusal.max} event streams open, the most it allows (MAX_STREAMS); retry later or long-poll /api/messages`,
        headers: retryAfter(5),
      }
    case 'TooManyStreamsFromAddress':
      return {
        status: 429,
        error: `your address has ${refusal.max} event streams open, the most one address may (MAX_STREAMS_PER_ADDRESS); close one first`,
        headers: retryAfter(5),
      }
    case 'Internal':
      return { status: 500, error: INTERNAL_ERROR, logged: true }
    default:
      return absurd(refusal)
  }
}

const notHttp = (reason: Extract<EdgeRefusal, { _tag: 'NotHttp' }>['reason']): Problem => {
  switch (reason) {
    case 'headers-too-large':
      return { status: 431, error: 'the request headers are larger than the server accepts' }
    case 'headers-timeout':
      return { status: 408, error: 'the request headers were not received in time' }
    case 'request-timeout':
      return { status: 408, error: 'the request was not received in time' }
    case 'cut-short':
      return { status: 400, error: 'the connection ended before the request was complete' }
    case 'malformed':
      return { status: 400, error: 'the request is not valid HTTP/1.1' }
    default:
      return absurd(reason)
  }
}

/**
 * Why a request was refused with 401, 403 or 429, as a metric's label: one
 * of a fixed few, never a text a client chose (a key's label, a channel).
 * Undefined for every other refusal.
 */
export const refusalReason = (refusal: Refusal): string | undefined => {
  switch (refusal._tag) {
    case 'Unauthorized':
      return refusal.presented ? 'unknown_credentials' : 'no_credentials'
    case 'Forbidden':
      return refusal.lacks === 'scope' ? 'scope' : 'channel'
    case 'CrossSite':
      return 'cross_site'
    case 'OriginNotAllowed':
      return 'origin_not_allowed'
    case 'RateLimited':
      return `${refusal.scope}_rate_limit`
    case 'TooManyStreamsFromAddress':
      return 'streams_per_address'
    case 'Muted':
      return 'muted'
    case 'BadSignature':
      return 'roblox_signature'
    default:
      return undefined
  }
}

/**
 * What a request is told while the store does not answer (Redis away): the
 * words the API promises, and a retry soon, as the Redis connection tries
 * again every two seconds at the most.
 */
export const STORE_UNAVAILABLE_TEXT = 'message store unavailable'
export const STORE_RETRY_AFTER_SECONDS = 2

/** The reason phrase of a status we answer on a bare socket, where node does not write one for us. */
export const REASONS: Readonly<Record<number, string>> = { 400: 'Bad Request', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Payload Too Large', 417: 'Expectation Failed', 431: 'Request Header Fields Too Large' }

/** The JSON body of a refusal. */
export const refusalJson = (problem: Problem): string => JSON.stringify({ success: false, error: problem.error })
