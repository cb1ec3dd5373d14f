import type { RequestListener, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import * as E from 'fp-ts/Either'
import Koa from 'koa'
import pino from 'pino'
import type { AppDeps, Http } from '../../adapters/http/app'
import { createGuardedServer, DEFAULT_TIMEOUTS, type ServerTimeouts } from '../../adapters/http/node-server'
import { readConfig, type Config } from '../../composition/config'
import { startServer, type Ports } from '../../composition/start-server'
import { DEFAULT_AUTO_REPLY_TEMPLATE } from '../../domain/auto-reply'
import type { MessageRepository } from '../../domain/message-repository'

export type TestServer = {
  readonly url: string
  readonly server: Server
  /** The ports the server runs on: to read or write behind the HTTP API's back. */
  readonly ports: Ports
  /** The HTTP adapter: what it holds open. */
  readonly http: Http
  /** Long polls held and streams open now: how a test knows that a reader is waiting. */
  readonly holding: () => number
  /** Messages the app sent to its log, to assert that details stay server-side. */
  readonly logged: Array<{ message: string; detail: unknown }>
  /** Every line of its structured log (pino's JSON, at info unless the test asks for another level), parsed. */
  readonly logLines: Array<Record<string, unknown>>
  readonly close: () => Promise<void>
}

export type TestServerOptions = Partial<Omit<AppDeps, 'messages' | 'feed'>> & {
  /** The store's bounds (MAX_MESSAGES, MAX_CHANNELS); 1,000 messages and 100 channels by default. */
  readonly store?: { readonly maxMessages?: number; readonly maxChannels?: number }
  readonly autoReplyTemplate?: string
  /**
   * `'listener'` (the default) serves the request listener, as `npm start`
   * does; `'koa'` serves the Koa app of `createApp`, as a program that embeds
   * it does. Both are the same pipeline.
   */
  readonly via?: 'listener' | 'koa'
  /** Puts something between the app and its store (a slow append, say); the feed stays the store's own. */
  readonly wrapStore?: (messages: MessageRepository) => MessageRepository
  /** The server's timeouts; the configuration's defaults otherwise. */
  readonly timeouts?: ServerTimeouts
  /** Changes to the configuration itself (LOG_LEVEL, METRICS, METRICS_KEY, TRUST_PROXY, STORE=redis with its URL and a prefix of the test's own, ...). */
  readonly config?: Partial<Config>
}

const baseConfig = (): Config => {
  const config = readConfig({ PORT: '0', HOST: '127.0.0.1' })
  if (E.isLeft(config)) throw new Error(config.left.join('; '))
  return config.right
}

/**
 * A real HTTP server on a free loopback port, composed by the composition
 * root as `main` composes it, with a fresh store; the options adjust what
 * the configuration sets (finer than the configuration can, for tests).
 */
export const startTestServer = async (options: TestServerOptions = {}): Promise<TestServer> => {
  const logged: Array<{ message: string; detail: unknown }> = []
  const logLines: Array<Record<string, unknown>> = []
  const { store, autoReplyTemplate, via, wrapStore, timeouts, shutdown, config: configured, ...adjustments } = options
  const config: Config = {
    ...baseConfig(),
    MAX_MESSAGES: store?.maxMessages ?? 1000,
    MAX_CHANNELS: store?.maxChannels ?? 100,
    AUTO_REPLY: autoReplyTemplate ?? DEFAULT_AUTO_REPLY_TEMPLATE,
    ...configured,
  }
  // The structured log kept in memory, one parsed object per line, rather than printed among the test results.
  const logger = pino({ level: config.LOG_LEVEL }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) })
  const running = await startServer(config, {
    logger,
    log: { error: (message, detail) => logged.push({ message, detail }) },
    mount: via ?? 'listener',
    timeouts: timeouts ?? DEFAULT_TIMEOUTS,
    adjust: (deps) => ({
      ...deps,
      ...adjustments,
      messages: wrapStore === undefined ? deps.messages : wrapStore(deps.messages),
      // A test's own shutdown signal stops the app as the server's own would.
      shutdown: shutdown === undefined || deps.shutdown === undefined ? deps.shutdown : AbortSignal.any([deps.shutdown, shutdown]),
    }),
  })
  return {
    url: running.url,
    server: running.server,
    ports: running.ports,
    http: running.http,
    holding: () => running.http.heldPolls() + running.http.openStreams(),
    logged,
    logLines,
    close: () => {
      // Whatever a test left open is cut at once rather than given the shutdown's grace.
      running.server.closeAllConnections()
      return running.close()
    },
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
