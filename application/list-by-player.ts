import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import { playerName, type InvalidField, type PlayerName } from '../domain/message'
import type { Page, StoreUnavailable } from '../domain/message-repository'
import { channelsAsked, listQuery, readPage, type ListInput, type ReadDeps } from './read-page'

/** A list use case's input and the name of the player whose messages are asked for. */
export type ListByPlayerInput = ListInput & { readonly playerName: string }

export type ListByPlayerError = InvalidField | StoreUnavailable

export type PlayerPage = Page & { readonly playerName: PlayerName }

/** The messages one player wrote (in a channel, or in several under one cursor), matched case-insensitively, as the player's name may be typed in any case. */
export const listByPlayer = (deps: ReadDeps) => {
  const read = readPage(deps)
  return (input: ListByPlayerInput): TE.TaskEither<ListByPlayerError, PlayerPage> => {
    const player = playerName(input.playerName)
    if (E.isLeft(player)) return async () => player
    const channels = channelsAsked(input)
    if (E.isLeft(channels)) return async () => channels
    const reading = read(listQuery(channels.right, input, player.right), input.wait)
    return async () => {
      const page = await reading()
      return E.isLeft(page) ? page : E.right(withPlayer(page.right, player.right))
    }
  }
}

// Built field by field rather than spread: the same shape for every page, and cheaper on a hot path.
const withPlayer = (page: Page, player: PlayerName): PlayerPage => ({
  messages: page.messages,
  epoch: page.epoch,
  nextAfter: page.nextAfter,
  hasMore: page.hasMore,
  gap: page.gap,
  playerName: player,
})
