import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { STAND_IN_HEADER } from './openapi-answers'

/*
 * A local HTTP receiver for the outbound tests: it records every request
 * (method, path, headers, raw body) and answers each as the test says,
 * including not at all (a target that hangs) and by closing the connection.
 */

export type Received = { readonly method: string; readonly path: string; readonly headers: IncomingHttpHeaders; readonly body: string; readonly at: number }

/** How to answer a request: a status with headers and a body (after `delayMs`, if given: a slow target), `hang` (never answer), or `close` (drop the connection). */
export type Reply = { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string; readonly delayMs?: number } | 'hang' | 'close'

export type Receiver = {
  readonly url: string
  readonly port: number
  readonly received: Received[]
  /** How the next requests are answered; after the script runs out, `fallback`. */
  script: Reply[]
  fallback: Reply
  /** Resolves once `count` requests have been received. */
  readonly waitFor: (count: number, ms?: number) => Promise<void>
  readonly close: () => Promise<void>
}

export const startReceiver = async (fallback: Reply = { status: 200 }): Promise<Receiver> => {
  const hanging = new Set<ServerResponse>()
  const waiters: Array<{ count: number; resolve: () => void }> = []
  const receiver: Receiver = {
    url: '',
    port: 0,
    received: [],
    script: [],
    fallback,
    waitFor: (count, ms = 10_000) =>
      new Promise((resolve, reject) => {
        if (receiver.received.length >= count) return resolve()
        const timer = setTimeout(() => reject(new Error(`the receiver got ${receiver.received.length} requests, not ${count}, within ${ms} ms`)), ms)
        waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer)
            resolve()
          },
        })
      }),
    close: async () => {
      for (const res of hanging) res.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  const server: Server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => (body += chunk))
    req.on('end', () => {
      receiver.received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, at: Date.now() })
      const reply = receiver.script.shift() ?? receiver.fallback
      if (reply === 'hang') hanging.add(res)
      else if (reply === 'close') res.socket?.destroy()
      else {
        const answer = (): void => {
          if (res.destroyed) return
          res.writeHead(reply.status, { 'content-type': 'application/json', [STAND_IN_HEADER]: '1', ...(reply.headers ?? {}) })
          res.end(reply.body ?? '')
        }
        if (reply.delayMs === undefined) answer()
        else {
          hanging.add(res)
          setTimeout(() => {
            hanging.delete(res)
            answer()
          }, reply.delayMs)
        }
      }
      for (const w of waiters.splice(0)) {
        if (receiver.received.length >= w.count) w.resolve()
        else waiters.push(w)
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return Object.assign(receiver, { url: `http://127.0.0.1:${port}`, port })
}
