import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import { playerKey, type ChannelName, type Message } from '../domain/message'
import type {
  AppendRequest,
  ChannelLimitReached,
  ClearScope,
  Conversation,
  LateReply,
  ListQuery,
  MessageFeed,
  MessageNotFound,
  MessageRepository,
  Page,
  RemovalRequest,
  StoreUnavailable,
} from '../domain/message-repository'

export type SharedReads = MessageRepository &
  MessageFeed & {
    /** How many reads reached the wrapped repository. */
    readonly reads: () => number
    /** How many channels, or sets of channels read together, the wrapper listens to on the wrapped feed (each a subscription there). */
    readonly watching: () => number
  }

export type SharedReadsOptions = {
  /**
   * The most channels whose reads are shared, each watched on the feed (a
   * set of channels read together counts as one); the one read from longest
   * ago is let go first.
   */
  readonly maxChannels?: number
}

export const SHARED_READS_CHANNELS_MAX = 256

/**
 * The most messages the pages kept between changes hold, all channels
 * together (one full page): a kept page keeps its JSON text alive in the
 * HTTP adapter, so pages kept in every channel would hold the JSON of every
 * channel's history. The page read longest ago goes first.
 */
export const KEPT_MESSAGES_MAX = 1000

type Read = E.Either<StoreUnavailable, Page>

/** One read of the wrapped repository, and everyone who asked the same while it was valid. */
type SharedRead = {
  readonly query: ListQuery
  readonly key: string
  readonly watched: Watched
  /** The generation of what it reads when the read started; -1 once it may no longer be joined. */
  generation: number
  settled: Promise<Read>
  /** How many messages its page holds, once it is kept. */
  keptMessages: number
}

/** The reads of one channel, or of one set of channels read together (a read's `channels`), and what tells them apart in time. */
type Watched = {
  /** The channels' names, joined by commas (which a name cannot hold). */
  readonly key: string
  readonly channels: ReadonlyArray<ChannelName>
  /** Moves on with every change heard in any of its channels: a read started in an older generation is not joined. */
  generation: number
  /** The reads under way, and the last page read while nothing changed, by query (`keyOf`). */
  readonly reads: Map<string, SharedRead>
  kept: SharedRead | undefined
  /** The id of the message that last moved the generation on: every listener hears a message, one change is enough. */
  lastHeard: number
  unwatch: () => void
}

/**
 * Wraps any repository and its feed so that readers who ask the same
 * question at once get one answer: the readers a message wakes (thousands of
 * held polls following a channel converge on one cursor) cost ONE read of
 * the store, whatever the store, and all get the SAME page, frozen, so that
 * its JSON is written once.
 *
 * Reads are the same when they ask for the same channels (in the same
 * order), player (in any case), cursor (id and epoch), since and limit. A
 * read joins one that is under way, or, while nothing has changed since, the
 * last one made for that query with those channels. Nothing changed means:
 * the wrapper's own listener on those channels' feed, subscribed before that
 * read started, has heard no message and no loss since, no append or clear
 * in any of them went through the wrapper, and no listener subscribed
 * through the wrapper heard of one. So a page is never reused across a
 * change the wrapper could not see (a second process appending to a shared
 * store is seen only through the feed); the most it can lag is the feed's
 * own delivery delay, none for the memory store. Readers of several
 * channels at once (`channels=a,b`) share reads exactly as readers of one do.
 *
 * Subscribe through the wrapper, not the wrapped feed: each listener is then
 * told of a message only after the wrapper has let go of the pages it makes
 * stale, so a reader woken by a message never reads a page from before it.
 *
 * A clear is not a message: one made by another process reaches the wrapper
 * at the channel's next message or loss, so a feed over a store that several
 * processes share should call `lost` on the listeners of a channel cleared
 * elsewhere (its followers have to re-read then anyway, to hear of the gap).
 */
