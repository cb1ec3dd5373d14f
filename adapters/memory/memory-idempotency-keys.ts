import * as TE from 'fp-ts/TaskEither'
import type { Claim, IdempotencyKeys } from '../../domain/idempotency'
import type { Conversation } from '../../domain/message-repository'

export type MemoryIdempotencyOptions = {
  /** The most keys remembered at once; past it the oldest are forgotten first. */
  readonly maxKeys: number
  /** How long a completed key is remembered, in milliseconds. */
  readonly retentionMs: number
  readonly now?: () => number
}

type Entry =
  | { readonly state: 'in-progress'; readonly at: number }
  | { readonly state: 'completed'; readonly at: number; readonly fingerprint: string; readonly conversation: Conversation }

/**
 * Keys in a Map, which iterates in insertion order: the oldest entry is
 * always first, so expiry and the bound trim from the front in O(1) each.
 */
export const createMemoryIdempotencyKeys = (options: MemoryIdempotencyOptions): IdempotencyKeys & { readonly size: () => number } => {
  const now = options.now ?? Date.now
  const entries = new Map<string, Entry>()

  const trim = (at: number) => {
    for (const [key, entry] of entries) {
      if (entries.size <= options.maxKeys && at - entry.at < options.retentionMs) break
      entries.delete(key)
    }
  }

  const claim = (key: string): Claim => {
    const at = now()
    trim(at)
    const entry = entries.get(key)
    if (entry === undefined) {
      entries.set(key, { state: 'in-progress', at })
      trim(at)
      return { _tag: 'Claimed' }
    }
    return entry.state === 'in-progress'
      ? { _tag: 'InProgress' }
      : { _tag: 'Completed', fingerprint: entry.fingerprint, conversation: entry.conversation }
  }

  return {
    claim: (key) => TE.fromIO(() => claim(key)),
    complete: (key, fingerprint, conversation) =>
      TE.fromIO(() => {
        // Re-inserted so that its retention counts from completion and it moves to the back of the line.
        entries.delete(key)
        entries.set(key, { state: 'completed', at: now(), fingerprint, conversation })
        trim(now())
      }),
    release: (key) => TE.fromIO(() => void entries.delete(key)),
    size: () => entries.size,
  }
}
