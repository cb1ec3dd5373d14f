import type { RedisConnection } from './connection'
import { command, unavailable } from './script'

/** How long one answer of the write probe stands: probes every second or two from load balancers cost Redis one write a second. */
const WRITE_PROBE_MS = 1_000

/**
 * Readiness on Redis: a write that expires (SET P:readyz … PX), at most one
 * a second, its answer shared by the probes that ask meanwhile. A connection
 * that is up says nothing of a Redis that refuses writes (OOM with
 * noeviction, MISCONF after a failed snapshot), which fails every send.
 */
export const redisWriteProbe = (connection: RedisConnection, prefix: string): (() => Promise<string | undefined>) => {
  let last: { readonly at: number; readonly answer: Promise<string | undefined> } | undefined
  return () => {
    const now = Date.now()
    if (last !== undefined && now - last.at < WRITE_PROBE_MS) return last.answer
    const answer = !connection.ready()
      ? Promise.resolve('the store (redis) does not answer')
      : command(connection.client, ['SET', `${prefix}:readyz`, String(now), 'PX', '10000']).then(
          () => undefined,
          (err: unknown) => `the store (redis) refuses writes (${unavailable(err).detail})`,
        )
    last = { at: now, answer }
    return answer
  }
}
