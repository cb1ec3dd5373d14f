import * as E from 'fp-ts/Either'
import type { PlayerName } from '../../domain/message'
import type { StoreUnavailable } from '../../domain/message-repository'
import { longestOf, muteHolds, muteKey, type Mute, type Mutes, type Sender } from '../../domain/mutes'
import type { RedisConnection } from './connection'
import { command, defineScript, unavailable } from './script'

/*
 * Mutes on Redis, shared by every process on the prefix:
 *
 *   P:{P:mutes}:all   hash: player key (the name in lower case) -> '<until>\n<the mute's JSON>'
 *   P:mutes           the pub/sub channel a change is announced on
 *
 * Every send asks whether its sender is muted, so the answer must not cost
 * a round trip. Each process keeps a copy of the mutes (a handful, at most
 * thousands), read whole when its subscription to P:mutes is up and read
 * again at every change announced there: a send is checked against the copy,
 * in memory, and while nobody is muted that is one comparison. The copy is
 * trusted only while the subscription is up and nothing has been announced
 * since it was read; otherwise (at start-up, while the connection is away,
 * between a change and its reading) a send's check reads Redis itself. A
 * mute put or lifted through this process is in force for its next send; one
 * put through another process, from the moment this one hears of it (the
 * pub/sub delivery, a millisecond or so). A change writes, prunes the mutes
 * that have ended and announces, in one script.
 */

export type RedisMutesOptions = {
  readonly connection: Pick<RedisConnection, 'client' | 'subscriber'>
  readonly prefix: string
  readonly log?: (message: string, detail?: unknown) => void
}

export type RedisMutes = Mutes & {
  /** Lets go of the subscription; the connection stays open (it is the caller's). */
  readonly close: () => Promise<void>
}

/** Removes the mutes that ended by ARGV[1] (now) from KEYS[1]. */
const PRUNE = `
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if (tonumber(string.match(all[i + 1], '^(%d+)\\n')) or 0) <= tonumber(ARGV[1]) then redis.call('HDEL', KEYS[1], all[i]) end
end
`

/** KEYS: the mutes. ARGV: now, the pub/sub channel, player key, value. */
const PUT = defineScript(`${PRUNE}
redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
redis.call('PUBLISH', ARGV[2], 'put')
return 1
`)

/** KEYS: the mutes. ARGV: now, the pub/sub channel, player key. Returns the value lifted if it held at now, else false. */
const LIFT = defineScript(`
local found = redis.call('HGET', KEYS[1], ARGV[3])
${PRUNE}
if not found then return false end
redis.call('HDEL', KEYS[1], ARGV[3])
redis.call('PUBLISH', ARGV[2], 'lift')
if (tonumber(string.match(found, '^(%d+)\\n')) or 0) <= tonumber(ARGV[1]) then return false end
return found
`)

/** What a process knows of the mutes: by name (its muteKey), by user id. */
type Known = { readonly byName: ReadonlyMap<string, Mute>; readonly byUser: ReadonlyMap<number, ReadonlyArray<Mute>> }

const NOBODY: Known = { byName: new Map(), byUser: new Map() }

const findIn = (known: Known, sender: Sender, now: number): Mute | undefined => {
  if (known.byName.size === 0) return undefined
  const holding: Mute[] = []
  const named = known.byName.get(muteKey(sender.playerName))
  if (named !== undefined && muteHolds(named, sender, now)) holding.push(named)
  if (sender.userId !== undefined) for (const mute of known.byUser.get(sender.userId) ?? []) if (muteHolds(mute, sender, now)) holding.push(mute)
  return longestOf(holding)
}

const valueOf = (mute: Mute): string => `${mute.until}\n${JSON.stringify(mute)}`

