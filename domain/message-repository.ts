import type * as TE from 'fp-ts/TaskEither'
import type { ChannelName, Message, MessageDraft, MessageId, MessageText, PlayerName } from './message'

/** Where a reader stands: the last id it has seen, and the store life (epoch) that id belongs to. */
export type Cursor = { readonly after: MessageId; readonly epoch?: string }

export type ListQuery = {
  readonly channel: ChannelName
  /** Only messages this player wrote, matched case-insensitively. */
  readonly player?: string
  /**
   * With a cursor: the oldest `limit` matches after it (paging forward).
   * Without: the newest `limit` matches (the seed's behaviour).
   * Either way the page is oldest first.
   */
  readonly cursor?: Cursor
  /** Only messages sent strictly after this instant (ms since the Unix epoch). */
  readonly since?: number
  readonly limit: number
}

export type Page = {
  readonly messages: ReadonlyArray<Message>
  /** The store life these ids belong to; a store that restarts empty starts a new one. */
  readonly epoch: string
  /** The last id this answer accounts for: pass it back as the cursor to see every message once. */
  readonly nextAfter: MessageId
  /** More matches after `nextAfter` are stored right now. */
  readonly hasMore: boolean
  /** Matches after the cursor were evicted or cleared before this reader saw them. */
  readonly gap: boolean
}

export type ClearScope = { readonly _tag: 'All' } | { readonly _tag: 'Channel'; readonly channel: ChannelName }

export type ReplyDraft = { readonly playerName: PlayerName; readonly text: MessageText }

/** A player's message and, optionally, the automatic reply to it, stored together or not at all. */
export type AppendRequest = { readonly draft: MessageDraft; readonly reply?: ReplyDraft }

export type Conversation = { readonly message: Message; readonly reply?: Message }

export type ChannelSummary = {
  readonly channel: ChannelName
  readonly count: number
  /** The newest id in the channel, or undefined when it is empty. */
  readonly newestId?: MessageId
}

export type StoreUnavailable = { readonly _tag: 'StoreUnavailable'; readonly detail: string }
export type ChannelLimitReached = { readonly _tag: 'ChannelLimitReached'; readonly max: number }

export type MessageRepository = {
  /** Assigns ids that strictly increase and are never reused, not even after a clear. */
  readonly append: (request: AppendRequest) => TE.TaskEither<StoreUnavailable | ChannelLimitReached, Conversation>
  readonly list: (query: ListQuery) => TE.TaskEither<StoreUnavailable, Page>
  readonly clear: (scope: ClearScope) => TE.TaskEither<StoreUnavailable, void>
  readonly channels: () => TE.TaskEither<StoreUnavailable, ReadonlyArray<ChannelSummary>>
}

export type FeedFilter = { readonly channel: ChannelName; readonly player?: string }

/**
 * Tells listeners about each message as it is stored. Listeners for one
 * channel or player are not called for others, so thousands of waiting
 * readers cost nothing per unrelated message.
 */
export type MessageFeed = {
  /** Returns the function that removes the listener. */
  readonly subscribe: (filter: FeedFilter, listener: (message: Message) => void) => () => void
}
