import * as E from 'fp-ts/Either'
import * as TE from 'fp-ts/TaskEither'
import { pipe } from 'fp-ts/function'
import { channelName, type InvalidField } from '../domain/message'
import type { ClearScope, MessageRepository, StoreUnavailable } from '../domain/message-repository'

export type ClearInput = { readonly channel?: string }

export type ClearError = InvalidField | StoreUnavailable

/** Removes every message, or one channel's. Ids are never reused afterwards. */
export const clearMessages = (deps: { readonly messages: Pick<MessageRepository, 'clear'> }) =>
  (input: ClearInput): TE.TaskEither<ClearError, ClearScope> =>
    pipe(
      input.channel === undefined
        ? E.right<InvalidField, ClearScope>({ _tag: 'All' })
        : pipe(channelName(input.channel), E.map((channel): ClearScope => ({ _tag: 'Channel', channel }))),
      TE.fromEither,
      TE.chainFirstW((scope) => deps.messages.clear(scope)),
    )
