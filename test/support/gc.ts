import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

/**
 * A full collection, for tests that measure what is kept: `global.gc` when
 * node was started with --expose-gc, otherwise the same function obtained by
 * setting the flag at run time (which Node allows); undefined if neither works.
 */
export const collector = (): (() => void) | undefined => {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (exposed !== undefined) return exposed
  try {
    setFlagsFromString('--expose-gc')
    return runInNewContext('gc') as () => void
  } catch {
    return undefined
  }
}
