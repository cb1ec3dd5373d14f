import * as E from 'fp-ts/Either'
import * as t from 'io-ts'
import { readFileSync } from 'node:fs'
import { DEFAULT_AUTO_REPLY_TEMPLATE } from '../domain/auto-reply'

/** What a model is told it is, unless AUTO_REPLY_MODEL_PROMPT says otherwise. */
export const DEFAULT_MODEL_PROMPT =
  "You are the friendly server of a Roblox game. Reply to the player's message in one or two short sentences, kind and suitable for all ages. Never ask for personal information."

import type { RateLimit } from '../domain/rate-limit'
import { parseReplyRules } from './reply-rules-file'
import { describeTarget, parseTargets, withoutCredentials, type TargetConfig } from './webhooks'

/*
 * Configuration comes from the environment and is decoded once, at start-up.
 * A bad value stops the process with a message that names the variable.
 */

const integerIn = (min: number, max: number) =>
  new t.Type<number, string, unknown>(
    `a whole number from ${min} to ${max}`,
    (u): u is number => typeof u === 'number',
    (u, c) => {
      if (typeof u !== 'string' || !/^[0-9]+$/.test(u.trim())) return t.failure(u, c)
      const n = Number(u.trim())
      return Number.isSafeInteger(n) && n >= min && n <= max ? t.success(n) : t.failure(u, c)
    },
    String,
  )

const nonBlank = new t.Type<string, string, unknown>(
    'a non-empty value',
    t.string.is,
    (u, c) => (typeof u === 'string' && u.trim() !== '' ? t.success(u.trim()) : t.failure(u, c)),
    String,
  )

const ORIGIN = /^https?:\/\/[^\s/?#]+$/

const corsOrigins = new t.Type<'*' | ReadonlyArray<string>, string, unknown>(
  '* or a comma-separated list of origins such as https://example.com,http://localhost:3000',
  (u): u is '*' | ReadonlyArray<string> => u === '*' || Array.isArray(u),
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c)
    if (u.trim() === '*') return t.success('*')
    const origins = u.split(',').map((o) => o.trim().replace(/\/$/, '')).filter((o) => o !== '')
    return origins.length > 0 && origins.every((o) => ORIGIN.test(o)) ? t.success(origins) : t.failure(u, c)
  },
  (a) => (a === '*' ? '*' : a.join(',')),
)

/** An API key as configured: a label for logs (never the secret), the secret, and the channels it is limited to, if any. */
export type KeyEntry = { readonly label: string; readonly secret: string; readonly channels?: ReadonlyArray<string> }

const LABEL = /^[A-Za-z0-9_.-]{1,64}$/
const SECRET = /^[A-Za-z0-9._~+/=-]{16,256}$/
const CHANNEL = /^[A-Za-z0-9_-]{1,32}$/

/** One key per entry, as `key`, `label:key` or `label:key:channelA|channelB`; entries separated by commas or lines, `#` starting a comment line. */
export const parseKeys = (text: string, variable: string): E.Either<string, ReadonlyArray<KeyEntry>> => {
  const entries = text
    .split(/[\n,]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '' && !entry.startsWith('#'))
  const keys: KeyEntry[] = []
  for (const [i, entry] of entries.entries()) {
    const parts = entry.split(':')
    if (parts.length > 3)
      return E.left(`${variable}: entry ${i + 1} has ${parts.length - 1} colons; write key, label:key or label:key:channelA|channelB`)
    const [label, secret, channels] = parts.length === 1 ? [`key-${i + 1}`, parts[0] as string, undefined] : [parts[0] as string, parts[1] as string, parts[2]]
    if (!LABEL.test(label)) return E.left(`${variable}: entry ${i + 1}'s label must be 1–64 of A–Z a–z 0–9 _ . -`)
    // The secret is never repeated in a message, not even in part.
    if (!SECRET.test(secret)) return E.left(`${variable}: the key labelled ${label} must be 16–256 of A–Z a–z 0–9 . _ ~ + / = - (generate one with: openssl rand -hex 32)`)
    if (channels === undefined) keys.push({ label, secret })
    else {
      const list = channels.split('|').map((c) => c.trim())
      if (list.length === 0 || !list.every((c) => CHANNEL.test(c))) return E.left(`${variable}: the key labelled ${label} names channels that are not 1–32 of A–Z a–z 0–9 _ -`)
      keys.push({ label, secret, channels: list })
    }
  }
  return E.right(keys)
}

