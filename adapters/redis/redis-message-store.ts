import { createHash, randomBytes } from 'node:crypto'
import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import { playerKey, REMOVAL_TEXT, SERVER_NAME, type ChannelName, type Message, type MessageId, type MessageText, type PlayerName } from '../../domain/message'
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
import type { OutboundRoute } from '../../domain/outbound'
import { COMMAND_TIMEOUT_MS, type RedisConnection } from './connection'
import { appendScript, CHANNELS_SCRIPT, CLEAR_SCRIPT, LIST_SCRIPT, removeScript, replyScript } from './message-scripts'
import { outboundQueueing } from './outbound-scripts'
import { withDeadline } from './script'

/*
 * The repository and the feed on Redis: several server processes on one
 * Redis (and one prefix) behave as one store. Every operation is one Lua
 * script (message-scripts.ts, where the key schema and what a Redis Cluster
 * would need are written down), run atomically in one round trip; nothing is
 * read, changed and written back from here.
 *
 * The feed: each append script publishes the messages it stored, as JSON,
 * on one pub/sub channel per prefix, so every process hears every message in
 * id order, and no listener needs a read. Each store instance holds ONE
 * subscription, on the connection's subscriber, and hands what it hears to
 * its local listeners, kept per channel and per player as the memory store
 * keeps them. When the subscriber's connection drops and comes back
 * (node-redis subscribes again before it says it is ready), or was not up
 * yet, every listener is told `lost`; so it is when the store's life (epoch)
 * changes under a live connection. A clear, announced on the same channel,
 * tells that channel's listeners (every listener, for a clear of
 * everything) `lost` too.
 *
 * Every Redis failure (disconnected: the connection fails a command at once,
 * no offline queue; unanswered within COMMAND_TIMEOUT_MS; a script error)
 * becomes StoreUnavailable; nothing here throws or rejects. A stored entry
 * that does not decode is left out of the page and logged.
 */

export type RedisMessageStoreOptions = {
  readonly connection: RedisConnection
  /** Begins every key and the feed's channel: deployments with different prefixes share a Redis without meeting. */
  readonly prefix: string
  /** The most messages one channel keeps; the oldest are evicted first. */
  readonly maxMessages: number
  /** The most channels that may hold messages at once. */
  readonly maxChannels: number
  /** The outbound targets whose queues the append script fills (redis-outbound-queues.ts reads them); none by default. */
  readonly outbound?: ReadonlyArray<OutboundRoute>
  /** Told of entries that do not decode, listeners that throw, feed trouble. `console.error` by default. Must not throw. */
  readonly log?: (message: string, detail?: unknown) => void
  /** Told of the messages this store's appends evicted and its clears removed (not those of other processes). */
  readonly onDiscarded?: DiscardObserver
  /** How often the feed's connection is asked to answer a PING while listeners wait (FEED_PING_MS by default). */
  readonly feedPingMs?: number
}

/**
 * How often a subscription with listeners is checked. A Redis that stalls
 * (CLIENT PAUSE, a partition that drops packets rather than connections)
 * closes nothing: without the check its listeners would wait out their whole
 * long poll, and a stream would hear nothing, with no word of why.
 */
export const FEED_PING_MS = 5_000

export type RedisMessageStore = MessageRepository &
  MessageFeed & {
    /** Lets go of the subscription and the listeners; the connection stays open (it is the caller's). */
    readonly close: () => Promise<void>
    /** Resolves once the feed's subscription is up (at once if it is), rejects after `ms`. */
    readonly whenSubscribed: (ms: number) => Promise<void>
    /** How many listeners are registered (one per channel a subscription names): waiting long polls and open streams. */
    readonly listenerCount: () => number
    /** Calls `listener` with every message the feed hears, whatever its channel (the outbound queues' watchers). Returns the function that stops it. */
    readonly heard: (listener: (message: Message) => void) => () => void
    /** A queued member (a message's JSON as the append script wrote it) as a Message, or undefined when it does not decode. */
    readonly decodeQueued: (json: string) => Message | undefined
  }

type Script = { readonly source: string; readonly sha: string }
const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') })
const LIST = script(LIST_SCRIPT)
const CLEAR = script(CLEAR_SCRIPT)
const CHANNELS = script(CHANNELS_SCRIPT)

