import {
  awaitServerLetGo,
  call,
  expectRefusal,
  expectRetryAfter,
  finish,
  getRequest,
  openStream,
  PROFILES,
  RawConn,
  useServer,
  type Answer,
  type ServerProcess,
} from './harness'

/*
 * Scenario 7: a flood of event streams. From one address, more than
 * MAX_STREAMS_PER_ADDRESS: the extra ones get 429 JSON with Retry-After. In
 * all, more than MAX_STREAMS (from several loopback addresses: on Linux all
 * of 127.0.0.0/8 is local, and a client socket can be bound to 127.0.0.2,
 * 127.0.0.3, ... while the server listens on 127.0.0.1): 503 JSON with
 * Retry-After. Closing a stream frees its slot; refusals take none.
 */

const PER_ADDRESS = Number(PROFILES.capped.MAX_STREAMS_PER_ADDRESS)
const TOTAL = Number(PROFILES.capped.MAX_STREAMS)
const PATH = '/api/stream?channel=flood'

/** A stream that is refused: its whole answer. */
const refusedStream = async (server: ServerProcess, localAddress: string): Promise<Answer> => {
  const conn = await RawConn.open(server, { localAddress })
  conn.write(getRequest(PATH, 'Accept: text/event-stream\r\n'))
  const answer = await conn.answer(5_000, `the answer to a stream from ${localAddress} past the cap`)
  conn.destroy()
  return answer
}

const expectPerAddressRefusal = (answer: Answer) => {
  expectRefusal(answer, 429, /stream|address|many/i)
  expectRetryAfter(answer.headers)
}

const expectTotalRefusal = (answer: Answer) => {
  expectRefusal(answer, 503, /stream|many|capacity|limit|busy/i)
  expectRetryAfter(answer.headers)
}

/** Opens `count` streams from an address, each answered 200 and ready. */
const streamsFrom = async (server: ServerProcess, localAddress: string, count: number): Promise<RawConn[]> => {
  const streams: RawConn[] = []
  for (let i = 0; i < count; i++) streams.push(await openStream(server, PATH, { localAddress }))
  return streams
}

/** Closes streams from the client side and waits until the server has closed them too (and run its handlers: one round trip). */
const closeStreams = async (server: ServerProcess, streams: ReadonlyArray<RawConn>): Promise<void> => {
  for (const stream of streams) stream.destroy()
  await awaitServerLetGo(server, streams, 5_000, 'the server closes streams whose clients went away')
  await call(server, 'GET', '/api')
}

describe('hostile: a flood of event streams', function () {
  this.timeout(30_000)
  const shared = useServer('capped')

  it(`past MAX_STREAMS_PER_ADDRESS (${PER_ADDRESS}) from one address: 429 JSON with Retry-After`, async () => {
    const server = shared.server()
    await streamsFrom(server, '127.0.0.1', PER_ADDRESS)
    expectPerAddressRefusal(await refusedStream(server, '127.0.0.1'))
    // Another address is not affected.
    await streamsFrom(server, '127.0.0.2', 1)
    await finish(server, shared.baseline())
  })

  it(`past MAX_STREAMS (${TOTAL}) in all, from several addresses: 503 JSON with Retry-After`, async () => {
    const server = shared.server()
    for (let i = 0; i < TOTAL / PER_ADDRESS; i++) await streamsFrom(server, `127.0.0.${i + 1}`, PER_ADDRESS)
    expectTotalRefusal(await refusedStream(server, '127.0.0.9'))
    await finish(server, shared.baseline())
  })

  it('closing streams frees their slots, per address and in all', async () => {
    const server = shared.server()
    const first = await streamsFrom(server, '127.0.0.1', PER_ADDRESS)
    const second = await streamsFrom(server, '127.0.0.2', TOTAL - PER_ADDRESS)
    expectPerAddressRefusal(await refusedStream(server, '127.0.0.1'))
    expectTotalRefusal(await refusedStream(server, '127.0.0.3'))
    // One closed from the first address: that address may open one again.
    await closeStreams(server, first.slice(0, 1))
    await streamsFrom(server, '127.0.0.1', 1)
    // One closed from the second address: a third address may open one.
    await closeStreams(server, second.slice(0, 1))
    await streamsFrom(server, '127.0.0.3', 1)
    await finish(server, shared.baseline())
  })

  it('refused streams take no slot: after many refusals and every stream closed, all the slots open again', async () => {
    const server = shared.server()
    const streams = [...(await streamsFrom(server, '127.0.0.1', PER_ADDRESS)), ...(await streamsFrom(server, '127.0.0.2', TOTAL - PER_ADDRESS))]
    for (let i = 0; i < 20; i++) {
      expectPerAddressRefusal(await refusedStream(server, '127.0.0.1'))
      expectTotalRefusal(await refusedStream(server, '127.0.0.4'))
    }
    await closeStreams(server, streams)
    await streamsFrom(server, '127.0.0.5', PER_ADDRESS)
    await streamsFrom(server, '127.0.0.6', TOTAL - PER_ADDRESS)
    await finish(server, shared.baseline())
  })
})
