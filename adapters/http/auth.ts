import * as crypto from 'node:crypto'
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'

/*
 * Who is asking, and what they may do. Keys are configured with a label
 * (for logs and limits: the secret is never logged, echoed or passed on),
 * scopes and, optionally, the channels they are limited to. A key is
 * presented as `Authorization: Bearer <key>` or `X-Api-Key: <key>`; an
 * event stream, which a browser's EventSource opens without headers, may
 * instead carry a short-lived read token obtained with a key
 * (`POST /api/token`), never the key itself in the URL.
 *
 * Presented secrets are compared in constant time: each is hashed, and the
 * hash compared with every configured key's hash with `timingSafeEqual`,
 * all of them every time, so that neither the secret nor which key matched
 * can be learnt from how long the answer took.
 */

export type Scope = 'read' | 'send' | 'admin'

export type ApiKey = {
  readonly label: string
  readonly scopes: ReadonlySet<Scope>
  /** The channels the key is limited to; every channel when absent. */
  readonly channels?: ReadonlySet<string>
}

/** A key as configured: the label, the secret and its scopes and channels. */
export type KeyConfig = {
  readonly label: string
  readonly secret: string
  readonly scopes: ReadonlyArray<Scope>
  readonly channels?: ReadonlyArray<string>
}

export type Identity =
  /** No keys are configured: the server is open, as the original was. */
  | { readonly _tag: 'Open' }
  /** Keys are configured and none was presented. */
  | { readonly _tag: 'Anonymous' }
  /** A key or token was presented and is not one we know (or has expired). */
  | { readonly _tag: 'Unknown'; readonly reason: string }
  | { readonly _tag: 'Key'; readonly key: ApiKey; readonly viaToken: boolean }

export const PLAIN_SCOPES: ReadonlyArray<Scope> = ['read', 'send']
export const ADMIN_SCOPES: ReadonlyArray<Scope> = ['read', 'send', 'admin']

export type AuthOptions = {
  readonly keys: ReadonlyArray<KeyConfig>
  /** Signs stream tokens; a random one (good for this process's life) when absent. */
  readonly tokenSecret?: string
  /** How long a stream token stays good. */
  readonly tokenSeconds?: number
  readonly now?: () => number
}

export type Auth = {
  /** Whether no key is configured: then every request may do everything, but what `crossSiteRefusal` refuses. */
  readonly open: boolean
  /** The identity a request presents by its headers (and, when `acceptToken`, by a `token` in its query). */
  readonly identify: (req: IncomingMessage, token: string | undefined) => Identity
  /** A read token for an event stream, for a key that may read. */
  readonly issueToken: (key: ApiKey) => { readonly token: string; readonly expiresIn: number }
}

type StoredKey = ApiKey & { readonly digest: Buffer }

// Node's one-shot hash (20.12 and later) costs under half of a Hash object's create, update and digest, on every request with a key.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash
const digestOf = (secret: string): Buffer => (oneShotHash === undefined ? createHash('sha256').update(secret).digest() : oneShotHash('sha256', secret, 'buffer'))

/** Good keys remembered as presented (see keyFor): more than a deployment has, so each is hashed once. */
const RECENT_KEYS_MAX = 256

const BEARER = /^Bearer\s+(\S+)\s*$/i

/** The secret a request presents in its headers, if any; a malformed Authorization is presented as not a key. */
const presented = (req: IncomingMessage): string | undefined => {
  const header = req.headers['x-api-key']
  if (typeof header === 'string' && header !== '') return header.trim()
  const authorization = req.headers.authorization
  if (authorization === undefined || authorization === '') return undefined
  return BEARER.exec(authorization)?.[1] ?? ''
}

