import type { ServerResponse } from 'node:http'
import * as E from 'fp-ts/Either'
import type Koa from 'koa'
import type { FollowEvent, FollowInput, Following, FollowError } from '../../application/follow-messages'
import type { TaskEither } from 'fp-ts/TaskEither'
import { messageJson } from './wire'

/** A comment line this often keeps proxies and load balancers from closing a quiet stream. */
export const HEARTBEAT_MS = 15_000

/**
 * A stream whose client reads slower than messages arrive is closed once this
 * much is queued; the client reconnects with Last-Event-ID and resumes from
 * the store, so nothing is lost and a slow reader cannot grow our memory.
 */
export const MAX_QUEUED_BYTES = 1024 * 1024

type Follow = (input: FollowInput, deliver: (event: FollowEvent) => void, signal: AbortSignal) => TaskEither<FollowError, Following>

/**
 * Server-Sent Events. One heartbeat timer serves every open stream, so a
 * thousand quiet streams cost one timer, not a thousand.
 */
export const eventStreams = (heartbeatMs = HEARTBEAT_MS, shutdown?: AbortSignal) => {
  const open = new Set<ServerResponse>()
  let heartbeat: NodeJS.Timeout | undefined
  // On shutdown every stream ends; EventSource reconnects (to another instance) and resumes by Last-Event-ID.
  shutdown?.addEventListener('abort', () => {
    for (const stream of open) {
      stream.shouldKeepAlive = false
      stream.end()
    }
  }, { once: true })

  const track = (res: ServerResponse) => {
    open.add(res)
    if (heartbeat === undefined) {
      heartbeat = setInterval(() => {
        for (const stream of open) stream.write(': keep-alive\n\n')
      }, heartbeatMs)
      heartbeat.unref()
    }
  }
  const untrack = (res: ServerResponse) => {
    open.delete(res)
    if (open.size === 0 && heartbeat !== undefined) {
      clearInterval(heartbeat)
      heartbeat = undefined
    }
  }

  /**
   * Opens the stream: a refusal before the first byte is an ordinary JSON
   * error; afterwards each message is an event whose id is the message id.
   */
  const serve = async (
    ctx: Koa.Context,
    follow: Follow,
    input: FollowInput,
    refuse: (error: FollowError) => void,
  ): Promise<void> => {
    const res = ctx.res
    const controller = new AbortController()
    if (shutdown?.aborted) return void refuse({ _tag: 'StoreUnavailable', detail: 'shutting down' })
    let started = false
    const start = () => {
      if (started) return
      started = true
      ctx.respond = false
      res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache, no-transform',
        Connection: 'keep-alive',
        'X-Accel-Buffering': 'no',
      })
      ctx.req.socket.setNoDelay(true)
      ctx.req.socket.setTimeout(0)
      res.write('retry: 2000\n\n')
      track(res)
    }
    const deliver = (event: FollowEvent) => {
      start()
      if (res.destroyed || res.writableEnded) return
      if (event._tag === 'Gap') res.write(`event: gap\ndata: ${JSON.stringify({ gap: true, epoch: event.epoch })}\n\n`)
      else res.write(`id: ${event.message.id}\ndata: ${messageJson(event.message)}\n\n`)
      if (res.writableLength > MAX_QUEUED_BYTES) res.end()
    }
    res.once('close', () => {
      controller.abort()
      untrack(res)
    })
    const following = await follow(input, deliver, controller.signal)()
    if (E.isLeft(following)) {
      controller.abort()
      if (!started) return refuse(following.left)
      return void res.end()
    }
    start()
    res.write(`event: ready\ndata: ${JSON.stringify({ epoch: following.right.epoch, after: following.right.after })}\n\n`)
  }

  return { serve, openCount: () => open.size }
}
