import * as E from 'fp-ts/Either'
import * as TE from 'fp-ts/TaskEither'
import { pipe } from 'fp-ts/function'
import { channelOrDefault, playerName, type InvalidField, type Message, type MessageId } from '../domain/message'
import type { Cursor, FeedFilter, ListQuery, StoreUnavailable } from '../domain/message-repository'
import type { ReadDeps } from './read-page'

export type FollowInput = {
  readonly channel?: string
  readonly player?: string
  /** Without a cursor only messages stored from now on are delivered. */
  readonly cursor?: Cursor
}

export type FollowEvent =
  | { readonly _tag: 'Message'; readonly message: Message }
  /** Messages after the cursor were evicted or cleared, or the cursor is from another store life. */
  | { readonly _tag: 'Gap'; readonly epoch: string }

export type FollowError = InvalidField | StoreUnavailable

export type Following = { readonly epoch: string; readonly after: MessageId }

export type FollowOptions = {
  /**
   * Called after each page of the backlog is delivered; the next page is read
   * once it settles. A reader that takes its events slowly (a stream whose
   * client reads slowly) paces the backlog this way instead of having all of
   * it queued at once.
   */
  readonly pace?: () => PromiseLike<unknown>
}

/**
 * Backlog pages are this size: small enough that one page of the longest
 * messages is a bounded amount to queue for a reader, large enough that a
 * reader who keeps up needs few reads.
 */
export const BACKLOG_PAGE = 50

/**
 * Live messages held back while the backlog is read are kept up to this
 * many; past it they are dropped and read again from the store once the
 * backlog is out, so a slow reader on a busy channel costs bounded memory.
 */
export const HELD_BACK_MAX = 100

/**
 * Delivers every stored message after the cursor, then each new one as it is
 * stored, each exactly once and in id order, until `signal` aborts. The
 * listener is registered before the backlog is read, and what it hears
 * meanwhile is held back until the backlog is out, so nothing is missed or
 * repeated at the seam. The task settles once the backlog is delivered.
 */
export const followMessages = (deps: ReadDeps) =>
  (input: FollowInput, deliver: (event: FollowEvent) => void, signal: AbortSignal, options: FollowOptions = {}): TE.TaskEither<FollowError, Following> =>
    pipe(
      E.Do,
      E.apS('channel', channelOrDefault(input.channel)),
      E.apS('player', input.player === undefined ? E.right(undefined) : playerName(input.player)),
      TE.fromEither,
      TE.chainW(({ channel, player }) => async () => {
        const filter: FeedFilter = player === undefined ? { channel } : { channel, player }
        let live = false
        let last: MessageId = 0
        let heldBack: Message[] = []
        let overflowed = false
        const forward = (message: Message) => {
          if (message.id <= last) return
          last = message.id
          deliver({ _tag: 'Message', message })
        }
        const unsubscribe = deps.feed.subscribe(filter, (message) => {
          if (live) forward(message)
          else if (heldBack.length < HELD_BACK_MAX) heldBack.push(message)
          else overflowed = true
        })
        signal.addEventListener('abort', unsubscribe, { once: true })
        const query: ListQuery = { ...filter, limit: BACKLOG_PAGE }
        let epoch: string
        let cursor: Cursor | undefined = input.cursor
        if (cursor === undefined) {
          const head = await deps.messages.list({ ...filter, limit: 1 })()
          if (E.isLeft(head)) return stop(head, unsubscribe)
          last = head.right.nextAfter
          epoch = head.right.epoch
          cursor = { after: last, epoch }
        }
        // The backlog, page by page; read again from where it ended while live messages overflowed what was held back.
        for (;;) {
          const page = await deps.messages.list({ ...query, cursor })()
          if (E.isLeft(page)) return stop(page, unsubscribe)
          if (signal.aborted) {
            unsubscribe()
            return E.right({ epoch: page.right.epoch, after: last })
          }
          // Past the first page, a gap means messages were evicted while this reader was catching up.
          if (page.right.gap) deliver({ _tag: 'Gap', epoch: page.right.epoch })
          for (const message of page.right.messages) forward(message)
          last = Math.max(last, page.right.nextAfter)
          epoch = page.right.epoch
          cursor = { after: last, epoch }
          // Paced after the last page too, so that the backlog has mostly drained before live messages join it.
          if (options.pace !== undefined && page.right.messages.length > 0) await options.pace()
          if (page.right.hasMore) continue
          if (!overflowed) break
          overflowed = false
          heldBack = []
        }
        // The client may have left before the listener could hear of it (unsubscribing twice is harmless).
        if (signal.aborted) unsubscribe()
        for (const message of heldBack) forward(message)
        heldBack = []
        live = true
        return E.right({ epoch, after: last })
      }),
    )

const stop = <L>(failure: E.Left<L>, unsubscribe: () => void): E.Left<L> => {
  unsubscribe()
  return failure
}
