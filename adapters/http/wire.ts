import type { Message } from '../../domain/message'
import type { Page } from '../../domain/message-repository'

/** A message as clients see it: the seed's field names, an ISO-8601 UTC timestamp with milliseconds. */
export type WireMessage = {
  readonly id: number
  readonly player_name: string
  readonly message: string
  readonly timestamp: string
  readonly type: 'player' | 'reply'
  readonly channel: string
  readonly reply_to?: number
  readonly user_id?: number
}

export const toWire = (m: Message): WireMessage => {
  const wire: { -readonly [K in keyof WireMessage]: WireMessage[K] } = {
    id: m.id,
    player_name: m.playerName,
    message: m.text,
    timestamp: new Date(m.sentAt).toISOString(),
    type: m.type,
    channel: m.channel,
  }
  if (m.replyTo !== undefined) wire.reply_to = m.replyTo
  if (m.userId !== undefined) wire.user_id = m.userId
  return wire
}

/** The fields every list answer carries, beside the seed's `success`, `count` and `messages`. */
export const pageFields = (page: Page) => ({
  count: page.messages.length,
  messages: page.messages.map(toWire),
  next_after: page.nextAfter,
  has_more: page.hasMore,
  gap: page.gap,
  epoch: page.epoch,
})
