import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import { channelOrDefault, type InvalidField } from '../domain/message'
import type { Page, StoreUnavailable } from '../domain/message-repository'
import { listQuery, readPage, type ListInput, type ReadDeps } from './read-page'

export type { ListInput } from './read-page'

export type ListError = InvalidField | StoreUnavailable

/** The messages of a channel: the newest ones, or those after a cursor, optionally waiting for the next. */
export const listMessages = (deps: ReadDeps) => {
  const read = readPage(deps)
  return (input: ListInput): TE.TaskEither<ListError, Page> => {
    const channel = channelOrDefault(input.channel)
    if (E.isLeft(channel)) return async () => channel
    return read(listQuery([channel.right], input), input.wait)
  }
}
