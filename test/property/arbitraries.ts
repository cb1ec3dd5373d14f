import { randomUUID } from 'node:crypto'
import fc from 'fast-check'
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib'
import { looksLikeServer } from './names'
import { bytesOf, type WireRequest } from './wire'

/*
 * fast-check arbitraries for requests to the messaging server. A generated
 * request is plain data (what fast-check prints as the counterexample); `toWire`
 * turns it into the bytes sent.
 */

export type Compression = 'none' | 'gzip' | 'deflate' | 'br'

export type BodySpec = {
  /** JSON (or not) text, before any corruption. */
  readonly text: string
  /** A UTF-8 byte order mark first. */
  readonly bom: boolean
  /** Bytes that are not valid UTF-8, put in place of the first `\u0001MARK\u0001` in `text` (inside a string literal). */
  readonly badBytes?: ReadonlyArray<number>
  readonly compression: Compression
}

export type GeneratedRequest = {
  readonly method: string
  /** The path, as characters: those above U+007F go out as their UTF-8 bytes, unencoded. */
  readonly path: string
  /** What follows `?`, or undefined for no `?` at all. */
  readonly query?: string
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body?: BodySpec
  /** Chunk sizes when the body is sent chunked; by Content-Length otherwise. */
  readonly chunks?: ReadonlyArray<number>
  /** For a send valid in every respect: what must be stored. */
  readonly mustAccept?: { readonly player_name: string; readonly message: string; readonly channel?: string; readonly user_id?: number }
}

export const MARK = '\u0001MARK\u0001'

/** `arbitrary` in `percent` of the values, null otherwise (null first, so shrinking drops it). */
export const sometimes = <T>(arbitrary: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | null> =>
  fc.oneof({ withCrossShrink: true }, { arbitrary: fc.constant(null), weight: 100 - percent }, { arbitrary, weight: percent })

/** The body's bytes before compression: BOM, text, invalid bytes in place of the mark. */
export const plainBodyBytes = (body: BodySpec): Buffer => {
  const parts: Buffer[] = []
  if (body.bom) parts.push(Buffer.from([0xef, 0xbb, 0xbf]))
  const at = body.badBytes === undefined ? -1 : body.text.indexOf(MARK)
  if (at === -1) parts.push(Buffer.from(body.text, 'utf8'))
  else parts.push(Buffer.from(body.text.slice(0, at), 'utf8'), Buffer.from(body.badBytes ?? []), Buffer.from(body.text.slice(at + MARK.length), 'utf8'))
  return Buffer.concat(parts)
}

const compress = (bytes: Buffer, how: Compression): Buffer => {
  switch (how) {
    case 'gzip':
      return gzipSync(bytes)
    case 'deflate':
      return deflateSync(bytes)
    case 'br':
      return brotliCompressSync(bytes)
    case 'none':
      return bytes
  }
}

export const toWire = (request: GeneratedRequest): WireRequest => ({
  method: request.method,
  target: bytesOf(request.path) + (request.query === undefined ? '' : `?${bytesOf(request.query)}`),
  headers: request.headers.map(([name, value]) => [name, value === FRESH_KEY ? randomUUID() : bytesOf(value)] as const),
  ...(request.body === undefined ? {} : { body: compress(plainBodyBytes(request.body), request.body.compression) }),
  ...(request.chunks === undefined ? {} : { chunks: request.chunks }),
})

// ---------------------------------------------------------------- characters and strings

/** Characters that make text hard: invisible, bidi, controls, lone surrogates, look-alikes, marks, emoji. */
const NASTY_CHARS = [
  '\u200b', '\u200c', '\u200d', '\u2060', '\u00ad', '\u202e', '\u202d', '\u2066', '\ufeff', '\u180e', '\u034f', '\u115f', '\u3164', '\uffa0', '\u2800',
  '\u{e0041}', '\ufe0f', '\u061c',
  '\ud800', '\udbff', '\udc00', '\udfff',
  '\u0000', '\u0001', '\u0007', '\u0008', '\t', '\n', '\r', '\u000b', '\u000c', '\u001b', '\u001f', '\u007f', '\u0085', '\u009f',
  '\u00a0', '\u2003', '\u2028', '\u2029', '\u3000',
  '\u0405', '\u0435', '\u0455', '\u0391', '\u03bd', '\u0433', '\ua4e2', '\u13da', '\uff33',
  '\u0301', '\u0308', '\u20dd',
  '😀', '👩‍👩‍👧', '🇫🇷', '𝕊', 'é', 'Å', 'ß', 'İ', 'ﬀ', '中', 'ع', '"', '\\', '<', '>', '&', "'", '/', '%', '{',
]

const nastyChar = fc.constantFrom(...NASTY_CHARS)

/** Strings of plain letters mixed with every kind of trouble, lone surrogates included. */
export const nastyString = (maxLength = 30): fc.Arbitrary<string> =>
  fc
    .array(
      fc.oneof(
        { arbitrary: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_ -'.split('')), weight: 6 },
        { arbitrary: nastyChar, weight: 3 },
        { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 1 },
        { arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c)), weight: 1 },
      ),
      { maxLength },
    )
    .map((chars) => chars.join(''))

