import * as E from 'fp-ts/Either'
import { TOPIC_MAX, TOPIC_PREFIX_MAX } from '../adapters/outbound/roblox-open-cloud'
import type { MessageType } from '../domain/message'

/*
 * The outbound targets as configured (WEBHOOKS, or WEBHOOKS_FILE): a JSON
 * list, each target an object. Every problem names the variable, the target
 * (by its place and name) and the field; a secret (a signing secret, an
 * Open Cloud key, a Discord webhook URL, which holds its token) is never
 * repeated, not even in part.
 */

export const TARGET_KINDS = ['http', 'discord', 'roblox'] as const
export type TargetKind = (typeof TARGET_KINDS)[number]

type Common = {
  readonly name: string
  readonly channels?: ReadonlyArray<string>
  readonly types?: ReadonlyArray<MessageType>
  readonly maxQueue: number
  readonly timeoutMs: number
  readonly retryBaseMs: number
  readonly retryMaxMs: number
  readonly pauseAfter: number
  readonly pauseMs: number
}

export type TargetConfig =
  | (Common & { readonly kind: 'http'; readonly url: string; readonly secret?: string })
  | (Common & { readonly kind: 'discord'; readonly url: string; readonly avatarUrl?: string })
  | (Common & { readonly kind: 'roblox'; readonly universeId: string; readonly apiKey: string; readonly topicPrefix: string; readonly apiBase: string })

export const TARGET_DEFAULTS = {
  max_queue: 1000,
  timeout_seconds: 10,
  retry_base_ms: 1000,
  retry_max_ms: 60_000,
  pause_after: 10,
  pause_seconds: 300,
  topic_prefix: 'messages-',
  api_base: 'https://apis.roblox.com',
} as const

const NAME = /^[A-Za-z0-9_-]{1,64}$/
const CHANNEL = /^[A-Za-z0-9_-]{1,32}$/
/** Open Cloud topics are 1–80 characters: a prefix leaves room for the longest channel name (32), so no topic is longer. */
const TOPIC_PREFIX = new RegExp(`^[A-Za-z0-9_.:-]{0,${TOPIC_PREFIX_MAX}}$`)
const SECRET_FIELDS = ['secret', 'api_key'] as const

const FIELDS: Readonly<Record<TargetKind, ReadonlyArray<string>>> = {
  http: ['url', 'secret'],
  discord: ['url', 'avatar_url'],
  roblox: ['universe_id', 'api_key', 'topic_prefix', 'api_base'],
}
const COMMON_FIELDS = ['name', 'kind', 'channels', 'types', 'max_queue', 'timeout_seconds', 'retry_base_ms', 'retry_max_ms', 'pause_after', 'pause_seconds']

const isHttpUrl = (value: unknown, httpsOnly = false): value is string => {
  if (typeof value !== 'string') return false
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || (!httpsOnly && url.protocol === 'http:')
  } catch {
    return false
  }
}

/** Parses the targets of one variable's text. */
export const parseTargets = (text: string, variable: string): E.Either<ReadonlyArray<string>, ReadonlyArray<TargetConfig>> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    return E.left([`${variable} must be a JSON list of targets, e.g. [{"name":"discord","kind":"discord","url":"https://discord.com/api/webhooks/…"}]: ${(err as Error).message}`])
  }
  if (!Array.isArray(parsed)) return E.left([`${variable} must be a JSON list of targets (an array), got ${parsed === null ? 'null' : typeof parsed}`])
  const problems: string[] = []
  const targets: TargetConfig[] = []
  parsed.forEach((raw: unknown, i) => {
    const target = parseTarget(raw, `${variable}: target ${i + 1}`)
    if (E.isLeft(target)) problems.push(...target.left)
    else targets.push(target.right)
  })
  const seen = new Set<string>()
  for (const target of targets) {
    if (seen.has(target.name)) problems.push(`${variable}: two targets are named ${target.name}; names key each target's queue, so each must be its own`)
    seen.add(target.name)
  }
  return problems.length > 0 ? E.left(problems) : E.right(targets)
}

