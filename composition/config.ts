import * as E from 'fp-ts/Either'
import * as t from 'io-ts'
import { DEFAULT_AUTO_REPLY_TEMPLATE } from '../domain/auto-reply'

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

/** The stores the composition root can build. */
export const STORES = ['memory'] as const
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

const VARIABLES = {
  STORE: storeName,
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
} as const

export const DEFAULTS = {
  STORE: 'memory',
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
} as const satisfies { [K in keyof typeof VARIABLES]: t.TypeOf<(typeof VARIABLES)[K]> }

export type Config = { readonly [K in keyof typeof VARIABLES]: t.TypeOf<(typeof VARIABLES)[K]> }

/** Every problem at once, each naming its variable, so one restart fixes them all. */
export const readConfig = (env: NodeJS.ProcessEnv): E.Either<ReadonlyArray<string>, Config> => {
  const problems: string[] = []
  const config: Record<string, unknown> = {}
  for (const [name, codec] of Object.entries(VARIABLES) as Array<[keyof Config, t.Type<unknown, unknown, unknown>]>) {
    const raw = env[name]
    if (raw === undefined) {
      config[name] = DEFAULTS[name]
      continue
    }
    const decoded = codec.decode(raw)
    if (E.isLeft(decoded)) problems.push(`${name} must be ${codec.name}, got ${JSON.stringify(raw)}`)
    else config[name] = decoded.right
  }
  if (problems.length === 0) problems.push(...crossProblems(config as Config))
  return problems.length > 0 ? E.left(problems) : E.right(config as Config)
}

/** Rules between variables, checked once each is valid on its own. */
const crossProblems = (config: Config): string[] => {
  const problems: string[] = []
  if (config.STREAM_HEARTBEAT_SECONDS >= config.IDLE_TIMEOUT_SECONDS)
    problems.push(
      `STREAM_HEARTBEAT_SECONDS must be less than IDLE_TIMEOUT_SECONDS (${config.IDLE_TIMEOUT_SECONDS}), got ${config.STREAM_HEARTBEAT_SECONDS}: a quiet stream would be closed as idle between heartbeats`,
    )
  if (config.HEADERS_TIMEOUT_SECONDS > config.REQUEST_TIMEOUT_SECONDS)
    problems.push(
      `HEADERS_TIMEOUT_SECONDS must be at most REQUEST_TIMEOUT_SECONDS (${config.REQUEST_TIMEOUT_SECONDS}), got ${config.HEADERS_TIMEOUT_SECONDS}: the headers are part of the request`,
    )
  if (config.MAX_STREAMS_PER_ADDRESS > config.MAX_STREAMS)
    problems.push(`MAX_STREAMS_PER_ADDRESS must be at most MAX_STREAMS (${config.MAX_STREAMS}), got ${config.MAX_STREAMS_PER_ADDRESS}`)
  return problems
}