/** Names that read as the reserved "Server". */
export const SERVER_LOOKALIKES = [
  'Server', 'server', 'SERVER', 'sErVeR', ' Server ', '\tServer',
  '\u0405\u0435rv\u0435r', 'S\u0435rv\u0435r', 'Serv\u0435r', 'Se\u0433ver', 'Ser\u03bder', '\ua4e2erver', '\u13daerver', '\uff33\uff45\uff52\uff56\uff45\uff52',
  'Server\u200b', '\u200bServer', 'Ser\u00adver', 'S\u2060erver', 'Serv\u200der', 'Server\ufeff', '\u202eServer', 'Server\ufe0f', 'Se\u034frver', 'Server\u{e0041}',
  'Serve\u0301r', 'Server\u0308', '𝐒𝐞𝐫𝐯𝐞𝐫', 'ｓｅｒｖｅｒ', 'Ser\u3164ver', 'Ѕеrvеr',
]

const validPlayerName = fc
  .stringMatching(/^[A-Za-z0-9_]{3,20}$/)
  .filter((name) => !looksLikeServer(name))

/** Roblox-like names, look-alikes of Server, and nasty strings. */
export const playerNameValue = fc.oneof(
  { arbitrary: validPlayerName, weight: 4 },
  { arbitrary: fc.constantFrom(...SERVER_LOOKALIKES), weight: 3 },
  { arbitrary: nastyString(30), weight: 4 },
  { arbitrary: fc.constantFrom('', ' ', '\u00a0\u2003', 'a'.repeat(50), 'a'.repeat(51), '😀'.repeat(50), '😀'.repeat(51), 'Zoë Å', 'Bo\u0000b'), weight: 1 },
)

export const messageValue = fc.oneof(
  { arbitrary: fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }), weight: 3 },
  { arbitrary: nastyString(60), weight: 4 },
  { arbitrary: fc.constantFrom('hi', '<script>alert(1)</script>', '\n\r\n', '', ' ', 'x'.repeat(1000), 'x'.repeat(1001), '😀'.repeat(1000), '😀'.repeat(1001), 'a\u0000b', 'line\nnext\tcol\r'), weight: 1 },
)

/** A few channels, so the 100-channel bound is not the only answer; and names that are not channels. */
export const CHANNELS = ['global', 'lobby', 'team-red', 'team_blue', 'c1', 'A', 'x'.repeat(32)]
export const channelValue = fc.oneof(
  { arbitrary: fc.constantFrom(...CHANNELS), weight: 4 },
  { arbitrary: fc.constantFrom('', ' ', 'x'.repeat(33), 'bad channel', 'ch!', 'глобал', '__proto__', 'constructor', 'global\u200b', 'a/b', '..'), weight: 1 },
  // Never a valid name: the pool above stays the only channels, far below the server's bound on channels.
  { arbitrary: nastyString(10).filter((c) => !/^[A-Za-z0-9_-]{1,32}$/.test(c)), weight: 1 },
)

