import type { InvalidField } from '../../domain/message'
import type { ChannelLimitReached, StoreUnavailable } from '../../domain/message-repository'
import type { IdempotencyError } from '../../application/send-idempotently'

/** Every error a use case can return. */
export type UseCaseError = InvalidField | StoreUnavailable | ChannelLimitReached | IdempotencyError

export type Problem = { readonly status: number; readonly error: string; readonly retryAfterSeconds?: number }

/**
 * The one place that turns an error into a status and a text. The switch is
 * exhaustive: a new error tag does not compile until it is given an answer.
 */
export const problemOf = (error: UseCaseError): Problem => {
  switch (error._tag) {
    case 'Blank':
      return { status: 400, error: `${error.field} must not be blank` }
    case 'TooLong':
      return { status: 400, error: `${error.field} is longer than ${error.max} characters` }
    case 'ControlCharacters':
      return { status: 400, error: `${error.field} must not contain control characters` }
    case 'BadCharacters':
      return { status: 400, error: `${error.field} may only contain ${error.allowed}` }
    case 'Reserved':
      return { status: 400, error: `${error.field} ${error.value} is reserved for the server's automatic replies` }
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
    default:
      return absurd(error)
  }
}

const absurd = (value: never): never => {
  throw new Error(`unhandled error ${JSON.stringify(value)}`)
}