export const shareReads = (repo: MessageRepository & MessageFeed, options: SharedReadsOptions = {}): SharedReads => {
  const maxWatched = Math.max(1, options.maxChannels ?? SHARED_READS_CHANNELS_MAX)
  // In the order they were last read from the store: the first is let go when room is needed.
  const watched = new Map<string, Watched>()
  // Every watched set that holds the channel: a change in the channel is a change to each.
  const byChannel = new Map<ChannelName, Watched[]>()
  // The read most recently started or joined: readers woken together ask the same question, found here without building its key.
  let latest: SharedRead | undefined
  let reads = 0
  // The pages kept between changes, the one kept longest ago first, and how many messages they hold.
  const kept = new Set<SharedRead>()
  let keptMessages = 0

  const keep = (read: SharedRead, messages: number): void => {
    const w = read.watched
    if (w.kept !== undefined && w.kept !== read) unkeep(w.kept)
    w.kept = read
    kept.add(read)
    read.keptMessages = messages
    keptMessages += messages
    for (const old of kept) {
      if (keptMessages <= KEPT_MESSAGES_MAX || old === read) break
      unkeep(old)
    }
  }

  const unkeep = (read: SharedRead): void => {
    if (!kept.delete(read)) return
    keptMessages -= read.keptMessages
    if (read.watched.kept === read) read.watched.kept = undefined
    forget(read)
  }

  const changed = (w: Watched): void => {
    w.generation++
    w.reads.clear()
    if (w.kept !== undefined) unkeep(w.kept)
  }

  const heardBy = (w: Watched, id: number): void => {
    if (w.lastHeard === id) return
    w.lastHeard = id
    changed(w)
  }

  const heard = (channel: ChannelName, id: number): void => {
    const holding = byChannel.get(channel)
    if (holding === undefined) return
    for (let i = 0; i < holding.length; i++) heardBy(holding[i] as Watched, id)
  }

  const changedIn = (channel: ChannelName): void => {
    const holding = byChannel.get(channel)
    if (holding === undefined) return
    for (const w of holding) {
      w.lastHeard = Number.NaN
      changed(w)
    }
  }

  const changedEverywhere = (): void => {
    for (const w of watched.values()) {
      w.lastHeard = Number.NaN
      changed(w)
    }
  }

  const unwatch = (w: Watched): void => {
    watched.delete(w.key)
    for (const channel of w.channels) {
      const holding = byChannel.get(channel)
      if (holding === undefined) continue
      const left = holding.filter((other) => other !== w)
      if (left.length === 0) byChannel.delete(channel)
      else byChannel.set(channel, left)
    }
    w.unwatch()
    changed(w)
  }

  const watch = (key: string, channels: ReadonlyArray<ChannelName>): Watched => {
    if (watched.size >= maxWatched) unwatch(watched.values().next().value as Watched)
    const w: Watched = { key, channels, generation: 0, reads: new Map(), kept: undefined, lastHeard: Number.NaN, unwatch: noop }
    watched.set(key, w)
    for (const channel of channels) {
      const holding = byChannel.get(channel)
      if (holding === undefined) byChannel.set(channel, [w])
      else holding.push(w)
    }
    // Subscribed before the first read of these channels starts, so every later message is heard.
    w.unwatch = repo.subscribe(
      { channels },
      (message) => heardBy(w, message.id),
      () => {
        w.lastHeard = Number.NaN
        changed(w)
      },
    )
    return w
  }

  const settle = (read: SharedRead, result: Read): Read => {
    const w = read.watched
    if (E.isRight(result)) {
      Object.freeze(result.right.messages)
      Object.freeze(result.right)
    }
    // Nothing changed while it was read: it answers this query until something does.
    if (E.isRight(result) && read.generation === w.generation && watched.get(w.key) === w) keep(read, result.right.messages.length)
    else forget(read)
    return result
  }

  const forget = (read: SharedRead): void => {
    read.generation = -1
    if (read.watched.reads.get(read.key) === read) read.watched.reads.delete(read.key)
  }

  const start = (w: Watched, key: string, query: ListQuery): Promise<Read> => {
    // Called before anything is registered: an adapter that throws leaves nothing behind.
    const underway = repo.list(query)()
    reads++
    const read: SharedRead = { query, key, watched: w, generation: w.generation, settled: underway, keptMessages: 0 }
    read.settled = underway.then(
      (result) => settle(read, result),
      (thrown: unknown) => {
        forget(read)
        throw thrown
      },
    )
    w.reads.set(key, read)
    // Read from the store just now: the last to be let go.
    watched.delete(w.key)
    watched.set(w.key, w)
    latest = read
    return read.settled
  }

  const read = (query: ListQuery): Promise<Read> => {
    const recent = latest
    if (recent !== undefined && recent.generation === recent.watched.generation && sameQuery(recent.query, query)) return recent.settled
    const channelsKey = keyOfChannels(query.channels)
    const w = watched.get(channelsKey) ?? watch(channelsKey, query.channels)
    const key = keyOf(query)
    const shared = w.reads.get(key)
    if (shared === undefined) return start(w, key, query)
    latest = shared
    return shared.settled
  }

  /** A message stored through the wrapper, `newest` the last id stored in the channel. */
  const storedIn = (channel: ChannelName, newest: number): void => {
    const holding = byChannel.get(channel)
    if (holding === undefined) return
    // Unless the feed has told of it already (the memory store's does, before the append resolves), which moved the generation on then.
    for (const w of holding) {
      if (w.lastHeard === newest) continue
      w.lastHeard = Number.NaN
      changed(w)
    }
  }

  const appended = (result: E.Either<StoreUnavailable | ChannelLimitReached, Conversation>) => {
    if (E.isLeft(result)) {
      // An unavailable store may still have stored it (a request that timed out): every channel is treated as changed.
      if (result.left._tag === 'StoreUnavailable') changedEverywhere()
      return result
    }
    storedIn(result.right.message.channel, result.right.reply?.id ?? result.right.message.id)
    return result
  }

  // A removal appends an entry to each channel it touched, a message like any other: the pages from before it are let go.
  const removed = (result: E.Either<StoreUnavailable | MessageNotFound, ReadonlyArray<Message>>) => {
    if (E.isLeft(result)) {
      if (result.left._tag === 'StoreUnavailable') changedEverywhere()
      return result
    }
    for (const entry of result.right) storedIn(entry.channel, entry.id)
    return result
  }

  const repliedLate = (result: E.Either<StoreUnavailable | MessageNotFound, Message>) => {
    if (E.isLeft(result)) {
      if (result.left._tag === 'StoreUnavailable') changedEverywhere()
      return result
    }
    storedIn(result.right.channel, result.right.id)
    return result
  }

  return {
    // No closure per send beyond the task itself: the channel changed is read from the answer.
    append: (request: AppendRequest) => () => repo.append(request)().then(appended),
    remove: (request: RemovalRequest) => () => repo.remove(request)().then(removed),
    appendReply: (late: LateReply) => () => repo.appendReply(late)().then(repliedLate),
    list: (query) => () => read(query),
    clear: (scope: ClearScope): TE.TaskEither<StoreUnavailable, void> => () =>
      repo.clear(scope)().then((result) => {
        if (scope._tag === 'All') changedEverywhere()
        else changedIn(scope.channel)
        return result
      }),
    channels: () => repo.channels(),
    subscribe: (filter, listener, onLost) => {
      // One relay for both the listener and `lost` (called without a message): a subscriber costs one closure here.
      const relay = (message?: Message): void => {
        if (message === undefined) {
          for (const channel of filter.channels) changedIn(channel)
          ;(onLost as () => void)()
        } else {
          heard(message.channel, message.id)
          listener(message)
        }
      }
      return repo.subscribe(filter, relay, onLost === undefined ? undefined : relay)
    },
    reads: () => reads,
    watching: () => watched.size,
  }
}

