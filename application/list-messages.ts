import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import type { InvalidField } from '../domain/message'
import type { Page, StoreUnavailable } from '../domain/message-repository'
import { channelsAsked, listQuery, readPage, type ListInput, type ReadDeps } from './read-page'

export type { ListInput } from './read-page'

export type ListError = InvalidField | StoreUnavailable

/** The messages of a channel, or of several under one cursor: the newest ones, or those after a cursor, optionally waiting for the next. */
export const listMessages = (deps: ReadDeps) => {
  const read = readPage(deps)
  return (input: ListInput): TE.TaskEither<ListError, Page> => {
    const channels = channelsAsked(input)
    if (E.isLeft(channels)) return async () => channels
    return read(listQuery(channels.right, input), input.wait)
  }
}