const keyList = new t.Type<ReadonlyArray<KeyEntry>, string, unknown>(
  'a comma-separated list of keys, each key, label:key or label:key:channelA|channelB',
  (u): u is ReadonlyArray<KeyEntry> => Array.isArray(u),
  (u, c) => (typeof u === 'string' && E.isRight(parseKeys(u, '')) ? t.success((parseKeys(u, '') as E.Right<ReadonlyArray<KeyEntry>>).right) : t.failure(u, c)),
  (keys) => keys.map((k) => `${k.label}:${k.secret}${k.channels === undefined ? '' : `:${k.channels.join('|')}`}`).join(','),
)

const UNITS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000 }

/** `off`, or a number of requests per a number of seconds, minutes or hours: `5/10s`, `600/60s`, `100/1m`. */
const rateLimit = new t.Type<RateLimit | undefined, string, unknown>(
  'off, or requests per time such as 5/10s, 600/1m or 1000/1h',
  (u): u is RateLimit | undefined => u === undefined || (typeof u === 'object' && u !== null),
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c)
    const text = u.trim().toLowerCase()
    if (text === 'off' || text === '') return t.success(undefined)
    const m = /^([0-9]{1,9})\s*\/\s*([0-9]{1,6})?\s*(s|m|h)$/.exec(text)
    if (m === null) return t.failure(u, c)
    const limit = Number(m[1])
    const windowMs = Number(m[2] ?? '1') * (UNITS[m[3] as string] as number)
    return limit >= 1 && windowMs >= 1000 ? t.success({ limit, windowMs }) : t.failure(u, c)
  },
  (a) => (a === undefined ? 'off' : `${a.limit}/${a.windowMs / 1000}s`),
)

/** How many proxies in front of the server to believe in X-Forwarded-For: none by default. */
const trustProxy = new t.Type<number, string, unknown>(
  'false, true (one proxy) or the number of proxies in front of the server, 0 to 10',
  (u): u is number => typeof u === 'number',
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c)
    const text = u.trim().toLowerCase()
    if (text === 'false' || text === '0' || text === '') return t.success(0)
    if (text === 'true') return t.success(1)
    return /^[0-9]{1,2}$/.test(text) && Number(text) <= 10 ? t.success(Number(text)) : t.failure(u, c)
  },
  String,
)

const wordList = new t.Type<ReadonlyArray<string>, string, unknown>(
  'a comma-separated list of words',
  (u): u is ReadonlyArray<string> => Array.isArray(u),
  (u, c) => (typeof u === 'string' ? t.success(splitWords(u)) : t.failure(u, c)),
  (words) => words.join(','),
)

const splitWords = (text: string): ReadonlyArray<string> =>
  text
    .split(/[\n,]/)
    .map((w) => w.trim())
    .filter((w) => w !== '' && !w.startsWith('#'))

const anyText = new t.Type<string | undefined, string, unknown>(
  'a value',
  (u): u is string | undefined => u === undefined || typeof u === 'string',
  (u, c) => (typeof u === 'string' ? t.success(u.trim() === '' ? undefined : u.trim()) : t.failure(u, c)),
  (a) => a ?? '',
)

/** The stores the composition root can build. */
export const STORES = ['memory', 'redis'] as const
export type StoreName = (typeof STORES)[number]

const storeName = new t.Type<StoreName, string, unknown>(
  `one of ${STORES.join(', ')} (the store to keep messages in)`,
  (u): u is StoreName => STORES.includes(u as StoreName),
  (u, c) => {
    const name = typeof u === 'string' ? u.trim().toLowerCase() : ''
    return STORES.includes(name as StoreName) ? t.success(name as StoreName) : t.failure(u, c)
  },
  String,
)

/** An http:// or https:// URL, or nothing (unset or empty). */
const optionalHttpUrl = new t.Type<string | undefined, string, unknown>(
  'an http:// or https:// URL, such as https://api.openai.com/v1/chat/completions',
  (u): u is string | undefined => u === undefined || typeof u === 'string',
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c)
    if (u.trim() === '') return t.success(undefined)
    try {
      const url = new URL(u.trim())
      return url.protocol === 'http:' || url.protocol === 'https:' ? t.success(u.trim()) : t.failure(u, c)
    } catch {
      return t.failure(u, c)
    }
  },
  (a) => a ?? '',
)