// ---------------------------------------------------------------- JSON bodies

/** A JSON value as text: what JSON.stringify writes, or number forms it never writes. */
const rawNumber = fc.constantFrom('1e400', '-1e400', '123456789012345678901234567890', '9007199254740993', '-0', '1.0', '1E2', '0.0000001', '-1', '1.5', '0', '156', '9007199254740991')

const valueText = (value: fc.Arbitrary<unknown>): fc.Arbitrary<string> =>
  fc.oneof(
    { arbitrary: value.map((v) => JSON.stringify(v) ?? 'null'), weight: 20 },
    { arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)), weight: 1 },
    { arbitrary: rawNumber, weight: 1 },
    { arbitrary: fc.integer({ min: 1, max: 3000 }).map((n) => '['.repeat(n) + ']'.repeat(n)), weight: 1 },
  )

const userIdValue = fc.oneof(
  fc.integer({ min: 1, max: 2 ** 40 }),
  fc.constantFrom(0, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, '156', null, true, [156], { id: 156 }),
)

/** `"key": value` members of a send body: the real fields, most of the time, and others. */
const sendMembers = fc
  .tuple(
    sometimes(valueText(playerNameValue), 90),
    sometimes(valueText(messageValue), 90),
    sometimes(valueText(channelValue), 40),
    sometimes(valueText(userIdValue), 30),
    fc.array(
      fc.tuple(
        fc.constantFrom('__proto__', 'constructor', 'prototype', 'player_name', 'message', 'type', 'id', 'reply_to', 'timestamp', 'extra'),
        fc.oneof(valueText(fc.jsonValue({ maxDepth: 2 })), fc.constant('{"player_name":"Server","message":"x"}'), fc.constant('{"isAdmin":true}')),
      ),
      { maxLength: 2 },
    ),
    fc.boolean(),
  )
  .map(([name, message, channel, userId, extras, extrasFirst]) => {
    const real: Array<[string, string]> = []
    if (name !== null) real.push(['player_name', name])
    if (message !== null) real.push(['message', message])
    if (channel !== null) real.push(['channel', channel])
    if (userId !== null) real.push(['user_id', userId])
    const members = extrasFirst ? [...extras, ...real] : [...real, ...extras]
    return `{${members.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`
  })

/** A send body with invalid UTF-8 bytes inside one of its strings. */
const corruptedSend = fc
  .tuple(
    validPlayerName,
    fc.string({ maxLength: 10 }),
    fc.constantFrom('player_name', 'message'),
    fc.constantFrom([0xff], [0xfe], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc3]),
    fc.nat({ max: 5 }),
  )
  .map(([name, text, field, bytes, at]) => {
    const message = `hello ${text}`
    const values = { player_name: name, message }
    const target = values[field as 'player_name' | 'message']
    const split = Math.min(at, target.length)
    const marked = { ...values, [field]: `${target.slice(0, split)}${MARK}${target.slice(split)}` }
    // JSON.stringify escapes the mark's \u0001 as \\u0001: put the raw mark back.
    return { text: JSON.stringify(marked).replace(JSON.stringify(MARK).slice(1, -1), MARK), badBytes: bytes }
  })

const bodyText: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: sendMembers, weight: 12 },
  { arbitrary: fc.json({ maxDepth: 3 }), weight: 2 },
  {
    arbitrary: fc.tuple(fc.integer({ min: 50, max: 5000 }), fc.nat({ max: 3 })).map(
      ([n, shape]) =>
        [
          '['.repeat(n) + ']'.repeat(n),
          '{"a":'.repeat(n) + '1' + '}'.repeat(n),
          `{"player_name":${'['.repeat(n)}${']'.repeat(n)},"message":"hi"}`,
          `{"player_name":"Bob","message":${'{"m":'.repeat(n)}1${'}'.repeat(n)}}`,
        ][shape] ?? '',
    ),
    weight: 1,
  },
  {
    arbitrary: fc.oneof(
      fc.tuple(sendMembers, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })).map(([json, cut]) => json.slice(0, Math.floor(cut * json.length))),
      fc.constantFrom("{'player_name': 'Bob', 'message': 'hi'}", '{"player_name":"Bob","message":"hi",}', 'NaN', 'undefined', '{"a":1}{"b":2}', '\u0000', 'player_name=Bob&message=hi', '[', '{"__proto__":'),
      fc.string({ maxLength: 20 }),
    ),
    weight: 2,
  },
  { arbitrary: fc.constantFrom('', ' ', '\r\n', 'null', '[]', '{}', '"x"', '42', 'true'), weight: 1 },
)

