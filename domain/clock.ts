export type Clock = {
  /** Milliseconds since the Unix epoch. */
  readonly now: () => number
}