export const createAuth = (options: AuthOptions): Auth => {
  const now = options.now ?? Date.now
  const tokenSeconds = options.tokenSeconds ?? 600
  const secret = options.tokenSecret ?? randomBytes(32).toString('base64url')
  const keys: StoredKey[] = options.keys.map((k) => ({
    label: k.label,
    scopes: new Set(k.scopes),
    ...(k.channels === undefined ? {} : { channels: new Set(k.channels) }),
    digest: digestOf(k.secret),
  }))
  const byLabel = new Map(keys.map((k) => [k.label, k]))

  /** Every key compared, whatever matched first: the time taken says nothing of which. */
  const compared = (candidate: string): StoredKey | undefined => {
    const digest = digestOf(candidate)
    let found: StoredKey | undefined
    for (const key of keys) if (timingSafeEqual(digest, key.digest) && found === undefined) found = key
    return found
  }
  /*
   * The keys presented lately and found good, so that a game server's every
   * request is not hashed again. Only good keys are kept: an unknown key is
   * compared in full every time, so the cache teaches a guesser nothing the
   * answer (200 or 401) does not, and a flood of made-up keys cannot fill it.
   * A Map finds an entry by the string's hash, then compares the strings only
   * when the hashes are equal: no byte-by-byte early exit on a near miss.
   */
  const recent = new Map<string, StoredKey>()
  const keyFor = (candidate: string): StoredKey | undefined => {
    const known = recent.get(candidate)
    if (known !== undefined) return known
    const found = compared(candidate)
    if (found !== undefined) {
      if (recent.size >= RECENT_KEYS_MAX) recent.delete(recent.keys().next().value as string)
      recent.set(candidate, found)
    }
    return found
  }

  const sign = (payload: string): Buffer => createHmac('sha256', secret).update(payload).digest()

  const fromToken = (token: string): Identity => {
    const dot = token.indexOf('.')
    if (dot <= 0) return { _tag: 'Unknown', reason: 'the token is malformed' }
    const payload = token.slice(0, dot)
    const signature = Buffer.from(token.slice(dot + 1), 'base64url')
    const expected = sign(payload)
    if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return { _tag: 'Unknown', reason: 'the token is not one this server issued' }
    let claims: { l?: unknown; e?: unknown }
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { l?: unknown; e?: unknown }
    } catch {
      return { _tag: 'Unknown', reason: 'the token is malformed' }
    }
    if (typeof claims.e !== 'number' || claims.e * 1000 <= now()) return { _tag: 'Unknown', reason: 'the token has expired; ask POST /api/token for a new one' }
    const key = typeof claims.l === 'string' ? byLabel.get(claims.l) : undefined
    if (key === undefined) return { _tag: 'Unknown', reason: 'the token names a key this server no longer has' }
    // A token reads, whatever else its key may do.
    return { _tag: 'Key', key: { label: key.label, scopes: READ_ONLY, ...(key.channels === undefined ? {} : { channels: key.channels }) }, viaToken: true }
  }

  return {
    open: keys.length === 0,
    identify: (req, token) => {
      if (keys.length === 0) return OPEN
      const secretPresented = presented(req)
      if (secretPresented !== undefined) {
        const key = keyFor(secretPresented)
        return key === undefined ? UNKNOWN_KEY : { _tag: 'Key', key, viaToken: false }
      }
      if (token !== undefined) return fromToken(token)
      return ANONYMOUS
    },
    issueToken: (key) => {
      const expires = Math.floor(now() / 1000) + tokenSeconds
      const payload = Buffer.from(JSON.stringify({ l: key.label, e: expires })).toString('base64url')
      return { token: `${payload}.${sign(payload).toString('base64url')}`, expiresIn: tokenSeconds }
    },
  }
}

/**
 * Whether a request presents `secret` (as Authorization: Bearer or
 * X-Api-Key), compared in constant time like every key: for a secret of its
 * own, such as the METRICS_KEY that guards GET /metrics.
 */
export const secretCheck = (secret: string): ((req: IncomingMessage) => 'absent' | 'wrong' | 'right') => {
  const digest = digestOf(secret)
  return (req) => {
    const candidate = presented(req)
    if (candidate === undefined) return 'absent'
    return timingSafeEqual(digestOf(candidate), digest) ? 'right' : 'wrong'
  }
}

const READ_ONLY: ReadonlySet<Scope> = new Set(['read'])
const OPEN: Identity = { _tag: 'Open' }
const ANONYMOUS: Identity = { _tag: 'Anonymous' }
const UNKNOWN_KEY: Identity = { _tag: 'Unknown', reason: 'the API key is not one this server knows' }

/** Whether the identity may act in the scope (an open server: always). */
export const mayAct = (identity: Identity, scope: Scope): boolean =>
  identity._tag === 'Open' || (identity._tag === 'Key' && identity.key.scopes.has(scope))

/** Whether the identity may act in the channel (a key limited to channels: only in those). */
export const mayUseChannel = (identity: Identity, channel: string): boolean =>
  identity._tag !== 'Key' || identity.key.channels === undefined || identity.key.channels.has(channel)

/** The first of the channels the identity may not act in, if any: a read of several channels needs every one of them. */
export const channelRefused = (identity: Identity, channels: ReadonlyArray<string>): string | undefined => {
  for (const channel of channels) if (!mayUseChannel(identity, channel)) return channel
  return undefined
}

/**
 * On an open server (no keys), a request that changes state and comes from
 * a web page on another site that CORS_ORIGINS does not allow is refused: a
 * cross-site form post needs no preflight, so CORS alone would let any page
 * act. `starAllows` says whether `*` allows it: for a send it does (pages on
 * any site may post messages, as the original server let them), for a clear
 * it does not (no page on another site may wipe the history unless its
 * origin is listed by name). A request is from a page on another site when
 * the browser says so (`Sec-Fetch-Site: cross-site` or `same-site`) or its
 * Origin is not this server's own. Clients that are not browsers send
 * neither header. Answers the offending origin, or undefined.
 */
export const crossSiteOrigin = (req: IncomingMessage, listed: '*' | ReadonlyArray<string>, starAllows: boolean): string | undefined => {
  if (listed === '*' && starAllows) return undefined
  const origin = req.headers.origin
  const site = req.headers['sec-fetch-site']
  if (site === 'same-origin' || site === 'none') return undefined
  if (origin === undefined) return site === 'cross-site' || site === 'same-site' ? '(unknown)' : undefined
  if (listed !== '*' && listed.includes(origin)) return undefined
  let host: string
  try {
    host = new URL(origin).host
  } catch {
    return origin
  }
  return host === req.headers.host ? undefined : origin
}
