import type { IncomingMessage, ServerResponse } from 'node:http'
import * as E from 'fp-ts/Either'
import type { FollowEvent, FollowInput, FollowOptions, Following, FollowError } from '../../application/follow-messages'
import type { TaskEither } from 'fp-ts/TaskEither'
import { pushCorsHeaders, traceOf, type Cors } from './answers'
import type { Refusal } from './problems'
import type { Wire } from './wire'

/** A comment line this often keeps proxies and load balancers from closing a quiet stream. */
export const HEARTBEAT_MS = 15_000

/**
 * A live stream whose client reads slower than messages arrive is dropped
 * once this much is queued for it (beyond what the kernel's socket buffers
 * took); the client reconnects with Last-Event-ID and resumes from the
 * store, so nothing is lost and a slow reader cannot grow our memory. The
 * backlog is paced instead: the next page is read once the last has drained
 * below BACKLOG_LOW_WATER.
 */
export const MAX_QUEUED_BYTES = 256 * 1024
const BACKLOG_LOW_WATER = 64 * 1024

/**
 * What all streams together may have queued. Past it, a stream that adds to
 * its queue while holding more than SMALL_QUEUE_BYTES is dropped (and
 * resumes), so that a thousand stalled readers cannot each fill their own
 * bound: the worst case is this budget, not MAX_STREAMS times a bound.
 */
export const QUEUED_BYTES_BUDGET = 32 * 1024 * 1024
const SMALL_QUEUE_BYTES = 16 * 1024

type Follow = (
  input: FollowInput,
  deliver: (event: FollowEvent) => void,
  signal: AbortSignal,
  options: FollowOptions,
) => TaskEither<FollowError, Following>

export type EventStreamLimits = {
  readonly cors: Cors
  /** Writes each message's JSON (remembered for every stream it goes out on). */
  readonly wire: Wire
  /** How often an idle stream gets a comment line. */
  readonly heartbeatMs?: number
  /** A stream whose connection moves no byte for this long is dropped; the heartbeat keeps a healthy one moving. */
  readonly idleMs?: number
  /** Streams open at once, in total and from one client address. */
  readonly maxOpen?: number
  readonly maxPerAddress?: number
  /** The address a stream counts against (see client-address.ts); the connection's peer by default. */
  readonly addressOf?: (req: IncomingMessage) => string
  /** What all streams together may have queued; QUEUED_BYTES_BUDGET by default. */
  readonly queuedBytesBudget?: number
  readonly shutdown?: AbortSignal
}

const HEADERS = [
  'Content-Type',
  'text/event-stream; charset=utf-8',
  'Cache-Control',
  'no-cache, no-transform',
  'X-Content-Type-Options',
  'nosniff',
  'X-Accel-Buffering',
  'no',
] as const

const headersFor = (cors: Cors, req: IncomingMessage, res: ServerResponse): string[] => {
  const headers: string[] = [...HEADERS]
  pushCorsHeaders(headers, cors, req)
  const trace = traceOf(res)
  if (trace !== undefined) headers.push('X-Request-Id', trace.id)
  return headers
}


/**
 * Server-Sent Events. One heartbeat timer serves every open stream, so a
 * thousand quiet streams cost one timer, not a thousand.
 *
 * Every byte goes through `write`, which writes only to a stream that is
 * still open and tracked: a stream leaves the set the moment it is ended or
 * dropped, not when its socket finally closes (which never happens for a
 * reader that stopped reading), so no timer ever writes to an ended one. A
 * reader that stops reading is dropped by the connection's idle timeout:
 * the heartbeat keeps a healthy stream's socket active, while writes to a
 * reader that no longer reads stay queued and move nothing.
 */
