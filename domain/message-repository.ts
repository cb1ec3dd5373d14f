import type * as TE from 'fp-ts/TaskEither'
import type { ChannelName, Message, MessageDraft, MessageId, MessageText, PlayerName } from './message'

/** Where a reader stands: the last id it has seen, and the store life (epoch) that id belongs to. */
export type Cursor = { readonly after: MessageId; readonly epoch?: string }

/** What the repository is asked for one page (a use case's request, `ListInput`, becomes one). */
export type ListQuery = {
  /**
   * The channels to read: one or more, each named once. Ids increase across
   * the whole store, so one cursor serves them all: the page holds their
   * messages merged in id order, and `gap` says whether any of them lost
   * messages after the cursor.
   */
  readonly channels: ReadonlyArray<ChannelName>
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
  /** Matches after the cursor were evicted or cleared before this reader saw them (never for a removal: its entry says what went). */
  readonly gap: boolean
}

export type ClearScope = { readonly _tag: 'All' } | { readonly _tag: 'Channel'; readonly channel: ChannelName }

export type ReplyDraft = { readonly playerName: PlayerName; readonly text: MessageText }

/** A player's message and, optionally, the automatic reply to it, stored together or not at all. */
export type AppendRequest = { readonly draft: MessageDraft; readonly reply?: ReplyDraft }

export type Conversation = { readonly message: Message; readonly reply?: Message }

export type ChannelSummary = {
  readonly channel: ChannelName
  /** Entries held: messages, replies and removal entries. */
  readonly count: number
  /** The newest id in the channel, or undefined when it is empty. */
  readonly newestId?: MessageId
}

export type StoreUnavailable = { readonly _tag: 'StoreUnavailable'; readonly detail: string }
export type ChannelLimitReached = { readonly _tag: 'ChannelLimitReached'; readonly max: number }
/** No message (a player's or a reply) with this id is stored: never sent, evicted, cleared, removed, or a removal entry's id. */
export type MessageNotFound = { readonly _tag: 'MessageNotFound'; readonly id: MessageId }

/**
 * What a removal takes out of the history, with the replies to what it takes:
 * one message (in its channel), or in every channel everything a player
 * wrote (by name in any case, and by user id too when one is given), or
 * everything sent with a Roblox user id (Roblox's Right to Erasure names
 * only the id).
 */
export type RemovalScope =
  | { readonly _tag: 'Message'; readonly id: MessageId }
  | { readonly _tag: 'Player'; readonly name: string; readonly userId?: number }
  | { readonly _tag: 'User'; readonly userId: number }

/** A removal, and when it was asked for (the removal entries' timestamp; clamped, like every timestamp, to follow id order). */
export type RemovalRequest = { readonly scope: RemovalScope; readonly sentAt: number }

/** A reply stored after the fact (a model's, say) to a message still stored, in that message's channel. */
export type LateReply = {
  readonly channel: ChannelName
  readonly replyTo: MessageId
  readonly playerName: PlayerName
  readonly text: MessageText
  readonly sentAt: number
}

