import * as E from 'fp-ts/Either'
import type { ReplyModel } from '../../domain/reply-model'
import { post } from './post'

/*
 * An OpenAI-compatible chat completions endpoint as the ReplyModel port:
 * `POST <url>` with `{ model, messages: [system, user], max_tokens }` and
 * `Authorization: Bearer <key>`, the reply read from
 * `choices[0].message.content`. The user message is "<player>: <text>",
 * so the model can address the player; nothing else of the game is sent.
 */

export type ChatModelOptions = {
  /** The full endpoint, e.g. https://api.openai.com/v1/chat/completions or http://localhost:11434/v1/chat/completions. */
  readonly url: string
  readonly model: string
  readonly apiKey?: string
  readonly systemPrompt: string
  readonly timeoutMs: number
  /** An upper bound on the reply's length asked of the model, in tokens. */
  readonly maxTokens: number
  readonly userAgent: string
}

export const createChatModel = (options: ChatModelOptions): ReplyModel => ({
  reply: (context) => async () => {
    const body = JSON.stringify({
      model: options.model,
      messages: [
        { role: 'system', content: options.systemPrompt },
        { role: 'user', content: `${context.playerName}: ${context.text}` },
      ],
      max_tokens: options.maxTokens,
    })
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': options.userAgent }
    if (options.apiKey !== undefined) headers.authorization = `Bearer ${options.apiKey}`
    const answer = await post(options.url, body, headers, options.timeoutMs)
    if ('failed' in answer) return E.left({ _tag: 'ModelFailed', reason: answer.failed })
    // The status alone: an endpoint's error body may quote the prompt, the player's text, and this reason is logged.
    if (answer.status < 200 || answer.status >= 300) return E.left({ _tag: 'ModelFailed', reason: `answered ${answer.status}` })
    let content: unknown
    try {
      content = (JSON.parse(answer.body) as { choices?: Array<{ message?: { content?: unknown } }> }).choices?.[0]?.message?.content
    } catch {
      return E.left({ _tag: 'ModelFailed', reason: 'the answer is not JSON' })
    }
    if (typeof content !== 'string' || content.trim() === '') return E.left({ _tag: 'ModelFailed', reason: 'the answer has no reply (choices[0].message.content)' })
    return E.right(content.trim())
  },
})
