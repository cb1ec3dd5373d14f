import type { Message } from '../../domain/message'
import type { FeedFilter, MessageFeed } from '../../domain/message-repository'

export type LossyFeed = {
  readonly feed: MessageFeed
  /** The connection drops: nothing is delivered until `restore`. */
  readonly drop: () => void
  /** The connection is back: delivery resumes, and every listener is told, through `lost`, that it may have missed some. */
  readonly restore: () => void
  /** Subscriptions not yet removed. */
  readonly subscribed: () => number
}

/** A feed in front of another that loses what it should deliver while dropped, as a networked feed whose connection failed would. */
export const lossyFeed = (inner: MessageFeed): LossyFeed => {
  let connected = true
  const losers = new Set<{ lost?: () => void }>()
  return {
    feed: {
      subscribe: (filter: FeedFilter, listener: (message: Message) => void, lost?: () => void) => {
        const entry = { lost }
        losers.add(entry)
        const stop = inner.subscribe(filter, (message) => {
          if (connected) listener(message)
        })
        return () => {
          losers.delete(entry)
          stop()
        }
      },
    },
    drop: () => {
      connected = false
    },
    restore: () => {
      connected = true
      for (const entry of [...losers]) entry.lost?.()
    },
    subscribed: () => losers.size,
  }
}

/** A feed in front of another that delivers each message on a later turn of the event loop, after its append has resolved. */
export const lateFeed = (inner: MessageFeed): MessageFeed => ({
  subscribe: (filter, listener, lost) => {
    let subscribed = true
    const stop = inner.subscribe(
      filter,
      (message) => setImmediate(() => subscribed && listener(message)),
      lost,
    )
    return () => {
      subscribed = false
      stop()
    }
  },
})

/** A promise and the functions that settle it, for reads a test finishes when it chooses. */
export const deferred = <A>(): { promise: Promise<A>; resolve: (value: A) => void; reject: (reason: unknown) => void } => {
  let resolve!: (value: A) => void
  let reject!: (reason: unknown) => void
  const promise = new Promise<A>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}
