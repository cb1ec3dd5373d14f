import { randomBytes } from 'node:crypto'
import * as E from 'fp-ts/Either'
import * as TE from 'fp-ts/TaskEither'
import { playerKey, type ChannelName, type Message, type MessageId } from '../../domain/message'
import type {
  AppendRequest,
  ChannelLimitReached,
  ChannelSummary,
  ClearScope,
  Conversation,
  FeedFilter,
  ListQuery,
  MessageFeed,
  MessageRepository,
  Page,
  RemovalObserver,
  StoreUnavailable,
} from '../../domain/message-repository'
import { firstPosition, Queue, Ring, type Sequence } from './sequence'

export type MemoryStoreOptions = {
  /** The most messages one channel keeps; the oldest are evicted first. */
  readonly maxMessages: number
  /** The most channels that may hold messages at once. */
  readonly maxChannels: number
  /** Names this store's life; a random one by default, so that a restart starts a new epoch. */
  readonly epoch?: string
  /**
   * Told of a feed listener that threw (a bug in the listener: see
   * `MessageFeed`); the other listeners still hear the message and the append
   * succeeds. `console.error` by default. Must not throw.
   */
  readonly onListenerError?: (error: unknown) => void
  /** Told of the messages each append evicted and each clear removed. */
  readonly onRemoved?: RemovalObserver
}

/*
 * Gap bookkeeping. Removal is always oldest-first within a channel (eviction)
 * or everything (clear), so "a message after cursor c was removed" is exactly
 * "the highest removed id exceeds c". Each channel and each player log keeps
 * that highest id; when a log is dropped its value folds into a floor kept by
 * its parent, which answers for logs that no longer exist. The floor can only
 * err towards reporting a gap, never towards hiding one.
 */
type PlayerLog = { readonly messages: Queue; removedThrough: MessageId }

type ChannelLog = {
  readonly ring: Ring
  readonly players: Map<string, PlayerLog>
  removedThrough: MessageId
  droppedPlayersRemovedThrough: MessageId
}

type Listener = (message: Message) => void
type ChannelListeners = { readonly all: Set<Listener>; readonly byPlayer: Map<string, Set<Listener>> }

export type MemoryMessageStore = MessageRepository &
  MessageFeed & {
    /** How many listeners are registered: waiting long polls and open streams. */
    readonly listenerCount: () => number
  }

