import type { Refusal } from './problems'

/*
 * What this process refused lately, for the admin dashboard: counts by
 * reason over the last hour, in minute buckets, and the newest refusals.
 * Bounded whatever the traffic (60 buckets of at most REASONS_MAX reasons,
 * RECENT_MAX entries). Per process: behind a load balancer each process
 * shows its own; Prometheus (/metrics) sums them.
 */

export type RefusalEntry = { readonly at: number; readonly status: number; readonly reason: string; readonly method: string; readonly path: string }

export type RefusalSnapshot = {
  /** Refusals in the last hour by reason, most first. */
  readonly lastHour: ReadonlyArray<{ readonly status: number; readonly reason: string; readonly count: number }>
  /** The newest refusals, newest first. */
  readonly recent: ReadonlyArray<RefusalEntry>
}

export type RefusalLog = {
  readonly record: (refusal: Refusal, status: number, method: string, url: string) => void
  readonly snapshot: () => RefusalSnapshot
}

const MINUTE = 60_000
const BUCKETS = 60
const RECENT_MAX = 50
/** Distinct reasons one minute keeps; more are counted as "other" (a reason carries a rule or scope name, so there are few). */
const REASONS_MAX = 64
const PATH_MAX = 120

/** A refusal's reason as the dashboard groups it: its tag, with the rule or the scope that refused where there is one. */
export const reasonOf = (refusal: Refusal): string => {
  switch (refusal._tag) {
    case 'PolicyRefused':
      return `PolicyRefused: ${refusal.rule}`
    case 'RateLimited':
      return `RateLimited: ${refusal.scope}`
    default:
      return refusal._tag
  }
}

export const createRefusalLog = (now: () => number = Date.now): RefusalLog => {
  // Bucket i holds minute `minute` (ms since the epoch / MINUTE); a stale bucket is emptied on reuse.
  const buckets = Array.from({ length: BUCKETS }, () => ({ minute: -1, counts: new Map<string, { status: number; reason: string; count: number }>() }))
  const recent: RefusalEntry[] = []
  return {
    record: (refusal, status, method, url) => {
      const at = now()
      const minute = Math.floor(at / MINUTE)
      const bucket = buckets[minute % BUCKETS] as (typeof buckets)[number]
      if (bucket.minute !== minute) {
        bucket.minute = minute
        bucket.counts.clear()
      }
      let reason = reasonOf(refusal)
      if (!bucket.counts.has(`${status} ${reason}`) && bucket.counts.size >= REASONS_MAX) reason = 'other'
      const key = `${status} ${reason}`
      const counted = bucket.counts.get(key)
      if (counted === undefined) bucket.counts.set(key, { status, reason, count: 1 })
      else counted.count++
      const query = url.indexOf('?')
      recent.unshift({ at, status, reason, method, path: (query < 0 ? url : url.slice(0, query)).slice(0, PATH_MAX) })
      if (recent.length > RECENT_MAX) recent.pop()
    },
    snapshot: () => {
      const current = Math.floor(now() / MINUTE)
      const totals = new Map<string, { status: number; reason: string; count: number }>()
      for (const bucket of buckets) {
        if (bucket.minute < 0 || current - bucket.minute >= BUCKETS) continue
        for (const [key, c] of bucket.counts) {
          const t = totals.get(key)
          if (t === undefined) totals.set(key, { ...c })
          else t.count += c.count
        }
      }
      return {
        lastHour: [...totals.values()].sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason)),
        recent: recent.filter((r) => current - Math.floor(r.at / MINUTE) < BUCKETS),
      }
    },
  }
}
