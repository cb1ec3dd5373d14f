import * as E from 'fp-ts/Either'
import * as O from 'fp-ts/Option'
import * as TE from 'fp-ts/TaskEither'
import { pipe } from 'fp-ts/function'
import type { AutoReply } from '../domain/auto-reply'
import type { Clock } from '../domain/clock'
import { channelOrDefault, messageText, SERVER_NAME, senderName, type InvalidField } from '../domain/message'
import type { ChannelLimitReached, Conversation, MessageRepository, StoreUnavailable } from '../domain/message-repository'

export type SendInput = {
  readonly playerName: string
  readonly message: string
  readonly channel?: string
  readonly userId?: number
}

export type SendError = InvalidField | StoreUnavailable | ChannelLimitReached

export type SendDeps = {
  readonly messages: Pick<MessageRepository, 'append'>
  readonly clock: Clock
  readonly autoReply: AutoReply
  readonly maxMessageLength: number
}

/** Stores a player's message and the automatic reply to it, together. */
export const sendMessage = (deps: SendDeps) => {
  const text = messageText(deps.maxMessageLength)
  return (input: SendInput): TE.TaskEither<SendError, Conversation> =>
    pipe(
      E.Do,
      E.apS('playerName', senderName(input.playerName)),
      E.apS('text', text(input.message)),
      E.apS('channel', channelOrDefault(input.channel)),
      TE.fromEither,
      TE.chainW(({ playerName, text, channel }) =>
        deps.messages.append({
          draft: { channel, playerName, text, sentAt: deps.clock.now(), userId: input.userId },
          reply: pipe(
            deps.autoReply(playerName),
            O.map((reply) => ({ playerName: SERVER_NAME, text: reply })),
            O.toUndefined,
          ),
        }),
      ),
    )
}
