import type { Timer } from '../../domain/clock'

export type FakeTimer = Timer & {
  /** The waits set and neither run nor cancelled, soonest first. */
  readonly pending: () => ReadonlyArray<{ readonly ms: number; readonly due: number }>
  /** Moves time on by `ms`, running every wait that falls due, in order. */
  readonly advance: (ms: number) => void
  /** How far time has moved, in ms: a Clock kept in step with the waits is `base + now()`. */
  readonly now: () => number
}

/** A Timer that runs nothing until told: a test moves time instead of sleeping. */
export const fakeTimer = (): FakeTimer => {
  let now = 0
  let waits: Array<{ ms: number; due: number; run: () => void }> = []
  return {
    after: (ms, run) => {
      const wait = { ms, due: now + ms, run }
      waits.push(wait)
      return () => {
        waits = waits.filter((w) => w !== wait)
      }
    },
    now: () => now,
    pending: () => [...waits].sort((a, b) => a.due - b.due).map(({ ms, due }) => ({ ms, due })),
    advance: (ms) => {
      const until = now + ms
      for (;;) {
        const next = [...waits].sort((a, b) => a.due - b.due)[0]
        if (next === undefined || next.due > until) break
        waits = waits.filter((w) => w !== next)
        now = next.due
        next.run()
      }
      now = until
    },
  }
}