/** Over the 64 KiB limit as sent, or only once decompressed (a small gzip bomb). */
const hugeBody = fc.constantFrom(
  JSON.stringify({ player_name: 'Bob', message: 'x'.repeat(70_000) }),
  JSON.stringify({ player_name: 'Bob', message: 'hi', pad: ' '.repeat(66_000) }),
)

export const bodySpec: fc.Arbitrary<BodySpec> = fc.oneof(
  {
    arbitrary: fc.record({
      text: bodyText,
      bom: fc.oneof({ arbitrary: fc.constant(false), weight: 6 }, { arbitrary: fc.constant(true), weight: 1 }),
      compression: fc.constantFrom<Compression>('none', 'none', 'none', 'gzip', 'deflate', 'br'),
    }),
    weight: 20,
  },
  {
    arbitrary: fc
      .tuple(corruptedSend, fc.constantFrom<Compression>('none', 'none', 'gzip'))
      .map(([{ text, badBytes }, compression]) => ({ text, badBytes, bom: false, compression })),
    weight: 4,
  },
  {
    arbitrary: fc.tuple(hugeBody, fc.constantFrom<Compression>('none', 'gzip')).map(([text, compression]) => ({ text, bom: false, compression })),
    weight: 1,
  },
)

// ---------------------------------------------------------------- methods, paths, queries

export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'get', 'post', 'Get', 'FOO', 'M-SEARCH', 'PURGE', 'TRACE', 'PROPFIND', 'LINK', 'QUERY']

export const method = fc.oneof(
  { arbitrary: fc.constantFrom('GET', 'POST'), weight: 8 },
  { arbitrary: fc.constantFrom('HEAD', 'OPTIONS', 'PUT', 'DELETE', 'PATCH'), weight: 4 },
  { arbitrary: fc.constantFrom(...METHODS), weight: 2 },
)

/** UTF-8 percent-encoding of everything but unreserved characters; a lone surrogate becomes EF BF BD, as TextEncoder writes it. */
export const percentEncode = (text: string): string =>
  [...Buffer.from(text, 'utf8')].map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('')

