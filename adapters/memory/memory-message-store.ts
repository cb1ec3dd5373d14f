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
  /**
   * Told of what each append stored (the message, then its reply), in the
   * same step and in id order, after the feed: the outbound queues are fed
   * this way (memory-outbound-queues.ts). Must not throw.
   */
  readonly onStored?: (messages: ReadonlyArray<Message>) => void
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
    /** How many listeners are registered (one per channel a subscription names): waiting long polls and open streams. */
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
  const onStored = options.onStored

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
    if (onStored !== undefined) onStored(reply === undefined ? [message] : [message, reply])
    return E.right(reply === undefined ? { message } : { message, reply })
  }

  const removedThrough = (log: ChannelLog | undefined, player: string | undefined): MessageId => {
    if (log === undefined) return droppedChannelsRemovedThrough
    if (player === undefined) return log.removedThrough
    return log.players.get(playerKey(player))?.removedThrough ?? log.droppedPlayersRemovedThrough
  }

  const EMPTY: Sequence = { length: 0, at: () => { throw new RangeError('empty sequence') } }

  const sequenceOf = (log: ChannelLog | undefined, player: string | undefined): Sequence =>
    log === undefined ? EMPTY : player === undefined ? log.ring : log.players.get(playerKey(player))?.messages ?? EMPTY

  // Each read is made afresh: sharing one page among the readers who ask the same at once is `shareReads`'s work (application/shared-reads.ts).
  const readNow = (query: ListQuery): Page =>
    query.channels.length === 1 ? readChannel(query.channels[0] as ChannelName, query) : readMerged(query)

  const readChannel = (channel: ChannelName, query: ListQuery): Page => {
    const log = channels.get(channel)
    const seq = sequenceOf(log, query.player)
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

  /*
   * Several channels under one cursor: each channel's sequence is narrowed as
   * for one channel, and the runs left are merged by id (ids increase across
   * the store, so the result is what one channel holding all of them would
   * give). A read names a handful of channels (CHANNELS_PER_READ_MAX), so the
   * merge looks at every run's next message for each one it takes.
   */
  const readMerged = (query: ListQuery): Page => {
    const cursor = query.cursor
    const foreign = cursor !== undefined && ((cursor.epoch !== undefined && cursor.epoch !== epoch) || cursor.after > lastId)
    const after = cursor === undefined || foreign ? 0 : cursor.after
    const runs: Run[] = []
    let removed = 0
    for (const channel of query.channels) {
      const log = channels.get(channel)
      removed = Math.max(removed, removedThrough(log, query.player))
      const seq = sequenceOf(log, query.player)
      const sinceStart = query.since === undefined ? 0 : firstPosition(seq, (m) => m.sentAt > (query.since as number))
      const next = cursor === undefined ? sinceStart : Math.max(sinceStart, firstPosition(seq, (m) => m.id > after))
      if (next < seq.length) runs.push({ seq, next, end: seq.length })
    }
    const messages: Message[] = []
    if (cursor === undefined) {
      // The newest `limit` of them all, taken from the runs' ends, then put oldest first.
      for (let run = newestTail(runs); run !== undefined && messages.length < query.limit; run = newestTail(runs)) messages.push(run.seq.at(--run.end))
      return { messages: messages.reverse(), epoch, nextAfter: lastId, hasMore: false, gap: false }
    }
    let run = oldestHead(runs)
    for (; run !== undefined && messages.length < query.limit; run = oldestHead(runs)) messages.push(run.seq.at(run.next++))
    const hasMore = run !== undefined
    return {
      messages,
      epoch,
      nextAfter: hasMore ? (messages[messages.length - 1] as Message).id : lastId,
      hasMore,
      gap: foreign || after < removed,
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

  /** The set a listener goes in: the channel's, or its player's (with a player key). */
  const setFor = (forChannel: ChannelListeners, key: string | undefined): Set<Listener> => {
    if (key === undefined) return forChannel.all
    let set = forChannel.byPlayer.get(key)
    if (set === undefined) {
      set = new Set()
      forChannel.byPlayer.set(key, set)
    }
    return set
  }

  const add = (channel: ChannelName, key: string | undefined, listener: Listener): void => {
    let forChannel = listeners.get(channel)
    if (forChannel === undefined) {
      forChannel = { all: new Set(), byPlayer: new Map() }
      listeners.set(channel, forChannel)
    }
    const set = setFor(forChannel, key)
    const before = set.size
    set.add(listener)
    listening += set.size - before
  }

  // Found again rather than remembered: a set holding the listener is never dropped, so the lookup finds the one it was added to.
  const remove = (channel: ChannelName, key: string | undefined, listener: Listener): void => {
    const forChannel = listeners.get(channel)
    if (forChannel === undefined) return
    const set = key === undefined ? forChannel.all : forChannel.byPlayer.get(key)
    if (set === undefined || !set.delete(listener)) return
    listening--
    if (key !== undefined && set.size === 0) forChannel.byPlayer.delete(key)
    if (forChannel.all.size === 0 && forChannel.byPlayer.size === 0) listeners.delete(channel)
  }

  /*
   * The third argument, `lost`, is never called: this feed loses nothing. A
   * message belongs to one channel, so a listener in several channels' sets
   * hears each once, and in id order. One closure per subscription, whatever
   * it names: a server holds thousands.
   */
  const subscribe = (filter: FeedFilter, listener: Listener): (() => void) => {
    const key = filter.player === undefined ? undefined : playerKey(filter.player)
    for (const channel of filter.channels) add(channel, key, listener)
    let subscribed = true
    return () => {
      if (!subscribed) return
      subscribed = false
      for (const channel of filter.channels) remove(channel, key, listener)
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

/** The positions [next, end) of one channel's sequence still to be merged. */
type Run = { readonly seq: Sequence; next: number; end: number }

/** The run whose next message is the oldest, or undefined when all are used up. */
const oldestHead = (runs: ReadonlyArray<Run>): Run | undefined => {
  let pick: Run | undefined
  for (const run of runs) if (run.next < run.end && (pick === undefined || run.seq.at(run.next).id < pick.seq.at(pick.next).id)) pick = run
  return pick
}

/** The run whose last message is the newest, or undefined when all are used up. */
const newestTail = (runs: ReadonlyArray<Run>): Run | undefined => {
  let pick: Run | undefined
  for (const run of runs) if (run.next < run.end && (pick === undefined || run.seq.at(run.end - 1).id > pick.seq.at(pick.end - 1).id)) pick = run
  return pick
}

const slice = (seq: Sequence, start: number, end: number): Message[] => {
  const out = new Array<Message>(Math.max(0, end - start))
  for (let i = start; i < end; i++) out[i - start] = seq.at(i)
  return out
}