const redisUrl = new t.Type<string, string, unknown>(
  'a Redis URL such as redis://127.0.0.1:6379, redis://:password@host:6379/0 or rediss://host:6380',
  t.string.is,
  (u, c) => {
    if (typeof u !== 'string') return t.failure(u, c)
    try {
      const url = new URL(u.trim())
      return url.protocol === 'redis:' || url.protocol === 'rediss:' ? t.success(u.trim()) : t.failure(u, c)
    } catch {
      return t.failure(u, c)
    }
  },
  String,
)

const redisPrefix = new t.Type<string, string, unknown>(
  '1–64 of A–Z a–z 0–9 _ . : -',
  t.string.is,
  (u, c) => (typeof u === 'string' && /^[A-Za-z0-9_.:-]{1,64}$/.test(u.trim()) ? t.success(u.trim()) : t.failure(u, c)),
  String,
)

/** pino's levels, quietest last: `silent` logs nothing. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

const oneOf = <A extends string>(values: ReadonlyArray<A>, meaning: string) =>
  new t.Type<A, string, unknown>(
    `one of ${values.join(', ')}${meaning === '' ? '' : ` (${meaning})`}`,
    (u): u is A => values.includes(u as A),
    (u, c) => {
      const value = typeof u === 'string' ? u.trim().toLowerCase() : ''
      return values.includes(value as A) ? t.success(value as A) : t.failure(u, c)
    },
    String,
  )

const onOff = new t.Type<boolean, string, unknown>(
  'on or off',
  (u): u is boolean => typeof u === 'boolean',
  (u, c) => {
    const value = typeof u === 'string' ? u.trim().toLowerCase() : ''
    if (value === 'on' || value === 'true' || value === '1') return t.success(true)
    if (value === 'off' || value === 'false' || value === '0') return t.success(false)
    return t.failure(u, c)
  },
  (a) => (a ? 'on' : 'off'),
)

const VARIABLES = {
  STORE: storeName,
  REDIS_URL: redisUrl,
  REDIS_PREFIX: redisPrefix,
  PORT: integerIn(0, 65535),
  HOST: nonBlank,
  MAX_MESSAGES: integerIn(1, 10_000_000),
  MAX_MESSAGE_LENGTH: integerIn(1, 60_000),
  AUTO_REPLY: t.string,
  CORS_ORIGINS: corsOrigins,
  MAX_CHANNELS: integerIn(1, 100_000),
  LONG_POLL_MAX_SECONDS: integerIn(1, 3600),
  IDEMPOTENCY_KEYS_MAX: integerIn(1, 10_000_000),
  HEADERS_TIMEOUT_SECONDS: integerIn(1, 600),
  REQUEST_TIMEOUT_SECONDS: integerIn(1, 3600),
  IDLE_TIMEOUT_SECONDS: integerIn(1, 3600),
  KEEP_ALIVE_TIMEOUT_SECONDS: integerIn(1, 3600),
  MAX_LONG_POLLS: integerIn(1, 1_000_000),
  MAX_STREAMS: integerIn(1, 1_000_000),
  MAX_STREAMS_PER_ADDRESS: integerIn(1, 1_000_000),
  STREAM_HEARTBEAT_SECONDS: integerIn(1, 3600),
  API_KEYS: keyList,
  API_KEYS_FILE: anyText,
  ADMIN_KEYS: keyList,
  ADMIN_KEYS_FILE: anyText,
  STREAM_TOKEN_SECRET: anyText,
  STREAM_TOKEN_SECONDS: integerIn(10, 86_400),
  PLAYER_RATE_LIMIT: rateLimit,
  CLIENT_RATE_LIMIT: rateLimit,
  TRUST_PROXY: trustProxy,
  BLOCKED_WORDS: wordList,
  BLOCKED_WORDS_FILE: anyText,
  WEBHOOKS: new t.Type<ReadonlyArray<TargetConfig>, string, unknown>(
    'a JSON list of outbound targets (see the README, Bridges)',
    (u): u is ReadonlyArray<TargetConfig> => Array.isArray(u),
    (u, c) => (typeof u === 'string' && E.isRight(parseTargets(u, '')) ? t.success((parseTargets(u, '') as E.Right<ReadonlyArray<TargetConfig>>).right) : t.failure(u, c)),
    () => '(not shown: it may hold secrets)',
  ),
  WEBHOOKS_FILE: anyText,
  AUTO_REPLY_RULES: anyText,
  LOG_LEVEL: oneOf(LOG_LEVELS, 'the quietest level logged'),
  LOG_FORMAT: oneOf(['json', 'pretty'] as const, ''),
  METRICS: onOff,
  METRICS_KEY: anyText,
  ROBLOX_WEBHOOK_SECRET: anyText,
  AUDIT_LOG_MAX: integerIn(1, 1_000_000),
  AUTO_REPLY_MODEL_URL: optionalHttpUrl,
  AUTO_REPLY_MODEL: anyText,
  AUTO_REPLY_MODEL_KEY: anyText,
  AUTO_REPLY_MODEL_PROMPT: t.string,
  AUTO_REPLY_MODEL_TIMEOUT_SECONDS: integerIn(1, 120),
} as const

export const DEFAULTS = {
  STORE: 'memory',
  /** Where Redis is, when STORE=redis. */
  REDIS_URL: 'redis://127.0.0.1:6379',
  /** Begins every key this server writes, so that several deployments can share one Redis. */
  REDIS_PREFIX: 'rms',
  PORT: 5000,
  HOST: '0.0.0.0',
  MAX_MESSAGES: 1000,
  MAX_MESSAGE_LENGTH: 1000,
  AUTO_REPLY: DEFAULT_AUTO_REPLY_TEMPLATE,
  CORS_ORIGINS: '*',
  MAX_CHANNELS: 32,
  LONG_POLL_MAX_SECONDS: 25,
  IDEMPOTENCY_KEYS_MAX: 10_000,
  /** A client has this long to send its request line and headers. */
  HEADERS_TIMEOUT_SECONDS: 10,
  /** ... and this long to send the whole request, body included. */
  REQUEST_TIMEOUT_SECONDS: 30,
  /** A connection with a request under way (not a held long poll's wait) is closed after this long without a byte moving. */
  IDLE_TIMEOUT_SECONDS: 30,
  /** An idle keep-alive connection is closed after this long; above the 60 s idle timeout of common load balancers. */
  KEEP_ALIVE_TIMEOUT_SECONDS: 65,
  /** Long polls held at once, from every client together (never per address: Roblox's servers share a few). */
  MAX_LONG_POLLS: 6_000,
  /** Event streams open at once, from every client together. */
  MAX_STREAMS: 1_000,
  /** Event streams open at once from one client address. */
  MAX_STREAMS_PER_ADDRESS: 50,
  /**
   * How often a quiet event stream gets a comment line. It must be shorter than IDLE_TIMEOUT_SECONDS:
   * a healthy stream stays active through its heartbeats, a reader that stopped reading does not.
   */
  STREAM_HEARTBEAT_SECONDS: 15,
  /** Keys that may read and send (scopes read, send); none: the server is open, as the original was. */
  API_KEYS: [] as ReadonlyArray<KeyEntry>,
  API_KEYS_FILE: undefined,
  /** Keys that may do everything, clearing included (scope admin). */
  ADMIN_KEYS: [] as ReadonlyArray<KeyEntry>,
  ADMIN_KEYS_FILE: undefined,
  /** Signs the short-lived read tokens of event streams; a random one per process when unset. */
  STREAM_TOKEN_SECRET: undefined,
  /** How long a stream token stays good. */
  STREAM_TOKEN_SECONDS: 600,
  /** Sends per player (user_id, else the name in any case); off by default, as the original had no limits. */
  PLAYER_RATE_LIMIT: undefined,
  /** Requests per client (its API key, else its address); off by default. */
  CLIENT_RATE_LIMIT: undefined,
  /** Proxies in front of the server whose X-Forwarded-For is believed; none by default. */
  TRUST_PROXY: 0,
  /** Words no message may contain (see the content policy). */
  BLOCKED_WORDS: [] as ReadonlyArray<string>,
  BLOCKED_WORDS_FILE: undefined,
  /** Where stored messages are also delivered: webhooks, Discord, Roblox Open Cloud (none by default). */
  WEBHOOKS: [] as ReadonlyArray<TargetConfig>,
  WEBHOOKS_FILE: undefined,
  /** A JSON file of reply rules, tried in order before AUTO_REPLY (see the README); none by default. */
  AUTO_REPLY_RULES: undefined,
  /** One JSON line per request at info; debug adds the health probes and metrics scrapes. */
  LOG_LEVEL: 'info' as LogLevel,
  /** JSON lines for a log system; pretty for a person at a terminal. */
  LOG_FORMAT: 'json' as 'json' | 'pretty',
  /** Prometheus metrics at GET /metrics; off measures nothing and answers 404 there. */
  METRICS: true as boolean,
  /** When set, GET /metrics needs it as Authorization: Bearer <key>. */
  METRICS_KEY: undefined,
  /** The secret of the webhook on Roblox (Right to Erasure); without it POST /api/roblox/webhook is not set up. */
  ROBLOX_WEBHOOK_SECRET: undefined,
  /** Admin actions the audit log keeps, the oldest let go first. */
  AUDIT_LOG_MAX: 10_000,
  /** An OpenAI-compatible chat completions endpoint whose replies are stored after the send's answer; none by default. */
  AUTO_REPLY_MODEL_URL: undefined,
  /** The model that endpoint is asked for (its `model` field). */
  AUTO_REPLY_MODEL: undefined,
  /** Sent as Authorization: Bearer <key>; none for a local model. */
  AUTO_REPLY_MODEL_KEY: undefined,
  /** The system prompt: who the model speaks as, and how. */
  AUTO_REPLY_MODEL_PROMPT: DEFAULT_MODEL_PROMPT,
  /** A model that has not answered in this long is given up on (the send was answered long before). */
  AUTO_REPLY_MODEL_TIMEOUT_SECONDS: 10,
} as const satisfies { [K in keyof typeof VARIABLES]: t.TypeOf<(typeof VARIABLES)[K]> }

