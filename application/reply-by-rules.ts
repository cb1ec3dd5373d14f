import * as E from 'fp-ts/Either'
import * as O from 'fp-ts/Option'
import type { AutoReply } from '../domain/auto-reply'
import { playerKey, type MessageText } from '../domain/message'
import { playerLimitKey, type RateLimiter } from '../domain/rate-limit'
import { matchingRules, renderReply, type ReplyContext, type ReplyRule } from '../domain/reply-rules'

/** The reply a message gets: by the first rule that matches and is not cooling down for its sender, else by the fallback. */
export type RuleReplies = (context: ReplyContext) => Promise<O.Option<MessageText>>

export type RuleRepliesDeps = {
  /** The rules now (a reload swaps them: each send reads the current list once). */
  readonly rules: () => ReadonlyArray<ReplyRule>
  /**
   * A rule's cooldown for a player is a bucket of one token refilled over the
   * cooldown, on the rate limiter's port: with the Redis store it holds
   * across processes. A limiter that fails lets the rule reply.
   */
  readonly cooldowns: RateLimiter
  /** AUTO_REPLY: the reply when no rule replies. */
  readonly fallback: AutoReply
  readonly maxLength: number
}

export const replyByRules =
  (deps: RuleRepliesDeps): RuleReplies =>
  async (context) => {
    for (const { rule, captures } of matchingRules(deps.rules(), context)) {
      if (rule.cooldownMs > 0) {
        const key = `reply:${rule.name}:${playerLimitKey(context.userId, playerKey(context.playerName))}`
        const taken = await deps.cooldowns.take(key, { limit: 1, windowMs: rule.cooldownMs })()
        // Cooling down for this player: the next rule may still reply.
        if (E.isRight(taken) && !taken.right.allowed) continue
      }
      return O.some(renderReply(rule.template, context, captures, deps.maxLength))
    }
    return deps.fallback(context.playerName)
  }