/** Percent-encodes only what would break the request line (controls, space, `?`, `#`, `%`, DEL), leaving other characters raw. */
const lightlyEncode = (text: string): string => text.replace(/[\u0000-\u0020\u007f?#%]/g, (c) => percentEncode(c))

const playerSegment = fc.oneof(
  playerNameValue.map(percentEncode),
  playerNameValue.map(lightlyEncode),
  fc.constantFrom('Server', 'Zo%C3%AB%20%C3%85', 'bob', '%D0%85%D0%B5rv%D0%B5r', 'Server%E2%80%8B'),
)

const ROUTES = [
  '/',
  '/api',
  '/api/send',
  '/api/messages',
  '/api/stream',
  '/api/channels',
  '/api/clear',
  '/index.html',
  '/app.js',
  '/style.css',
  '/api/nope',
  '/favicon.ico',
  '/web/index.html',
  '/api/messages/1',
  '/api/players/Bob/erase',
  '/api/players/Bob/mute',
  '/api/players//mute',
  '/api/mutes',
  '/api/admin/audit',
  '/api/roblox/webhook',
]

/** Percent-escapes that are malformed (`%ZZ`), not UTF-8 (overlong `%C0%AF`, an encoded surrogate `%ED%A0%80`), or valid but awkward (`%00`, `%2F`). */
const BAD_PERCENT = ['%ZZ', '%', '%2', '%G0', '%C0%AF', '%ED%A0%80', '%ED%BF%BF', '%00', '%FF', '%C3', '%E2%80%8B', '%2F', '%2f', '%5C', '%20', '%u0041', '%%', '%0A', '%2e%2e', '%EF%BB%BF']

const routePath = fc.oneof(
  { arbitrary: fc.constantFrom(...ROUTES), weight: 10 },
  { arbitrary: playerSegment.map((name) => `/api/messages/${name}`), weight: 4 },
  { arbitrary: fc.tuple(playerSegment, fc.constantFrom('erase', 'mute')).map(([name, action]) => `/api/players/${name}/${action}`), weight: 1 },
  {
    arbitrary: fc
      .tuple(playerSegment, fc.constantFrom(...BAD_PERCENT), fc.nat({ max: 20 }))
      .map(([name, bad, at]) => `/api/messages/${name.slice(0, at % (name.length + 1))}${bad}${name.slice(at % (name.length + 1))}`),
    weight: 2,
  },
)

type Mutation =
  | { readonly op: 'upper' }
  | { readonly op: 'mixedCase'; readonly mask: number }
  | { readonly op: 'trailing'; readonly tail: string }
  | { readonly op: 'doubleSlash'; readonly at: number }
  | { readonly op: 'encodeChar'; readonly at: number; readonly lower: boolean }
  | { readonly op: 'insert'; readonly at: number; readonly text: string }
  | { readonly op: 'prefix'; readonly text: string }
  | { readonly op: 'long'; readonly length: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.constant({ op: 'upper' as const }),
  fc.nat().map((mask) => ({ op: 'mixedCase' as const, mask })),
  fc.constantFrom('/', '//', '/.', '/..', '/./', ';', ';x=1', '#frag', '?', '.json', '%20', '/%2e', '\\').map((tail) => ({ op: 'trailing' as const, tail })),
  fc.nat({ max: 40 }).map((at) => ({ op: 'doubleSlash' as const, at })),
  fc.tuple(fc.nat({ max: 40 }), fc.boolean()).map(([at, lower]) => ({ op: 'encodeChar' as const, at, lower })),
  fc
    .tuple(fc.nat({ max: 40 }), fc.oneof(fc.constantFrom(...BAD_PERCENT), fc.constantFrom('/./', '/../', '/x/../', '/%2e%2e/', '/.%2e/'), nastyChar.map(lightlyEncode)))
    .map(([at, text]) => ({ op: 'insert' as const, at, text })),
  fc.constantFrom('/..', '/.', '//', '/./', '/x/..', '/%2e%2e', '/api/..').map((text) => ({ op: 'prefix' as const, text })),
  fc.oneof(fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 3000, max: 20_000 })).map((length) => ({ op: 'long' as const, length })),
)

const applyMutation = (path: string, m: Mutation): string => {
  switch (m.op) {
    case 'upper':
      return path.toUpperCase()
    case 'mixedCase':
      return [...path].map((c, i) => ((m.mask >> i % 31) & 1 ? c.toUpperCase() : c)).join('')
    case 'trailing':
      return path + m.tail
    case 'doubleSlash': {
      const slashes = [...path.matchAll(/\//g)].map((x) => x.index ?? 0)
      const at = slashes[m.at % Math.max(1, slashes.length)] ?? 0
      return `${path.slice(0, at)}/${path.slice(at)}`
    }
    case 'encodeChar': {
      const letters = [...path.matchAll(/[A-Za-z]/g)].map((x) => x.index ?? 0)
      if (letters.length === 0) return path
      const at = letters[m.at % letters.length] ?? 0
      const hex = path.charCodeAt(at).toString(16)
      return `${path.slice(0, at)}%${m.lower ? hex.toLowerCase() : hex.toUpperCase()}${path.slice(at + 1)}`
    }
    case 'insert': {
      const at = 1 + (m.at % Math.max(1, path.length))
      return path.slice(0, at) + m.text + path.slice(at)
    }
    case 'prefix':
      return m.text + path
    case 'long':
      return `${path.endsWith('/') ? path : `${path}/`}${'a'.repeat(m.length)}`
  }
}

export const path: fc.Arbitrary<string> = fc
  .tuple(routePath, fc.oneof({ arbitrary: fc.constant([] as Mutation[]), weight: 3 }, { arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }), weight: 2 }))
  .map(([route, mutations]) => mutations.reduce(applyMutation, route))