export type Config = { readonly [K in keyof typeof VARIABLES]: t.TypeOf<(typeof VARIABLES)[K]> }

/** Every setting's name, in the order --help lists them. */
export const SETTINGS = Object.keys(VARIABLES) as ReadonlyArray<keyof Config>

/** What each setting means, in a line: for --help (the README's configuration table says the same at more length). */
export const MEANINGS: { readonly [K in keyof Config]: string } = {
  STORE: 'where messages are kept: memory (one process, forgotten on restart) or redis (shared by processes, kept)',
  REDIS_URL: 'where Redis is, with STORE=redis (a password in it is never logged)',
  REDIS_PREFIX: 'begins every key this server writes in Redis',
  PORT: 'TCP port to listen on (0 picks a free one)',
  HOST: 'interface to listen on',
  MAX_MESSAGES: 'messages kept per channel; the oldest are evicted first',
  MAX_MESSAGE_LENGTH: 'the longest message, in characters',
  AUTO_REPLY: 'the automatic reply, {player} standing for the sender; empty turns replies off',
  CORS_ORIGINS: '*, or a comma-separated list of origins allowed to call from a browser',
  MAX_CHANNELS: 'channels that may hold messages at once',
  LONG_POLL_MAX_SECONDS: 'the longest wait a long poll may ask for',
  IDEMPOTENCY_KEYS_MAX: 'Idempotency-Keys remembered (each for 24 h)',
  HEADERS_TIMEOUT_SECONDS: 'a client has this long to send its request line and headers (then 408)',
  REQUEST_TIMEOUT_SECONDS: 'and this long to send the whole request (then 408)',
  IDLE_TIMEOUT_SECONDS: 'a connection with a request under way is closed after this long without a byte moving',
  KEEP_ALIVE_TIMEOUT_SECONDS: 'an idle keep-alive connection is closed after this',
  MAX_LONG_POLLS: 'long polls held at once, all clients together (then 503)',
  MAX_STREAMS: 'event streams open at once, all clients together (then 503)',
  MAX_STREAMS_PER_ADDRESS: 'event streams open at once from one client address (then 429)',
  STREAM_HEARTBEAT_SECONDS: 'how often a quiet event stream gets a comment line; less than the idle timeout',
  API_KEYS: 'keys that may read and send: key, label:key or label:key:channelA|channelB, comma-separated',
  API_KEYS_FILE: 'a file of more such keys, one per line',
  ADMIN_KEYS: 'keys that may also clear',
  ADMIN_KEYS_FILE: 'a file of more admin keys, one per line',
  STREAM_TOKEN_SECRET: 'signs the event stream\'s read tokens, at least 32 characters; random per process when unset',
  STREAM_TOKEN_SECONDS: 'how long a stream token stays good',
  PLAYER_RATE_LIMIT: 'sends per player, such as 5/10s, or off',
  CLIENT_RATE_LIMIT: 'requests per client (its key, else its address), such as 600/60s, or off',
  TRUST_PROXY: 'false, true or how many proxies to believe in X-Forwarded-For and X-Request-Id',
  BLOCKED_WORDS: 'words no message nor player name may contain, comma-separated',
  BLOCKED_WORDS_FILE: 'a file of more blocked words, one per line',
  WEBHOOKS: 'outbound targets (webhooks, Discord, Roblox Open Cloud), a JSON list; see the README, Bridges',
  WEBHOOKS_FILE: 'a file holding more outbound targets, a JSON list',
  AUTO_REPLY_RULES: 'a JSON file of reply rules tried before AUTO_REPLY; SIGHUP reads it again',
  LOG_LEVEL: 'the quietest level logged: fatal, error, warn, info (a line per request), debug, trace or silent',
  LOG_FORMAT: 'json (a line per event, for a log system) or pretty (for a terminal)',
  METRICS: 'on serves Prometheus metrics at /metrics; off measures nothing',
  METRICS_KEY: 'when set, /metrics needs it as Authorization: Bearer <key>; at least 16 characters',
  ROBLOX_WEBHOOK_SECRET: "the secret of the experience's webhook on Roblox (Right to Erasure); without it POST /api/roblox/webhook is off",
  AUDIT_LOG_MAX: 'admin actions the audit log keeps, the oldest let go first',
  AUTO_REPLY_MODEL_URL: 'an OpenAI-compatible chat completions endpoint; its replies are stored after the send answers',
  AUTO_REPLY_MODEL: 'the model to ask for, with AUTO_REPLY_MODEL_URL',
  AUTO_REPLY_MODEL_KEY: 'the endpoint\'s API key, sent as Authorization: Bearer (never logged)',
  AUTO_REPLY_MODEL_PROMPT: 'the system prompt: who the model speaks as, and how',
  AUTO_REPLY_MODEL_TIMEOUT_SECONDS: 'a model that has not answered in this long is given up on',
}

