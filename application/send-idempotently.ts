import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import type { IdempotencyKeys } from '../domain/idempotency'
import { DEFAULT_CHANNEL } from '../domain/message'
import type { Conversation, StoreUnavailable } from '../domain/message-repository'
import type { SendError, SendInput } from './send-message'

export type IdempotencyError =
  | { readonly _tag: 'IdempotencyKeyReused' }
  | { readonly _tag: 'IdempotencyKeyInProgress' }

export type Delivery = { readonly conversation: Conversation; readonly replayed: boolean }

/**
 * What a request means, not how it was written: its fields in any order, the
 * name as it is stored (trimmed) and the channel it goes to (the default one
 * when none is named), so that a retry spelt differently is still a retry.
 */
const fingerprintOf = (input: SendInput): string =>
  JSON.stringify([input.playerName.trim(), input.message, input.channel ?? DEFAULT_CHANNEL, input.userId ?? null])

/**
 * Wraps SendMessage so that a request repeated with the same Idempotency-Key
 * stores nothing and answers the first outcome again; the same key with a
 * different request is refused, as is a repeat while the first is unfinished.
 */
export const sendIdempotently = <Err = SendError>(deps: {
  readonly keys: IdempotencyKeys
  /** The send it wraps, with whatever errors it has (a rate-limited send adds its own). */
  readonly send: (input: SendInput) => TE.TaskEither<Err, Conversation>
}) =>
  (input: SendInput, key: string | undefined): TE.TaskEither<Err | StoreUnavailable | IdempotencyError, Delivery> =>
    async () => {
      if (key === undefined) {
        const sent = await deps.send(input)()
        return E.isLeft(sent) ? sent : E.right({ conversation: sent.right, replayed: false })
      }
      const fingerprint = fingerprintOf(input)
      const claim = await deps.keys.claim(key, fingerprint)()
      if (E.isLeft(claim)) return claim
      switch (claim.right._tag) {
        case 'InProgress':
          return E.left({ _tag: 'IdempotencyKeyInProgress' })
        case 'Completed':
          return claim.right.sameRequest
            ? E.right({ conversation: claim.right.conversation, replayed: true })
            : E.left({ _tag: 'IdempotencyKeyReused' })
        case 'Claimed': {
          const sent = await deps.send(input)()
          if (E.isLeft(sent)) {
            await deps.keys.release(key)()
            return sent
          }
          // The message is stored: even if remembering the key fails, the client gets its answer.
          await deps.keys.complete(key, fingerprint, sent.right)()
          return E.right({ conversation: sent.right, replayed: false })
        }
      }
    }
