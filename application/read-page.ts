import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import type { Timer } from '../domain/clock'
import { channelList, channelName, DEFAULT_CHANNEL, type ChannelName, type InvalidField, type Message } from '../domain/message'
import type { Cursor, FeedFilter, ListQuery, MessageFeed, MessageRepository, Page, StoreUnavailable } from '../domain/message-repository'

/** The most a single page may hold, whatever the client asks. */
export const PAGE_LIMIT_MAX = 1000
/** A page after a cursor holds this many unless the client asks otherwise. */
export const PAGE_LIMIT_DEFAULT_AFTER_CURSOR = 100

export const pageLimit = (requested: number | undefined, hasCursor: boolean): number =>
  Math.min(requested ?? (hasCursor ? PAGE_LIMIT_DEFAULT_AFTER_CURSOR : PAGE_LIMIT_MAX), PAGE_LIMIT_MAX)

/**
 * What a list use case is asked for one page, as the client put it (the
 * channel not yet checked, the limit not yet capped). `listQuery` turns it
 * into the `ListQuery` the repository is asked.
 */
export type ListInput = {
  /** The default channel when absent (and `channels` too). */
  readonly channel?: string
  /**
   * Several channels read under one cursor, in place of `channel` (which is
   * then ignored; the HTTP adapter refuses a request that gives both).
   */
  readonly channels?: ReadonlyArray<string>
  readonly cursor?: Cursor
  /** Only messages sent strictly after this instant (ms since the Unix epoch). */
  readonly since?: number
  readonly limit?: number
  readonly wait?: Wait
}

/** What a reader asks to read: its `channels`, when given, else its `channel`, else the default channel. */
export type ChannelsAsked = { readonly channel?: string; readonly channels?: ReadonlyArray<string> }

const DEFAULT_CHANNELS: ReadonlyArray<ChannelName> = Object.freeze([DEFAULT_CHANNEL])

/** The channels a reader asks for, checked: one channel (the default when none is named), or a list of them. */
export const channelsAsked = (asked: ChannelsAsked): E.Either<InvalidField, ReadonlyArray<ChannelName>> => {
  if (asked.channels !== undefined) return channelList(asked.channels)
  if (asked.channel === undefined) return E.right(DEFAULT_CHANNELS)
  const channel = channelName(asked.channel)
  return E.isLeft(channel) ? channel : E.right([channel.right])
}

// Absent fields are undefined rather than missing: objects of one shape, built without spreads, are cheaper on hot paths.
export const listQuery = (channels: ReadonlyArray<ChannelName>, input: ListInput, player?: string): ListQuery => ({
  channels,
  limit: pageLimit(input.limit, input.cursor !== undefined),
  player,
  cursor: input.cursor,
  since: input.since,
})

export type Wait = {
  /** How long to hold the request when nothing matches yet, in milliseconds. */
  readonly ms: number
  /**
   * Settles when the reader goes away (a client hangs up, the server stops):
   * the waiter is released at once, answered with what is stored. A promise
   * rather than an AbortSignal because a server holds thousands of waiters:
   * a signal with its listener costs about 10 µs and 0.7 KB each, a promise
   * a tenth of that (see ARCHITECTURE.md, "Held long polls").
   */
  readonly released?: PromiseLike<unknown>
}

export type ReadDeps = {
  readonly messages: Pick<MessageRepository, 'list'>
  readonly feed: MessageFeed
  /** Ends a long poll's wait (and spaces a stream's retries after a failed read: `followMessages`). */
  readonly timer: Timer
}

/**
 * Reads a page; with a cursor and a wait, an empty page is held until a
 * matching message is stored, the wait runs out or the reader is released.
 * The listener is registered before the first read so that a message
 * stored in between cannot be missed. If the feed says it lost messages,
 * the wait ends at once and the page is read again: the store, not the
 * feed, has the last word.
 */
export const readPage = (deps: ReadDeps) => (query: ListQuery, wait?: Wait): TE.TaskEither<StoreUnavailable, Page> => {
  const cursor = query.cursor
  if (cursor === undefined || wait === undefined || wait.ms <= 0) return deps.messages.list(query)
  const filter: FeedFilter = query.player === undefined ? { channels: query.channels } : { channels: query.channels, player: query.player }
  /*
   * Written with callbacks rather than async/await: when a message arrives,
   * every waiter it wakes starts its second read from inside the feed's
   * notification, and is answered two microtask turns later. With awaits,
   * thousands of waiters woken at once moved through five turns in step, and
   * none was answered before all had passed the first four.
   */
  return () =>
    new Promise<E.Either<StoreUnavailable, Page>>((resolve, reject) => {
      // reading: the first read is under way; woken: a match (or a loss) came meanwhile; waiting: held; done: the second read has started.
      let state: 'reading' | 'woken' | 'waiting' | 'done' = 'reading'
      let cancelTimer: (() => void) | undefined
      const letGo = (): void => {
        state = 'done'
        cancelTimer?.()
        unsubscribe()
      }
      // An adapter that throws or rejects instead of returning a Left is a bug: the waiter lets go of everything and fails.
      const fail = (thrown: unknown): void => {
        letGo()
        reject(thrown)
      }
      const read = (then: (page: E.Either<StoreUnavailable, Page>) => void): void => {
        // Caught here, not thrown: a throw must not break the send whose message woke us.
        try {
          deps.messages.list(query)().then(then, fail)
        } catch (thrown) {
          fail(thrown)
        }
      }
      const finish = (): void => {
        if (state === 'done') return
        letGo()
        read(resolve)
      }
      /*
       * One function is both the listener and `lost` (called without a
       * message), so a waiter costs no extra closure: a message past the
       * cursor or a loss ends the wait the same way, with a read. An id at or
       * below the cursor is one the reader has seen (a feed may deliver a
       * message stored just before the subscription).
       */
      const wake = (message?: Message): void => {
        if (message !== undefined && message.id <= cursor.after) return
        if (state === 'waiting') finish()
        else if (state === 'reading') state = 'woken'
      }
      const unsubscribe = deps.feed.subscribe(filter, wake, wake)
      read((first) => {
        if (E.isLeft(first) || first.right.messages.length > 0 || first.right.gap) {
          letGo()
          return resolve(first)
        }
        if (state === 'woken') return finish()
        state = 'waiting'
        cancelTimer = deps.timer.after(wait.ms, finish)
        // Settling after the answer finds the read done: nothing to remove.
        wait.released?.then(finish, finish)
      })
    })
}