/** Wait is kept to a second at most (or refused outright), so held polls keep the run short. */
const PARAM_VALUES: Record<string, fc.Arbitrary<string>> = {
  limit: fc.oneof(fc.constantFrom('1', '2', '10', '100', '1000', '1001', '0', '-1', '1.5', 'abc', '', ' 1', '1e3', '99999999999999999999', '0x10', '+1', '١'), fc.nat({ max: 2000 }).map(String)),
  since: fc.oneof(
    fc.constantFrom('2025-11-22T10:00:00.000Z', '2025-11-22', '2025-02-30', '2025-11-22T10:00:00+25:00', '2025-11-22T10:00:00+02:00', '2025-11-22 10:00', 'abc', '', '0', '9999-12-31T23:59:59Z', '0000-01-01', 'Z', '2025-11-22T24:00:00Z'),
    fc.date({ noInvalidDate: true, min: new Date('1970-01-01'), max: new Date('2100-01-01') }).map((d) => d.toISOString()),
  ),
  after: fc.oneof(fc.nat({ max: 60 }).map(String), fc.constantFrom('-1', 'abc', '', '1.5', '9007199254740993', '99999999999999999', '0x1', ' 1')),
  epoch: fc.constantFrom('abc', 'k3Jd9xQa', '', '!!', 'a'.repeat(65), '__proto__'),
  wait: fc.oneof(
    { arbitrary: fc.constantFrom('0', '0.0', '0.01', '0.05', '0.1'), weight: 6 },
    { arbitrary: fc.constantFrom('0.5', '1', '1.0'), weight: 1 },
    { arbitrary: fc.constantFrom('', '-1', 'abc', '26', '1e1', '0x1', 'NaN', 'Infinity', '100000', '25.5', ' 0'), weight: 3 },
  ),
  channel: channelValue,
  player: playerNameValue,
}

const OTHER_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__proto__[limit]', 'limit[]', 'LIMIT', '', 'x']

/** A key and a value for it: the real parameters with their own values, other keys with anything. */
const keyAndValue: fc.Arbitrary<readonly [string, string]> = fc.oneof(
  { arbitrary: fc.oneof(...Object.entries(PARAM_VALUES).map(([key, value]) => value.map((v) => [key, v] as const))), weight: 8 },
  { arbitrary: fc.tuple(fc.constantFrom(...OTHER_KEYS), fc.oneof(fc.constantFrom('1', '', '{}', 'x'), nastyString(5))), weight: 2 },
)

const param = fc
  .tuple(keyAndValue, fc.constantFrom<'encoded' | 'light' | 'bare'>('encoded', 'encoded', 'light', 'bare'))
  .map(([[k, value], style]) => (style === 'bare' ? k : `${k}=${(style === 'encoded' ? percentEncode(value) : lightlyEncode(value)).replace(/&/g, '%26')}`))

export const query: fc.Arbitrary<string | null> = sometimes(
  fc.tuple(fc.array(param, { maxLength: 4 }), fc.constantFrom('&', '&', '&', ';', '&&')).map(([params, separator]) => params.join(separator)),
  60,
)

// ---------------------------------------------------------------- headers

const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'application/json; charset="utf-8"', 'Application/JSON',
  'application/json; charset=latin1', 'application/json; charset=utf-16', 'application/json; charset=iso-8859-1', 'text/plain', 'text/plain; charset=utf-8',
  'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/vnd.api+json', 'application/jsonx', 'json', '', '*/*', 'application/json, text/plain',
]

const CONTENT_ENCODINGS = ['gzip', 'deflate', 'br', 'identity', 'x-gzip', 'GZIP', 'compress', 'gzip, br', '', 'zstd', 'gzip;q=1']

