import type { Server } from 'node:http'
import { autoReplyFromTemplate } from '../../domain/auto-reply'
import type { Config } from '../config'
import { createMemoryIdempotencyKeys } from '../memory/memory-idempotency-keys'
import { createMemoryMessageStore, type MemoryMessageStore } from '../memory/memory-message-store'
import { bodyLimitFor, createRequestListener, type Logger } from './app'
import { createGuardedServer } from './node-server'

export type RunningServer = {
  readonly server: Server
  /** The store the server uses, for a program that embeds it and wants to read or write directly. */
  readonly store: MemoryMessageStore
  /** Stops accepting connections, releases held long polls and resolves once every connection is closed. */
  readonly close: () => Promise<void>
}

/** A retried request is recognised for a day, longer than any client keeps retrying. */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000

/** Requests still running this long after a stop is asked for are cut off. */
const SHUTDOWN_GRACE_MS = 5_000

const consoleLog: Logger = { error: (message, detail) => console.error(message, detail ?? '') }

/** Builds the in-memory adapters and the app from a decoded configuration and starts listening. */
export const startServer = async (config: Config, log: Logger = consoleLog): Promise<RunningServer> => {
  const store = createMemoryMessageStore({ maxMessages: config.MAX_MESSAGES, maxChannels: config.MAX_CHANNELS })
  const shutdown = new AbortController()
  const listener = createRequestListener({
    shutdown: shutdown.signal,
    messages: store,
    feed: store,
    idempotencyKeys: createMemoryIdempotencyKeys({ maxKeys: config.IDEMPOTENCY_KEYS_MAX, retentionMs: IDEMPOTENCY_RETENTION_MS }),
    clock: { now: Date.now },
    autoReply: autoReplyFromTemplate(config.AUTO_REPLY),
    maxMessageLength: config.MAX_MESSAGE_LENGTH,
    corsOrigins: config.CORS_ORIGINS,
    longPollMaxSeconds: config.LONG_POLL_MAX_SECONDS,
    maxLongPolls: config.MAX_LONG_POLLS,
    maxStreams: config.MAX_STREAMS,
    maxStreamsPerAddress: config.MAX_STREAMS_PER_ADDRESS,
    heartbeatMs: config.STREAM_HEARTBEAT_SECONDS * 1000,
    idleTimeoutMs: config.IDLE_TIMEOUT_SECONDS * 1000,
    log,
  })
  const server = createGuardedServer(listener, {
    bodyLimit: bodyLimitFor(config.MAX_MESSAGE_LENGTH),
    timeouts: {
      headersMs: config.HEADERS_TIMEOUT_SECONDS * 1000,
      requestMs: config.REQUEST_TIMEOUT_SECONDS * 1000,
      idleMs: config.IDLE_TIMEOUT_SECONDS * 1000,
      keepAliveMs: config.KEEP_ALIVE_TIMEOUT_SECONDS * 1000,
    },
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.PORT, config.HOST, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    server,
    store,
    close: () =>
      new Promise<void>((resolve, reject) => {
        const grace = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS)
        server.close((err) => {
          clearTimeout(grace)
          if (err) reject(err)
          else resolve()
        })
        // Held long polls are answered and streams end; idle keep-alive sockets close now, busy ones after their answer.
        shutdown.abort()
        server.closeIdleConnections()
      }),
  }
}
