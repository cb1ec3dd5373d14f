import * as E from 'fp-ts/Either'
import * as t from 'io-ts'

/*
 * io-ts codecs for everything a client sends. Each codec's name is written
 * as the phrase an error message needs ("a positive integer"), so that one
 * reporter can say which field is wrong and what it should be.
 */

/** A JSON Schema (2020-12, as OpenAPI 3.1 uses), as plain data. */
export type JsonSchema = { readonly [keyword: string]: unknown }

/**
 * The JSON Schema of each leaf codec, written beside it: the API description
 * (openapi.ts) derives every request schema from the codecs through
 * `schemaOf`, so what it documents is what the server decodes.
 */
const schemas = new WeakMap<t.Mixed, JsonSchema>()

const documented = <C extends t.Mixed>(codec: C, schema: JsonSchema): C => {
  schemas.set(codec, schema)
  return codec
}

/**
 * The JSON Schema of a codec made of `t.exact`, `t.type`, `t.partial`,
 * `t.intersection` and the documented leaves above; a codec it cannot
 * describe is a mistake in this file, and throws.
 */
export const schemaOf = (codec: t.Mixed): JsonSchema => {
  const leaf = schemas.get(codec)
  if (leaf !== undefined) return leaf
  if (codec instanceof t.ExactType) return schemaOf(codec.type as t.Mixed)
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) {
    const props = codec.props as Record<string, t.Mixed>
    const properties = Object.fromEntries(Object.entries(props).map(([key, prop]) => [key, schemaOf(prop)]))
    return codec instanceof t.InterfaceType ? { type: 'object', properties, required: Object.keys(props) } : { type: 'object', properties }
  }
  if (codec instanceof t.IntersectionType) {
    const parts = (codec.types as t.Mixed[]).map(schemaOf)
    return {
      type: 'object',
      properties: Object.assign({}, ...parts.map((p) => p.properties)),
      required: parts.flatMap((p) => (p.required as string[] | undefined) ?? []),
    }
  }
  throw new Error(`codecs.ts: no JSON Schema for the codec ${codec.name}`)
}

/** The fields of an object codec (`t.exact(t.partial(...))` and the like), each with its codec: a query string's parameters. */
export const fieldsOf = (codec: t.Mixed): ReadonlyArray<readonly [string, t.Mixed]> => {
  if (codec instanceof t.ExactType) return fieldsOf(codec.type as t.Mixed)
  if (codec instanceof t.InterfaceType || codec instanceof t.PartialType) return Object.entries(codec.props as Record<string, t.Mixed>)
  if (codec instanceof t.IntersectionType) return (codec.types as t.Mixed[]).flatMap(fieldsOf)
  throw new Error(`codecs.ts: ${codec.name} is not an object codec`)
}

const fromString = <A>(name: string, parse: (s: string) => A | undefined, schema: JsonSchema): t.Type<A, string, unknown> =>
  documented(
    new t.Type<A, string, unknown>(
      name,
      (u): u is A => false,
      (u, c) => {
        if (typeof u !== 'string') return t.failure(u, c)
        const parsed = parse(u)
        return parsed === undefined ? t.failure(u, c) : t.success(parsed)
      },
      String as (a: A) => string,
    ),
    schema,
  )

const DIGITS = /^[0-9]{1,16}$/

const safeIntegerAtLeast = (min: number) => (s: string): number | undefined => {
  if (!DIGITS.test(s)) return undefined
  const n = Number(s)
  return Number.isSafeInteger(n) && n >= min ? n : undefined
}

/** A positive integer given as a string; huge values are still integers and are capped by the use case. */
export const PositiveIntFromString = fromString(
  'a positive integer',
  (s) => (/^[1-9][0-9]*$/.test(s) ? Math.min(Number(s), Number.MAX_SAFE_INTEGER) : undefined),
  { type: 'integer', minimum: 1 },
)

export const MessageIdFromString = fromString('a message id (a whole number, 0 or more)', safeIntegerAtLeast(0), {
  type: 'integer',
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
})

/**
 * An ISO-8601 instant: a date, optionally a time (seconds and fractions
 * optional) and an offset. Without an offset it is read as UTC, which is
 * what the seed wrote and what a game server far from us means.
 */
const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/