const idempotencyKey = fc.oneof(
  { arbitrary: fc.uuid(), weight: 3 },
  { arbitrary: fc.constantFrom('key-1', 'key-2', 'key-3'), weight: 3 },
  { arbitrary: fc.constantFrom('', ' ', 'a'.repeat(255), 'a'.repeat(256), 'a'.repeat(9000), 'ключ', 'k\u00e9', 'k\t1', 'key "quoted"', 'a,b', 'k\u007f'), weight: 2 },
)

const optionalHeader = (name: string, value: fc.Arbitrary<string>, percent: number): fc.Arbitrary<ReadonlyArray<readonly [string, string]>> =>
  sometimes(value, percent).map((v) => (v === null ? [] : [[name, v] as const]))

/** The request headers, each absent most of the time; `contentEncoding` is chosen by the caller when the body is compressed. */
export const headers = (contentEncoding: fc.Arbitrary<string | null>): fc.Arbitrary<ReadonlyArray<readonly [string, string]>> =>
  fc
    .tuple(
      optionalHeader('Content-Type', fc.constantFrom(...CONTENT_TYPES), 30),
      contentEncoding.map((v) => (v === null ? [] : [['Content-Encoding', v] as const])),
      optionalHeader('Idempotency-Key', idempotencyKey, 25),
      optionalHeader('Origin', fc.constantFrom('http://example.com', 'https://game.example', 'null', 'http://localhost:3000', 'garbage', ''), 25),
      optionalHeader('Last-Event-ID', fc.oneof(fc.nat({ max: 60 }).map(String), fc.constantFrom('-1', 'abc', '', '1.5', '99999999999999999999', ' 3')), 15),
      optionalHeader('Expect', fc.constantFrom('100-continue', '100-continue', '100-Continue', 'foo'), 8),
      optionalHeader('Accept', fc.constantFrom('application/json', 'text/event-stream', 'text/html', '*/*', 'application/xml', ''), 15),
      optionalHeader('Access-Control-Request-Method', fc.constantFrom('POST', 'GET', 'DELETE', 'PUT', 'FOO'), 15),
      optionalHeader('Access-Control-Request-Headers', fc.constantFrom('content-type', 'content-type, idempotency-key', 'x-evil', 'last-event-id'), 10),
    )
    .map((groups) => groups.flat())

// ---------------------------------------------------------------- whole requests

const chunks = sometimes(fc.array(fc.integer({ min: 1, max: 200 }), { minLength: 1, maxLength: 5 }), 20)

/** Any method on any route, mutated paths, queries, headers and now and then a body. */
export const anyRequest: fc.Arbitrary<GeneratedRequest> = fc
  .record({
    method,
    path,
    query,
    headers: headers(sometimes(fc.constantFrom(...CONTENT_ENCODINGS), 8)),
    body: sometimes(bodySpec, 25),
    chunks,
  })
  .map(({ body, chunks: pieces, query: q, ...rest }) => ({
    ...rest,
    ...(q === null || q === undefined ? {} : { query: q }),
    ...(body === null ? {} : { body }),
    ...(body === null || pieces === null ? {} : { chunks: pieces }),
  }))

const SEND_PATHS = ['/api/send', '/api/send/', '/api/Send', '/API/SEND', '/api//send', '/api/send?x=1', '/api/send%20', '/api/%73end', '/api/./send', '/api/x/../send']

const ENCODING_HEADER: Record<Compression, string> = { none: 'identity', gzip: 'gzip', deflate: 'deflate', br: 'br' }

/** POST /api/send (mostly) with generated bodies, content types and encodings (mostly matching the body). */
/** Stands for the Content-Encoding that matches the body's compression (none when it is not compressed). */
const MATCHING_ENCODING = "<the body's encoding>"

