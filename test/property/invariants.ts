import { plainBodyBytes, type GeneratedRequest } from './arbitraries'
import { looksLikeServer } from './names'
import type { WireAnswer, WireOutcome, WireRequest } from './wire'

/*
 * What must hold for every answer, whatever was asked, and for every message
 * the server ever shows. Each check returns what is wrong, as sentences that
 * name the invariant; an empty list means the answer is fine.
 */

export type Violation = { readonly invariant: string; readonly detail: string }

const violation = (invariant: string, detail: string): Violation => ({ invariant, detail })

const strictUtf8 = new TextDecoder('utf-8', { fatal: true })

export const isValidUtf8 = (bytes: Uint8Array): boolean => {
  try {
    strictUtf8.decode(bytes)
    return true
  } catch {
    return false
  }
}

const isWellFormed = (s: string): boolean => (s as string & { isWellFormed(): boolean }).isWellFormed()

const INVISIBLE = /[\p{Cf}\p{Default_Ignorable_Code_Point}]/u
const CONTROL = /\p{Cc}/u
const C0_BUT_TAB_LF_CR = /[\u0000-\u0008\u000b\u000c\u000e-\u001f]/
const BLANK = /^\s*$/u
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const CHANNEL = /^[A-Za-z0-9_-]{1,32}$/

const show = (value: unknown): string => {
  const text = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'string' ? escapeInvisible(v) : v))
  return text === undefined ? String(value) : text.length > 300 ? `${text.slice(0, 300)}…` : text
}

/** Names code points that do not show, so a message about them can be read. */
const escapeInvisible = (s: string): string =>
  s.replace(/[\p{Cf}\p{Cc}\p{Default_Ignorable_Code_Point}\p{Cs}\p{M}]/gu, (c) => `<U+${(c.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}>`)

/** Every way a message shown by the server can be malformed; `where` says which answer it came in. */
export const messageProblems = (m: unknown, where: string): Violation[] => {
  const out: Violation[] = []
  const bad = (detail: string) => out.push(violation('every message is well-formed', `${where}: ${detail} in ${show(m)}`))
  if (typeof m !== 'object' || m === null || Array.isArray(m)) {
    bad('not an object')
    return out
  }
  const msg = m as Record<string, unknown>
  if (!Number.isSafeInteger(msg.id) || (msg.id as number) < 1) bad('id is not a positive integer')
  if (msg.type === 'removal') {
    // A removal entry: from Server, an empty text, the ids it took out (each below its own), and nothing of a message.
    if (msg.player_name !== 'Server' || msg.message !== '') bad('a removal entry is not from Server with an empty message')
    const removes = msg.removes
    if (!Array.isArray(removes) || removes.length === 0 || !removes.every((r, i) => Number.isSafeInteger(r) && r >= 1 && r < (msg.id as number) && (i === 0 || r > (removes[i - 1] as number))))
      bad('a removal entry without removes: ids before its own, ascending')
    if (msg.user_id !== undefined || msg.reply_to !== undefined) bad('a removal entry with a user_id or reply_to')
    if (typeof msg.timestamp !== 'string' || !ISO_UTC.test(msg.timestamp)) bad('timestamp is not ISO-8601 UTC with milliseconds')
    if (typeof msg.channel !== 'string' || !CHANNEL.test(msg.channel)) bad('channel does not match ^[A-Za-z0-9_-]{1,32}$')
    return out
  }
  if (msg.removes !== undefined) bad('a message that is not a removal entry has removes')
  const name = msg.player_name
  if (typeof name !== 'string') bad('player_name is not a string')
  else {
    if (!isWellFormed(name)) bad('player_name is not well-formed Unicode (a lone surrogate)')
    if (BLANK.test(name)) bad('player_name is blank')
    if (name !== name.trim()) bad('player_name is not trimmed')
    if (INVISIBLE.test(name)) bad('player_name holds an invisible (Cf / default-ignorable) character')
    if (CONTROL.test(name)) bad('player_name holds a control character')
    if (msg.type !== 'reply' && looksLikeServer(name)) bad(`player_name ${show(name)} reads as the reserved "Server" on a message that is not a reply`)
  }
  const text = msg.message
  if (typeof text !== 'string') bad('message is not a string')
  else {
    if (!isWellFormed(text)) bad('message is not well-formed Unicode (a lone surrogate)')
    if (BLANK.test(text)) bad('message is blank')
    if (C0_BUT_TAB_LF_CR.test(text)) bad('message holds a C0 control other than tab, LF, CR')
  }
  if (typeof msg.timestamp !== 'string' || !ISO_UTC.test(msg.timestamp) || Number.isNaN(Date.parse(msg.timestamp))) bad('timestamp is not ISO-8601 UTC with milliseconds')
  if (msg.type !== 'player' && msg.type !== 'reply') bad('type is none of player, reply, removal')
  if (typeof msg.channel !== 'string' || !CHANNEL.test(msg.channel)) bad('channel does not match ^[A-Za-z0-9_-]{1,32}$')
  if (msg.user_id !== undefined && (!Number.isSafeInteger(msg.user_id) || (msg.user_id as number) < 1)) bad('user_id is present but not a positive integer')
  if (msg.type === 'reply' && !Number.isSafeInteger(msg.reply_to)) bad('a reply without an integer reply_to')
  return out
}