export type MessageRepository = {
  /** Assigns ids that strictly increase in the order messages are stored and are never reused, not even after a clear. */
  readonly append: (request: AppendRequest) => TE.TaskEither<StoreUnavailable | ChannelLimitReached, Conversation>
  /**
   * Takes what the scope names out of the history, and appends to each
   * channel it touched a removal entry (`type: 'removal'`, `removes`: the
   * ids taken out, ascending) with an id of its own from the same counter,
   * told on the feed like any message. Nothing else changes: a removal is
   * not an eviction, so no reader is told of a gap for it (a reader whose
   * cursor is before the removal entry reads the entry instead), and the
   * entry counts toward the channel's bound like any entry. From then on a
   * list without a cursor shows neither what was removed nor the entry; a
   * list after a cursor shows the entry, to every reader of the channel
   * (those reading one player's messages too), and never what it removed.
   * Each channel's removal is atomic. Resolves with the entries appended,
   * one per channel touched, their ids in the order of the channels' names:
   * none when nothing matched a player or user
   * (asking again is harmless), MessageNotFound when the one message is not
   * stored.
   */
  readonly remove: (request: RemovalRequest) => TE.TaskEither<StoreUnavailable | MessageNotFound, ReadonlyArray<Message>>
  /**
   * Stores a reply to a message already stored, in its channel, with the
   * next id, told on the feed like any message; MessageNotFound when the
   * message it answers is no longer stored (atomically: never a reply to a
   * message removed meanwhile). Removing that message later removes the
   * reply with it.
   */
  readonly appendReply: (reply: LateReply) => TE.TaskEither<StoreUnavailable | MessageNotFound, Message>
  readonly list: (query: ListQuery) => TE.TaskEither<StoreUnavailable, Page>
  readonly clear: (scope: ClearScope) => TE.TaskEither<StoreUnavailable, void>
  /** Channels holding entries, with how many they hold (removal entries count, as toward the bound) and the newest id. */
  readonly channels: () => TE.TaskEither<StoreUnavailable, ReadonlyArray<ChannelSummary>>
}

/**
 * What a store tells of the messages it discarded, for the metrics: the
 * oldest of a full channel evicted by an append, or everything a clear
 * removed (a moderator's removal is not a discard: its entry says what went).
 * A store shared by processes tells each process of what its own calls discarded.
 */
export type DiscardObserver = (discarded: { readonly reason: 'evicted' | 'cleared'; readonly count: number }) => void

/**
 * The channels to hear (one or more, each named once) and, optionally, the
 * one player whose messages are wanted in them; a player's listener hears
 * every removal entry of its channels too (an entry names no player).
 */
export type FeedFilter = { readonly channels: ReadonlyArray<ChannelName>; readonly player?: string }

/**
 * Tells listeners about each message as it is stored. Listeners for some
 * channels or a player are not called for others, so thousands of waiting
 * readers cost nothing per unrelated message.
 *
 * The promise every feed makes, and every follower may rely on (the suite in
 * `test/contracts/message-feed.contract.ts` checks it):
 *
 * - **Every message, once, in order.** While subscribed, a listener hears
 *   every message stored for its filter (in any of its channels; with
 *   `player`, only that player's messages, the name matched
 *   case-insensitively, and every removal entry) after `subscribe` returned, each exactly once, in id
 *   order across all its channels. It may also hear some stored just before:
 *   a follower ignores an id at or below its cursor.
 * - **Not necessarily at once.** Delivery may come after `append` resolves
 *   (a feed over the network hears of a message after it is stored), so a
 *   follower never assumes that the messages it appended have been heard.
 * - **Loss is said, never hidden.** A feed that cannot keep that promise (a
 *   networked feed whose connection dropped and came back; one whose
 *   connection was not up yet when `subscribe` was called) calls `lost`, and
 *   may deliver nothing in between. It calls it, at the latest, once delivery
 *   has resumed: every message stored after `lost` is called is delivered
 *   again, those stored before it may not have been. A follower then re-reads
 *   the store from its own cursor. `lost` may be called more than once; a feed
 *   that never loses anything (the memory store's) never calls it. A clear is
 *   not a message and is announced to no one, but a feed over a store that
 *   several processes share calls `lost` on a channel's listeners when another
 *   process cleared it: readers that keep pages (`shareReads`) could not see
 *   that change otherwise, and followers learn of the gap by re-reading.
 * - **A listener cannot break the feed.** A listener that throws does not stop
 *   the others from hearing the message and never fails the `append` that
 *   stored it; it stays subscribed. (A listener that throws is a bug: each
 *   adapter reports it in its own way.) After the function `subscribe`
 *   returned has been called, neither `listener` nor `lost` is called again;
 *   calling it twice is harmless.
 */
export type MessageFeed = {
  /** Returns the function that removes the listener. */
  readonly subscribe: (filter: FeedFilter, listener: (message: Message) => void, lost?: () => void) => () => void
}