/** A stored value as a Mute, or undefined when it is not one of ours. */
const asMute = (value: string): Mute | undefined => {
  let parsed: unknown
  try {
    parsed = JSON.parse(value.slice(value.indexOf('\n') + 1))
  } catch {
    return undefined
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined
  const o = parsed as Record<string, unknown>
  const { playerName, userId, reason, since, until, by } = o
  if (typeof playerName !== 'string' || typeof reason !== 'string' || typeof by !== 'string') return undefined
  if (typeof since !== 'number' || typeof until !== 'number' || (userId !== undefined && !Number.isSafeInteger(userId))) return undefined
  return {
    playerName: playerName as PlayerName,
    ...(userId === undefined ? {} : { userId: userId as number }),
    reason,
    since,
    until,
    by,
  }
}

export const createRedisMutes = (options: RedisMutesOptions): RedisMutes => {
  const { client, subscriber } = options.connection
  const KEY = `${options.prefix}:{${options.prefix}:mutes}:all`
  const CHANNEL = `${options.prefix}:mutes`
  const log = options.log ?? ((message, detail) => console.error(message, detail))
  const attempt = async <A>(run: () => Promise<A>): Promise<E.Either<StoreUnavailable, A>> => {
    try {
      return E.right(await run())
    } catch (err) {
      return E.left(unavailable(err))
    }
  }

  const readAll = async (): Promise<Known> => {
    const reply = (await command(client, ['HGETALL', KEY])) as string[] | Record<string, string>
    const values = Array.isArray(reply) ? reply.filter((_, i) => i % 2 === 1) : Object.values(reply)
    const byName = new Map<string, Mute>()
    const byUser = new Map<number, Mute[]>()
    for (const value of values) {
      const mute = asMute(value)
      if (mute === undefined) {
        // Its size, not its contents: a mute holds a player's name and a reason, which stay out of the log.
        log('a stored mute does not decode; left out', { prefix: options.prefix, length: value.length })
        continue
      }
      byName.set(muteKey(mute.playerName), mute)
      if (mute.userId !== undefined) byUser.set(mute.userId, [...(byUser.get(mute.userId) ?? []), mute])
    }
    return byName.size === 0 ? NOBODY : { byName, byUser }
  }

  // The copy sends are checked against, when it can be trusted; every change announced (or a loss) moves the generation on.
  let known: Known | undefined
  let generation = 0
  let subscribed = false
  let subscribing = false
  let closed = false

  /** Forgets the copy and, with the subscription up, reads it again; meanwhile checks read Redis. */
  const distrust = (): void => {
    known = undefined
    const reading = ++generation
    if (!subscribed || closed) return
    readAll().then(
      (read) => {
        if (reading === generation && subscribed && !closed) known = read
      },
      // Not trusted, then: the next check reads Redis itself, and fails the send if Redis is away, as the store would.
      () => undefined,
    )
  }

  const onNotice = (): void => distrust()
  const subscribeNow = (): void => {
    if (closed || subscribing || subscribed) return
    subscribing = true
    subscriber.subscribe(CHANNEL, onNotice).then(
      () => {
        subscribing = false
        if (closed) return
        subscribed = true
        distrust()
      },
      (error: unknown) => {
        subscribing = false
        if (closed) return
        log('the mutes could not subscribe to their changes; retrying', error instanceof Error ? error.message : error)
        if (subscriber.isReady) setTimeout(subscribeNow, 1_000).unref()
      },
    )
  }
  // node-redis subscribes again by itself when a dropped connection comes back, before it says it is ready.
  const onReady = (): void => (subscribed ? distrust() : subscribeNow())
  // While the connection is away nothing is heard: the copy is not trusted until it is back and read again.
  const onDown = (): void => {
    known = undefined
    generation++
  }
  subscriber.on('ready', onReady)
  subscriber.on('error', onDown)
  subscriber.on('reconnecting', onDown)
  if (subscriber.isReady) subscribeNow()

  return {
    put: (mute) => () =>
      attempt(async () => {
        await PUT(client, [KEY], [String(mute.since), CHANNEL, muteKey(mute.playerName), valueOf(mute)])
        // This process's next check must see it, without waiting to hear the announcement.
        distrust()
      }),
    lift: (playerName, now) => () =>
      attempt(async () => {
        const found = (await LIFT(client, [KEY], [String(now), CHANNEL, muteKey(playerName)])) as string | null
        distrust()
        return found === null ? undefined : asMute(found)
      }),
    inForce: (now) => () =>
      attempt(async () => {
        const read = await readAll()
        return [...read.byName.values()].filter((mute) => mute.until > now).sort((a, b) => a.until - b.until)
      }),
    noneInForce: () => known !== undefined && known.byName.size === 0,
    find: (sender, now) => () => {
      const copy = known
      if (copy !== undefined) return Promise.resolve(E.right(findIn(copy, sender, now)))
      return attempt(async () => findIn(await readAll(), sender, now))
    },
    close: async () => {
      if (closed) return
      closed = true
      known = undefined
      subscriber.off('ready', onReady)
      subscriber.off('error', onDown)
      subscriber.off('reconnecting', onDown)
      if (subscribed && subscriber.isReady) await subscriber.unsubscribe(CHANNEL, onNotice).catch(() => undefined)
    },
  }
}
