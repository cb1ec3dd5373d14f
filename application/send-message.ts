import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import type { AutoReply } from '../domain/auto-reply'
import type { Clock } from '../domain/clock'
import type { ContentPolicy, PolicyRefusal } from '../domain/content-policy'
import type * as O from 'fp-ts/Option'
import { channelOrDefault, messageText, SERVER_NAME, senderName, type ChannelName, type InvalidField, type MessageText, type PlayerName } from '../domain/message'
import type { AppendRequest, ChannelLimitReached, Conversation, MessageRepository, ReplyDraft, StoreUnavailable } from '../domain/message-repository'
import type { RuleReplies } from './reply-by-rules'

export type SendInput = {
  readonly playerName: string
  readonly message: string
  readonly channel?: string
  readonly userId?: number
}

export type SendError = InvalidField | PolicyRefusal | StoreUnavailable | ChannelLimitReached

export type SendDeps = {
  readonly messages: Pick<MessageRepository, 'append'>
  readonly clock: Clock
  readonly autoReply: AutoReply
  readonly maxMessageLength: number
  /**
   * Judges the valid message before it is stored: a refusal stores nothing and uses no id; the
   * text it passes on (possibly rewritten) is what is stored. None: everything valid is stored.
   * The automatic reply is the server's own text and is not judged.
   */
  readonly policy?: ContentPolicy
  /** Replies by rule (AUTO_REPLY_RULES), over `autoReply`, which they fall back to; absent: `autoReply` alone, at once. */
  readonly replies?: RuleReplies
}

/**
 * Stores a player's message and the automatic reply to it, together.
 *
 * Written as plain checks rather than an fp-ts pipeline: this is the hottest
 * path of the server, and the pipeline's intermediate objects and closures
 * cost a measurable share of a send (see ARCHITECTURE.md, "Performance").
 */
export const sendMessage = (deps: SendDeps) => {
  const text = messageText(deps.maxMessageLength)
  return (input: SendInput): TE.TaskEither<SendError, Conversation> => {
    const player = senderName(input.playerName)
    if (E.isLeft(player)) return async () => player
    const body = text(input.message)
    if (E.isLeft(body)) return async () => body
    const channel = channelOrDefault(input.channel)
    if (E.isLeft(channel)) return async () => channel
    let stored = body.right
    if (deps.policy !== undefined) {
      const judged = deps.policy({ playerName: player.right, text: body.right, channel: channel.right })
      if (E.isLeft(judged)) return async () => judged
      stored = judged.right
    }
    const replies = deps.replies
    if (replies === undefined) return deps.messages.append(conversationOf(deps.autoReply(player.right), channel.right, player.right, stored, deps.clock.now(), input.userId))
    // A rule may have a cooldown to take first: the reply is chosen before the message and it are stored together.
    const chosen = { channel: channel.right, player: player.right, stored }
    return async () => {
      const replyText = await replies({ playerName: chosen.player, text: chosen.stored, channel: chosen.channel, userId: input.userId })
      return deps.messages.append(conversationOf(replyText, chosen.channel, chosen.player, chosen.stored, deps.clock.now(), input.userId))()
    }
  }
}

const conversationOf = (replyText: O.Option<MessageText>, channel: ChannelName, playerName: PlayerName, text: MessageText, sentAt: number, userId: number | undefined): AppendRequest => {
  const reply: ReplyDraft | undefined = replyText._tag === 'Some' ? { playerName: SERVER_NAME, text: replyText.value } : undefined
  return { draft: { channel, playerName, text, sentAt, userId }, reply }
}