type Listener = (message: Message) => void
type Subscription = { readonly listener: Listener; readonly lost: (() => void) | undefined; active: boolean }
type ChannelListeners = { readonly all: Set<Subscription>; readonly byPlayer: Map<string, Set<Subscription>> }

const unavailable = (detail: string): E.Left<StoreUnavailable> => ({ _tag: 'Left', left: { _tag: 'StoreUnavailable', detail } })
const failed = (error: unknown): E.Left<StoreUnavailable> =>
  unavailable(`redis: ${error instanceof Error ? error.message : String(error)}`)

const consoleLog = (message: string, detail?: unknown): void => console.error(message, detail)

export const createRedisMessageStore = (options: RedisMessageStoreOptions): RedisMessageStore => {
  const { connection, prefix, maxMessages, maxChannels } = options
  // The deployment's append script: its outbound targets are written into it (outbound-scripts.ts).
  const queueing = outboundQueueing(options.outbound ?? [])
  const APPEND = script(appendScript(queueing))
  const REPLY = script(replyScript(queueing))
  const REMOVE = script(removeScript(queueing))
  // Commands without node-redis's own timeout (an AbortSignal per command, bounding only the wait to be written): `evaluate` bounds the whole wait.
  const commands = connection.client.withCommandOptions({ timeout: 0 })
  const subscriber = connection.subscriber
  const log = options.log ?? consoleLog
  const META = `${prefix}:meta`
  const CHANNEL_SET = `${prefix}:channels`
  const EMPTIED = `${prefix}:emptied`
  const FEED = `${prefix}:feed`
  const MAX_MESSAGES = String(maxMessages)
  const MAX_CHANNELS = String(maxChannels)
  /** Every key of a channel shares the hash tag {prefix:channel} (see message-scripts.ts). */
  const channelKeys = (channel: string): string => `${prefix}:{${prefix}:${channel}}:`
  // The epoch a script starts when it finds the store's life gone; a fresh one once it has been used, so no two lives share one.
  let candidate = newEpoch()
  // The store life last seen in an answer or on the feed. Should it change while the feed stays connected (Redis
  // flushed, not restarted), ids start again from 1, so every listener is told it lost messages: a follower's cursor
  // from the old life would otherwise pass over the new life's first messages as already seen.
  let epochSeen: string | undefined
  const noteEpoch = (epoch: string): void => {
    if (epoch === candidate) candidate = newEpoch()
    if (epoch === epochSeen) return
    const changed = epochSeen !== undefined
    epochSeen = epoch
    if (changed) loseAll()
  }
  let closed = false

  /** One script, one round trip: EVALSHA, or EVAL when Redis does not know it yet (a Redis that restarted). Never rejects. */
  const evaluate = (s: Script, keys: string[], args: string[]): Promise<E.Either<StoreUnavailable, unknown>> => {
    if (closed) return Promise.resolve(unavailable('the redis message store is closed'))
    return new Promise((resolve) => {
      let done = false
      const timer = setTimeout(() => {
        done = true
        resolve(unavailable(`redis did not answer within ${COMMAND_TIMEOUT_MS} ms`))
      }, COMMAND_TIMEOUT_MS)
      timer.unref()
      const settle = (result: E.Either<StoreUnavailable, unknown>): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        resolve(result)
      }
      const command = ['EVALSHA', s.sha, String(keys.length), ...keys, ...args]
      try {
        commands.sendCommand(command).then(
          (reply) => settle(E.right(reply)),
          (error: unknown) => {
            if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) return settle(failed(error))
            command[0] = 'EVAL'
            command[1] = s.source
            commands.sendCommand(command).then(
              (reply) => settle(E.right(reply)),
              (again: unknown) => settle(failed(again)),
            )
          },
        )
      } catch (error) {
        settle(failed(error))
      }
    })
  }

  /** A stored member (`<player key>\n<JSON>`) as a Message of one of these channels, or undefined (logged) when it is not one. */
  const decodeStored = (member: string, channels: ReadonlyArray<ChannelName>): Message | undefined => {
    let parsed: unknown
    try {
      parsed = JSON.parse(member.slice(member.indexOf('\n') + 1))
    } catch {
      parsed = undefined
    }
    const message = asMessage(parsed)
    if (message === undefined || !channels.includes(message.channel)) {
      // Its length, not its text: a message's text never goes to the log.
      log('a stored message does not decode; left out', { prefix, channels, length: member.length })
      return undefined
    }
    return message
  }

  // ── the repository ──────────────────────────────────────────────────────

  /*
   * Appends are batched: those asked for in one turn of the event loop go to
   * Redis together, in order, as one script (one round trip, one PUBLISH),
   * sent at the end of that turn (setImmediate). Alone, an append waits for
   * nothing; under load, the script's fixed costs and node-redis's per-command
   * costs are shared. Each append still gets its own answer (a refusal by the
   * channel bound is its own); a failure of the script fails the batch.
   */
  type Pending = { readonly request: AppendRequest; readonly done: (result: E.Either<StoreUnavailable | ChannelLimitReached, Conversation>) => void }
  let queued: Pending[] = []
  let flushing = false

  const appendNow = (request: AppendRequest): Promise<E.Either<StoreUnavailable | ChannelLimitReached, Conversation>> =>
    new Promise((done) => {
      queued.push({ request, done })
      if (flushing) return
      flushing = true
      setImmediate(flush)
    })

  const flush = (): void => {
    flushing = false
    const all = queued
    queued = []
    for (let i = 0; i < all.length; i += APPEND_BATCH_MAX) void appendBatch(all.length <= APPEND_BATCH_MAX ? all : all.slice(i, i + APPEND_BATCH_MAX))
  }

  const appendBatch = async (batch: Pending[]): Promise<void> => {
    const keys = [META, CHANNEL_SET, EMPTIED]
    const args = [prefix, candidate, MAX_MESSAGES, MAX_CHANNELS]
    for (const { request } of batch) {
      const draft = request.draft
      const base = channelKeys(draft.channel)
      const key = playerKey(draft.playerName)
      const index = `${base}p:${key}`
      const reply = request.reply
      const replyKey = reply === undefined ? '' : playerKey(reply.playerName)
      keys.push(`${base}log`, `${base}gaps`, `${base}players`, index, reply === undefined ? index : `${base}p:${replyKey}`)
      args.push(
        draft.channel,
        String(draft.sentAt),
        key,
        messageTail(draft.channel, draft.playerName, draft.text, 'player', draft.userId),
        replyKey,
        reply === undefined ? '' : messageTail(draft.channel, reply.playerName, reply.text, 'reply', undefined),
      )
    }
    const result = await evaluate(APPEND, keys, args)
    if (E.isLeft(result)) {
      for (const { done } of batch) done(result)
      return
    }
    const answer = result.right as unknown[]
    noteEpoch(answer[0] as string)
    const evicted = Number(answer[1 + 2 * batch.length] ?? 0)
    if (evicted > 0) options.onDiscarded?.({ reason: 'evicted', count: evicted })
    for (let i = 0; i < batch.length; i++) {
      const { request, done } = batch[i] as Pending
      const id = answer[1 + 2 * i] as number
      done(id === 0 ? E.left({ _tag: 'ChannelLimitReached', max: maxChannels }) : E.right(conversation(request, id, Number(answer[2 + 2 * i]))))
    }
  }

  const listNow = async (query: ListQuery): Promise<E.Either<StoreUnavailable, Page>> => {
    const key = query.player === undefined ? '' : playerKey(query.player)
    const keys = [META, CHANNEL_SET]
    const cursor = query.cursor
    const args = [
      prefix,
      candidate,
      String(query.limit),
      key,
      query.since === undefined ? '' : String(query.since),
      cursor === undefined ? '' : String(cursor.after),
      cursor?.epoch ?? '',
    ]
    for (const channel of query.channels) {
      const base = channelKeys(channel)
      const logKey = `${base}log`
      keys.push(logKey, `${base}gaps`, `${base}players`, key === '' ? logKey : `${base}p:${key}`, `${base}removals`)
      args.push(channel)
    }
    const result = await evaluate(LIST, keys, args)
    if (E.isLeft(result)) return result
    const reply = result.right as [string, number, number, number, string[]]
    const epoch = reply[0]
    noteEpoch(epoch)
    const stored = reply[4]
    const messages: Message[] = []
    for (let i = 0; i < stored.length; i++) {
      const message = decodeStored(stored[i] as string, query.channels)
      if (message !== undefined) messages.push(message)
    }
    return E.right({ messages, epoch, nextAfter: reply[1], hasMore: reply[2] === 1, gap: reply[3] === 1 })
  }

  const appendReplyNow = async (late: LateReply): Promise<E.Either<StoreUnavailable | MessageNotFound, Message>> => {
    const base = channelKeys(late.channel)
    const key = playerKey(late.playerName)
    const result = await evaluate(
      REPLY,
      [META, CHANNEL_SET, EMPTIED, `${base}log`, `${base}gaps`, `${base}players`, `${base}p:${key}`, `${base}answers`],
      [prefix, candidate, MAX_MESSAGES, late.channel, String(late.sentAt), String(late.replyTo), key, messageTail(late.channel, late.playerName, late.text, 'reply', undefined)],
    )
    if (E.isLeft(result)) return result
    const answer = result.right as [string, number, string?]
    noteEpoch(answer[0])
    if (answer[1] === 0) return E.left({ _tag: 'MessageNotFound', id: late.replyTo })
    return E.right({
      id: answer[1],
      channel: late.channel,
      playerName: late.playerName,
      text: late.text,
      sentAt: Number(answer[2]),
      type: 'reply',
      replyTo: late.replyTo,
      userId: undefined,
      removes: undefined,
    })
  }

  /** One channel's removal (remove-script's), as the entry it appended, or undefined when nothing there matched. */
  const removeIn = async (args: string[]): Promise<E.Either<StoreUnavailable, Message | undefined>> => {
    const result = await evaluate(REMOVE, [META, CHANNEL_SET], args)
    if (E.isLeft(result)) return result
    const answer = result.right as [string, number, string?, string?, number[]?]
    noteEpoch(answer[0])
    if (answer[1] === 0) return E.right(undefined)
    return E.right(removalEntry(answer[1], answer[3] as ChannelName, Number(answer[2]), answer[4] ?? []))
  }

  /*
   * One message: one script, which finds its channel. A player or a user: a
   * script per channel holding entries, each atomic for its channel, run
   * together; a failure of any fails the removal, and asking again removes
   * what is left (what was removed stays removed: nothing matches it).
   */
  const removeNow = async (request: RemovalRequest): Promise<E.Either<StoreUnavailable | MessageNotFound, ReadonlyArray<Message>>> => {
    const sentAt = String(request.sentAt)
    const scope = request.scope
    if (scope._tag === 'Message') {
      const removed = await removeIn([prefix, candidate, sentAt, 'message', '', String(scope.id), '', ''])
      if (E.isLeft(removed)) return removed
      return removed.right === undefined ? E.left({ _tag: 'MessageNotFound', id: scope.id }) : E.right([removed.right])
    }
    const held = await channelsNow()
    if (E.isLeft(held)) return held
    const key = scope._tag === 'Player' ? playerKey(scope.name) : ''
    const userId = scope.userId === undefined ? '' : String(scope.userId)
    const removals = await Promise.all(held.right.map((summary) => removeIn([prefix, candidate, sentAt, 'player', summary.channel, '', key, userId])))
    const entries: Message[] = []
    for (const removal of removals) {
      if (E.isLeft(removal)) return removal
      if (removal.right !== undefined) entries.push(removal.right)
    }
    return E.right(entries.sort((a, b) => a.id - b.id))
  }

  const clearNow = async (scope: ClearScope): Promise<E.Either<StoreUnavailable, void>> => {
    const keys = [META, CHANNEL_SET, EMPTIED]
    const args = [prefix, candidate, '']
    if (scope._tag === 'Channel') {
      const base = channelKeys(scope.channel)
      keys.push(`${base}log`, `${base}gaps`, `${base}players`)
      args[2] = scope.channel
    }
    const result = await evaluate(CLEAR, keys, args)
    if (E.isLeft(result)) return result
    const [epoch, removed] = result.right as [string, number]
    noteEpoch(epoch)
    if (removed > 0) options.onDiscarded?.({ reason: 'cleared', count: removed })
    return E.right(undefined)
  }

  const channelsNow = async (): Promise<E.Either<StoreUnavailable, ReadonlyArray<ChannelSummary>>> => {
    const result = await evaluate(CHANNELS, [META, CHANNEL_SET], [prefix, candidate])
    if (E.isLeft(result)) return result
    const reply = result.right as unknown[]
    noteEpoch(reply[0] as string)
    const summaries: ChannelSummary[] = []
    for (let i = 1; i + 2 < reply.length; i += 3)
      summaries.push({ channel: reply[i] as ChannelName, count: reply[i + 1] as number, newestId: reply[i + 2] as MessageId })
    return E.right(summaries.sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0)))
  }

  // ── the feed ────────────────────────────────────────────────────────────

  const listeners = new Map<ChannelName, ChannelListeners>()
  let listening = 0
  let subscribed = false
  let subscribing = false
  let waiters: Array<() => void> = []

  const hear = (subscription: Subscription, message: Message): void => {
    try {
      subscription.listener(message)
    } catch (error) {
      log('a message feed listener threw', error)
    }
  }

  const hearing = new Set<(message: Message) => void>()
  const tell = (message: Message): void => {
    for (const listener of hearing)
      try {
        listener(message)
      } catch (error) {
        log('a message feed listener threw', error)
      }
    const forChannel = listeners.get(message.channel)
    if (forChannel === undefined) return
    for (const subscription of forChannel.all) hear(subscription, message)
    if (forChannel.byPlayer.size === 0) return
    if (message.type === 'removal') {
      // Every player's listener in the channel: the entry may take out what any of them showed.
      for (const set of forChannel.byPlayer.values()) for (const subscription of set) hear(subscription, message)
      return
    }
    const forPlayer = forChannel.byPlayer.get(playerKey(message.playerName))
    if (forPlayer !== undefined) for (const subscription of forPlayer) hear(subscription, message)
  }

  // A set: a subscription to several channels is in each channel's listeners, and is told once.
  const lose = (subscriptions: Set<Subscription>): void => {
    for (const subscription of subscriptions) {
      if (!subscription.active || subscription.lost === undefined) continue
      try {
        subscription.lost()
      } catch (error) {
        log('a message feed listener threw', error)
      }
    }
  }

  const subscriptionsOf = (forChannel: ChannelListeners | undefined, into: Set<Subscription>): Set<Subscription> => {
    if (forChannel === undefined) return into
    for (const subscription of forChannel.all) into.add(subscription)
    for (const set of forChannel.byPlayer.values()) for (const subscription of set) into.add(subscription)
    return into
  }

  const loseAll = (): void => {
    const all = new Set<Subscription>()
    for (const forChannel of listeners.values()) subscriptionsOf(forChannel, all)
    lose(all)
  }

  const onFeed = (payload: string): void => {
    if (closed) return
    const newline = payload.indexOf('\n')
    if (newline > 0) noteEpoch(payload.slice(0, newline))
    const body = payload.slice(newline + 1)
    if (body.charCodeAt(0) === 0x5b /* [ */) {
      let items: unknown
      try {
        items = JSON.parse(body)
      } catch {
        items = undefined
      }
      const messages = Array.isArray(items) ? items.map(asMessage) : [undefined]
      if (messages.includes(undefined)) {
        log('a feed notice does not decode; every listener is told it lost messages', { prefix, length: payload.length })
        return loseAll()
      }
      for (const message of messages) tell(message as Message)
      return
    }
    // A clear is not a message, but readers that keep pages must see it and followers re-read to learn of the gap.
    if (body === 'clear') return loseAll()
    if (body.startsWith('clear:')) return lose(subscriptionsOf(listeners.get(body.slice(6) as ChannelName), new Set()))
    log('an unknown feed notice; ignored', { prefix, length: payload.length })
  }

  /** The subscription is up (again): anything published meanwhile may have been missed, so every listener is told. */
  const resumed = (): void => {
    if (closed) return
    const waiting = waiters
    waiters = []
    for (const resolve of waiting) resolve()
    loseAll()
  }

  const subscribeNow = (): void => {
    if (closed || subscribing || subscribed) return
    subscribing = true
    subscriber.subscribe(FEED, onFeed).then(
      () => {
        subscribing = false
        if (closed) return
        subscribed = true
        resumed()
      },
      (error: unknown) => {
        subscribing = false
        if (closed) return
        log('the message feed could not subscribe; retrying', error instanceof Error ? error.message : error)
        // Tried again when the subscriber's connection is next ready, or in a second if it is up (a refusal, not an outage).
        if (subscriber.isReady) setTimeout(subscribeNow, 1_000).unref()
      },
    )
  }

  // node-redis subscribes again by itself when a dropped connection comes back, before it says it is ready.
  const onReady = (): void => {
    down = false
    if (subscribed) resumed()
    else subscribeNow()
  }
  subscriber.on('ready', onReady)
  // The subscription dropped: nothing will be heard until it is back, so every listener is told now (once per outage),
  // and a held poll reads again at once (and is answered: with the store away, its read is refused) rather than hanging.
  let down = false
  const onDown = (): void => {
    if (closed || down) return
    down = true
    loseAll()
  }
  subscriber.on('error', onDown)
  subscriber.on('reconnecting', onDown)
  if (subscriber.isReady) subscribeNow()

  // The stall check: a PING on the subscriber's connection while anyone listens. Unanswered within the command deadline,
  // every listener is told the feed is lost (a held poll reads again, and is answered: 503 if Redis still does not
  // answer); answered again, they are told once more, and catch up on whatever was published meanwhile.
  let stalled = false
  let pinging = false
  const watchdog = setInterval(() => {
    if (closed || pinging || !subscribed || !subscriber.isReady || (listening === 0 && !stalled)) return
    pinging = true
    withDeadline(subscriber.sendCommand(['PING']), COMMAND_TIMEOUT_MS).then(
      () => {
        pinging = false
        if (!stalled || closed) return
        stalled = false
        log('the message feed answers again; every listener catches up')
        resumed()
      },
      () => {
        pinging = false
        if (stalled || closed) return
        stalled = true
        log(`the message feed did not answer a ping within ${COMMAND_TIMEOUT_MS} ms; every listener is told it may have missed messages`)
        loseAll()
      },
    )
  }, options.feedPingMs ?? FEED_PING_MS)
  watchdog.unref()

  const subscribe = (filter: FeedFilter, listener: Listener, lost?: () => void): (() => void) => {
    if (closed) return () => undefined
    const key = filter.player === undefined ? undefined : playerKey(filter.player)
    const subscription: Subscription = { listener, lost, active: true }
    // One subscription in each channel's set: a message belongs to one channel, so it is heard once, and in id order.
    const registered: Array<{ readonly channel: ChannelName; readonly forChannel: ChannelListeners; readonly set: Set<Subscription> }> = []
    for (const channel of filter.channels) {
      let forChannel = listeners.get(channel)
      if (forChannel === undefined) {
        forChannel = { all: new Set(), byPlayer: new Map() }
        listeners.set(channel, forChannel)
      }
      let set: Set<Subscription>
      if (key === undefined) set = forChannel.all
      else {
        set = forChannel.byPlayer.get(key) ?? new Set()
        forChannel.byPlayer.set(key, set)
      }
      set.add(subscription)
      listening++
      registered.push({ channel, forChannel, set })
    }
    return () => {
      if (!subscription.active) return
      subscription.active = false
      for (const { channel, forChannel, set } of registered) {
        if (set.delete(subscription)) listening--
        if (key !== undefined && set.size === 0 && forChannel.byPlayer.get(key) === set) forChannel.byPlayer.delete(key)
        if (forChannel.all.size === 0 && forChannel.byPlayer.size === 0 && listeners.get(channel) === forChannel) listeners.delete(channel)
      }
    }
  }

  const whenSubscribed = (ms: number): Promise<void> =>
    new Promise((resolve, reject) => {
      if (subscribed && subscriber.isReady) return resolve()
      const timer = setTimeout(() => {
        waiters = waiters.filter((waiter) => waiter !== done)
        reject(new Error(`the redis message feed did not subscribe within ${ms} ms`))
      }, ms)
      const done = (): void => {
        clearTimeout(timer)
        resolve()
      }
      waiters.push(done)
    })

  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    clearInterval(watchdog)
    subscriber.off('ready', onReady)
    subscriber.off('error', onDown)
    subscriber.off('reconnecting', onDown)
    for (const forChannel of listeners.values()) for (const subscription of subscriptionsOf(forChannel, new Set())) subscription.active = false
    listeners.clear()
    listening = 0
    if (subscribed && subscriber.isReady) await subscriber.unsubscribe(FEED, onFeed).catch(() => undefined)
  }

  return {
    append: (request) => () => appendNow(request),
    remove: (request) => () => removeNow(request),
    appendReply: (late) => () => appendReplyNow(late),
    list: (query) => () => listNow(query),
    clear: (scope): TE.TaskEither<StoreUnavailable, void> => () => clearNow(scope),
    channels: () => () => channelsNow(),
    subscribe,
    close,
    whenSubscribed,
    listenerCount: () => listening,
    heard: (listener) => {
      hearing.add(listener)
      return () => void hearing.delete(listener)
    },
    decodeQueued: (json) => {
      try {
        return asMessage(JSON.parse(json))
      } catch {
        return undefined
      }
    },
  }
}

