import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import { playerKey, senderName } from '../domain/message'
import type { Conversation, StoreUnavailable } from '../domain/message-repository'
import { playerLimitKey, type RateDecision, type RateLimit, type RateLimiter } from '../domain/rate-limit'
import type { SendInput } from './send-message'

/** A request over a rate limit: `scope` names the limit, `decision` carries what the answer's headers say. */
export type RateLimited = { readonly _tag: 'RateLimited'; readonly scope: 'player' | 'client'; readonly decision: RateDecision }

/** The send use case's shape, whatever its errors. */
export type Send<Err> = (input: SendInput) => TE.TaskEither<Err, Conversation>

/**
 * Wraps a send with the per-player limit (PLAYER_RATE_LIMIT), applied before
 * the send stores anything: a refused send stores nothing and consumes no id.
 * With no limit, the send is returned as it is.
 *
 * The player is their Roblox user id when the request gives one, else their
 * name (trimmed, in any case, as the store looks players up), so one player
 * cannot flood a channel from many game servers, and renaming does not help
 * a player with an id.
 *
 * A token pays for a stored message, and only for one:
 * - a request whose name the send would refuse goes straight to the send,
 *   whose own validation answers, and takes no token (the name is checked
 *   first because the bucket's key is made from it);
 * - a request the send then refuses anyway (its text or channel, the content
 *   policy, the channel limit, the store) gets its token back. Malformed
 *   floods are the per-client limit's work, which counts every request.
 *
 * Composes inside `sendIdempotently` (`sendIdempotently({ keys, send:
 * limitPlayers(...)(sendMessage(...)) })`): the limit applies only to a key's
 * first request, so a replay of a completed key is answered without a token,
 * and a refused send releases its key, so the same request may be retried
 * once `Retry-After` has passed.
 *
 * If the limiter's store fails, so does the send (StoreUnavailable), as when
 * the message store fails: a limit that cannot be checked is not skipped.
 */
export const limitPlayers = (deps: { readonly limiter: RateLimiter; readonly limit: RateLimit | undefined }) =>
  <Err>(send: Send<Err>): Send<Err | RateLimited | StoreUnavailable> => {
    const { limiter, limit } = deps
    if (limit === undefined) return send
    return (input) => async () => {
      const name = senderName(input.playerName)
      if (E.isLeft(name)) return send(input)()
      const key = playerLimitKey(input.userId, playerKey(name.right))
      const taken = await limiter.take(key, limit)()
      if (E.isLeft(taken)) return taken
      if (!taken.right.allowed) return E.left({ _tag: 'RateLimited', scope: 'player', decision: taken.right })
      const sent = await send(input)()
      // The answer stands whether or not the token comes back.
      if (E.isLeft(sent)) await limiter.giveBack(key, limit)()
      return sent
    }
  }
