import type { Clock } from '../../domain/clock'
import { CHANNEL_NAME_MAX, type Message } from '../../domain/message'
import { messageJsonOf } from '../../domain/message-json'
import type { Deliverer } from '../../domain/outbound'
import { outcomeOf, post, retryAfterMs, type Answer } from './post'

/*
 * Push into a game's live servers through Roblox Open Cloud: each message
 * published into the experience's MessagingService, on a topic per channel
 * (`<topicPrefix><channel>`), where every live server that subscribed to it
 * (`MessagingService:SubscribeAsync`) hears it within a second or two, no
 * polling. Open Cloud only publishes: nothing comes back, and servers that
 * are not running miss it (history stays here).
 *
 * `POST <apiBase>/cloud/v2/universes/<universeId>:publishMessage` with
 * `x-api-key` (a key with the `universe-messaging-service:publish` scope
 * for this universe) and `{ "topic", "message" }`. The message is the
 * message's JSON as the API shows it; MessagingService takes at most 1 KB,
 * so a message whose JSON is longer is published as a notice,
 * `{"id":…,"channel":"…","truncated":true}`, and servers fetch it by id
 * (`GET /api/messages?after=<id - 1>&limit=1&channel=…`). Open Cloud's limits
 * are read from its answers: a 429's `Retry-After` (or `x-ratelimit-reset`)
 * is waited for, and so is a spent quota (`x-ratelimit-remaining: 0`).
 */

export type OpenCloudOptions = {
  readonly universeId: string
  readonly apiKey: string
  /** Begins every topic; a channel's name follows. Topics are 1–80 characters. */
  readonly topicPrefix: string
  /** https://apis.roblox.com, or a stand-in for tests. */
  readonly apiBase: string
  readonly timeoutMs: number
  readonly clock: Clock
  readonly userAgent: string
}

/** MessagingService's limit on one message, in bytes. */
export const MESSAGING_SERVICE_MESSAGE_MAX = 1024
export const TOPIC_MAX = 80
/** The longest topic prefix: with the longest channel name after it, a topic is still within TOPIC_MAX. */
export const TOPIC_PREFIX_MAX = TOPIC_MAX - CHANNEL_NAME_MAX

/** What is published for a message: its JSON, or the notice that stands for it when the JSON does not fit. */
export const publishedMessage = (message: Message): string => {
  const json = messageJsonOf(message)
  if (Buffer.byteLength(json) <= MESSAGING_SERVICE_MESSAGE_MAX) return json
  return `{"id":${message.id},"channel":${JSON.stringify(message.channel)},"truncated":true}`
}

export const publishUrl = (apiBase: string, universeId: string): string => `${apiBase.replace(/\/+$/, '')}/cloud/v2/universes/${encodeURIComponent(universeId)}:publishMessage`

/** Seconds until Open Cloud's quota refills, from `x-ratelimit-reset`, as milliseconds. */
const resetMs = (answer: Answer): number | undefined => {
  const reset = Number(answer.headers.get('x-ratelimit-reset'))
  return Number.isFinite(reset) && reset > 0 ? Math.ceil(reset * 1000) : undefined
}

export const createOpenCloudDeliverer = (options: OpenCloudOptions): Deliverer => {
  const url = publishUrl(options.apiBase, options.universeId)
  return {
    deliver: (message, signal) => async () => {
      const body = JSON.stringify({ topic: `${options.topicPrefix}${message.channel}`, message: publishedMessage(message) })
      const answer = await post(url, body, { 'content-type': 'application/json', 'x-api-key': options.apiKey, 'user-agent': options.userAgent }, options.timeoutMs, signal)
      if ('failed' in answer) return outcomeOf(answer)
      const spent = answer.headers.get('x-ratelimit-remaining') === '0' ? resetMs(answer) : undefined
      const asked = retryAfterMs(answer.headers.get('retry-after'), options.clock.now()) ?? (answer.status === 429 ? resetMs(answer) : undefined)
      return outcomeOf(answer, asked, spent)
    },
  }
}