const parseTarget = (raw: unknown, where: string): E.Either<ReadonlyArray<string>, TargetConfig> => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return E.left([`${where} must be an object`])
  const o = raw as Record<string, unknown>
  const name = typeof o.name === 'string' && NAME.test(o.name) ? o.name : undefined
  const at = name === undefined ? where : `${where} (${name})`
  const problems: string[] = []
  if (name === undefined) problems.push(`${where}: name must be 1–64 of A–Z a–z 0–9 _ -`)
  const kind = TARGET_KINDS.find((k) => k === o.kind)
  if (kind === undefined) return E.left([...problems, `${at}: kind must be one of ${TARGET_KINDS.join(', ')}`])
  const known = new Set([...COMMON_FIELDS, ...FIELDS[kind]])
  for (const field of Object.keys(o)) if (!known.has(field)) problems.push(`${at}: ${field} is not a field of a ${kind} target (its fields: ${[...known].join(', ')})`)

  const whole = (field: string, min: number, max: number, fallback: number): number => {
    const value = o[field]
    if (value === undefined) return fallback
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value
    problems.push(`${at}: ${field} must be a whole number from ${min} to ${max}`)
    return fallback
  }
  const list = <A extends string>(field: string, ok: (s: string) => s is A, what: string): ReadonlyArray<A> | undefined => {
    const value = o[field]
    if (value === undefined) return undefined
    if (Array.isArray(value) && value.length > 0 && value.every((v): v is A => typeof v === 'string' && ok(v))) return [...new Set(value)]
    problems.push(`${at}: ${field} must be a non-empty list of ${what}`)
    return undefined
  }
  const channels = list('channels', (s): s is string => CHANNEL.test(s), 'channel names (1–32 of A–Z a–z 0–9 _ -)')
  const types = list('types', (s): s is MessageType => s === 'player' || s === 'reply' || s === 'removal', 'message types (player, reply, removal)')
  // A Discord webhook can only post: a removal would show as an empty message from Server, and never take the post down.
  if (kind === 'discord' && types?.includes('removal') === true)
    problems.push(`${at}: types may not include removal for a discord target: a Discord webhook cannot take down what it posted (use an http target to act on removals)`)
  const retryBaseMs = whole('retry_base_ms', 10, 3_600_000, TARGET_DEFAULTS.retry_base_ms)
  const retryMaxMs = whole('retry_max_ms', 10, 86_400_000, TARGET_DEFAULTS.retry_max_ms)
  if (retryMaxMs < retryBaseMs) problems.push(`${at}: retry_max_ms must be at least retry_base_ms`)
  const common: Common = {
    name: name ?? '',
    ...(channels === undefined ? {} : { channels }),
    ...(types === undefined ? {} : { types }),
    maxQueue: whole('max_queue', 1, 1_000_000, TARGET_DEFAULTS.max_queue),
    timeoutMs: whole('timeout_seconds', 1, 300, TARGET_DEFAULTS.timeout_seconds) * 1000,
    retryBaseMs,
    retryMaxMs,
    pauseAfter: whole('pause_after', 1, 1_000_000, TARGET_DEFAULTS.pause_after),
    pauseMs: whole('pause_seconds', 1, 86_400, TARGET_DEFAULTS.pause_seconds) * 1000,
  }
  const secret = (field: (typeof SECRET_FIELDS)[number], required: boolean): string | undefined => {
    const value = o[field]
    if (value === undefined && !required) return undefined
    if (typeof value === 'string' && value.length >= 16 && value.length <= 4096 && !/\s/.test(value)) return value
    problems.push(`${at}: ${field} must be ${required ? '' : 'absent or '}16–4096 characters without spaces (the value given is not shown)`)
    return undefined
  }

  let target: TargetConfig | undefined
  switch (kind) {
    case 'http': {
      if (!isHttpUrl(o.url)) problems.push(`${at}: url must be an http:// or https:// URL`)
      const signing = secret('secret', false)
      target = { ...common, kind, url: String(o.url), ...(signing === undefined ? {} : { secret: signing }) }
      break
    }
    case 'discord': {
      // The webhook URL holds its token: a problem with it is said without it.
      if (!isHttpUrl(o.url)) problems.push(`${at}: url must be the webhook's URL, https://discord.com/api/webhooks/<id>/<token> (the value given is not shown)`)
      if (o.avatar_url !== undefined && !isHttpUrl(o.avatar_url)) problems.push(`${at}: avatar_url must be an http:// or https:// URL`)
      target = { ...common, kind, url: String(o.url), ...(typeof o.avatar_url === 'string' ? { avatarUrl: o.avatar_url } : {}) }
      break
    }
    case 'roblox': {
      const universe = typeof o.universe_id === 'number' ? String(o.universe_id) : o.universe_id
      if (typeof universe !== 'string' || !/^[0-9]{1,20}$/.test(universe)) problems.push(`${at}: universe_id must be the experience's universe id, digits (Creator Dashboard → the experience → ⋯ → Copy Universe ID)`)
      const apiKey = secret('api_key', true)
      const topicPrefix = o.topic_prefix === undefined ? TARGET_DEFAULTS.topic_prefix : o.topic_prefix
      if (typeof topicPrefix !== 'string' || !TOPIC_PREFIX.test(topicPrefix)) problems.push(`${at}: topic_prefix must be 0–${TOPIC_PREFIX_MAX} of A–Z a–z 0–9 _ . : - (a topic is the prefix and the channel, 1–${TOPIC_MAX} characters)`)
      const apiBase = o.api_base === undefined ? TARGET_DEFAULTS.api_base : o.api_base
      if (!isHttpUrl(apiBase)) problems.push(`${at}: api_base must be an http:// or https:// URL`)
      target = { ...common, kind, universeId: String(universe), apiKey: apiKey ?? '', topicPrefix: String(topicPrefix), apiBase: String(apiBase) }
      break
    }
  }
  return problems.length > 0 ? E.left(problems) : E.right(target)
}

/** A URL without what may be a credential in it: a user and password, a query, a fragment. The URL must parse (the configuration's are checked first). */
export const withoutCredentials = (url: string): string => {
  const parsed = new URL(url)
  return `${parsed.origin}${parsed.pathname}${parsed.search === '' ? '' : '?***'}`
}

/** A target as the start-up log may show it: every secret, and a Discord URL's token, masked. */
export const describeTarget = (target: TargetConfig): Record<string, unknown> => {
  switch (target.kind) {
    case 'http':
      return { name: target.name, kind: target.kind, url: withoutCredentials(target.url), signed: target.secret !== undefined }
    case 'discord':
      return { name: target.name, kind: target.kind, url: target.url.replace(/\/[^/]+\/?$/, '/***') }
    case 'roblox':
      return { name: target.name, kind: target.kind, universe_id: target.universeId, topic_prefix: target.topicPrefix, api_base: target.apiBase, api_key: '***' }
  }
}
