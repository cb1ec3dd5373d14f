import { remove as withoutConfusables } from 'confusables'
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

/**
 * `player`: a player's message; `reply`: the server's answer to one; `removal`: an entry that takes
 * messages out of its channel's history (see `removes`).
 */
export type MessageType = 'player' | 'reply' | 'removal'

/**
 * An entry in a channel's history. A removal entry is one too, with an id of its own, so that a
 * reader following by cursor learns of a removal exactly once, in order: it comes from `Server`,
 * its text is empty, and `removes` lists the ids it took out.
 */
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
  /** For a removal entry: the ids it took out of the channel's history (messages and the replies to them), ascending. */
  readonly removes?: ReadonlyArray<MessageId>
}

/** What a use case hands to the repository: everything but the id, which the store assigns. */
export type MessageDraft = Omit<Message, 'id' | 'replyTo' | 'type' | 'removes'>

/** Whether the entry is a removal (see `Message`) rather than a message someone wrote. */
export const isRemoval = (m: Pick<Message, 'type'>): boolean => m.type === 'removal'

/** A removal entry's text: it says nothing itself, its `removes` does. */
export const REMOVAL_TEXT = '' as MessageText

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
  /** Zero-width, format, direction, variation, filler and other characters that show as nothing (player names only). */
  | { readonly _tag: 'InvisibleCharacters'; readonly field: Field }
  /** Private-use or unassigned code points: each device shows them differently, Roblox's fonts as icons (player names only). */
  | { readonly _tag: 'UnassignedCharacters'; readonly field: Field }
  /** More combining marks in a row than `max` ("zalgo"; player names only). */
  | { readonly _tag: 'TooManyCombiningMarks'; readonly field: Field; readonly max: number }
  /** A lone surrogate: not Unicode text, and no UTF-8 encoder can write it. */
  | { readonly _tag: 'MalformedText'; readonly field: Field }
  /** A list (a read's channels) names more than `max`. */
  | { readonly _tag: 'TooMany'; readonly field: Field; readonly max: number }
  /** One entry of a list (a read's channels) breaks the rule of its kind, `problem`. */
  | { readonly _tag: 'InvalidEntry'; readonly field: Field; readonly entry: string; readonly problem: InvalidField }

export type Field = 'player_name' | 'message' | 'channel' | 'channels'

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
/** In messages: C0 and C1 controls but tab, line feed and carriage return. */
const MESSAGE_CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/
/** Nothing to see: whitespace, format characters (Cf), default-ignorable code points (Hangul fillers, variation selectors…), the braille blank. */
const INVISIBLE_ONLY = /^[\s\p{Cf}\p{Default_Ignorable_Code_Point}\u2800]*$/u
/** What a name may not hold anywhere: format and direction controls (Cf), line and paragraph separators, default-ignorables, the braille blank. */
const INVISIBLE = /[\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}\u2800]/u
const UNASSIGNED = /[\p{Co}\p{Cn}]/u
/** The most combining marks a name may stack on one character: Vietnamese takes two, Tibetan and pointed Hebrew up to four. */
export const COMBINING_MARKS_MAX = 4
const MARK_RUN = new RegExp(`\\p{M}{${COMBINING_MARKS_MAX + 1}}`, 'u')
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/

type WellFormedString = string & { isWellFormed(): boolean }
/** False for a string holding a lone surrogate (`String.prototype.isWellFormed`, Node 20; native and much faster than a regex). */
const isWellFormed = (s: string): boolean => (s as WellFormedString).isWellFormed()

/** Why a non-ASCII name cannot be shown as a name, if it cannot. */
const unshowableName = (name: string): InvalidField | undefined => {
  if (!isWellFormed(name)) return { _tag: 'MalformedText', field: 'player_name' }
  if (INVISIBLE.test(name)) return { _tag: 'InvisibleCharacters', field: 'player_name' }
  if (UNASSIGNED.test(name)) return { _tag: 'UnassignedCharacters', field: 'player_name' }
  if (MARK_RUN.test(name)) return { _tag: 'TooManyCombiningMarks', field: 'player_name', max: COMBINING_MARKS_MAX }
  return undefined
}

/**
 * Player names are trimmed; Roblox names are 3–20 characters but older accounts and other clients vary, so only the outer bound is enforced.
 * A name is printed by games as it is, so it must show as what it is: no control, invisible, formatting, private-use or unassigned
 * characters, no lone surrogates, no stacks of combining marks. Any visible script is welcome (`Zoë`, `小明`).
 * The same rule serves sending and reading by name.
 */
export const playerName = (raw: string): E.Either<InvalidField, PlayerName> => {
  const name = raw.trim()
  if (name.length === 0) return E.left({ _tag: 'Blank', field: 'player_name' })
  // Printable ASCII, the usual Roblox name, needs none of the checks below.
  const ascii = PRINTABLE_ASCII.test(name)
  if (!ascii && CONTROL.test(name)) return E.left({ _tag: 'ControlCharacters', field: 'player_name' })
  // A UTF-16 length within the bound settles it without a scan.
  if (name.length > PLAYER_NAME_MAX && codePointLength(name) > PLAYER_NAME_MAX)
    return E.left({ _tag: 'TooLong', field: 'player_name', max: PLAYER_NAME_MAX })
  if (!ascii) {
    const unshowable = unshowableName(name)
    if (unshowable !== undefined) return E.left(unshowable)
  }
  return E.right(name as PlayerName)
}

const MARKS_AND_IGNORABLES = /[\p{M}\p{Default_Ignorable_Code_Point}]/gu