export const eventStreams = (limits: EventStreamLimits) => {
  const heartbeatMs = limits.heartbeatMs ?? HEARTBEAT_MS
  const maxOpen = limits.maxOpen ?? Number.POSITIVE_INFINITY
  const maxPerAddress = limits.maxPerAddress ?? Number.POSITIVE_INFINITY
  const budget = limits.queuedBytesBudget ?? QUEUED_BYTES_BUDGET
  /**
   * Each open stream and what it had queued when last written to or
   * drained: an overestimate between the two (a queue shrinks without
   * telling), which errs towards dropping, never towards growing.
   */
  const open = new Map<ServerResponse, number>()
  let queuedTotal = 0
  const perAddress = new Map<string, number>()
  let admitted = 0
  let heartbeat: NodeJS.Timeout | undefined

  /**
   * Writes to a stream that is still open. Once it is live, a reader with
   * more than the bound queued is not keeping up: it is dropped and resumes
   * from the store. The backlog is paced instead (see `pace`). Live or not,
   * a stream holding more than a little when all streams together are over
   * the budget is dropped too.
   */
  const write = (res: ServerResponse, text: string, bounded = true): void => {
    const before = open.get(res)
    if (before === undefined || !res.writable) return
    res.write(text)
    const queued = res.writableLength
    open.set(res, queued)
    queuedTotal += queued - before
    if ((bounded && queued > MAX_QUEUED_BYTES) || (queuedTotal > budget && queued > SMALL_QUEUE_BYTES)) drop(res)
  }

  /** Forgets a stream; the address's count is released when its connection closes. */
  const untrack = (res: ServerResponse): void => {
    const queued = open.get(res)
    if (queued === undefined) return
    queuedTotal -= queued
    open.delete(res)
    if (open.size === 0 && heartbeat !== undefined) {
      clearInterval(heartbeat)
      heartbeat = undefined
    }
  }

  /** Ends a stream whose client is behind or gone: what is queued for it is of no use any more. */
  const drop = (res: ServerResponse): void => {
    untrack(res)
    res.destroy()
  }

  // On shutdown every stream ends; EventSource reconnects (to another instance) and resumes by Last-Event-ID.
  limits.shutdown?.addEventListener(
    'abort',
    () => {
      for (const res of [...open.keys()]) {
        untrack(res)
        res.shouldKeepAlive = false
        res.end()
      }
    },
    { once: true },
  )

  const track = (res: ServerResponse): void => {
    open.set(res, 0)
    res.on('drain', () => {
      const queued = open.get(res)
      if (queued === undefined) return
      queuedTotal -= queued
      open.set(res, 0)
    })
    if (heartbeat === undefined) {
      heartbeat = setInterval(() => {
        for (const stream of [...open.keys()]) write(stream, ': keep-alive\n\n')
      }, heartbeatMs)
      heartbeat.unref()
    }
  }

  /** Counts the stream against its address until its connection closes; undefined when a limit refuses it. */
  const admit = (res: ServerResponse): Refusal | undefined => {
    if (limits.shutdown?.aborted) return { _tag: 'ShuttingDown' }
    const address = limits.addressOf === undefined ? (res.req.socket.remoteAddress ?? 'unknown') : limits.addressOf(res.req)
    const fromAddress = perAddress.get(address) ?? 0
    if (fromAddress >= maxPerAddress) return { _tag: 'TooManyStreamsFromAddress', max: maxPerAddress }
    if (admitted >= maxOpen) return { _tag: 'TooManyStreams', max: maxOpen }
    perAddress.set(address, fromAddress + 1)
    admitted++
    res.once('close', () => {
      admitted--
      const left = (perAddress.get(address) ?? 1) - 1
      if (left <= 0) perAddress.delete(address)
      else perAddress.set(address, left)
    })
    return undefined
  }

  /**
   * Opens the stream: a refusal before the first byte is an ordinary JSON
   * error; afterwards each message is an event whose id is the message id.
   * A HEAD request gets the stream's headers and nothing else.
   */
  const openStream = async (req: IncomingMessage, res: ServerResponse, follow: Follow, input: FollowInput, refuse: (error: Refusal) => void): Promise<void> => {
    if (req.method === 'HEAD') {
      res.writeHead(200, headersFor(limits.cors, req, res))
      return void res.end()
    }
    const refused = admit(res)
    if (refused !== undefined) return refuse(refused)
    const controller = new AbortController()
    let started = false
    let live = false
    const start = () => {
      if (started) return
      started = true
      res.writeHead(200, headersFor(limits.cors, req, res))
      req.socket.setNoDelay(true)
      // A reader that stopped reading leaves our writes queued, and then nothing moves on its connection.
      if (limits.idleMs !== undefined) res.setTimeout(limits.idleMs, () => drop(res))
      track(res)
      write(res, 'retry: 2000\n\n')
    }
    const deliver = (event: FollowEvent) => {
      start()
      if (event._tag === 'Gap') write(res, `event: gap\ndata: ${JSON.stringify({ gap: true, epoch: event.epoch })}\n\n`, live)
      // A removal entry is an event of its own kind, so that a reader's onmessage never shows it as a message; its id resumes a stream like any.
      else if (event.message.type === 'removal') write(res, `id: ${event.message.id}\nevent: removal\ndata: ${limits.wire.messageJson(event.message)}\n\n`, live)
      else write(res, `id: ${event.message.id}\ndata: ${limits.wire.messageJson(event.message)}\n\n`, live)
    }
    // The next backlog page is read once this one has mostly drained, or at once when the stream is gone.
    const pace = (): Promise<void> =>
      new Promise((resolve) => {
        if (!open.has(res) || res.writableLength <= BACKLOG_LOW_WATER) return resolve()
        const settle = () => {
          res.off('drain', settle)
          res.off('close', settle)
          resolve()
        }
        res.on('drain', settle)
        res.on('close', settle)
      })
    res.once('close', () => {
      controller.abort()
      untrack(res)
    })
    const following = await follow(input, deliver, controller.signal, { pace })()
    if (E.isLeft(following)) {
      controller.abort()
      if (!started) return refuse(following.left)
      return drop(res)
    }
    live = true
    start()
    write(res, `event: ready\ndata: ${JSON.stringify({ epoch: following.right.epoch, after: following.right.after })}\n\n`)
  }

  return { open: openStream, openCount: () => open.size, queuedBytes: () => queuedTotal }
}
