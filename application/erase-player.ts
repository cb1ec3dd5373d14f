import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import { senderName, type InvalidField } from '../domain/message'
import type { RemovalScope, StoreUnavailable } from '../domain/message-repository'
import { recordDone, type Audited } from './audited'
import { removedBy, type ModerationDeps, type Removed } from './remove-message'

/**
 * Whose messages: a player by name (in any case), with their Roblox user id
 * when it is known, or a user id alone (Roblox's Right to Erasure names no
 * name).
 */
export type EraseInput = ({ readonly playerName: string; readonly userId?: number } | { readonly playerName?: undefined; readonly userId: number }) & {
  readonly actor: string
  /** Roblox's notification id, for the record, when Roblox asked. */
  readonly notification?: string
}

/**
 * Removes everything a player wrote, in every channel, with the replies to
 * it, for every reader, and records who did. Asking again is harmless: it
 * finds nothing more (and says so, removing nothing). A name is checked as a
 * sender's is: no one can send as `Server` (the replies' name), so no one is
 * erased or muted as it either.
 */
export const erasePlayer = (deps: ModerationDeps) =>
  (input: EraseInput): TE.TaskEither<InvalidField | StoreUnavailable, Audited<Removed>> =>
    async () => {
      let scope: RemovalScope
      if (input.playerName === undefined) scope = { _tag: 'User', userId: input.userId }
      else {
        const name = senderName(input.playerName)
        if (E.isLeft(name)) return name
        scope = input.userId === undefined ? { _tag: 'Player', name: name.right } : { _tag: 'Player', name: name.right, userId: input.userId }
      }
      const at = deps.clock.now()
      const removal = await deps.messages.remove({ scope, sentAt: at })()
      // MessageNotFound answers a removal of one message only: a player's or a user's finds nothing, and says so with no entries.
      if (E.isLeft(removal) && removal.left._tag === 'StoreUnavailable') return E.left(removal.left)
      const entries = E.isRight(removal) ? removal.right : []
      const done = removedBy(entries)
      return E.right(
        await recordDone(deps.audit, done, {
          action: 'erase',
          ...(scope._tag === 'Player' ? { playerName: scope.name } : {}),
          ...(scope.userId === undefined ? {} : { userId: scope.userId }),
          removed: done.removed.length,
          channels: entries.map((e) => e.channel),
          ...(input.notification === undefined ? {} : { notification: input.notification }),
          at,
          actor: input.actor,
        }),
      )
    }