/** A list of messages: each well-formed, ids strictly increasing (oldest first). */
export const listProblems = (messages: unknown, where: string): Violation[] => {
  if (!Array.isArray(messages)) return [violation('every message is well-formed', `${where}: messages is not an array`)]
  const out = messages.flatMap((m, i) => messageProblems(m, `${where}, message ${i}`))
  for (let i = 1; i < messages.length; i++) {
    const before = (messages[i - 1] as { id?: unknown } | null)?.id
    const after = (messages[i] as { id?: unknown } | null)?.id
    if (!(typeof before === 'number' && typeof after === 'number' && after > before))
      out.push(violation('ids strictly increase within a channel', `${where}: id ${show(after)} follows ${show(before)}`))
  }
  return out
}

/** The path part of a request target (before `?` or `#`). */
const targetPath = (target: string): string => target.split(/[?#]/, 1)[0] ?? ''

/** `/api`, `/api/...`, in any case. */
export const isApiPath = (target: string): boolean => /^\/api(\/|$)/i.test(targetPath(target))

/** A `%` not followed by two hex digits, or percent-escapes whose bytes are not UTF-8. */
export const hasMalformedPercent = (target: string): boolean => {
  const p = targetPath(target)
  if (/%(?![0-9A-Fa-f]{2})/.test(p)) return true
  const bytes: number[] = []
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '%') {
      bytes.push(parseInt(p.slice(i + 1, i + 3), 16))
      i += 2
    } else bytes.push(p.charCodeAt(i) & 0xff)
  }
  return !isValidUtf8(Uint8Array.from(bytes))
}

const JSON_TYPE = /^application\/json\s*(;|$)/i
const EVENT_STREAM = /^text\/event-stream\s*(;|$)/i

/** The complete events at the start of an event stream; message events are checked like any message. */
const streamProblems = (text: string): Violation[] => {
  const out: Violation[] = []
  const events = text.split('\n\n')
  events.pop() // the last piece may be cut short
  for (const event of events) {
    const lines = event.split('\n').filter((line) => line !== '')
    for (const line of lines)
      if (!/^(:|retry: ?\d+$|id: ?\d+$|event: ?\w+$|data: ?)/.test(line)) out.push(violation('a successful stream is text/event-stream', `a line that is not SSE: ${show(line)}`))
    const id = lines.find((line) => line.startsWith('id:'))
    const data = lines.filter((line) => line.startsWith('data:')).map((line) => line.replace(/^data: ?/, '')).join('\n')
    if (id !== undefined) {
      try {
        out.push(...messageProblems(JSON.parse(data), 'a stream event'))
      } catch {
        out.push(violation('a successful stream is text/event-stream', `an event whose data is not JSON: ${show(data)}`))
      }
    }
  }
  return out
}

