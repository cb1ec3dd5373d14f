import { createHmac } from 'node:crypto'
import type { Clock } from '../../domain/clock'
import type { Message } from '../../domain/message'
import { messageJsonOf } from '../../domain/message-json'
import type { Deliverer } from '../../domain/outbound'
import { outcomeOf, post, retryAfterMs } from './post'

/*
 * A webhook: each message POSTed as JSON `{ "event": "message.created",
 * "message": { ... } }` (the message as the API shows it), and a removal
 * entry, to a target that asks for them, as `{ "event": "message.removed",
 * "message": { ..., "type": "removal", "removes": [ids] } }`. Delivery is at
 * least once: a receiver keeps the ids it has seen (`X-Message-Id`, also the
 * message's `id`) and drops repeats.
 *
 * With a secret, every request is signed the way Stripe and Roblox sign
 * theirs: `X-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw
 * body>" with the secret>`. A receiver computes the same over the raw body
 * it received, compares in constant time, and refuses a `t` more than a few
 * minutes old (a replayed request).
 */

export type WebhookOptions = {
  /** The target's name, sent as `X-Webhook-Target`. */
  readonly name: string
  readonly url: string
  readonly secret?: string
  readonly timeoutMs: number
  readonly clock: Clock
  readonly userAgent: string
}

export const WEBHOOK_EVENT = 'message.created'
/** The event of a removal entry: the receiver takes the messages `removes` lists down wherever it showed them. */
export const WEBHOOK_REMOVAL_EVENT = 'message.removed'

/** The `X-Signature` of a body sent at `unixSeconds`. */
export const webhookSignature = (secret: string, unixSeconds: number, body: string): string =>
  `t=${unixSeconds},v1=${createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')}`

export const webhookBody = (message: Message): string =>
  `{"event":"${message.type === 'removal' ? WEBHOOK_REMOVAL_EVENT : WEBHOOK_EVENT}","message":${messageJsonOf(message)}}`

export const createWebhookDeliverer = (options: WebhookOptions): Deliverer => ({
  deliver: (message, signal) => async () => {
    const body = webhookBody(message)
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'user-agent': options.userAgent,
      'x-webhook-target': options.name,
      'x-message-id': String(message.id),
    }
    if (options.secret !== undefined) headers['x-signature'] = webhookSignature(options.secret, Math.floor(options.clock.now() / 1000), body)
    const answer = await post(options.url, body, headers, options.timeoutMs, signal)
    return outcomeOf(answer, 'failed' in answer ? undefined : retryAfterMs(answer.headers.get('retry-after'), options.clock.now()))
  },
})
