import type * as TE from 'fp-ts/TaskEither'
import type { Conversation, StoreUnavailable } from './message-repository'

/**
 * What is known of an Idempotency-Key when a request claims it. A retried
 * send (a game server whose request timed out cannot know whether it arrived)
 * must store nothing new and get the first answer again.
 */
export type Claim =
  | { readonly _tag: 'Claimed' }
  | { readonly _tag: 'InProgress' }
  /** Completed within the retention; `sameRequest` says whether it was for a request with this fingerprint. */
  | { readonly _tag: 'Completed'; readonly sameRequest: boolean; readonly conversation: Conversation }

export type IdempotencyKeys = {
  /** Claims `key` for a new request unless it is in progress or was completed within the retention. */
  readonly claim: (key: string, fingerprint: string) => TE.TaskEither<StoreUnavailable, Claim>
  /** Remembers the outcome of a claimed key for the retention. */
  readonly complete: (key: string, fingerprint: string, conversation: Conversation) => TE.TaskEither<StoreUnavailable, void>
  /** Forgets a claimed key whose request failed, so that a retry is processed afresh. */
  readonly release: (key: string) => TE.TaskEither<StoreUnavailable, void>
}

export const IDEMPOTENCY_KEY_MAX_LENGTH = 255
