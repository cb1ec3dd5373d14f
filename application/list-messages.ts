import * as E from 'fp-ts/Either'
import * as TE from 'fp-ts/TaskEither'
import { pipe } from 'fp-ts/function'
import { channelOrDefault, type InvalidField } from '../domain/message'
import type { Page, StoreUnavailable } from '../domain/message-repository'
import { pageQuery, readPage, type PageInput, type ReadDeps } from './read-page'

export type ListInput = PageInput & { readonly channel?: string }

export type ListError = InvalidField | StoreUnavailable

/** The messages of a channel: the newest ones, or those after a cursor, optionally waiting for the next. */
export const listMessages = (deps: ReadDeps) => {
  const read = readPage(deps)
  return (input: ListInput): TE.TaskEither<ListError, Page> =>
    pipe(
      channelOrDefault(input.channel),
      TE.fromEither,
      TE.chainW((channel) =>
        read(pageQuery(channel, input), input.wait),
      ),
    )
}