/** Every invariant an answer to this request breaks. */
export const answerProblems = (request: GeneratedRequest, wire: WireRequest, outcome: WireOutcome): Violation[] => {
  if (outcome.kind === 'timeout') return [violation('never a hang', `no complete answer after ${outcome.ms} ms; received: ${show(outcome.partial.slice(0, 400))}`)]
  if (outcome.kind === 'dropped') return [violation('every request is answered', `${outcome.error}; received: ${show(outcome.partial.slice(0, 400))}`)]
  const answer: WireAnswer = outcome.answer
  const out: Violation[] = []
  const { status, headers } = answer
  if (status >= 500 && !(status === 503 && headers['retry-after'] !== undefined))
    out.push(violation('never a 5xx (but a 503 with Retry-After)', `answered ${status}${status === 503 ? ' without Retry-After' : ''}`))
  if (status < 100 || status > 599) out.push(violation('a valid status', `status ${status}`))
  if (!isApiPath(wire.target)) return out

  // An allowed CORS preflight is answered as CORS defines it: 204, no body, the Access-Control headers.
  const allowedPreflight =
    request.method === 'OPTIONS' && status === 204 && answer.body.length === 0 && headers['access-control-allow-methods'] !== undefined
  if (allowedPreflight) {
    if ((headers['x-content-type-options'] ?? '').toLowerCase() !== 'nosniff')
      out.push(violation('every /api answer carries X-Content-Type-Options: nosniff', `a preflight's 204 without it`))
    return out
  }
  const type = headers['content-type'] ?? ''
  const isStream = status === 200 && EVENT_STREAM.test(type) && (request.method === 'GET' || request.method === 'HEAD')
  if (!isStream && !JSON_TYPE.test(type)) out.push(violation('every /api answer is application/json (but a 200 event stream)', `${status} with Content-Type ${show(type || '(none)')}`))
  if ((headers['x-content-type-options'] ?? '').toLowerCase() !== 'nosniff')
    out.push(violation('every /api answer carries X-Content-Type-Options: nosniff', `${status} with X-Content-Type-Options ${show(headers['x-content-type-options'] ?? '(none)')}`))
  if (status >= 200 && status < 300 && hasMalformedPercent(wire.target))
    out.push(violation('a path with a malformed percent-encoding is refused', `${status} for a path that is not percent-encoded UTF-8`))

  if (request.method === 'HEAD') return out
  if (isStream) return [...out, ...streamProblems(answer.body.toString('utf8'))]

  if (!isValidUtf8(answer.body)) return [...out, violation('every /api answer is JSON with success', `${status}: the body is not UTF-8`)]
  const text = answer.body.toString('utf8')
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    return [...out, violation('every /api answer is JSON with success', `${status}: the body is not JSON: ${show(text.slice(0, 200))}`)]
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return [...out, violation('every /api answer is JSON with success', `${status}: the body is not an object: ${show(json)}`)]
  const body = json as Record<string, unknown>
  if (typeof body.success !== 'boolean') out.push(violation('every /api answer is JSON with success', `${status}: success is ${show(body.success)}`))
  if (body.success === false && (typeof body.error !== 'string' || body.error.trim() === ''))
    out.push(violation('a refusal names its error', `${status}: success false with error ${show(body.error)}`))
  if (status >= 400 && body.success !== false) out.push(violation('a refusal says success: false', `${status} with success ${show(body.success)}`))
  if (status >= 200 && status < 300 && body.success !== true) out.push(violation('a 2xx says success: true', `${status} with success ${show(body.success)}`))

  // Messages in the answer: a send's message and reply, or a list.
  for (const field of ['message', 'auto_reply'] as const)
    if (typeof body[field] === 'object' && body[field] !== null) out.push(...messageProblems(body[field], `the answer's ${field}`))
  if (body.messages !== undefined) out.push(...listProblems(body.messages, 'the listed messages'))
  if (body.removals !== undefined) out.push(...listProblems(body.removals, "a removal's entries"))

  const stored = typeof body.message === 'object' && body.message !== null && status >= 200 && status < 300
  if (stored && request.body !== undefined && !isValidUtf8(plainBodyBytes(request.body)))
    out.push(violation('a body that is not UTF-8 is refused, never stored', `${status}: stored ${show(body.message)}`))

  const expected = request.mustAccept
  if (expected !== undefined) {
    const message = body.message as Record<string, unknown> | undefined
    if (status !== 200 || body.success !== true || message === undefined)
      out.push(violation('a send valid in every way is accepted', `answered ${status} ${show(body)}`))
    else {
      const want = { player_name: expected.player_name, message: expected.message, channel: expected.channel ?? 'global', user_id: expected.user_id, type: 'player' }
      const got = { player_name: message.player_name, message: message.message, channel: message.channel, user_id: message.user_id, type: message.type }
      if (show(want) !== show(got)) out.push(violation('a send valid in every way is stored as sent', `sent ${show(want)}, stored ${show(got)}`))
    }
  }
  return out
}

/** The answer, for a failure message. */
export const showOutcome = (outcome: WireOutcome): string => {
  if (outcome.kind !== 'answer') return `${outcome.kind} after ${outcome.ms} ms`
  const body = outcome.answer.body.toString('utf8')
  return `${outcome.answer.head}\r\n\r\n${body.length > 600 ? `${body.slice(0, 600)}…` : body}${outcome.answer.streamCut ? ' (stream closed by the client)' : ''}`
}
