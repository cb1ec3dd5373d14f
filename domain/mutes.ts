import type * as TE from 'fp-ts/TaskEither'
import { isPrintableAscii, nameSkeleton, type PlayerName } from './message'
import type { StoreUnavailable } from './message-repository'

/*
 * Mutes: a player an admin silenced until some time. A send by a muted
 * player is refused (application/refuse-muted.ts) until the mute ends; no
 * timer ends it, the Clock does: a mute holds while `until` is ahead of now.
 */

export type Mute = {
  /** The name muted, as the moderator wrote it; sends are matched to it by muteKey (any case, look-alikes). */
  readonly playerName: PlayerName
  /** The Roblox user id muted too, when known: sends with it are refused under any name. */
  readonly userId?: number
  /** Why, as the moderator put it: the refusal says it to the sender. */
  readonly reason: string
  /** When it began and when it ends, in ms since the Unix epoch. */
  readonly since: number
  readonly until: number
  /** The label of the key that muted. */
  readonly by: string
}

/** Who is sending: the name as sent, and the user id when the send has one. */
export type Sender = { readonly playerName: string; readonly userId?: number }

/**
 * What a mute is kept and matched by: the name's skeleton (nameSkeleton), so that a muted player cannot send again
 * under a spelling that reads the same: another case, another Unicode composition, fullwidth letters, a Cyrillic `о`
 * for an `o`. Such names can belong to someone else; a mute errs on the side of silencing them too, for its time.
 * Printable ASCII names skip the folding (their skeleton is their lower case: a test holds the two equal).
 */
export const muteKey = (name: string): string => (isPrintableAscii(name) ? name.toLowerCase() : nameSkeleton(name))

/**
 * Whether a mute holds for a sender at `now`: by user id when both the mute and the send have one, or by a name that
 * reads the same (muteKey). The user id first: it costs nothing, where folding a name that is not ASCII does.
 */
export const muteHolds = (mute: Mute, sender: Sender, now: number): boolean =>
  mute.until > now && ((mute.userId !== undefined && mute.userId === sender.userId) || muteKey(mute.playerName) === muteKey(sender.playerName))

/** Of several mutes that hold, the one that ends last: the one the sender must wait for. */
export const longestOf = (mutes: Iterable<Mute>): Mute | undefined => {
  let longest: Mute | undefined
  for (const mute of mutes) if (longest === undefined || mute.until > longest.until) longest = mute
  return longest
}

export type Mutes = {
  /** Mutes a player, in place of any mute of a name that reads the same (muteKey). */
  readonly put: (mute: Mute) => TE.TaskEither<StoreUnavailable, void>
  /** Lifts the mute of a name that reads as this one (muteKey): the mute lifted, or undefined when none held at `now`. */
  readonly lift: (playerName: string, now: number) => TE.TaskEither<StoreUnavailable, Mute | undefined>
  /** The mutes that hold at `now`, the soonest to end first. */
  readonly inForce: (now: number) => TE.TaskEither<StoreUnavailable, ReadonlyArray<Mute>>
  /**
   * The mute that holds for this sender at `now` (the one ending last, if
   * several do), or undefined. Asked on every send, so an adapter answers it
   * without a round trip whenever it can; a mute put through it is found by
   * the next call, one put elsewhere (another process) as soon as it hears
   * of it.
   */
  readonly find: (sender: Sender, now: number) => TE.TaskEither<StoreUnavailable, Mute | undefined>
  /**
   * True only when this handle knows for certain that no mute is in force
   * for anyone (none put, or all lifted, and nothing heard since that it has
   * not read): a send may then skip `find`. False whenever a mute might
   * hold, or the handle cannot tell. A hint for the hot path, never a
   * reason to let a muted player through.
   */
  readonly noneInForce: () => boolean
}