const newEpoch = (): string => randomBytes(9).toString('base64url')

/** The most appends one script takes: a larger batch is split, so one script never holds Redis for long. */
const APPEND_BATCH_MAX = 64

/** What an append stored, built field by field in the memory store's order: every message has one shape. */
const conversation = (request: AppendRequest, id: MessageId, sentAt: number): Conversation => {
  const draft = request.draft
  const message: Message = {
    id,
    channel: draft.channel,
    playerName: draft.playerName,
    text: draft.text,
    sentAt,
    type: 'player',
    replyTo: undefined,
    userId: draft.userId,
    removes: undefined,
  }
  const reply = request.reply
  if (reply === undefined) return { message }
  const stored: Message = {
    id: id + 1,
    channel: draft.channel,
    playerName: reply.playerName,
    text: reply.text,
    sentAt,
    type: 'reply',
    replyTo: id,
    userId: undefined,
    removes: undefined,
  }
  return { message, reply: stored }
}

/** A removal entry, in the memory store's shape. */
const removalEntry = (id: MessageId, channel: ChannelName, sentAt: number, removes: ReadonlyArray<MessageId>): Message => ({
  id,
  channel,
  playerName: SERVER_NAME,
  text: REMOVAL_TEXT,
  sentAt,
  type: 'removal',
  replyTo: undefined,
  userId: undefined,
  removes,
})

