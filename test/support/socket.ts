import { connect, type Socket } from 'node:net'

/*
 * A client on a bare socket, for the clients no library would be: one that
 * never reads, one that trickles its request, one that sends more than it
 * should. Everything it does is awaited on socket events.
 */

export type RawClient = {
  readonly socket: Socket
  /** Every byte received so far, as text. */
  readonly received: () => string
  /** Resolves once `pattern` appears in what was received; rejects if the socket closes first. */
  readonly receivedMatching: (pattern: RegExp) => Promise<string>
  /** Resolves when the socket is closed, by either side, with what was received. */
  readonly closed: Promise<string>
}

export type RawClientOptions = {
  /** Bind the client to this local address (127.0.0.2, ...) to be another client address to the server. */
  readonly localAddress?: string
  /** Do not read: the socket is paused from the start, so the server's writes back up. */
  readonly paused?: boolean
}

export const openRawClient = (baseUrl: string, options: RawClientOptions = {}): Promise<RawClient> => {
  const { hostname, port } = new URL(baseUrl)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) })
    const chunks: Buffer[] = []
    const received = () => Buffer.concat(chunks).toString('utf8')
    const waiters = new Set<() => void>()
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      for (const waiter of [...waiters]) waiter()
    })
    // A reset is one way for the server to close: it is awaited through `closed`, not thrown.
    socket.on('error', () => undefined)
    const closed = new Promise<string>((resolveClosed) => socket.once('close', () => resolveClosed(received())))
    if (options.paused === true) socket.pause()
    socket.once('connect', () =>
      resolve({
        socket,
        received,
        closed,
        receivedMatching: (pattern) =>
          new Promise((resolveMatch, rejectMatch) => {
            const check = () => {
              if (!pattern.test(received())) return
              waiters.delete(check)
              resolveMatch(received())
            }
            waiters.add(check)
            void closed.then(() => {
              if (!waiters.has(check)) return
              waiters.delete(check)
              if (pattern.test(received())) resolveMatch(received())
              else rejectMatch(new Error(`closed before ${pattern} arrived; got ${JSON.stringify(received().slice(0, 300))}`))
            })
            check()
          }),
      }),
    )
    socket.once('error', reject)
  })
}

/** Fails unless `promise` settles within `ms`: for bounds the server must keep, never as a pause. */
export const within = <T>(ms: number, promise: Promise<T>, what: string): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
    promise.then(
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