/**
 * What a name looks like, reduced to lower-case ASCII where it can be: compatibility forms folded (NFKC: fullwidth,
 * mathematical, circled letters), accents and other combining marks and ignorables dropped, look-alikes from other
 * scripts (Cyrillic `е`, Greek `ν`, Cherokee `Ꮪ`, small capitals…) replaced by the letter they imitate, case folded.
 * Look-alikes are replaced twice, around the case folding, as some capitals are listed only through their small letter (`Ә`, `Ʂ`).
 */
export const nameSkeleton = (name: string): string => {
  const bare = name.normalize('NFKC').normalize('NFD').replace(MARKS_AND_IGNORABLES, '')
  return withoutConfusables(withoutConfusables(bare).toLowerCase()).toLowerCase()
}

const SERVER_KEY = SERVER_NAME.toLowerCase()
const SERVER_SKELETON = nameSkeleton(SERVER_NAME)

/** True when `name` reads as the server's name: exactly, in any case, or through look-alike characters. */
export const looksLikeServerName = (name: string): boolean =>
  // senderName runs on every send: a printable-ASCII name has no look-alikes to map, its lower case decides.
  PRINTABLE_ASCII.test(name) ? name.length === SERVER_NAME.length && name.toLowerCase() === SERVER_KEY : nameSkeleton(name) === SERVER_SKELETON

/**
 * A sender may not write as the server: its name marks the automatic replies in every history. Names that merely
 * contain the word (`Servant`, `Observer`, `server_bot`, `Servers`) are fine: they do not read as the server's name.
 * The name is stored as given (trimmed), not as its skeleton.
 */
export const senderName = (raw: string): E.Either<InvalidField, PlayerName> => {
  const name = playerName(raw)
  if (E.isRight(name) && looksLikeServerName(name.right)) return E.left({ _tag: 'Reserved', field: 'player_name', value: name.right })
  return name
}

/**
 * Message text is stored verbatim (markup, emoji sequences, right-to-left text included). Refused: text that shows as
 * nothing (whitespace, format and default-ignorable characters, the braille blank only), text over the bound, control
 * characters other than tab, line feed and carriage return (each would travel as a six-byte JSON escape), lone surrogates.
 */
export const messageText = (max: number) => (raw: string): E.Either<InvalidField, MessageText> => {
  if (INVISIBLE_ONLY.test(raw)) return E.left({ _tag: 'Blank', field: 'message' })
  if (raw.length > max && codePointLength(raw) > max) return E.left({ _tag: 'TooLong', field: 'message', max })
  if (MESSAGE_CONTROL.test(raw)) return E.left({ _tag: 'ControlCharacters', field: 'message' })
  if (!isWellFormed(raw)) return E.left({ _tag: 'MalformedText', field: 'message' })
  return E.right(raw as MessageText)
}

const CHANNEL = /^[A-Za-z0-9_-]{1,32}$/

export const channelName = (raw: string): E.Either<InvalidField, ChannelName> => {
  if (raw.length === 0) return E.left({ _tag: 'Blank', field: 'channel' })
  if (raw.length > CHANNEL_NAME_MAX) return E.left({ _tag: 'TooLong', field: 'channel', max: CHANNEL_NAME_MAX })
  if (!CHANNEL.test(raw)) return E.left({ _tag: 'BadCharacters', field: 'channel', allowed: 'A-Z a-z 0-9 _ -' })
  return E.right(raw as ChannelName)
}

/**
 * Roblox names are case-insensitive: every lookup by name goes through this key. Canonically equivalent spellings
 * (`Zoë` as one character or as `e` and a combining diaeresis) are one name, as Unicode defines them to be the same
 * text (NFC); names that only look alike (a Cyrillic `о`, fullwidth letters) are other names here, and the same to a
 * mute (`muteKey`, domain/mutes.ts). Printable ASCII, every Roblox name, has one spelling: its lower case.
 */
export const playerKey = (name: string): string => (PRINTABLE_ASCII.test(name) ? name.toLowerCase() : name.normalize('NFC').toLowerCase())

/** Whether a name is printable ASCII, whose skeleton is its lower case (no ASCII character has a look-alike mapped). */
export const isPrintableAscii = (name: string): boolean => PRINTABLE_ASCII.test(name)

/**
 * The most channels one read may follow under one cursor: a game server
 * follows a handful (everyone, its team, its lobby), and every channel a read
 * names is a little more work for each read and each held poll.
 */
export const CHANNELS_PER_READ_MAX = 10

/**
 * The channels one read follows: 1 to CHANNELS_PER_READ_MAX channel names.
 * A name given twice is read once, and the names are sorted: the same
 * channels in any order are the same read (and readers share it).
 */
export const channelList = (raw: ReadonlyArray<string>): E.Either<InvalidField, ReadonlyArray<ChannelName>> => {
  if (raw.length === 0) return E.left({ _tag: 'Blank', field: 'channels' })
  if (raw.length > CHANNELS_PER_READ_MAX) return E.left({ _tag: 'TooMany', field: 'channels', max: CHANNELS_PER_READ_MAX })
  const names: ChannelName[] = []
  for (const entry of raw) {
    const name = channelName(entry)
    if (E.isLeft(name)) return E.left({ _tag: 'InvalidEntry', field: 'channels', entry, problem: name.left })
    if (!names.includes(name.right)) names.push(name.right)
  }
  return E.right(names.sort())
}

/** Without a channel a message belongs to the default one, as every message did in the seed. */
export const channelOrDefault = (raw: string | undefined): E.Either<InvalidField, ChannelName> =>
  raw === undefined ? E.right(DEFAULT_CHANNEL) : channelName(raw)
