import Koa from 'koa'
import type { RequestListener, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { bodyLimitFor, createApp, createRequestListener, type AppDeps } from '../../adapters/http/app'
import { createGuardedServer, DEFAULT_TIMEOUTS, type ServerTimeouts } from '../../adapters/http/node-server'
import { createMemoryIdempotencyKeys } from '../../adapters/memory/memory-idempotency-keys'
import { createMemoryMessageStore, type MemoryMessageStore, type MemoryStoreOptions } from '../../adapters/memory/memory-message-store'
import { autoReplyFromTemplate, DEFAULT_AUTO_REPLY_TEMPLATE } from '../../domain/auto-reply'
import type { MessageRepository } from '../../domain/message-repository'

export type TestServer = {
  readonly url: string
  readonly server: Server
  readonly store: MemoryMessageStore
  /** Messages the app sent to its log, to assert that details stay server-side. */
  readonly logged: Array<{ message: string; detail: unknown }>
  readonly close: () => Promise<void>
}

export type TestServerOptions = Partial<Omit<AppDeps, 'messages' | 'feed'>> & {
  readonly store?: Partial<MemoryStoreOptions>
  readonly autoReplyTemplate?: string
  /**
   * `'listener'` (the default) serves the way `startServer` does, long polls
   * held below Koa; `'koa'` serves `createApp(...).callback()`, as a program
   * that embeds the Koa app does.
   */
  readonly via?: 'listener' | 'koa'
  /** Puts something between the app and its store (a slow append, say); the feed stays the store's own. */
  readonly wrapStore?: (store: MemoryMessageStore) => MessageRepository
  /** The server's timeouts; startServer's defaults otherwise. */
  readonly timeouts?: ServerTimeouts
}

/** A real HTTP server on a free loopback port, built the way `main` builds one, with a fresh store. */
export const startTestServer = async (options: TestServerOptions = {}): Promise<TestServer> => {
  const store = createMemoryMessageStore({ maxMessages: 1000, maxChannels: 100, ...options.store })
  const logged: Array<{ message: string; detail: unknown }> = []
  const deps: AppDeps = {
    clock: { now: Date.now },
    autoReply: autoReplyFromTemplate(options.autoReplyTemplate ?? DEFAULT_AUTO_REPLY_TEMPLATE),
    maxMessageLength: 1000,
    corsOrigins: '*',
    longPollMaxSeconds: 25,
    log: { error: (message, detail) => logged.push({ message, detail }) },
    idempotencyKeys: createMemoryIdempotencyKeys({ maxKeys: 10_000, retentionMs: 24 * 60 * 60 * 1000 }),
    ...options,
    messages: options.wrapStore?.(store) ?? store,
    feed: store,
  }
  return {
    ...(await listen(options.via === 'koa' ? createApp(deps) : createRequestListener(deps), {
      bodyLimit: deps.bodyLimitBytes ?? bodyLimitFor(deps.maxMessageLength),
      ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }),
    })),
    store,
    logged,
  }
}

/**
 * Serves any Koa app or request listener on a free loopback port, guarded as
 * startServer guards its server: for apps built with hand-made dependencies too.
 */
export const listen = async (
  app: Koa | RequestListener,
  options: { readonly bodyLimit?: number; readonly timeouts?: ServerTimeouts } = {},
): Promise<{ url: string; server: Server; close: () => Promise<void> }> => {
  const server = createGuardedServer(app instanceof Koa ? app.callback() : app, {
    ...(options.bodyLimit === undefined ? {} : { bodyLimit: options.bodyLimit }),
    timeouts: options.timeouts ?? DEFAULT_TIMEOUTS,
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** JSON over real HTTP with Node's fetch. */
export const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
