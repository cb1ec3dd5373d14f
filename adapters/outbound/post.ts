import type { DeliveryOutcome } from '../../domain/outbound'

/*
 * What the outbound adapters share: one POST with a deadline for the whole
 * exchange (connection, answer and body), an answer's body read only up to
 * a bound (a target that streams for ever is cut off), and the one reading
 * of a status as a delivery outcome.
 */

export type Answer = { readonly status: number; readonly headers: Headers; readonly body: string }

/** The most of an answer's body read: enough for any error text or rate-limit body, and a receiver cannot make us hold more. */
export const ANSWER_BODY_MAX = 16 * 1024

/** POSTs `body`; an answer of any status, or the reason none came (a network error, the deadline). Never rejects. */
export const post = async (
  url: string,
  body: string,
  headers: Readonly<Record<string, string>>,
  timeoutMs: number,
  cancelled?: AbortSignal,
): Promise<Answer | { readonly failed: string }> => {
  const timeout = AbortSignal.timeout(timeoutMs)
  const signal = cancelled === undefined ? timeout : AbortSignal.any([timeout, cancelled])
  try {
    const response = await fetch(url, { method: 'POST', headers, body, signal, redirect: 'manual' })
    return { status: response.status, headers: response.headers, body: await boundedText(response) }
  } catch (err) {
    if (cancelled?.aborted === true) return { failed: 'cut short by the shutdown' }
    if (timeout.aborted) return { failed: `no answer within ${timeoutMs} ms` }
    const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : ''
    return { failed: `${err instanceof Error ? err.message : String(err)}${cause}` }
  }
}

const boundedText = async (response: Response): Promise<string> => {
  if (response.body === null) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
    if (size >= ANSWER_BODY_MAX) {
      await reader.cancel()
      break
    }
  }
  return Buffer.concat(chunks).subarray(0, ANSWER_BODY_MAX).toString('utf8')
}

/** Retry-After as milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export const retryAfterMs = (value: string | null, now: number): number | undefined => {
  if (value === null) return undefined
  const trimmed = value.trim()
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000)
  const at = Date.parse(trimmed)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/** A short account of an answer for logs and the status page: its status and the start of its body, on one line. */
export const described = (answer: Answer): string => {
  const text = answer.body.replace(/\s+/g, ' ').trim().slice(0, 200)
  return `answered ${answer.status}${text === '' ? '' : `: ${text}`}`
}

/**
 * An answer as an outcome, the way every target kind reads one: 2xx taken;
 * 408, 425, 429 and 5xx worth trying again, as is 401, 403, 404 and 410 (a
 * key or URL that is wrong now may be fixed; the target is paused if it goes
 * on); any other 4xx refuses this message for good. `afterMs`: what the
 * target asked for, if it said (the caller reads its own headers for that).
 */
export const outcomeOf = (answer: Answer | { readonly failed: string }, afterMs?: number, waitMs?: number): DeliveryOutcome => {
  if ('failed' in answer) return { _tag: 'Retry', reason: answer.failed }
  const { status } = answer
  if (status >= 200 && status < 300) return waitMs === undefined ? { _tag: 'Delivered' } : { _tag: 'Delivered', waitMs }
  const reason = described(answer)
  if (status === 408 || status === 425 || status === 429 || status >= 500 || [401, 403, 404, 410].includes(status))
    return afterMs === undefined ? { _tag: 'Retry', reason } : { _tag: 'Retry', reason, afterMs }
  if (status >= 300 && status < 400) return { _tag: 'Retry', reason: `${reason} (redirects are not followed: give the target's final URL)` }
  return { _tag: 'Refused', reason }
}