/** A setting's default as it would be written in the environment; empty when it has none. */
export const defaultText = (name: keyof Config): string => (VARIABLES[name] as t.Type<unknown, string, unknown>).encode(DEFAULTS[name])

/** Reads a file named by a *_FILE variable. */
export type FileReader = (path: string) => string

const readUtf8: FileReader = (path) => readFileSync(path, 'utf8')

/** How a problem names a setting: its variable by default; the command line names the flag it came from. */
export type SettingName = (name: keyof Config) => string

const asVariable: SettingName = (name) => name

/** Every problem at once, each naming its variable (or as `nameOf` says), so one restart fixes them all. */
export const readConfig = (
  env: NodeJS.ProcessEnv,
  readFile: FileReader = readUtf8,
  nameOf: SettingName = asVariable,
): E.Either<ReadonlyArray<string>, Config> => {
  const problems: string[] = []
  const config: Record<string, unknown> = {}
  for (const [name, codec] of Object.entries(VARIABLES) as Array<[keyof Config, t.Type<unknown, unknown, unknown>]>) {
    const raw = env[name]
    if (raw === undefined) {
      config[name] = DEFAULTS[name]
      continue
    }
    const named = nameOf(name)
    // Secrets are never repeated in a message, not even in part: their problems are said without the value.
    if (name === 'API_KEYS' || name === 'ADMIN_KEYS') {
      const keys = parseKeys(raw, named)
      if (E.isLeft(keys)) problems.push(keys.left)
      else config[name] = keys.right
      continue
    }
    if (name === 'WEBHOOKS') {
      const targets = raw.trim() === '' ? E.right([]) : parseTargets(raw, named)
      if (E.isLeft(targets)) problems.push(...targets.left)
      else config[name] = targets.right
      continue
    }
    if (name === 'ROBLOX_WEBHOOK_SECRET') {
      // Roblox lets a webhook's secret be anything; one this short would sign nothing worth trusting. Never repeated.
      const secret = raw.trim()
      if (secret !== '' && (secret.length < 16 || secret.length > 1024 || /\s/.test(secret)))
        problems.push(`${named} must be 16–1024 characters without spaces, the same as the webhook's secret on Roblox (generate one with: openssl rand -hex 32); the value given is not shown`)
      else config[name] = secret === '' ? undefined : secret
      continue
    }
    if (name === 'STREAM_TOKEN_SECRET') {
      if (raw.trim() !== '' && raw.trim().length < 32) problems.push(`${named} must be at least 32 characters (generate one with: openssl rand -hex 32); the value given is not shown`)
      else config[name] = raw.trim() === '' ? undefined : raw.trim()
      continue
    }
    if (name === 'AUTO_REPLY_MODEL_KEY') {
      if (raw.trim() !== '' && (raw.trim().length > 4096 || /\s/.test(raw.trim()))) problems.push(`${named} must be a key without spaces, at most 4096 characters; the value given is not shown`)
      else config[name] = raw.trim() === '' ? undefined : raw.trim()
      continue
    }
    if (name === 'METRICS_KEY') {
      if (raw.trim() !== '' && !SECRET.test(raw.trim()))
        problems.push(`${named} must be 16–256 of A–Z a–z 0–9 . _ ~ + / = - (generate one with: openssl rand -hex 32); the value given is not shown`)
      else config[name] = raw.trim() === '' ? undefined : raw.trim()
      continue
    }
    const decoded = codec.decode(raw)
    // A Redis URL may hold a password: it is never repeated.
    if (E.isLeft(decoded)) problems.push(`${named} must be ${codec.name}, got ${name === 'REDIS_URL' || name === 'AUTO_REPLY_MODEL_URL' ? 'a value that is not one (not shown: it may hold a password)' : JSON.stringify(raw)}`)
    else config[name] = decoded.right
  }
  if (problems.length === 0) problems.push(...fromFiles(config as Record<keyof Config, unknown>, readFile, nameOf))
  if (problems.length === 0) problems.push(...crossProblems(config as Config, nameOf))
  return problems.length > 0 ? E.left(problems) : E.right(config as Config)
}

