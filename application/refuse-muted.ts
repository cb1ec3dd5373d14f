import * as E from 'fp-ts/Either'
import type { Clock } from '../domain/clock'
import type { Conversation, StoreUnavailable } from '../domain/message-repository'
import type { Mute, Mutes } from '../domain/mutes'
import type { Send } from './limit-players'
import type { SendInput } from './send-message'

/** A send by a player who is muted: refused, with the mute (its reason and end). */
export type Muted = { readonly _tag: 'Muted'; readonly mute: Mute; readonly now: number }

/**
 * Wraps a send so that a muted player's (by name in any case, or by the
 * send's user id) is refused before anything else is spent on it: no rate
 * limit token, no reply rule, no id. A send whose name is not valid goes on
 * to the send, whose own validation answers it (no one can be muted under a
 * name no one can send with). Composes inside `sendIdempotently`, outside
 * `limitPlayers`. If the mutes cannot be read, the send fails (a mute that
 * cannot be checked is not skipped), as it would with the store away.
 *
 * It runs on every send. While nobody is muted it costs one call
 * (`noneInForce`) and nothing else; otherwise one `find`, which the Mutes
 * adapters answer from memory whenever they can (see redis-mutes.ts).
 */
export const refuseMuted = (deps: { readonly mutes: Pick<Mutes, 'find' | 'noneInForce'>; readonly clock: Clock }) =>
  <Err>(send: Send<Err>): Send<Err | Muted | StoreUnavailable> =>
    (input) => {
      const sending = send(input)
      // Asked when the send runs, not when it is built: while nobody is muted the send goes straight on, no promise added.
      return () => (deps.mutes.noneInForce() ? sending() : checked(deps, input, sending))
    }

const checked = async <Err>(
  deps: { readonly mutes: Pick<Mutes, 'find'>; readonly clock: Clock },
  input: SendInput,
  sending: () => Promise<E.Either<Err, Conversation>>,
): Promise<E.Either<Err | Muted | StoreUnavailable, Conversation>> => {
  const now = deps.clock.now()
  const playerName = input.playerName.trim()
  const found = await deps.mutes.find(input.userId === undefined ? { playerName } : { playerName, userId: input.userId }, now)()
  if (E.isLeft(found)) return found
  if (found.right !== undefined) return E.left({ _tag: 'Muted', mute: found.right, now })
  return sending()
}