export const sendRequest: fc.Arbitrary<GeneratedRequest> = fc
  .record({
    body: bodySpec,
    method: fc.oneof({ arbitrary: fc.constant('POST'), weight: 12 }, { arbitrary: method, weight: 1 }),
    path: fc.oneof({ arbitrary: fc.constant('/api/send'), weight: 10 }, { arbitrary: fc.constantFrom(...SEND_PATHS), weight: 2 }, { arbitrary: path, weight: 1 }),
    contentType: fc.oneof<fc.MaybeWeightedArbitrary<string | null>[]>(
      { arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8'), weight: 8 },
      { arbitrary: sometimes(fc.constantFrom(...CONTENT_TYPES), 80), weight: 2 },
    ),
    headers: headers(
      fc.oneof<fc.MaybeWeightedArbitrary<string | null>[]>(
        { arbitrary: fc.constant(MATCHING_ENCODING), weight: 8 },
        { arbitrary: sometimes(fc.constantFrom(...CONTENT_ENCODINGS), 80), weight: 1 },
      ),
    ).map((list) => list.filter(([name]) => name !== 'Content-Type' && name !== 'Access-Control-Request-Method')),
    chunks,
  })
  .map(({ contentType, headers: generated, chunks: pieces, path: p, body, ...rest }): GeneratedRequest => {
    const mark = p.indexOf('?')
    const list = generated.flatMap(([name, value]) =>
      value !== MATCHING_ENCODING ? [[name, value] as const] : body.compression === 'none' ? [] : [[name, ENCODING_HEADER[body.compression]] as const],
    )
    return {
      ...rest,
      body,
      path: mark === -1 ? p : p.slice(0, mark),
      ...(mark === -1 ? {} : { query: p.slice(mark + 1) }),
      headers: contentType === null ? list : [['Content-Type', contentType] as const, ...list],
      ...(pieces === null ? {} : { chunks: pieces }),
    }
  })

/** A send valid in every respect, framed, typed and encoded in every way the README allows: it must be stored as sent. */
export const validSendRequest: fc.Arbitrary<GeneratedRequest> = fc
  .record({
    player_name: validPlayerName,
    // Visible text under any rule: no controls, format, private-use or unassigned characters, and a letter, digit, punctuation or symbol that shows
    // (U+2800, the braille blank, is a symbol that shows nothing: the domain counts it as blank).
    message: fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 60 })
      .filter((m) => !/\p{C}/u.test(m) && /(?![\p{Default_Ignorable_Code_Point}\u2800])[\p{L}\p{N}\p{P}\p{S}]/u.test(m) && [...m].length <= 1000),
    channel: sometimes(fc.constantFrom(...CHANNELS), 50),
    user_id: sometimes(fc.integer({ min: 1, max: 2 ** 40 }), 50),
    contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json;charset=UTF-8', 'application/json; charset="utf-8"', 'Application/JSON'),
    compression: fc.constantFrom<Compression>('none', 'gzip', 'deflate', 'br'),
    encodingCase: fc.boolean(),
    bom: fc.boolean(),
    expectContinue: fc.boolean(),
    idempotent: fc.boolean(),
    chunks,
  })
  .map(({ player_name, message, channel, user_id, contentType, compression, encodingCase, bom, expectContinue, idempotent, chunks: pieces }) => {
    const fields = { player_name, message, ...(channel === null ? {} : { channel }), ...(user_id === null ? {} : { user_id }) }
    const list: Array<readonly [string, string]> = [['Content-Type', contentType]]
    if (compression !== 'none') list.push(['Content-Encoding', encodingCase ? ENCODING_HEADER[compression].toUpperCase() : ENCODING_HEADER[compression]])
    if (expectContinue) list.push(['Expect', '100-continue'])
    // A key of its own (the generated value is replayed as it is while shrinking: the key is drawn when sent, see `freshKeys`).
    if (idempotent) list.push(['Idempotency-Key', FRESH_KEY])
    return {
      method: 'POST',
      path: '/api/send',
      headers: list,
      body: { text: JSON.stringify(fields), bom, compression },
      ...(pieces === null ? {} : { chunks: pieces }),
      mustAccept: fields,
    }
  })

/** Stands for a new random Idempotency-Key in a generated request, replaced by `freshKeys` when sent. */
export const FRESH_KEY = '<fresh key>'
