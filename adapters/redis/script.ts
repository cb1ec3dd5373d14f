import { createHash } from 'node:crypto'
import type { StoreUnavailable } from '../../domain/message-repository'
import { COMMAND_TIMEOUT_MS, type RedisClient } from './connection'

/*
 * What the Redis ports share: running a Lua script by its digest (EVALSHA),
 * loading it on the way (EVAL) when Redis does not know it (first use, or a
 * Redis restarted since), every failure as StoreUnavailable, and keys that
 * stay inside their namespace whatever the caller's key holds.
 */

/**
 * A script's runner: one round trip when Redis already knows it, two the
 * first time after a restart. It fails if Redis has not answered within
 * COMMAND_TIMEOUT_MS: node-redis's own `timeout` option only bounds the wait
 * before a command is written, and a Redis that stops answering (stalled, its
 * host unreachable) would otherwise hold the request until the socket times
 * out. A script that ran all the same, late, ran whole (a take consumed, a
 * key claimed): the same doubt as any request whose answer was lost.
 */
export type Script = (client: RedisClient, keys: ReadonlyArray<string>, args: ReadonlyArray<string>) => Promise<unknown>

export const defineScript = (source: string): Script => {
  const sha = createHash('sha1').update(source).digest('hex')
  return (client, keys, args) => {
    const tail = [String(keys.length), ...keys, ...args]
    const running = client.sendCommand(['EVALSHA', sha, ...tail]).catch((err: unknown) => {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
      return client.sendCommand(['EVAL', source, ...tail])
    })
    return withDeadline(running, COMMAND_TIMEOUT_MS)
  }
}

/** One command with the same deadline as a script's. */
export const command = (client: RedisClient, args: ReadonlyArray<string>): Promise<unknown> => withDeadline(client.sendCommand([...args]), COMMAND_TIMEOUT_MS)

/** A command's promise that rejects once `ms` pass without an answer (see Script). */
export const withDeadline = <A>(running: Promise<A>, ms: number): Promise<A> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
    timer.unref()
    running.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (err: unknown) => {
        clearTimeout(timer)
        reject(err)
      },
    )
  })

/** A Redis failure (offline, closed, timed out, an error reply) as the ports' one error. */
export const unavailable = (err: unknown): StoreUnavailable => ({
  _tag: 'StoreUnavailable',
  detail: `redis: ${err instanceof Error ? `${err.name === 'Error' ? '' : `${err.name}: `}${err.message}` : String(err)}`,
})

/**
 * A caller's key as one segment of a Redis key: letters, digits and `: . _ -`
 * kept (so `player:id:42` reads as itself), every other UTF-16 unit written
 * as `%XXXX`, and `%` itself escaped. The mapping is one to one, so two keys
 * never share a bucket, and whatever the key holds (spaces, newlines, `*`,
 * braces that would change a cluster slot) stays inside its namespace.
 */
export const segment = (key: string): string => key.replace(/[^A-Za-z0-9:._-]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
