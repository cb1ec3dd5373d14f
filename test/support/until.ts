/** Yields to the event loop until `condition` holds: waiting for an event, not for a length of time. */
export const until = async (condition: () => boolean, turns = 100_000): Promise<void> => {
  for (let i = 0; i < turns && !condition(); i++) await new Promise((resolve) => setImmediate(resolve))
  if (!condition()) throw new Error('condition never held')
}
