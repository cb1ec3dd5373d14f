import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import type { AuditLog } from '../domain/audit-log'
import type { Clock } from '../domain/clock'
import { senderName, type InvalidField } from '../domain/message'
import type { StoreUnavailable } from '../domain/message-repository'
import type { Mute, Mutes } from '../domain/mutes'
import { recordDone, type Audited } from './audited'

export type MuteInput = {
  readonly playerName: string
  readonly userId?: number
  /** How long, from now: a whole number of seconds, checked at the edge (MUTE_SECONDS_MAX). */
  readonly seconds: number
  readonly reason: string
  readonly actor: string
}

/** The longest mute: ten years, as good as for ever, and a bound no timestamp arithmetic can overflow. */
export const MUTE_SECONDS_MAX = 10 * 365 * 24 * 60 * 60

export type MuteDeps = { readonly mutes: Pick<Mutes, 'put'>; readonly audit: Pick<AuditLog, 'record'>; readonly clock: Clock }

/** Silences a player (by name, and user id when known) from now for `seconds`, in place of any mute of theirs, and records who did. */
export const mutePlayer = (deps: MuteDeps) =>
  (input: MuteInput): TE.TaskEither<InvalidField | StoreUnavailable, Audited<Mute>> =>
    async () => {
      const name = senderName(input.playerName)
      if (E.isLeft(name)) return name
      const since = deps.clock.now()
      const mute: Mute = {
        playerName: name.right,
        ...(input.userId === undefined ? {} : { userId: input.userId }),
        reason: input.reason,
        since,
        until: since + input.seconds * 1000,
        by: input.actor,
      }
      const put = await deps.mutes.put(mute)()
      if (E.isLeft(put)) return put
      return E.right(
        await recordDone(deps.audit, mute, {
          action: 'mute',
          playerName: mute.playerName,
          ...(mute.userId === undefined ? {} : { userId: mute.userId }),
          until: mute.until,
          reason: mute.reason,
          at: since,
          actor: input.actor,
        }),
      )
    }
