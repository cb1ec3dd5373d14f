import * as E from 'fp-ts/Either'
import * as TE from 'fp-ts/TaskEither'
import { pipe } from 'fp-ts/function'
import { playerName, type ChannelName, type InvalidField, type Message, type MessageId, type PlayerName } from '../domain/message'
import type { Cursor, FeedFilter, StoreUnavailable } from '../domain/message-repository'
import { channelsAsked, type ReadDeps } from './read-page'

export type FollowInput = {
  /** The default channel when absent (and `channels` too). */
  readonly channel?: string
  /** Several channels followed under one cursor, in place of `channel`. */
  readonly channels?: ReadonlyArray<string>
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
   * it queued at once. Pages read again after the feed lost messages are
   * paced the same way.
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
 * After the feed lost messages, a live follower reads them from the store;
 * if that read fails it tries again after this long, doubling each time up
 * to `CATCH_UP_RETRY_MAX_MS`, with live messages held back meanwhile.
 */
export const CATCH_UP_RETRY_MS = 500
export const CATCH_UP_RETRY_MAX_MS = 15_000

/**
 * Delivers every stored message after the cursor, then each new one as it is
 * stored, each exactly once and in id order, until `signal` aborts. The
 * listener is registered before the backlog is read, and what it hears
 * meanwhile is held back until the backlog is out, so nothing is missed or
 * repeated at the seam. The task settles once the backlog is delivered.
 *
 * When the feed says it lost messages (see `MessageFeed`), the follower
 * reads the store again from the last id it delivered, page by page (a
 * `Gap` first if some were evicted meanwhile), holding back what the feed
 * delivers until it has caught up, exactly as for the backlog. A message the
 * feed delivers at or below that id is one already delivered and is dropped,
 * unless the store began a new life meanwhile (another epoch): then its ids
 * begin again, and the follower with them.
 */
export const followMessages = (deps: ReadDeps) =>
  (input: FollowInput, deliver: (event: FollowEvent) => void, signal: AbortSignal, options: FollowOptions = {}): TE.TaskEither<FollowError, Following> =>
    pipe(
      E.Do,
      E.apS('channels', channelsAsked(input)),
      E.apS('player', input.player === undefined ? E.right(undefined) : playerName(input.player)),
      TE.fromEither,
      TE.chainW(({ channels, player }) => () => follow(deps, channels, player, input.cursor, deliver, signal, options)),
    )

const CAUGHT_UP: E.Either<never, void> = E.right(undefined)

const follow = (
  deps: ReadDeps,
  channels: ReadonlyArray<ChannelName>,
  player: PlayerName | undefined,
  from: Cursor | undefined,
  deliver: (event: FollowEvent) => void,
  signal: AbortSignal,
  options: FollowOptions,
): Promise<E.Either<StoreUnavailable, Following>> => {
  const filter: FeedFilter = player === undefined ? { channels } : { channels, player }
  // backlog: the first catch-up, whose end settles the task; live: what the feed delivers is forwarded;
  // catching-up: reading again after the feed lost messages; stopped: the reader is gone.
  let state: 'backlog' | 'live' | 'catching-up' | 'stopped' = 'backlog'
  let last: MessageId = 0
  let epoch = ''
  let heldBack: Message[] = []
  // What was held back is not the whole story (some were dropped past the bound, or the feed lost some): read the store again.
  let readAgain = false
  let cancelRetry: (() => void) | undefined
  let retryMs = CATCH_UP_RETRY_MS

  const forward = (message: Message): void => {
    if (message.id <= last) return
    last = message.id
    deliver({ _tag: 'Message', message })
  }
  const hear = (message: Message): void => {
    if (state === 'live') forward(message)
    else if (heldBack.length < HELD_BACK_MAX) heldBack.push(message)
    else readAgain = true
  }
  const lost = (): void => {
    if (state === 'live') {
      state = 'catching-up'
      recover()
    } else if (state !== 'stopped') readAgain = true
  }
  const unsubscribe = deps.feed.subscribe(filter, hear, lost)
  const stop = (): void => {
    state = 'stopped'
    cancelRetry?.()
    unsubscribe()
  }
  signal.addEventListener('abort', stop, { once: true })

  /*
   * Reads from `cursor` page by page until the store has nothing more and
   * nothing was lost meanwhile, then delivers what the listener held back and
   * goes live. Used for the backlog and again after each loss.
   */
  const catchUp = async (cursor: Cursor): Promise<E.Either<StoreUnavailable, void>> => {
    for (;;) {
      const page = await deps.messages.list({ channels, limit: BACKLOG_PAGE, player, cursor, since: undefined })()
      if (E.isLeft(page)) return page
      // Another epoch: the store lost everything and began a new life (Redis restarted empty), whose ids start
      // again from 1. The page answers it from its start, with a gap; what was delivered of the old life says
      // nothing of which new messages are new.
      if (epoch !== '' && page.right.epoch !== epoch) last = 0
      epoch = page.right.epoch
      if (signal.aborted) return CAUGHT_UP
      // Past the first page, a gap means messages were evicted while this reader was catching up.
      if (page.right.gap) deliver({ _tag: 'Gap', epoch })
      for (const message of page.right.messages) forward(message)
      last = Math.max(last, page.right.nextAfter)
      cursor = { after: last, epoch }
      // Paced after the last page too, so that the backlog has mostly drained before live messages join it.
      if (options.pace !== undefined && page.right.messages.length > 0) await options.pace()
      if (page.right.hasMore) continue
      if (!readAgain) break
      readAgain = false
      heldBack = []
    }
    if (signal.aborted) return CAUGHT_UP
    for (const message of heldBack) forward(message)
    heldBack = []
    state = 'live'
    return CAUGHT_UP
  }

  // After a loss: catch up from the last id delivered; a failed read is tried again later, the stream kept open meanwhile.
  const recover = (): void => {
    cancelRetry = undefined
    readAgain = false
    heldBack = []
    catchUp({ after: last, epoch }).then((caughtUp) => {
      if (E.isLeft(caughtUp)) retry()
      else retryMs = CATCH_UP_RETRY_MS
    }, retry)
  }
  // A throwing adapter lands here too: a bug, but one that must not end the process as an unhandled rejection.
  const retry = (): void => {
    if (state === 'stopped' || signal.aborted) return
    cancelRetry = deps.timer.after(retryMs, recover)
    retryMs = Math.min(retryMs * 2, CATCH_UP_RETRY_MAX_MS)
  }

  const start = async (): Promise<E.Either<StoreUnavailable, Following>> => {
    let cursor = from
    if (cursor === undefined) {
      const head = await deps.messages.list({ channels, limit: 1, player, cursor: undefined, since: undefined })()
      if (E.isLeft(head)) return failed(head)
      last = head.right.nextAfter
      epoch = head.right.epoch
      cursor = { after: last, epoch }
    }
    const caughtUp = await catchUp(cursor)
    if (E.isLeft(caughtUp)) return failed(caughtUp)
    // The client may have left before the listener could hear of it (stopping twice is harmless).
    if (signal.aborted) stop()
    return E.right({ epoch, after: last })
  }
  const failed = (failure: E.Left<StoreUnavailable>): E.Left<StoreUnavailable> => {
    stop()
    return failure
  }
  // An adapter that throws instead of returning a Left is a bug: the task fails, and the listener goes with it.
  return start().then(undefined, (thrown: unknown) => {
    stop()
    throw thrown
  })
}