/** The lists named by *_FILE variables, added to their variable's own; a file that cannot be read names its variable. */
const fromFiles = (config: Record<keyof Config, unknown>, readFile: FileReader, nameOf: SettingName): string[] => {
  const problems: string[] = []
  const read = (variable: keyof Config, path: unknown): string | undefined => {
    if (typeof path !== 'string') return undefined
    try {
      return readFile(path)
    } catch (err) {
      problems.push(`${nameOf(variable)} must name a readable file, got ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
      return undefined
    }
  }
  for (const [list, file] of [['API_KEYS', 'API_KEYS_FILE'], ['ADMIN_KEYS', 'ADMIN_KEYS_FILE']] as const) {
    const text = read(file, config[file])
    if (text === undefined) continue
    const keys = parseKeys(text, nameOf(file))
    if (E.isLeft(keys)) problems.push(keys.left)
    else config[list] = [...(config[list] as ReadonlyArray<KeyEntry>), ...keys.right]
  }
  const webhooks = read('WEBHOOKS_FILE', config.WEBHOOKS_FILE)
  if (webhooks !== undefined) {
    // Every problem names the variable and the file, whose text is never repeated (it may hold secrets).
    const where = `${nameOf('WEBHOOKS_FILE')} (${String(config.WEBHOOKS_FILE)})`
    const targets = parseTargets(webhooks, where)
    if (E.isLeft(targets)) problems.push(...targets.left)
    // A name in both is refused with the rules between variables (crossProblems).
    else config.WEBHOOKS = [...(config.WEBHOOKS as ReadonlyArray<TargetConfig>), ...targets.right]
  }
  const rules = read('AUTO_REPLY_RULES', config.AUTO_REPLY_RULES)
  if (rules !== undefined) {
    const parsed = parseReplyRules(rules, nameOf('AUTO_REPLY_RULES'))
    if (E.isLeft(parsed)) problems.push(...parsed.left)
  }
  const words = read('BLOCKED_WORDS_FILE', config.BLOCKED_WORDS_FILE)
  if (words !== undefined) config.BLOCKED_WORDS = [...(config.BLOCKED_WORDS as ReadonlyArray<string>), ...splitWords(words)]
  return problems
}

/** Rules between variables, checked once each is valid on its own. */
const crossProblems = (config: Config, nameOf: SettingName): string[] => {
  const problems: string[] = []
  const n = nameOf
  if (config.STREAM_HEARTBEAT_SECONDS >= config.IDLE_TIMEOUT_SECONDS)
    problems.push(
      `${n('STREAM_HEARTBEAT_SECONDS')} must be less than ${n('IDLE_TIMEOUT_SECONDS')} (${config.IDLE_TIMEOUT_SECONDS}), got ${config.STREAM_HEARTBEAT_SECONDS}: a quiet stream would be closed as idle between heartbeats`,
    )
  if (config.HEADERS_TIMEOUT_SECONDS > config.REQUEST_TIMEOUT_SECONDS)
    problems.push(
      `${n('HEADERS_TIMEOUT_SECONDS')} must be at most ${n('REQUEST_TIMEOUT_SECONDS')} (${config.REQUEST_TIMEOUT_SECONDS}), got ${config.HEADERS_TIMEOUT_SECONDS}: the headers are part of the request`,
    )
  const keys = [...config.API_KEYS.map((k) => [n('API_KEYS'), k] as const), ...config.ADMIN_KEYS.map((k) => [n('ADMIN_KEYS'), k] as const)]
  const labels = new Set<string>()
  const secrets = new Set<string>()
  for (const [variable, key] of keys) {
    if (labels.has(key.label)) problems.push(`${variable}: the label ${key.label} is used for two keys; labels name keys in logs, so each must be its own`)
    if (secrets.has(key.secret)) problems.push(`${variable}: the key labelled ${key.label} is configured twice`)
    labels.add(key.label)
    secrets.add(key.secret)
  }
  const targetNames = new Set<string>()
  for (const target of config.WEBHOOKS) {
    if (targetNames.has(target.name)) problems.push(`${n('WEBHOOKS')} and ${n('WEBHOOKS_FILE')} both name a target ${target.name}; each target's name must be its own`)
    targetNames.add(target.name)
  }
  if (config.AUTO_REPLY_MODEL_URL !== undefined && config.AUTO_REPLY_MODEL === undefined)
    problems.push(`${n('AUTO_REPLY_MODEL')} must name the model to ask for when ${n('AUTO_REPLY_MODEL_URL')} is set (such as gpt-4o-mini, or llama3.2 on a local server)`)
  if (config.AUTO_REPLY_MODEL_URL !== undefined && config.AUTO_REPLY_MODEL_PROMPT.trim() === '') problems.push(`${n('AUTO_REPLY_MODEL_PROMPT')} must not be empty: it tells the model who it speaks as`)
  if (config.MAX_STREAMS_PER_ADDRESS > config.MAX_STREAMS)
    problems.push(`${n('MAX_STREAMS_PER_ADDRESS')} must be at most ${n('MAX_STREAMS')} (${config.MAX_STREAMS}), got ${config.MAX_STREAMS_PER_ADDRESS}`)
  return problems
}

/**
 * The configuration as the start-up log line shows it: every setting in
 * force, secrets masked. Keys appear by label (and channels), never by
 * secret; a Redis URL without its password; the blocked words by count, as
 * they are never repeated anywhere.
 */
export const effectiveConfig = (config: Config): Readonly<Record<keyof Config, unknown>> => {
  const shown = {} as Record<keyof Config, unknown>
  for (const name of SETTINGS) shown[name] = (VARIABLES[name] as t.Type<unknown, string, unknown>).encode(config[name])
  const keys = (list: ReadonlyArray<KeyEntry>) => list.map((k) => (k.channels === undefined ? k.label : `${k.label} (${k.channels.join('|')})`))
  shown.API_KEYS = keys(config.API_KEYS)
  shown.ADMIN_KEYS = keys(config.ADMIN_KEYS)
  shown.STREAM_TOKEN_SECRET = config.STREAM_TOKEN_SECRET === undefined ? '(random per process)' : '(set, not shown)'
  shown.METRICS_KEY = config.METRICS_KEY === undefined ? '(none)' : '(set, not shown)'
  shown.REDIS_URL = withoutPassword(config.REDIS_URL)
  shown.BLOCKED_WORDS = `(${config.BLOCKED_WORDS.length} words, not shown)`
  shown.ROBLOX_WEBHOOK_SECRET = config.ROBLOX_WEBHOOK_SECRET === undefined ? '(none)' : '(set, not shown)'
  shown.AUTO_REPLY_MODEL_KEY = config.AUTO_REPLY_MODEL_KEY === undefined ? '(none)' : '(set, not shown)'
  if (config.AUTO_REPLY_MODEL_URL !== undefined) shown.AUTO_REPLY_MODEL_URL = withoutCredentials(config.AUTO_REPLY_MODEL_URL)
  // Each target's name, kind and address, its secrets (a signing secret, an Open Cloud key, a Discord URL's token) masked.
  shown.WEBHOOKS = config.WEBHOOKS.map(describeTarget)
  return shown
}

const withoutPassword = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password === '') return url
    parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(not shown)'
  }
}
