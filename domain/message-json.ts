import type { Message } from './message'

/*
 * A message as every client sees it, over HTTP and on every outbound target
 * (webhooks, Discord, Roblox Open Cloud): the seed's field names and an
 * ISO-8601 UTC timestamp with milliseconds. One shape, written here once.
 */

/**
 * A message as clients see it: the seed's field names, an ISO-8601 UTC
 * timestamp with milliseconds. A removal entry has every one of them too
 * (from `Server`, an empty `message`), so a client that reads them on every
 * entry never meets a missing field, and `removes`, the ids it took out.
 */
export type WireMessage = {
  readonly id: number
  readonly player_name: string
  readonly message: string
  readonly timestamp: string
  readonly type: 'player' | 'reply' | 'removal'
  readonly channel: string
  readonly reply_to?: number
  readonly user_id?: number
  readonly removes?: ReadonlyArray<number>
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
  if (m.removes !== undefined) wire.removes = m.removes
  return wire
}

/**
 * A message's JSON, written out field by field: the text
 * `JSON.stringify(toWire(m))` gives (a test holds them equal) without the
 * intermediate object.
 */
export const messageJsonOf = (m: Message, timestamp: string = new Date(m.sentAt).toISOString()): string =>
  `{"id":${m.id},"player_name":${JSON.stringify(m.playerName)},"message":${JSON.stringify(m.text)},` +
  `"timestamp":"${timestamp}","type":"${m.type}","channel":${JSON.stringify(m.channel)}` +
  `${m.replyTo === undefined ? '' : `,"reply_to":${m.replyTo}`}${m.userId === undefined ? '' : `,"user_id":${m.userId}`}` +
  `${m.removes === undefined ? '' : `,"removes":[${m.removes.join(',')}]`}}`

