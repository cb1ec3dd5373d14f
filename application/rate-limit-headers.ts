import type { RateDecision } from '../domain/rate-limit'

/** One limit that applied to a request: its policy's name (`player`, `client`) and what its take decided. */
export type AppliedLimit = { readonly policy: string; readonly decision: RateDecision }

/** A policy's name as a Structured Field String: quoted, `"` and `\` escaped. */
const sfString = (name: string): string => `"${name.replace(/[\\"]/g, (c) => `\\${c}`)}"`

/** The limit closest to refusing: a refused one (the longest wait first), else the one with the fewest remaining. */
const tightest = (limits: ReadonlyArray<AppliedLimit>): AppliedLimit | undefined => {
  let best: AppliedLimit | undefined
  for (const applied of limits) {
    const d = applied.decision
    if (best === undefined) best = applied
    else if (d.allowed !== best.decision.allowed) best = d.allowed ? best : applied
    else if (!d.allowed ? d.retryAfterSeconds > best.decision.retryAfterSeconds : d.remaining < best.decision.remaining) best = applied
  }
  return best
}

/**
 * The rate-limit headers of an answer, as a flat list of names and values
 * (`['RateLimit-Policy', '"player";q=5;w=10', 'RateLimit', '"player";r=0;t=2', …]`),
 * for whatever writes the response. Both forms of draft-ietf-httpapi-ratelimit-headers
 * are sent, since clients read one or the other:
 *
 * - the current draft's (-10, -11): `RateLimit-Policy: "player";q=5;w=10` (quota and
 *   window in seconds) and `RateLimit: "player";r=0;t=2`, one list member per limit that
 *   applied. `r` is the whole tokens left; `t`, "the time within which the client can use
 *   no more than r", is for a token bucket the time until the next token; on a refusal it
 *   is the Retry-After, which the draft says must not end before `t` does. (Draft 07's
 *   `RateLimit: limit=5, remaining=0, reset=7` dictionary was replaced by this form in
 *   draft 08 and is not sent.)
 * - the earlier drafts' trio (-00 to -06), still the most widely read: `RateLimit-Limit`,
 *   `RateLimit-Remaining`, `RateLimit-Reset`, for the one limit closest to refusing, as
 *   those drafts require. `RateLimit-Reset` is the time until the bucket is full again
 *   (when `Remaining` is back to `Limit`); on a refusal it is the Retry-After, the same
 *   point in time, as those drafts require.
 *
 * When a limit refused, `Retry-After` (whole seconds, the longest wait of those refused)
 * is in the list too, so the answer's writer need not add its own.
 */
export const rateLimitHeaders = (limits: ReadonlyArray<AppliedLimit>): string[] => {
  const top = tightest(limits)
  if (top === undefined) return []
  const policies: string[] = []
  const states: string[] = []
  for (const { policy, decision: d } of limits) {
    policies.push(`${sfString(policy)};q=${d.limit};w=${d.windowSeconds}`)
    states.push(`${sfString(policy)};r=${d.remaining};t=${d.allowed ? d.nextSeconds : d.retryAfterSeconds}`)
  }
  const d = top.decision
  const headers = [
    'RateLimit-Policy',
    policies.join(', '),
    'RateLimit',
    states.join(', '),
    'RateLimit-Limit',
    String(d.limit),
    'RateLimit-Remaining',
    String(d.remaining),
    'RateLimit-Reset',
    String(d.allowed ? d.resetSeconds : d.retryAfterSeconds),
  ]
  if (!d.allowed) headers.push('Retry-After', String(d.retryAfterSeconds))
  return headers
}

/** What a refusal's JSON error says of the limit: `"too many messages from this player: at most 5 every 10 seconds; retry in 2 seconds"`. */
export const rateLimitText = (scope: 'player' | 'client', decision: RateDecision): string => {
  const what = scope === 'player' ? 'messages from this player' : 'requests from this client'
  const seconds = (n: number) => (n === 1 ? '1 second' : `${n} seconds`)
  return `too many ${what}: at most ${decision.limit} every ${seconds(decision.windowSeconds)}; retry in ${seconds(decision.retryAfterSeconds)}`
}
