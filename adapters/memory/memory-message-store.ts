import { randomBytes } from 'node:crypto'
import * as E from 'fp-ts/Either'
import * as TE from 'fp-ts/TaskEither'
import { playerKey, REMOVAL_TEXT, SERVER_NAME, type ChannelName, type Message, type MessageId } from '../../domain/message'
import type {
  AppendRequest,
  ChannelLimitReached,
  ChannelSummary,
  ClearScope,
  Conversation,
  FeedFilter,
  LateReply,
  ListQuery,
  MessageFeed,
  MessageNotFound,
  MessageRepository,
  Page,
  DiscardObserver,
  RemovalRequest,
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
   * Told of what each append stored (the message, then its reply; a late
   * reply; the removal entries of a removal), in the same step and in id
   * order, after the feed: the outbound queues are fed this way
   * (memory-outbound-queues.ts). Must not throw.
   */
  readonly onStored?: (messages: ReadonlyArray<Message>) => void
  /** Told of the messages each append evicted and each clear removed (the metrics count them). */
  readonly onDiscarded?: DiscardObserver
  /** Told of the messages a removal took out, in the same step, before `onStored` hears of its entries: the outbound queues let them go. Must not throw. */
  readonly onRemoved?: (messages: ReadonlyArray<Message>) => void
}

/*
 * Gap bookkeeping. What a reader can miss unannounced is always lost
 * oldest-first within a channel (eviction) or all at once (clear), so "a
 * message after cursor c was lost" is exactly "the highest lost id exceeds
 * c". Each channel and each player log keeps that highest id; when a log is
 * dropped its value folds into a floor kept by its parent, which answers for
 * logs that no longer exist. The floor can only err towards reporting a gap,
 * never towards hiding one.
 *
 * A removal (moderation) takes messages from anywhere in a log, but it is not
 * a loss: its removal entry, appended after them, tells every reader behind
 * it, so it moves none of these ids. The entry itself is lost like any entry
 * (evicted, cleared); as every player's reader reads the channel's removal
 * entries too, a channel keeps the highest lost removal entry's id for them.
 */
type PlayerLog = { readonly messages: Queue; removedThrough: MessageId }