export const createMemoryMessageStore = (options: MemoryStoreOptions): MemoryMessageStore => {
  const epoch = options.epoch ?? randomBytes(6).toString('base64url')
  const channels = new Map<ChannelName, ChannelLog>()
  const listeners = new Map<ChannelName, ChannelListeners>()
  let lastId: MessageId = 0
  let lastSentAt = 0
  let droppedChannelsRemovedThrough: MessageId = 0
  let listening = 0
  const onListenerError = options.onListenerError ?? reportListenerError

  const newChannel = (): ChannelLog => ({
    ring: new Ring(options.maxMessages),
    players: new Map(),
    removedThrough: droppedChannelsRemovedThrough,
    droppedPlayersRemovedThrough: droppedChannelsRemovedThrough,
  })

  /** Channels emptied by a per-channel clear keep their entry until room is needed. */
  const dropEmptyChannels = (): void => {
    for (const [name, log] of channels) {
      if (log.ring.length === 0) {
        droppedChannelsRemovedThrough = Math.max(droppedChannelsRemovedThrough, log.removedThrough)
        channels.delete(name)
      }
    }
  }

  const openChannel = (name: ChannelName): ChannelLog | undefined => {
    const existing = channels.get(name)
    if (existing !== undefined) return existing
    if (channels.size >= options.maxChannels) dropEmptyChannels()
    if (channels.size >= options.maxChannels) return undefined
    const log = newChannel()
    channels.set(name, log)
    return log
  }

  /** Stores the message, answering how many it evicted (0 or 1). */
  const store = (log: ChannelLog, message: Message): number => {
    const evicted = log.ring.push(message)
    if (evicted !== undefined) {
      log.removedThrough = evicted.id
      const key = playerKey(evicted.playerName)
      const player = log.players.get(key)
      if (player !== undefined) {
        player.messages.shift()
        player.removedThrough = evicted.id
        if (player.messages.length === 0) {
          log.droppedPlayersRemovedThrough = Math.max(log.droppedPlayersRemovedThrough, evicted.id)
          log.players.delete(key)
        }
      }
    }
    const key = playerKey(message.playerName)
    let player = log.players.get(key)
    if (player === undefined) {
      player = { messages: new Queue(), removedThrough: log.droppedPlayersRemovedThrough }
      log.players.set(key, player)
    }
    player.messages.push(message)
    return evicted === undefined ? 0 : 1
  }

  /*
   * The feed. Every stored message is told synchronously, before its append
   * resolves, so this feed never loses one and never calls `lost`. (A listener
   * cannot append while it hears: an append runs as a task of its own, after
   * the listeners of the one before have all been told.)
   */
  const tell = (message: Message): void => {
    const forChannel = listeners.get(message.channel)
    if (forChannel === undefined) return
    for (const listener of forChannel.all) hear(listener, message)
    const forPlayer = forChannel.byPlayer.get(playerKey(message.playerName))
    if (forPlayer !== undefined) for (const listener of forPlayer) hear(listener, message)
  }

  // A listener that throws stays subscribed, and neither the others nor the append notice.
  const hear = (listener: Listener, message: Message): void => {
    try {
      listener(message)
    } catch (error) {
      onListenerError(error)
    }
  }

  const appendNow = (request: AppendRequest): E.Either<ChannelLimitReached, Conversation> => {
    const log = openChannel(request.draft.channel)
    if (log === undefined) return E.left({ _tag: 'ChannelLimitReached', max: options.maxChannels })
    // Timestamps follow id order even if the clock steps back, so `since` can be found by binary search.
    lastSentAt = Math.max(lastSentAt, request.draft.sentAt)
    const draft = request.draft
    // Built field by field, every message with the same fields in the same order: an object spread
    // here cost microseconds per message, and one shape keeps every read of the ring monomorphic.
    const message: Message = {
      id: ++lastId,
      channel: draft.channel,
      playerName: draft.playerName,
      text: draft.text,
      sentAt: lastSentAt,
      type: 'player',
      replyTo: undefined,
      userId: draft.userId,
    }
    let evicted = store(log, message)
    let reply: Message | undefined
    if (request.reply !== undefined) {
      reply = {
        id: ++lastId,
        channel: message.channel,
        playerName: request.reply.playerName,
        text: request.reply.text,
        sentAt: lastSentAt,
        type: 'reply',
        replyTo: message.id,
        userId: undefined,
      }
      evicted += store(log, reply)
    }
    if (evicted > 0) options.onRemoved?.({ reason: 'evicted', count: evicted })
    tell(message)
    if (reply !== undefined) tell(reply)
    return E.right(reply === undefined ? { message } : { message, reply })
  }

  const removedThrough = (log: ChannelLog | undefined, player: string | undefined): MessageId => {
    if (log === undefined) return droppedChannelsRemovedThrough
    if (player === undefined) return log.removedThrough
    return log.players.get(playerKey(player))?.removedThrough ?? log.droppedPlayersRemovedThrough
  }

  const EMPTY: Sequence = { length: 0, at: () => { throw new RangeError('empty sequence') } }

  // Each read is made afresh: sharing one page among the readers who ask the same at once is `shareReads`'s work (application/shared-reads.ts).
  const readNow = (query: ListQuery): Page => {
    const log = channels.get(query.channel)
    const seq: Sequence =
      log === undefined ? EMPTY : query.player === undefined ? log.ring : log.players.get(playerKey(query.player))?.messages ?? EMPTY
    const sinceStart = query.since === undefined ? 0 : firstPosition(seq, (m) => m.sentAt > (query.since as number))
    if (query.cursor === undefined) {
      const start = Math.max(sinceStart, seq.length - query.limit)
      return { messages: slice(seq, start, seq.length), epoch, nextAfter: lastId, hasMore: false, gap: false }
    }
    // A cursor from another store life, or one beyond anything this life issued, is answered from the start.
    const foreign = (query.cursor.epoch !== undefined && query.cursor.epoch !== epoch) || query.cursor.after > lastId
    const after = foreign ? 0 : query.cursor.after
    const start = Math.max(sinceStart, firstPosition(seq, (m) => m.id > after))
    const end = Math.min(seq.length, start + query.limit)
    const messages = slice(seq, start, end)
    const hasMore = end < seq.length
    return {
      messages,
      epoch,
      nextAfter: hasMore ? (messages[messages.length - 1] as Message).id : lastId,
      hasMore,
      gap: foreign || after < removedThrough(log, query.player),
    }
  }

  const clearNow = (scope: ClearScope): void => {
    if (scope._tag === 'All') {
      let removed = 0
      for (const log of channels.values()) removed += log.ring.length
      // Everything up to the newest id is gone, in every channel.
      droppedChannelsRemovedThrough = lastId
      channels.clear()
      if (removed > 0) options.onRemoved?.({ reason: 'cleared', count: removed })
      return
    }
    const log = channels.get(scope.channel)
    if (log === undefined) return
    if (log.ring.length > 0) options.onRemoved?.({ reason: 'cleared', count: log.ring.length })
    log.removedThrough = Math.max(log.removedThrough, log.ring.newest()?.id ?? 0)
    log.droppedPlayersRemovedThrough = log.removedThrough
    log.ring.clear()
    log.players.clear()
  }

  const summaries = (): ReadonlyArray<ChannelSummary> =>
    [...channels]
      .filter(([, log]) => log.ring.length > 0)
      .map(([channel, log]) => ({ channel, count: log.ring.length, newestId: log.ring.newest()?.id }))
      .sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0))

  // The third argument, `lost`, is never called: this feed loses nothing.
  const subscribe = (filter: FeedFilter, listener: Listener): (() => void) => {
    let forChannel = listeners.get(filter.channel)
    if (forChannel === undefined) {
      forChannel = { all: new Set(), byPlayer: new Map() }
      listeners.set(filter.channel, forChannel)
    }
    let set: Set<Listener>
    const key = filter.player === undefined ? undefined : playerKey(filter.player)
    if (key === undefined) set = forChannel.all
    else {
      set = forChannel.byPlayer.get(key) ?? new Set()
      forChannel.byPlayer.set(key, set)
    }
    const before = set.size
    set.add(listener)
    listening += set.size - before
    const registered = forChannel
    let subscribed = true
    return () => {
      if (!subscribed) return
      subscribed = false
      if (set.delete(listener)) listening--
      if (key !== undefined && set.size === 0 && registered.byPlayer.get(key) === set) registered.byPlayer.delete(key)
      if (registered.all.size === 0 && registered.byPlayer.size === 0 && listeners.get(filter.channel) === registered)
        listeners.delete(filter.channel)
    }
  }

  return {
    append: (request) => TE.fromIOEither(() => appendNow(request)),
    list: (query) => TE.fromIO(() => readNow(query)),
    clear: (scope) => TE.fromIO(() => clearNow(scope)),
    channels: () => TE.fromIO(summaries),
    subscribe,
    listenerCount: () => listening,
  }
}

const reportListenerError = (error: unknown): void => console.error('a message feed listener threw', error)

const slice = (seq: Sequence, start: number, end: number): Message[] => {
  const out = new Array<Message>(Math.max(0, end - start))
  for (let i = start; i < end; i++) out[i - start] = seq.at(i)
  return out
}
