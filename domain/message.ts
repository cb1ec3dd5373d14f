import * as E from 'fp-ts/Either'

/**
 * The message entity and the value types it is made of. Smart constructors
 * return `Either` with a tagged error so that every adapter can explain a
 * refusal without knowing the rule behind it.
 */

declare const brand: unique symbol
type Brand<T, B extends string> = T & { readonly [brand]: B }

export type PlayerName = Brand<string, 'PlayerName'>
export type MessageText = Brand<string, 'MessageText'>
export type ChannelName = Brand<string, 'ChannelName'>

export type MessageId = number

export type MessageType = 'player' | 'reply'

export type Message = {
  readonly id: MessageId
  readonly channel: ChannelName
  readonly playerName: PlayerName
  readonly text: MessageText
  /** Milliseconds since the Unix epoch; never decreases in id order within a store. */
  readonly sentAt: number
  readonly type: MessageType
  /** For a reply: the id of the message it answers. */
  readonly replyTo?: MessageId
  /** The sender's Roblox UserId when the client gave it (names change, UserIds never do). */
  readonly userId?: number
}

/** What a use case hands to the repository: everything but the id, which the store assigns. */
export type MessageDraft = Omit<Message, 'id' | 'replyTo' | 'type'>

export const PLAYER_NAME_MAX = 50
export const CHANNEL_NAME_MAX = 32
export const DEFAULT_CHANNEL = 'global' as ChannelName
/** The name the automatic reply is sent under. */
export const SERVER_NAME = 'Server' as PlayerName

export type InvalidField =
  | { readonly _tag: 'Blank'; readonly field: Field }
  | { readonly _tag: 'TooLong'; readonly field: Field; readonly max: number }
  | { readonly _tag: 'ControlCharacters'; readonly field: Field }
  | { readonly _tag: 'BadCharacters'; readonly field: Field; readonly allowed: string }
  | { readonly _tag: 'Reserved'; readonly field: Field; readonly value: string }

export type Field = 'player_name' | 'message' | 'channel'

/** Length in characters (code points), as a player counts them, not UTF-16 units. */
export const codePointLength = (s: string): number => {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    // A high surrogate followed by a low one is one character.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) i++
    }
    n++
  }
  return n
}


const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
const BLANK = /^\s*$/u

/** Player names are trimmed; Roblox names are 3–20 characters but older accounts and other clients vary, so only the outer bound is enforced. */
export const playerName = (raw: string): E.Either<InvalidField, PlayerName> => {
  const name = raw.trim()
  if (name.length === 0) return E.left({ _tag: 'Blank', field: 'player_name' })
  if (CONTROL.test(name)) return E.left({ _tag: 'ControlCharacters', field: 'player_name' })
  // A UTF-16 length within the bound settles it without a scan.
  if (name.length > PLAYER_NAME_MAX && codePointLength(name) > PLAYER_NAME_MAX)
    return E.left({ _tag: 'TooLong', field: 'player_name', max: PLAYER_NAME_MAX })
  return E.right(name as PlayerName)
}

/** A sender may not write as the server: its name marks the automatic replies in every history. */
export const senderName = (raw: string): E.Either<InvalidField, PlayerName> => {
  const name = playerName(raw)
  if (E.isRight(name) && playerKey(name.right) === playerKey(SERVER_NAME)) return E.left({ _tag: 'Reserved', field: 'player_name', value: name.right })
  return name
}

/** Message text is stored verbatim (markup included); only blank text and text over the bound are refused. */
export const messageText = (max: number) => (raw: string): E.Either<InvalidField, MessageText> => {
  if (BLANK.test(raw)) return E.left({ _tag: 'Blank', field: 'message' })
  if (raw.length > max && codePointLength(raw) > max) return E.left({ _tag: 'TooLong', field: 'message', max })
  return E.right(raw as MessageText)
}

const CHANNEL = /^[A-Za-z0-9_-]{1,32}$/

export const channelName = (raw: string): E.Either<InvalidField, ChannelName> => {
  if (raw.length === 0) return E.left({ _tag: 'Blank', field: 'channel' })
  if (raw.length > CHANNEL_NAME_MAX) return E.left({ _tag: 'TooLong', field: 'channel', max: CHANNEL_NAME_MAX })
  if (!CHANNEL.test(raw)) return E.left({ _tag: 'BadCharacters', field: 'channel', allowed: 'A-Z a-z 0-9 _ -' })
  return E.right(raw as ChannelName)
}

/** Roblox names are case-insensitive: every lookup by name goes through this key. */
export const playerKey = (name: string): string => name.toLowerCase()

/** Without a channel a message belongs to the default one, as every message did in the seed. */
export const channelOrDefault = (raw: string | undefined): E.Either<InvalidField, ChannelName> =>
  raw === undefined ? E.right(DEFAULT_CHANNEL) : channelName(raw)
