import { createClient } from 'redis'

/*
 * One process's connections to Redis: one for commands, shared by every
 * port on Redis, and one for the feed's subscription (a connection that
 * subscribes can do nothing else). Neither ever makes a request wait for
 * Redis to come back: a command while disconnected fails at once (no
 * offline queue) and the port answers StoreUnavailable, while the client
 * reconnects by itself with a growing delay. A command that Redis does not
 * answer in COMMAND_TIMEOUT_MS fails too.
 */

const createRedisClient = (url: string) =>
  createClient({
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: CONNECT_TIMEOUT_MS,
      socketTimeout: COMMAND_TIMEOUT_MS * 5,
      // 50 ms, 100 ms, … up to 2 s between attempts, for ever: the server recovers by itself when Redis returns.
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), RECONNECT_MAX_MS),
    },
    pingInterval: 5_000,
  })

export type RedisClient = ReturnType<typeof createRedisClient>

export type RedisConnectionOptions = {
  readonly url: string
  /** Where connection trouble is reported (once per outage, not once per retry). */
  readonly log?: (message: string, detail?: unknown) => void
}

export type RedisConnection = {
  readonly client: RedisClient
  readonly subscriber: RedisClient
  /** Whether commands can be sent now. */
  readonly ready: () => boolean
  /** Resolves once both connections are up, or rejects after `ms`; the clients keep trying either way. */
  readonly whenReady: (ms: number) => Promise<void>
  readonly close: () => Promise<void>
}

/** How long a command may go unanswered before it fails, and the socket is given up on. */
export const COMMAND_TIMEOUT_MS = 2_000
const CONNECT_TIMEOUT_MS = 2_000
const RECONNECT_MAX_MS = 2_000

export const connectRedis = (options: RedisConnectionOptions): RedisConnection => {
  const log = options.log ?? (() => undefined)
  const make = (role: string): RedisClient => {
    const client = createRedisClient(options.url)
    let down = false
    client.on('error', (err: unknown) => {
      if (down) return
      down = true
      log(`redis ${role} connection lost; retrying`, err instanceof Error ? err.message : err)
    })
    client.on('ready', () => {
      if (down) log(`redis ${role} connection back`)
      down = false
    })
    return client
  }
  const client = make('command')
  const subscriber = make('subscriber')
  // Connecting starts now and never rejects into the void: a Redis that is down at start-up is retried like one that went away.
  const connecting = Promise.all([client.connect().catch(() => undefined), subscriber.connect().catch(() => undefined)])
  void connecting
  return {
    client,
    subscriber,
    ready: () => client.isReady,
    whenReady: (ms) =>
      new Promise((resolve, reject) => {
        if (client.isReady && subscriber.isReady) return resolve()
        const timer = setTimeout(() => {
          cleanup()
          reject(new Error(`redis at ${redactedUrl(options.url)} did not answer within ${ms} ms`))
        }, ms)
        const check = () => {
          if (!client.isReady || !subscriber.isReady) return
          cleanup()
          resolve()
        }
        const cleanup = () => {
          clearTimeout(timer)
          client.off('ready', check)
          subscriber.off('ready', check)
        }
        client.on('ready', check)
        subscriber.on('ready', check)
      }),
    close: async () => {
      await Promise.all([client.close().catch(() => undefined), subscriber.close().catch(() => undefined)])
    },
  }
}

/** A Redis URL fit for a log line: its password, if any, replaced. */
export const redactedUrl = (url: string): string => {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(an unparseable URL)'
  }
}
