/** Yields to the event loop until `condition` holds: waiting for an event, not for a length of time. */
export const until = async (condition: () => boolean, turns = 100_000): Promise<void> => {
  for (let i = 0; i < turns && !condition(); i++) await new Promise((resolve) => setImmediate(resolve))
  if (!condition()) throw new Error('condition never held')
}

/**
 * Checks `condition` on every turn of the event loop until it holds, failing
 * after `ms`: for state the server changes on its own time (a connection it
 * closes), where no event reaches the test.
 */
export const eventually = async (condition: () => boolean, ms: number, what: string): Promise<void> => {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
