import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import type { Clock } from '../domain/clock'
import { messageText, SERVER_NAME, type InvalidField, type Message } from '../domain/message'
import type { MessageNotFound, MessageRepository, StoreUnavailable } from '../domain/message-repository'

export type LateReplyInput = {
  /** The message answered, as it was stored (its id and channel). */
  readonly to: Pick<Message, 'id' | 'channel'>
  readonly text: string
}

/**
 * Stores the server's reply to a message after the fact (a model's answer,
 * which must never hold up the send it answers), as its own `reply` message
 * with `reply_to`, reaching readers through the feed like any message.
 * Refused when its text is not a valid message, or when the message it
 * answers is gone (removed meanwhile, evicted, cleared): never a reply to
 * nothing.
 */
export const replyLater = (deps: { readonly messages: Pick<MessageRepository, 'appendReply'>; readonly clock: Clock; readonly maxMessageLength: number }) => {
  const text = messageText(deps.maxMessageLength)
  return (input: LateReplyInput): TE.TaskEither<InvalidField | StoreUnavailable | MessageNotFound, Message> =>
    async () => {
      const body = text(input.text)
      if (E.isLeft(body)) return body
      return deps.messages.appendReply({ channel: input.to.channel, replyTo: input.to.id, playerName: SERVER_NAME, text: body.right, sentAt: deps.clock.now() })()
    }
}
