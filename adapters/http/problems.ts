import { SERVER_NAME, type InvalidField } from '../../domain/message'
import type { ChannelLimitReached, StoreUnavailable } from '../../domain/message-repository'
import type { IdempotencyError } from '../../application/send-idempotently'

/** Every error a use case can return. */
export type UseCaseError = InvalidField | StoreUnavailable | ChannelLimitReached | IdempotencyError

/** Refusals of the HTTP edge itself, for limits that protect the process rather than rules of the domain. */
export type EdgeRefusal =
  | { readonly _tag: 'ShuttingDown' }
  | { readonly _tag: 'TooManyLongPolls'; readonly max: number }
  | { readonly _tag: 'TooManyStreams'; readonly max: number }
  | { readonly _tag: 'TooManyStreamsFromAddress'; readonly max: number }

export type Refusal = UseCaseError | EdgeRefusal

export type Problem = { readonly status: number; readonly error: string; readonly retryAfterSeconds?: number }

/**
 * The one place that turns an error into a status and a text. The switch is
 * exhaustive: a new error tag does not compile until it is given an answer.
 */
export const problemOf = (error: Refusal): Problem => {
  switch (error._tag) {
    case 'Blank':
      return { status: 400, error: `${error.field} must not be blank` }
    case 'TooLong':
      return { status: 400, error: `${error.field} is longer than ${error.max} characters` }
    case 'ControlCharacters':
      return {
        status: 400,
        error:
          error.field === 'message'
            ? 'message must not contain control characters other than tab, line feed and carriage return'
            : `${error.field} must not contain control characters`,
      }
    case 'BadCharacters':
      return { status: 400, error: `${error.field} may only contain ${error.allowed}` }
    case 'Reserved':
      return {
        status: 400,
        error: `${error.field} ${error.value} is reserved: it reads as ${SERVER_NAME}, the name of the server's automatic replies (look-alike letters, accents and case included)`,
      }
    case 'InvisibleCharacters':
      return {
        status: 400,
        error: `${error.field} must not contain invisible or formatting characters such as zero-width spaces, direction overrides, variation selectors or blank fillers`,
      }
    case 'UnassignedCharacters':
      return { status: 400, error: `${error.field} must not contain private-use or unassigned Unicode characters` }
    case 'TooManyCombiningMarks':
      return { status: 400, error: `${error.field} must not stack more than ${error.max} combining marks (accents) on one character` }
    case 'MalformedText':
      return { status: 400, error: `${error.field} is not well-formed Unicode text (it contains a lone surrogate)` }
    case 'ChannelLimitReached':
      return {
        status: 409,
        error: `channel: the server already holds messages in ${error.max} channels, the most it allows; use an existing channel or clear one`,
      }
    case 'IdempotencyKeyReused':
      return { status: 422, error: 'Idempotency-Key was already used for a different request; use a new key for a new message' }
    case 'IdempotencyKeyInProgress':
      return {
        status: 409,
        error: 'Idempotency-Key: the first request with this key is still being processed; retry shortly',
        retryAfterSeconds: 1,
      }
    case 'StoreUnavailable':
      return { status: 503, error: 'the message store is unavailable; try again shortly', retryAfterSeconds: 5 }
    case 'ShuttingDown':
      return { status: 503, error: 'the server is shutting down; retry, and another instance or the restarted one will answer', retryAfterSeconds: 1 }
    case 'TooManyLongPolls':
      return {
        status: 503,
        error: `the server holds ${error.max} long polls, the most it allows (MAX_LONG_POLLS); retry shortly`,
        retryAfterSeconds: 1,
      }
    case 'TooManyStreams':
      return {
        status: 503,
        error: `the server has ${error.max} event streams open, the most it allows (MAX_STREAMS); retry later or long-poll /api/messages`,
        retryAfterSeconds: 5,
      }
    case 'TooManyStreamsFromAddress':
      return {
        status: 429,
        error: `your address has ${error.max} event streams open, the most one address may (MAX_STREAMS_PER_ADDRESS); close one first`,
        retryAfterSeconds: 5,
      }
    default:
      return absurd(error)
  }
}

const absurd = (value: never): never => {
  throw new Error(`unhandled error ${JSON.stringify(value)}`)
}
