import * as E from 'fp-ts/Either'
import * as TE from 'fp-ts/TaskEither'
import { pipe } from 'fp-ts/function'
import { channelOrDefault, playerName, type InvalidField, type Message, type MessageId } from '../domain/message'
import type { Cursor, FeedFilter, ListQuery, StoreUnavailable } from '../domain/message-repository'
import { PAGE_LIMIT_MAX, type ReadDeps } from './read-page'

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

/**
 * Delivers every stored message after the cursor, then each new one as it is
 * stored, each exactly once and in id order, until `signal` aborts. The
 * listener is registered before the backlog is read, and what it hears
 * meanwhile is held back until the backlog is out, so nothing is missed or
 * repeated at the seam. The task settles once the backlog is delivered.
 */
export const followMessages = (deps: ReadDeps) =>
  (input: FollowInput, deliver: (event: FollowEvent) => void, signal: AbortSignal): TE.TaskEither<FollowError, Following> =>
    pipe(
      E.Do,
      E.apS('channel', channelOrDefault(input.channel)),
      E.apS('player', input.player === undefined ? E.right(undefined) : playerName(input.player)),
      TE.fromEither,
      TE.chainW(({ channel, player }) => async () => {
        const filter: FeedFilter = player === undefined ? { channel } : { channel, player }
        let live = false
        let last: MessageId = 0
        const heldBack: Message[] = []
        const forward = (message: Message) => {
          if (message.id <= last) return
          last = message.id
          deliver({ _tag: 'Message', message })
        }
        const unsubscribe = deps.feed.subscribe(filter, (message) => (live ? forward(message) : heldBack.push(message)))
        signal.addEventListener('abort', unsubscribe, { once: true })
        const query: ListQuery = { ...filter, limit: PAGE_LIMIT_MAX }
        let epoch: string
        if (input.cursor === undefined) {
          const head = await deps.messages.list(query)()
          if (E.isLeft(head)) return stop(head, unsubscribe)
          last = head.right.nextAfter
          epoch = head.right.epoch
        } else {
          let cursor: Cursor = input.cursor
          for (let first = true; ; first = false) {
            const page = await deps.messages.list({ ...query, cursor })()
            if (E.isLeft(page)) return stop(page, unsubscribe)
            if (signal.aborted) {
              unsubscribe()
              return E.right({ epoch: page.right.epoch, after: last })
            }
            if (first && page.right.gap) deliver({ _tag: 'Gap', epoch: page.right.epoch })
            for (const message of page.right.messages) forward(message)
            last = page.right.nextAfter
            epoch = page.right.epoch
            cursor = { after: page.right.nextAfter, epoch: page.right.epoch }
            if (!page.right.hasMore) break
          }
        }
        // The client may have left before the listener could hear of it (unsubscribing twice is harmless).
        if (signal.aborted) unsubscribe()
        for (const message of heldBack) forward(message)
        heldBack.length = 0
        live = true
        return E.right({ epoch, after: last })
      }),
    )

const stop = <L>(failure: E.Left<L>, unsubscribe: () => void): E.Left<L> => {
  unsubscribe()
  return failure
}
