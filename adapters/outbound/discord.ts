import type { Clock } from '../../domain/clock'
import type { Message } from '../../domain/message'
import type { Deliverer } from '../../domain/outbound'
import { outcomeOf, post, retryAfterMs, type Answer } from './post'

/*
 * A Discord webhook (Server Settings → Integrations → Webhooks): each message
 * posted as the player who wrote it, its text shown exactly as typed and
 * never able to ping anyone.
 *
 * - `allowed_mentions: { parse: [] }`: no `@everyone`, `@here`, role or user
 *   mention pings, whatever the text holds; and the text is escaped for
 *   Discord's markdown, so `**bold**`, `# heading`, `[masked](links)`,
 *   `<@123>` and `:emoji:` show as typed (a backslash before punctuation shows
 *   the punctuation).
 * - Link previews are suppressed (flag SUPPRESS_EMBEDS), so a player cannot
 *   make the channel show an image from a link.
 * - At most 2,000 characters, Discord's limit: a longer text is cut, with an
 *   ellipsis, never inside an escape or a character.
 * - Its rate limits are read from every answer (`X-RateLimit-Remaining`,
 *   `X-RateLimit-Reset-After`): when a bucket is spent, the next message
 *   waits for it to refill instead of being refused; a 429 is honoured by its
 *   `retry_after` (seconds, in the body) or `Retry-After`.
 */

export type DiscordOptions = {
  readonly url: string
  /** A picture for every message (the webhook's own when absent). */
  readonly avatarUrl?: string
  readonly timeoutMs: number
  readonly clock: Clock
  readonly userAgent: string
}

export const DISCORD_CONTENT_MAX = 2000
const SUPPRESS_EMBEDS = 1 << 2

/** Every character Discord's markdown, mentions, emoji or links could read as more than itself. */
const MARKDOWN = /[\\*_~`|<>#\-[\]():@.!]/g

/** A text as Discord shows it, character for character, within its limit. */
export const discordContent = (text: string): string => {
  const escaped = text.replace(MARKDOWN, '\\$&')
  if (escaped.length <= DISCORD_CONTENT_MAX) return escaped
  let cut = DISCORD_CONTENT_MAX - 1
  // Not between the halves of a surrogate pair, nor after a lone escaping backslash.
  if (/[\uD800-\uDBFF]/.test(escaped[cut - 1] ?? '')) cut--
  let backslashes = 0
  while (escaped[cut - 1 - backslashes] === '\\') backslashes++
  if (backslashes % 2 === 1) cut--
  return `${escaped.slice(0, cut)}…`
}

/**
 * A player's name as a Discord webhook username: 1–80 characters, without
 * what Discord refuses in one (`@`, `#`, `:`, ```` ``` ````, "discord",
 * "clyde", and the names "everyone" and "here").
 */
export const discordUsername = (name: string): string => {
  const cleaned = name
    .replace(/[@#:`]/g, '')
    .replace(/discord|clyde/gi, '')
    .trim()
    .slice(0, 80)
  return cleaned === '' || /^(everyone|here)$/i.test(cleaned) ? 'Player' : cleaned
}

export const discordBody = (message: Message, avatarUrl?: string): string =>
  JSON.stringify({
    content: discordContent(message.text),
    username: discordUsername(message.playerName),
    ...(avatarUrl === undefined ? {} : { avatar_url: avatarUrl }),
    allowed_mentions: { parse: [] },
    flags: SUPPRESS_EMBEDS,
  })

/** How long until the bucket this answer spent refills, when it says it is spent. */
const spentBucketMs = (answer: Answer): number | undefined => {
  if (answer.headers.get('x-ratelimit-remaining') !== '0') return undefined
  const after = Number(answer.headers.get('x-ratelimit-reset-after'))
  return Number.isFinite(after) && after > 0 ? Math.ceil(after * 1000) : undefined
}

/** A 429's wait: the body's `retry_after` (seconds, fractional) or the Retry-After header, whichever is longer. */
const retryAfterOf = (answer: Answer, now: number): number | undefined => {
  let fromBody: number | undefined
  try {
    const parsed = JSON.parse(answer.body) as { retry_after?: unknown }
    if (typeof parsed.retry_after === 'number' && Number.isFinite(parsed.retry_after) && parsed.retry_after >= 0) fromBody = Math.ceil(parsed.retry_after * 1000)
  } catch {
    fromBody = undefined
  }
  const fromHeader = retryAfterMs(answer.headers.get('retry-after'), now)
  if (fromBody === undefined) return fromHeader ?? spentBucketMs(answer)
  return fromHeader === undefined ? fromBody : Math.max(fromBody, fromHeader)
}

export const createDiscordDeliverer = (options: DiscordOptions): Deliverer => ({
  deliver: (message, signal) => async () => {
    const answer = await post(options.url, discordBody(message, options.avatarUrl), { 'content-type': 'application/json', 'user-agent': options.userAgent }, options.timeoutMs, signal)
    if ('failed' in answer) return outcomeOf(answer)
    return outcomeOf(answer, answer.status === 429 ? retryAfterOf(answer, options.clock.now()) : retryAfterMs(answer.headers.get('retry-after'), options.clock.now()), spentBucketMs(answer))
  },
})