export const parseIsoInstant = (s: string): number | undefined => {
  const m = ISO_INSTANT.exec(s)
  if (m === null) return undefined
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', zone = 'Z'] = m
  const ms = Math.floor(Number(`0.${frac || '0'}`) * 1000)
  // Date.UTC reads years 0–99 as 1900–1999; setting the full year afterwards keeps year 42 as 42.
  const check = new Date(Date.UTC(2000, 0, 1, Number(h), Number(mi), Number(sec), ms))
  check.setUTCFullYear(Number(y), Number(mo) - 1, Number(d))
  const local = check.getTime()
  // Date.UTC rolls over (February 30th becomes March 2nd); a real date survives the round trip.
  if (
    check.getUTCFullYear() !== Number(y) ||
    check.getUTCMonth() !== Number(mo) - 1 ||
    check.getUTCDate() !== Number(d) ||
    Number(h) > 23 ||
    Number(mi) > 59 ||
    Number(sec) > 59
  )
    return undefined
  if (zone === 'Z' || zone === 'z') return local
  const sign = zone.startsWith('-') ? -1 : 1
  const digits = zone.slice(1).replace(':', '')
  const offsetHours = Number(digits.slice(0, 2))
  const offsetMinutes = Number(digits.slice(2) || '0')
  if (offsetHours > 23 || offsetMinutes > 59) return undefined
  const offset = (offsetHours * 60 + offsetMinutes) * 60_000
  return local - sign * offset
}

export const InstantFromString = fromString('an ISO-8601 instant such as 2025-11-22T10:00:00.000Z', parseIsoInstant, {
  type: 'string',
  description: 'an ISO-8601 date or instant; without an offset it is UTC',
  examples: ['2025-11-22T10:00:00.000Z', '2025-11-22'],
})

export const secondsFromString = (max: number) =>
  fromString(
    `a number of seconds from 0 to ${max}`,
    (s) => {
      if (!/^[0-9]+(\.[0-9]+)?$/.test(s)) return undefined
      const n = Number(s)
      return n <= max ? n : undefined
    },
    { type: 'number', minimum: 0, maximum: max },
  )

export const Epoch = fromString('an epoch as given in a list answer', (s) => (/^[A-Za-z0-9_-]{1,64}$/.test(s) ? s : undefined), {
  type: 'string',
  pattern: '^[A-Za-z0-9_-]{1,64}$',
})

const NonEmptyText = fromString('a string', (s) => s, { type: 'string' })

