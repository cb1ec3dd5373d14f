import * as E from 'fp-ts/Either'
import type { ContentPolicy } from '../domain/content-policy'
import type { Message } from '../domain/message'
import type { ReplyModel } from '../domain/reply-model'
import type { LateReplyInput, replyLater } from './reply-later'

/*
 * A model's reply, after the send: the send answers at once (with the rule
 * reply, AUTO_REPLY, or none), and the model is asked afterwards; what it
 * writes is stored as a reply of its own (`reply_to` the player's message),
 * which every reader hears of through the feed like any message. The model
 * never delays, fails or changes a send: a failure, a timeout, a reply the
 * content policy refuses, or a message removed before the model answered is
 * counted and logged, nothing more.
 */

export type ModelReplyOutcome =
  | { readonly _tag: 'Replied'; readonly to: Message; readonly reply: Message }
  | { readonly _tag: 'Failed'; readonly to: Message; readonly reason: string }

export type ModelRepliesDeps = {
  readonly model: ReplyModel
  readonly replyLater: ReturnType<typeof replyLater>
  readonly maxMessageLength: number
  /** The server's content policy: a model's text is judged as a player's is, and a refused one is not stored. */
  readonly policy?: ContentPolicy
  /**
   * At most this many model calls at once: a message sent while they are all
   * busy gets no model reply (counted), so a flood of sends cannot queue an
   * unbounded number of calls to a slow model.
   */
  readonly maxInFlight: number
  readonly onOutcome?: (outcome: ModelReplyOutcome) => void
}

export type ModelReplies = {
  /** Asks the model about a stored player's message, in the background; returns at once. */
  readonly after: (message: Message) => void
  /** Resolves once every call under way has settled (at shutdown). */
  readonly settled: () => Promise<void>
}

export const modelReplies = (deps: ModelRepliesDeps): ModelReplies => {
  const inFlight = new Set<Promise<void>>()
  const tell = (outcome: ModelReplyOutcome): void => {
    try {
      deps.onOutcome?.(outcome)
    } catch {
      // A listener's mistake must not reach the send.
    }
  }
  const ask = async (message: Message): Promise<void> => {
    const written = await deps.model.reply({ playerName: message.playerName, text: message.text, channel: message.channel, ...(message.userId === undefined ? {} : { userId: message.userId }) })()
    if (E.isLeft(written)) return tell({ _tag: 'Failed', to: message, reason: written.left.reason })
    // Cut to the longest message, never inside a character: a model does not count as we do.
    const chars = Array.from(written.right)
    let text = chars.length <= deps.maxMessageLength ? written.right : chars.slice(0, deps.maxMessageLength).join('')
    if (deps.policy !== undefined) {
      const judged = deps.policy({ playerName: message.playerName, text: text as Message['text'], channel: message.channel })
      if (E.isLeft(judged)) return tell({ _tag: 'Failed', to: message, reason: `the content policy refused the model's reply (rule: ${judged.left.rule})` })
      text = judged.right
    }
    const input: LateReplyInput = { to: message, text }
    const stored = await deps.replyLater(input)()
    if (E.isRight(stored)) return tell({ _tag: 'Replied', to: message, reply: stored.right })
    const why = stored.left
    tell({
      _tag: 'Failed',
      to: message,
      reason:
        why._tag === 'MessageNotFound'
          ? 'the message was removed (or evicted) before the model answered'
          : why._tag === 'StoreUnavailable'
            ? `the store did not take the reply: ${why.detail}`
            : `the model's reply is not a message the server would store (${why._tag})`,
    })
  }
  return {
    after: (message) => {
      if (message.type !== 'player') return
      if (inFlight.size >= deps.maxInFlight) return tell({ _tag: 'Failed', to: message, reason: `${deps.maxInFlight} model calls are under way already` })
      const call = ask(message).catch((err: unknown) => tell({ _tag: 'Failed', to: message, reason: err instanceof Error ? err.message : String(err) }))
      inFlight.add(call)
      void call.then(() => inFlight.delete(call))
    },
    settled: async () => {
      await Promise.all([...inFlight])
    },
  }
}