type ChannelLog = {
  readonly ring: Ring
  readonly players: Map<string, PlayerLog>
  /** The removal entries the ring holds, oldest first: what a player's reader after a cursor reads besides that player's messages. */
  removals: Queue
  removedThrough: MessageId
  droppedPlayersRemovedThrough: MessageId
  removalsRemovedThrough: MessageId
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

  const onRemoved = options.onRemoved

  const newChannel = (): ChannelLog => ({
    ring: new Ring(options.maxMessages),
    players: new Map(),
    removals: new Queue(),
    removedThrough: droppedChannelsRemovedThrough,
    droppedPlayersRemovedThrough: droppedChannelsRemovedThrough,
    removalsRemovedThrough: droppedChannelsRemovedThrough,
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
  /** Stores a message, evicting the oldest of a full channel; how many it evicted (0 or 1), for the metrics. */
  const store = (log: ChannelLog, message: Message): number => {
    const evicted = log.ring.push(message)
    if (evicted !== undefined) {
      log.removedThrough = evicted.id
      if (evicted.type === 'removal') {
        log.removals.shift()
        log.removalsRemovedThrough = evicted.id
      } else {
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
    }
    // A removal entry belongs to no player: every player's reader reads it from the channel's list of them.
    const count = evicted === undefined ? 0 : 1
    if (message.type === 'removal') {
      log.removals.push(message)
      return count
    }
    const key = playerKey(message.playerName)
    let player = log.players.get(key)
    if (player === undefined) {
      player = { messages: new Queue(), removedThrough: log.droppedPlayersRemovedThrough }
      log.players.set(key, player)
    }
    player.messages.push(message)
    return count
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
    if (message.type === 'removal') {
      // Every player's listener in the channel: the entry may take out what any of them showed.
      for (const forPlayer of forChannel.byPlayer.values()) for (const listener of forPlayer) hear(listener, message)
      return
    }
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
      removes: undefined,
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
        removes: undefined,
      }
      evicted += store(log, reply)
    }
    if (evicted > 0) options.onDiscarded?.({ reason: 'evicted', count: evicted })
    tell(message)
    if (reply !== undefined) tell(reply)
    if (onStored !== undefined) onStored(reply === undefined ? [message] : [message, reply])
    return E.right(reply === undefined ? { message } : { message, reply })
  }

  /** The message (a player's or a reply) with this id in the channel's ring, if it holds one. */
  const messageIn = (log: ChannelLog, id: MessageId): Message | undefined => {
    const at = firstPosition(log.ring, (m) => m.id >= id)
    const found = at < log.ring.length ? log.ring.at(at) : undefined
    return found !== undefined && found.id === id && found.type !== 'removal' ? found : undefined
  }

  const appendReplyNow = (late: LateReply): E.Either<MessageNotFound, Message> => {
    const log = channels.get(late.channel)
    if (log === undefined || messageIn(log, late.replyTo) === undefined) return E.left({ _tag: 'MessageNotFound', id: late.replyTo })
    lastSentAt = Math.max(lastSentAt, late.sentAt)
    const reply: Message = {
      id: ++lastId,
      channel: late.channel,
      playerName: late.playerName,
      text: late.text,
      sentAt: lastSentAt,
      type: 'reply',
      replyTo: late.replyTo,
      userId: undefined,
      removes: undefined,
    }
    if (store(log, reply) > 0) options.onDiscarded?.({ reason: 'evicted', count: 1 })
    tell(reply)
    if (onStored !== undefined) onStored([reply])
    return E.right(reply)
  }

  /**
   * Takes what `picks` chooses out of one channel, with the replies to it (a
   * reply comes after what it answers, so one pass in id order finds them),
   * in one pass over the ring and one over each player's queue it touched.
   */
  const takeOut = (log: ChannelLog, picks: (message: Message) => boolean): Message[] => {
    const chosen = new Set<MessageId>()
    const taken = log.ring.removeWhere((m) => {
      if (m.type === 'removal' || !(picks(m) || (m.replyTo !== undefined && chosen.has(m.replyTo)))) return false
      chosen.add(m.id)
      return true
    })
    const keys = new Set(taken.map((m) => playerKey(m.playerName)))
    for (const key of keys) {
      const player = log.players.get(key)
      if (player === undefined) continue
      player.messages.removeWhere((m) => chosen.has(m.id))
      // A player left with nothing goes, as after an eviction: their name is not kept (an erasure must not leave it behind).
      if (player.messages.length === 0) {
        log.droppedPlayersRemovedThrough = Math.max(log.droppedPlayersRemovedThrough, player.removedThrough)
        log.players.delete(key)
      }
    }
    return taken
  }

  const removeNow = (request: RemovalRequest): E.Either<MessageNotFound, Message[]> => {
    const scope = request.scope
    const touched: Array<{ readonly channel: ChannelName; readonly log: ChannelLog; readonly taken: Message[] }> = []
    if (scope._tag === 'Message') {
      for (const [channel, log] of channels) {
        if (messageIn(log, scope.id) === undefined) continue
        touched.push({ channel, log, taken: takeOut(log, (m) => m.id === scope.id) })
        break
      }
      if (touched.length === 0) return E.left({ _tag: 'MessageNotFound', id: scope.id })
    } else {
      const key = scope._tag === 'Player' ? playerKey(scope.name) : undefined
      const userId = scope.userId
      // In the order of the channels' names, as every store hands out the entries' ids.
      for (const channel of [...channels.keys()].sort()) {
        const log = channels.get(channel) as ChannelLog
        // By name alone, a channel where the player holds nothing is passed over without a scan.
        if (userId === undefined && key !== undefined && !log.players.has(key)) continue
        const taken = takeOut(log, (m) => (key !== undefined && playerKey(m.playerName) === key) || (userId !== undefined && m.userId === userId))
        if (taken.length > 0) touched.push({ channel, log, taken })
      }
    }
    if (touched.length > 0) lastSentAt = Math.max(lastSentAt, request.sentAt)
    const entries = touched.map(({ channel, log, taken }): Message => {
      const entry: Message = {
        id: ++lastId,
        channel,
        playerName: SERVER_NAME,
        text: REMOVAL_TEXT,
        sentAt: lastSentAt,
        type: 'removal',
        replyTo: undefined,
        userId: undefined,
        removes: taken.map((m) => m.id),
      }
      // Never evicts: the channel holds at least one entry fewer than before.
      store(log, entry)
      return entry
    })
    for (const entry of entries) tell(entry)
    if (onRemoved !== undefined && touched.length > 0) onRemoved(touched.flatMap((t) => t.taken))
    if (onStored !== undefined && entries.length > 0) onStored(entries)
    return E.right(entries)
  }

  const removedThrough = (log: ChannelLog | undefined, player: string | undefined): MessageId => {
    if (log === undefined) return droppedChannelsRemovedThrough
    if (player === undefined) return log.removedThrough
    // A player's reader reads the channel's removal entries too.
    const own = log.players.get(playerKey(player))?.removedThrough ?? log.droppedPlayersRemovedThrough
    return Math.max(own, log.removalsRemovedThrough)
  }

  const EMPTY: Sequence = { length: 0, at: () => { throw new RangeError('empty sequence') } }

  const sequenceOf = (log: ChannelLog | undefined, player: string | undefined): Sequence =>
    log === undefined ? EMPTY : player === undefined ? log.ring : log.players.get(playerKey(player))?.messages ?? EMPTY

  // Each read is made afresh: sharing one page among the readers who ask the same at once is `shareReads`'s work (application/shared-reads.ts).
  const readNow = (query: ListQuery): Page =>
    query.channels.length === 1 ? readChannel(query.channels[0] as ChannelName, query) : readMerged(query)

  const readChannel = (channel: ChannelName, query: ListQuery): Page => {
    const log = channels.get(channel)
    // With removal entries held: a read without a cursor leaves them out of the channel's ring, a player's read after
    // a cursor adds them to the player's queue. Either is a merge; a channel without any reads as it always has.
    if (log !== undefined && log.removals.length > 0 && (query.cursor === undefined) === (query.player === undefined)) return readMerged(query)
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
   * merge looks at every run's next message for each one it takes. A
   * player's read after a cursor merges the channel's removal entries in as a
   * run of their own; a read without a cursor passes over removal entries.
   */
  const readMerged = (query: ListQuery): Page => {
    const cursor = query.cursor
    const foreign = cursor !== undefined && ((cursor.epoch !== undefined && cursor.epoch !== epoch) || cursor.after > lastId)
    const after = cursor === undefined || foreign ? 0 : cursor.after
    const runs: Run[] = []
    let removed = 0
    const addRun = (seq: Sequence): void => {
      const sinceStart = query.since === undefined ? 0 : firstPosition(seq, (m) => m.sentAt > (query.since as number))
      const next = cursor === undefined ? sinceStart : Math.max(sinceStart, firstPosition(seq, (m) => m.id > after))
      if (next < seq.length) runs.push({ seq, next, end: seq.length })
    }
    for (const channel of query.channels) {
      const log = channels.get(channel)
      removed = Math.max(removed, removedThrough(log, query.player))
      addRun(sequenceOf(log, query.player))
      if (cursor !== undefined && query.player !== undefined && log !== undefined && log.removals.length > 0) addRun(log.removals)
    }
    const messages: Message[] = []
    if (cursor === undefined) {
      // The newest `limit` of them all but removal entries, taken from the runs' ends, then put oldest first.
      for (let run = newestTail(runs); run !== undefined && messages.length < query.limit; run = newestTail(runs)) {
        const m = run.seq.at(--run.end)
        if (m.type !== 'removal') messages.push(m)
      }
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
      if (removed > 0) options.onDiscarded?.({ reason: 'cleared', count: removed })
      return
    }
    const log = channels.get(scope.channel)
    if (log === undefined) return
    if (log.ring.length > 0) options.onDiscarded?.({ reason: 'cleared', count: log.ring.length })
    log.removedThrough = Math.max(log.removedThrough, log.ring.newest()?.id ?? 0)
    log.droppedPlayersRemovedThrough = log.removedThrough
    log.removalsRemovedThrough = log.removedThrough
    log.ring.clear()
    log.players.clear()
    log.removals = new Queue()
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
    remove: (request) => TE.fromIOEither(() => removeNow(request)),
    appendReply: (late) => TE.fromIOEither(() => appendReplyNow(late)),
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
