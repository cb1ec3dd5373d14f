import * as TE from 'fp-ts/TaskEither'
import { longestOf, muteHolds, muteKey, type Mute, type Mutes } from '../../domain/mutes'

/*
 * Mutes in memory, by name (its muteKey: any case, look-alikes) and by user id: a send's check is
 * two map lookups, none at all while nobody is muted. A mute that has ended
 * is let go by the next change or listing.
 */

export const createMemoryMutes = (): Mutes => {
  const byName = new Map<string, Mute>()
  const byUser = new Map<number, Set<Mute>>()

  const forget = (key: string): void => {
    const mute = byName.get(key)
    if (mute === undefined) return
    byName.delete(key)
    if (mute.userId === undefined) return
    const muted = byUser.get(mute.userId)
    muted?.delete(mute)
    if (muted?.size === 0) byUser.delete(mute.userId)
  }

  const prune = (now: number): void => {
    for (const [key, mute] of byName) if (mute.until <= now) forget(key)
  }

  return {
    put: (mute) =>
      TE.fromIO(() => {
        const key = muteKey(mute.playerName)
        forget(key)
        byName.set(key, mute)
        if (mute.userId !== undefined) {
          const muted = byUser.get(mute.userId) ?? new Set()
          muted.add(mute)
          byUser.set(mute.userId, muted)
        }
        prune(mute.since)
      }),
    lift: (playerName, now) =>
      TE.fromIO(() => {
        const key = muteKey(playerName)
        const mute = byName.get(key)
        forget(key)
        prune(now)
        return mute !== undefined && mute.until > now ? mute : undefined
      }),
    inForce: (now) =>
      TE.fromIO(() => {
        prune(now)
        return [...byName.values()].sort((a, b) => a.until - b.until)
      }),
    // Mutes that ended linger until the next change prunes them: a hint that errs towards asking.
    noneInForce: () => byName.size === 0,
    find: (sender, now) =>
      TE.fromIO(() => {
        if (byName.size === 0) return undefined
        const named = byName.get(muteKey(sender.playerName))
        const holding: Mute[] = named !== undefined && muteHolds(named, sender, now) ? [named] : []
        if (sender.userId !== undefined) for (const mute of byUser.get(sender.userId) ?? []) if (muteHolds(mute, sender, now)) holding.push(mute)
        return longestOf(holding)
      }),
  }
}