/** The message's JSON after its opening brace, without the id and sentAt (and replyTo) that the append script writes in front. */
const messageTail = (channel: string, playerName: string, text: string, type: 'player' | 'reply', userId: number | undefined): string =>
  `"channel":${JSON.stringify(channel)},"playerName":${JSON.stringify(playerName)},"text":${JSON.stringify(text)},"type":"${type}"${
    userId === undefined ? '' : `,"userId":${JSON.stringify(userId)}`
  }}`

/** A parsed JSON value as a Message, with the memory store's shape, or undefined when it is not one. */
const asMessage = (value: unknown): Message | undefined => {
  if (typeof value !== 'object' || value === null) return undefined
  const o = value as Record<string, unknown>
  const { id, channel, playerName, text, sentAt, type, replyTo, userId, removes } = o
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) return undefined
  if (typeof channel !== 'string' || typeof playerName !== 'string' || typeof text !== 'string') return undefined
  if (typeof sentAt !== 'number') return undefined
  if (type === 'removal') {
    if (!Array.isArray(removes) || !removes.every((r): r is number => typeof r === 'number' && Number.isSafeInteger(r) && r > 0)) return undefined
    return removalEntry(id, channel as ChannelName, sentAt, removes)
  }
  if (type !== 'player' && type !== 'reply') return undefined
  if (replyTo !== undefined && typeof replyTo !== 'number') return undefined
  if (userId !== undefined && typeof userId !== 'number') return undefined
  return {
    id,
    channel: channel as ChannelName,
    playerName: playerName as PlayerName,
    text: text as MessageText,
    sentAt,
    type,
    replyTo: replyTo as MessageId | undefined,
    userId: userId as number | undefined,
    removes: undefined,
  }
}
