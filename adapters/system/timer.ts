import type { Clock, Timer } from '../../domain/clock'

/** The machine's clock. */
export const systemClock: Clock = { now: Date.now }

/** Node's timers: `after` is `setTimeout`, its cancel `clearTimeout`. */
export const systemTimer: Timer = {
  after: (ms, run) => {
    const timeout = setTimeout(run, ms)
    return () => clearTimeout(timeout)
  },
}
