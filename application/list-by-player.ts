import * as E from 'fp-ts/Either'
import * as TE from 'fp-ts/TaskEither'
import { pipe } from 'fp-ts/function'
import { channelOrDefault, playerName, type InvalidField, type PlayerName } from '../domain/message'
import type { Page, StoreUnavailable } from '../domain/message-repository'
import type { ListInput } from './list-messages'
import { pageQuery, readPage, type ReadDeps } from './read-page'

export type ListByPlayerInput = ListInput & { readonly playerName: string }

export type ListByPlayerError = InvalidField | StoreUnavailable

/** The messages one player wrote, matched case-insensitively, as the player's name may be typed in any case. */
export const listByPlayer = (deps: ReadDeps) => {
  const read = readPage(deps)
  return (input: ListByPlayerInput): TE.TaskEither<ListByPlayerError, Page & { readonly playerName: PlayerName }> =>
    pipe(
      E.Do,
      E.apS('player', playerName(input.playerName)),
      E.apS('channel', channelOrDefault(input.channel)),
      TE.fromEither,
      TE.chainW(({ player, channel }) =>
        pipe(
          read(pageQuery(channel, input, player), input.wait),
          TE.map((page) => ({ ...page, playerName: player })),
        ),
      ),
    )
}
