import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import type { AuditLog } from '../domain/audit-log'
import type { Clock } from '../domain/clock'
import { senderName, type InvalidField, type PlayerName } from '../domain/message'
import type { StoreUnavailable } from '../domain/message-repository'
import type { Mute, Mutes } from '../domain/mutes'
import { recordDone, type Audited } from './audited'

/** No mute of this name holds now (never muted, lifted, or ended). */
export type NotMuted = { readonly _tag: 'NotMuted'; readonly playerName: PlayerName }

/** Lifts a player's mute before its end, and records who did. */
export const unmutePlayer = (deps: { readonly mutes: Pick<Mutes, 'lift'>; readonly audit: Pick<AuditLog, 'record'>; readonly clock: Clock }) =>
  (input: { readonly playerName: string; readonly actor: string }): TE.TaskEither<InvalidField | StoreUnavailable | NotMuted, Audited<Mute>> =>
    async () => {
      const name = senderName(input.playerName)
      if (E.isLeft(name)) return name
      const at = deps.clock.now()
      const lifted = await deps.mutes.lift(name.right, at)()
      if (E.isLeft(lifted)) return lifted
      if (lifted.right === undefined) return E.left({ _tag: 'NotMuted', playerName: name.right })
      return E.right(await recordDone(deps.audit, lifted.right, { action: 'unmute', playerName: lifted.right.playerName, at, actor: input.actor }))
    }
