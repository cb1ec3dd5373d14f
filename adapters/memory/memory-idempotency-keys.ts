import { createHash } from 'node:crypto'
import * as TE from 'fp-ts/TaskEither'
import type { Claim, IdempotencyKeys } from '../../domain/idempotency'
import type { Message } from '../../domain/message'
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
  | { readonly state: 'completed'; readonly at: number; readonly digest: string; readonly conversation: Conversation }

/*
 * What a completed key keeps is what its replay needs, and no more: a key
 * outlives the messages it answered (the store evicts them, the key stays 24 h),
 * and everything it holds stays alive with it.
 *
 * - The fingerprint, a JSON text as long as the message, is kept as its SHA-256
 *   digest: a repeat is compared by digest, which is as good as by text.
 * - The messages are kept as copies sharing their strings. The store's own
 *   objects are the keys under which the HTTP adapter caches each message's
 *   JSON (as long as the object lives); holding them here would keep that JSON,
 *   as long again as the text, alive for a day after the message was evicted.
 */
const digestOf = (fingerprint: string): string => createHash('sha256').update(fingerprint).digest('base64')

// Field by field, in the store's order, so that every copy has the store's shape.
const copy = (m: Message): Message => ({
  id: m.id,
  channel: m.channel,
  playerName: m.playerName,
  text: m.text,
  sentAt: m.sentAt,
  type: m.type,
  replyTo: m.replyTo,
  userId: m.userId,
})

const kept = (conversation: Conversation): Conversation =>
  conversation.reply === undefined ? { message: copy(conversation.message) } : { message: copy(conversation.message), reply: copy(conversation.reply) }

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

  const claim = (key: string, fingerprint: string): Claim => {
    const at = now()
    trim(at)
    const entry = entries.get(key)
    if (entry === undefined) {
      entries.set(key, { state: 'in-progress', at })
      trim(at)
      return { _tag: 'Claimed' }
    }
    if (entry.state === 'in-progress') return { _tag: 'InProgress' }
    return { _tag: 'Completed', sameRequest: digestOf(fingerprint) === entry.digest, conversation: entry.conversation }
  }

  return {
    claim: (key, fingerprint) => TE.fromIO(() => claim(key, fingerprint)),
    complete: (key, fingerprint, conversation) =>
      TE.fromIO(() => {
        // Re-inserted so that its retention counts from completion and it moves to the back of the line.
        entries.delete(key)
        entries.set(key, { state: 'completed', at: now(), digest: digestOf(fingerprint), conversation: kept(conversation) })
        trim(now())
      }),
    release: (key) => TE.fromIO(() => void entries.delete(key)),
    size: () => entries.size,
  }
}