const noop = (): void => undefined

/** The watched set's key: a channel's own name, or the names joined by commas (which no name holds). */
const keyOfChannels = (channels: ReadonlyArray<ChannelName>): string => (channels.length === 1 ? (channels[0] as string) : channels.join(','))

const sameChannels = (a: ReadonlyArray<ChannelName>, b: ReadonlyArray<ChannelName>): boolean => {
  if (a === b) return true
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Whether two reads ask for the same page: the same channels, player (in any case), cursor, since and limit. */
const sameQuery = (a: ListQuery, b: ListQuery): boolean =>
  sameChannels(a.channels, b.channels) &&
  a.limit === b.limit &&
  a.since === b.since &&
  (a.player === b.player || (a.player !== undefined && b.player !== undefined && playerKey(a.player) === playerKey(b.player))) &&
  (a.cursor === b.cursor || (a.cursor !== undefined && b.cursor !== undefined && a.cursor.after === b.cursor.after && a.cursor.epoch === b.cursor.epoch))

/** A query within its channels as text, for `sameQuery`'s equality: the epoch is written with its length, the player last, so no two queries share a key. */
const keyOf = (query: ListQuery): string => {
  const cursor = query.cursor === undefined ? '-' : query.cursor.epoch === undefined ? `${query.cursor.after}` : `${query.cursor.after}=${query.cursor.epoch.length}:${query.cursor.epoch}`
  return `${query.limit} ${query.since} ${cursor} ${query.player === undefined ? '-' : `=${playerKey(query.player)}`}`
}