/** A Roblox UserId: a positive integer that JSON (and Roblox's JSONDecode) carries exactly. */
export const UserId = documented(
  new t.Type<number, number, unknown>(
    'a positive integer (a Roblox UserId)',
    (u): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u > 0,
    (u, c) => (typeof u === 'number' && Number.isSafeInteger(u) && u > 0 ? t.success(u) : t.failure(u, c)),
    (a) => a,
  ),
  { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
)

const Text = documented(new t.Type<string, string, unknown>('a string', t.string.is, t.string.validate, t.identity), { type: 'string' })

export const SendBody = t.exact(
  t.intersection([
    t.type({ player_name: Text, message: Text }),
    t.partial({ channel: Text, user_id: UserId }),
  ]),
)
export type SendBody = t.TypeOf<typeof SendBody>

const isUserId = (u: unknown): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u > 0

/**
 * `SendBody` decoded by hand, for the one request every game server makes:
 * io-ts builds a context and an intermediate object per field, a share of a
 * send's CPU the benchmark can see. It gives the same result and the same
 * error text as `decode(SendBody)` (a property test holds them equal on
 * generated bodies); the codec stays the statement of what a body is.
 */
export const decodeSendBody = (raw: { readonly [key: string]: unknown }): E.Either<string, SendBody> => {
  const player = raw.player_name
  if (typeof player !== 'string') return E.left(player === undefined ? 'player_name is required and must be a string' : 'player_name must be a string')
  const message = raw.message
  if (typeof message !== 'string') return E.left(message === undefined ? 'message is required and must be a string' : 'message must be a string')
  const channel = raw.channel
  if (channel !== undefined && typeof channel !== 'string') return E.left('channel must be a string')
  const userId = raw.user_id
  if (userId !== undefined && !isUserId(userId)) return E.left(`user_id must be ${UserId.name}`)
  const body: { player_name: string; message: string; channel?: string; user_id?: number } = { player_name: player, message }
  if (channel !== undefined) body.channel = channel
  if (userId !== undefined) body.user_id = userId
  return E.right(body)
}

export const listParamsCodec = (longPollMaxSeconds: number) =>
  t.exact(
    t.partial({
      channel: NonEmptyText,
      channels: NonEmptyText,
      limit: PositiveIntFromString,
      since: InstantFromString,
      after: MessageIdFromString,
      epoch: Epoch,
      wait: secondsFromString(longPollMaxSeconds),
    }),
  )
export type ListParams = t.TypeOf<ReturnType<typeof listParamsCodec>>

export const StreamQuery = t.exact(
  t.partial({ channel: NonEmptyText, channels: NonEmptyText, player: NonEmptyText, after: MessageIdFromString, epoch: Epoch }),
)

/** The channels a read asks for, as its query named them: one channel, or a list (which the use case checks). */
export type ChannelsParam = { readonly channel?: string; readonly channels?: ReadonlyArray<string> }

const CHANNEL_AND_CHANNELS = 'channel and channels cannot both be given: name every channel in channels (channels=global,lobby)'

/**
 * `channels=a,b,c` split at its commas, or `channel` as it is. A query that
 * gives both is refused rather than guessed at: which one it meant is the
 * client's to say.
 */
export const channelsParam = (query: { readonly channel?: string; readonly channels?: string }): E.Either<string, ChannelsParam> => {
  if (query.channels === undefined) return E.right({ channel: query.channel, channels: undefined })
  if (query.channel !== undefined) return E.left(CHANNEL_AND_CHANNELS)
  return E.right({ channel: undefined, channels: query.channels.split(',') })
}

/** The header EventSource sends when it reconnects: the id of the last event it received. */
export const LastEventId = MessageIdFromString

export const ClearQuery = t.exact(t.partial({ channel: NonEmptyText }))

/** A message's id in a path, as DELETE /api/messages/<id> takes it: a positive integer, written plainly. */
export const parseMessageIdParam = (segment: string): number | undefined => {
  if (!/^[1-9][0-9]{0,15}$/.test(segment)) return undefined
  const n = Number(segment)
  return Number.isSafeInteger(n) ? n : undefined
}

const wholeNumberIn = (min: number, max: number) =>
  new t.Type<number, number, unknown>(
    `a whole number from ${min} to ${max}`,
    (u): u is number => typeof u === 'number' && Number.isSafeInteger(u) && u >= min && u <= max,
    (u, c) => (typeof u === 'number' && Number.isSafeInteger(u) && u >= min && u <= max ? t.success(u) : t.failure(u, c)),
    (a) => a,
  )

/** The most characters a mute's reason may hold: it is said to the muted player in every refusal. */
export const MUTE_REASON_MAX = 200

const CONTROL_CHARACTERS = /\p{Cc}/u

/** A mute's reason: trimmed, 1–200 characters, no control characters, well-formed. */
const Reason = new t.Type<string, string, unknown>(
  `a text of 1–${MUTE_REASON_MAX} characters without control characters`,
  (u): u is string => typeof u === 'string',
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c)
    const reason = u.trim()
    const length = [...reason].length
    const wellFormed = (reason as string & { isWellFormed(): boolean }).isWellFormed()
    return length >= 1 && length <= MUTE_REASON_MAX && wellFormed && !CONTROL_CHARACTERS.test(reason) ? t.success(reason) : t.failure(u, c)
  },
  t.identity,
)

/** POST /api/players/<name>/mute: for how long, why, and the player's Roblox user id when known. */
export const muteBodyCodec = (maxSeconds: number) =>
  t.exact(t.intersection([t.type({ seconds: wholeNumberIn(1, maxSeconds), reason: Reason }), t.partial({ user_id: UserId })]))

/** POST /api/players/<name>/erase: optionally the player's Roblox user id, whose messages under any name go too. */
export const EraseBody = t.exact(t.partial({ user_id: UserId }))

/** GET /api/admin/audit: how many, and the id to page back from. */
export const AuditQuery = t.exact(t.partial({ limit: PositiveIntFromString, before: PositiveIntFromString }))

/**
 * The first failure as one sentence that names the field: a client fixes
 * one thing at a time, and a stable text is easy to test and to read.
 */
export const describeFailure = (errors: t.Errors): string => {
  const first = errors[0]
  if (first === undefined) return 'the request is invalid'
  const keys = first.context.map((entry) => entry.key).filter((key) => key !== '' && !/^\d+$/.test(key))
  const field = keys.length > 0 ? keys.join('.') : 'the request'
  const expected = first.context[first.context.length - 1]?.type.name ?? 'valid'
  if (first.value === undefined) return `${field} is required and must be ${expected}`
  return `${field} must be ${expected}`
}

export const decode = <A, O>(codec: t.Type<A, O, unknown>) => (input: unknown): E.Either<string, A> => {
  // Plain code rather than pipe + mapLeft: decoding runs on every request.
  const decoded = codec.decode(input)
  return E.isLeft(decoded) ? E.left(describeFailure(decoded.left)) : decoded
}
