export type Clock = {
  /** Milliseconds since the Unix epoch. */
  readonly now: () => number
}

/**
 * Waiting, as a port: the use cases never call `setTimeout` themselves, so a
 * test runs a long poll's wait to its end without sleeping, and an adapter
 * may schedule it however it likes.
 */
export type Timer = {
  /** Calls `run` once, after `ms` milliseconds, unless the returned function is called first (calling it later is harmless). */
  readonly after: (ms: number, run: () => void) => () => void
}
