import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import { playerKey, type ChannelName, type Message } from '../domain/message'
import type {
  AppendRequest,
  ChannelLimitReached,
  ClearScope,
  Conversation,
  ListQuery,
  MessageFeed,
  MessageRepository,
  Page,
  StoreUnavailable,
} from '../domain/message-repository'

export type SharedReads = MessageRepository &
  MessageFeed & {
    /** How many reads reached the wrapped repository. */
    readonly reads: () => number
    /** How many channels the wrapper itself listens to on the wrapped feed (each a listener there). */
    readonly watching: () => number
  }

export type SharedReadsOptions = {
  /** The most channels whose reads are shared, each watched on the feed; the one read from longest ago is let go first. */
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
  readonly channel: ChannelReads
  /** The channel's generation when the read started; -1 once it may no longer be joined. */
  generation: number
  settled: Promise<Read>
  /** How many messages its page holds, once it is kept. */
  keptMessages: number
}

type ChannelReads = {
  readonly name: ChannelName
  /** Moves on with every change heard in the channel: a read started in an older generation is not joined. */
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
 * Reads are the same when they ask for the same channel, player (in any
 * case), cursor (id and epoch), since and limit. A read joins one that is
 * under way, or, while nothing has changed since, the last one made for that
 * query in its channel. Nothing changed means: the wrapper's own listener on
 * the channel's feed, subscribed before that read started, has heard no
 * message and no loss since, no append or clear went through the wrapper,
 * and no listener subscribed through the wrapper heard of one. So a page is
 * never reused across a change the wrapper could not see (a second process
 * appending to a shared store is seen only through the feed); the most it
 * can lag is the feed's own delivery delay, none for the memory store.
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
  const maxChannels = Math.max(1, options.maxChannels ?? SHARED_READS_CHANNELS_MAX)
  // In the order they were last read from the store: the first is let go when room is needed.
  const channels = new Map<ChannelName, ChannelReads>()
  // The read most recently started or joined: readers woken together ask the same question, found here without building its key.
  let latest: SharedRead | undefined
  let reads = 0
  // The pages kept between changes, the one kept longest ago first, and how many messages they hold.
  const kept = new Set<SharedRead>()
  let keptMessages = 0

  const keep = (read: SharedRead, messages: number): void => {
    const channel = read.channel
    if (channel.kept !== undefined && channel.kept !== read) unkeep(channel.kept)
    channel.kept = read
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
    if (read.channel.kept === read) read.channel.kept = undefined
    forget(read)
  }

  const changed = (channel: ChannelReads): void => {
    channel.generation++
    channel.reads.clear()
    if (channel.kept !== undefined) unkeep(channel.kept)
  }

  const heard = (name: ChannelName, id: number): void => {
    const channel = channels.get(name)
    if (channel === undefined || channel.lastHeard === id) return
    channel.lastHeard = id
    changed(channel)
  }

  const changedIn = (name: ChannelName): void => {
    const channel = channels.get(name)
    if (channel === undefined) return
    channel.lastHeard = Number.NaN
    changed(channel)
  }

  const changedEverywhere = (): void => {
    for (const channel of channels.values()) {
      channel.lastHeard = Number.NaN
      changed(channel)
    }
  }

  const watch = (name: ChannelName): ChannelReads => {
    if (channels.size >= maxChannels) {
      const [oldestName, oldest] = channels.entries().next().value as [ChannelName, ChannelReads]
      channels.delete(oldestName)
      oldest.unwatch()
      changed(oldest)
    }
    const channel: ChannelReads = { name, generation: 0, reads: new Map(), kept: undefined, lastHeard: Number.NaN, unwatch: noop }
    channels.set(name, channel)
    // Subscribed before the first read of the channel starts, so every later message is heard.
    channel.unwatch = repo.subscribe(
      { channel: name },
      (message) => heard(name, message.id),
      () => changedIn(name),
    )
    return channel
  }

  const settle = (read: SharedRead, result: Read): Read => {
    const channel = read.channel
    if (E.isRight(result)) {
      Object.freeze(result.right.messages)
      Object.freeze(result.right)
    }
    // Nothing changed while it was read: it answers this query until something does.
    if (E.isRight(result) && read.generation === channel.generation && channels.get(channel.name) === channel) keep(read, result.right.messages.length)
    else forget(read)
    return result
  }

  const forget = (read: SharedRead): void => {
    read.generation = -1
    if (read.channel.reads.get(read.key) === read) read.channel.reads.delete(read.key)
  }

  const start = (channel: ChannelReads, key: string, query: ListQuery): Promise<Read> => {
    // Called before anything is registered: an adapter that throws leaves nothing behind.
    const underway = repo.list(query)()
    reads++
    const read: SharedRead = { query, key, channel, generation: channel.generation, settled: underway, keptMessages: 0 }
    read.settled = underway.then(
      (result) => settle(read, result),
      (thrown: unknown) => {
        forget(read)
        throw thrown
      },
    )
    channel.reads.set(key, read)
    // Read from the store just now: the last to be let go.
    channels.delete(channel.name)
    channels.set(channel.name, channel)
    latest = read
    return read.settled
  }

  const read = (query: ListQuery): Promise<Read> => {
    const recent = latest
    if (recent !== undefined && recent.generation === recent.channel.generation && sameQuery(recent.query, query)) return recent.settled
    const channel = channels.get(query.channel) ?? watch(query.channel)
    const key = keyOf(query)
    const shared = channel.reads.get(key)
    if (shared === undefined) return start(channel, key, query)
    latest = shared
    return shared.settled
  }

  const appended = (result: E.Either<StoreUnavailable | ChannelLimitReached, Conversation>) => {
    if (E.isLeft(result)) {
      // An unavailable store may still have stored it (a request that timed out): every channel is treated as changed.
      if (result.left._tag === 'StoreUnavailable') changedEverywhere()
      return result
    }
    const channel = channels.get(result.right.message.channel)
    // Unless the feed has told of it already (the memory store's does, before the append resolves), which moved the generation on then.
    const newest = result.right.reply?.id ?? result.right.message.id
    if (channel !== undefined && channel.lastHeard !== newest) {
      channel.lastHeard = Number.NaN
      changed(channel)
    }
    return result
  }

  return {
    // No closure per send beyond the task itself: the channel changed is read from the answer.
    append: (request: AppendRequest) => () => repo.append(request)().then(appended),
    list: (query) => () => read(query),
    clear: (scope: ClearScope): TE.TaskEither<StoreUnavailable, void> => () =>
      repo.clear(scope)().then((result) => {
        if (scope._tag === 'All') changedEverywhere()
        else changedIn(scope.channel)
        return result
      }),
    channels: () => repo.channels(),
    subscribe: (filter, listener, onLost) => {
      const name = filter.channel
      // One relay for both the listener and `lost` (called without a message): a subscriber costs one closure here.
      const relay = (message?: Message): void => {
        if (message === undefined) {
          changedIn(name)
          ;(onLost as () => void)()
        } else {
          heard(name, message.id)
          listener(message)
        }
      }
      return repo.subscribe(filter, relay, onLost === undefined ? undefined : relay)
    },
    reads: () => reads,
    watching: () => channels.size,
  }
}

const noop = (): void => undefined

/** Whether two reads ask for the same page: the same channel, player (in any case), cursor, since and limit. */
const sameQuery = (a: ListQuery, b: ListQuery): boolean =>
  a.channel === b.channel &&
  a.limit === b.limit &&
  a.since === b.since &&
  (a.player === b.player || (a.player !== undefined && b.player !== undefined && playerKey(a.player) === playerKey(b.player))) &&
  (a.cursor === b.cursor || (a.cursor !== undefined && b.cursor !== undefined && a.cursor.after === b.cursor.after && a.cursor.epoch === b.cursor.epoch))

/** A query within its channel as text, for `sameQuery`'s equality: the epoch is written with its length, the player last, so no two queries share a key. */
const keyOf = (query: ListQuery): string => {
  const cursor = query.cursor === undefined ? '-' : query.cursor.epoch === undefined ? `${query.cursor.after}` : `${query.cursor.after}=${query.cursor.epoch.length}:${query.cursor.epoch}`
  return `${query.limit} ${query.since} ${cursor} ${query.player === undefined ? '-' : `=${playerKey(query.player)}`}`
}
