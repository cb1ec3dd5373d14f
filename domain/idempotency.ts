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

/**
 * Remembers Idempotency-Keys (`test/contracts/idempotency-keys.contract.ts`
 * fixes what every store must do). A key is claimed by the first request,
 * then completed with its outcome or released if it failed; a completed key
 * is remembered for a retention counted from its completion, and a store
 * keeps a bounded number of keys, forgetting the oldest first. A claim never
 * completed (its process died) is forgotten after the retention too.
 */
export type IdempotencyKeys = {
  /**
   * Claims `key` for a new request unless it is in progress or was completed
   * within the retention. Of several claims of one key at once, exactly one
   * is `Claimed`.
   */
  readonly claim: (key: string, fingerprint: string) => TE.TaskEither<StoreUnavailable, Claim>
  /** Remembers the outcome of a claimed key for the retention. */
  readonly complete: (key: string, fingerprint: string, conversation: Conversation) => TE.TaskEither<StoreUnavailable, void>
  /** Forgets a claimed key whose request failed, so that a retry is processed afresh. */
  readonly release: (key: string) => TE.TaskEither<StoreUnavailable, void>
}

/**
 * THE bound on an Idempotency-Key's length, in characters: a longer key is
 * refused at the edge, before it reaches `IdempotencyKeys`, so a store never
 * keeps one and may size its storage by it. Every adapter that reads a key
 * (the HTTP send's header check) uses this constant, never a number of its own.
 */
export const IDEMPOTENCY_KEY_MAX_LENGTH = 255
