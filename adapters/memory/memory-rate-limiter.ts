import * as E from 'fp-ts/Either'
import { giveBackToBucket, isFull, takeFromBucket, type RateDecision, type RateLimit, type RateLimiter, type TokenBucket } from '../../domain/rate-limit'

export type MemoryRateLimiterOptions = {
  /** The most buckets kept at once; past it the least recently used is forgotten (its key starts full again). */
  readonly maxKeys: number
  readonly now?: () => number
}

/** Full buckets swept from the front per take: more than one, so that the map shrinks after a burst. */
const SWEEP = 2

/** A bucket, and its place in the list from least to most recently used. */
type Node = TokenBucket & { readonly key: string; limit: RateLimit; prev: Node | undefined; next: Node | undefined }

/**
 * Buckets in a Map for lookup, and in a doubly linked list from least to most
 * recently used: each take moves its bucket to the back, so the front is the
 * least recently used. Memory stays bounded under a flood of distinct keys
 * two ways:
 *
 * - a bucket that has refilled completely is the same as no bucket: each
 *   take drops up to two full buckets from the front (the least recently
 *   used, the first to have refilled), so the buckets kept follow the keys
 *   active within a window. A full bucket elsewhere in the list stays until
 *   it reaches the front: a player who sends again reuses it, which costs a
 *   lookup rather than a Map insertion and deletion (about 1 µs in V8);
 * - past `maxKeys`, the least recently used bucket is forgotten even if it is
 *   not full; that key then starts full again, which is why `maxKeys` should
 *   be well above the number of players (or clients) active in a window.
 *
 * Every take is O(1): a Map lookup, a few pointers, at most three buckets
 * looked at from the front. (The list is ours rather than the Map's insertion
 * order: moving a key to the back of a Map is a delete and a set, and V8
 * leaves each deleted entry as a hole that iterating from the front walks
 * over, which made a take cost microseconds under many keys.)
 *
 * Limits are given per take; a limiter serving limits with very different
 * windows sweeps best as one instance per limit (a long-window bucket at the
 * front holds back the sweep behind it, never the bound).
 */
export const createMemoryRateLimiter = (options: MemoryRateLimiterOptions): RateLimiter & { readonly size: () => number } => {
  const now = options.now ?? Date.now
  const maxKeys = options.maxKeys
  const buckets = new Map<string, Node>()
  let head: Node | undefined
  let tail: Node | undefined

  const unlink = (node: Node) => {
    if (node.prev === undefined) head = node.next
    else node.prev.next = node.next
    if (node.next === undefined) tail = node.prev
    else node.next.prev = node.prev
    node.prev = undefined
    node.next = undefined
  }

  const append = (node: Node) => {
    node.prev = tail
    if (tail === undefined) head = node
    else tail.next = node
    tail = node
  }

  const forget = (node: Node) => {
    unlink(node)
    buckets.delete(node.key)
  }

  const sweep = (at: number) => {
    while (head !== undefined && buckets.size > maxKeys) forget(head)
    for (let i = 0; i < SWEEP && head !== undefined && isFull(head, head.limit, at); i++) forget(head)
  }

  const take = (key: string, limit: RateLimit, cost: number): RateDecision => {
    const at = now()
    let node = buckets.get(key)
    if (node === undefined) {
      node = { tokens: limit.limit, at, key, limit, prev: undefined, next: undefined }
      buckets.set(key, node)
      append(node)
    } else {
      node.limit = limit
      if (node !== tail) {
        unlink(node)
        append(node)
      }
    }
    const decision = takeFromBucket(node, limit, at, cost)
    sweep(at)
    return decision
  }

  return {
    take: (key, limit, cost = 1) => () => Promise.resolve(E.right(take(key, limit, cost))),
    giveBack: (key, limit, cost = 1) => () => {
      const node = buckets.get(key)
      if (node !== undefined) {
        const at = now()
        giveBackToBucket(node, limit, at, cost)
      }
      return Promise.resolve(E.right(undefined))
    },
    size: () => buckets.size,
  }
}
