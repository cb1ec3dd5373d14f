import type * as TE from 'fp-ts/TaskEither'
import type { ChannelSummary, MessageRepository, StoreUnavailable } from '../domain/message-repository'

/** Every channel that holds messages, with its count and newest id. */
export const listChannels = (deps: { readonly messages: Pick<MessageRepository, 'channels'> }) =>
  (): TE.TaskEither<StoreUnavailable, ReadonlyArray<ChannelSummary>> =>
    deps.messages.channels()
