import { expect } from 'chai'
import { expectRefusal, finish, RawConn, SECONDS, SLACK_MS, useServer, type Answer, type ServerProcess } from './harness'

/*
 * Scenario 5: clients that send slowly or stop. Headers trickled a byte at a
 * time and never finished; a body trickled a byte at a time; a request left
 * half-sent; a kept-alive connection left idle. Each is closed by the server
 * within its bound (HEADERS_TIMEOUT_SECONDS, REQUEST_TIMEOUT_SECONDS,
 * IDLE_TIMEOUT_SECONDS, KEEP_ALIVE_TIMEOUT_SECONDS), with a 408 JSON refusal
 * (and Connection: close) when it answers at all.
 *
 * The five clients run at once, each on its own connection, so the scenario
 * takes as long as the slowest bound rather than their sum; each has its own
 * test for its verdict.
 */

/** One byte this often: never idle long enough for the idle timeout, always too slow to finish. */
const TRICKLE_MS = 250

type Outcome = {
  /** The server process had exited when the connection closed: the close was its death, not a timeout. */
  readonly serverExited: boolean
  /** Milliseconds from the moment the bound starts to the close, or undefined when still open at the deadline. */
  readonly closedAfterMs: number | undefined
  readonly deadlineMs: number
  /** Whatever the server wrote before closing, parsed. */
  readonly answer: Answer | undefined
  readonly raw: string
  readonly how: string
}

/**
 * Opens a connection, writes `first`, then (with `trickle`) one byte of it
 * every TRICKLE_MS, and waits for the server to close the connection within
 * `boundSeconds` plus the slack.
 */
const slowClient = async (server: ServerProcess, first: string, trickle: string | undefined, boundSeconds: number): Promise<Outcome> => {
  // Unmanaged: the five outlive the test that starts them, and each destroys its own.
  const conn = await RawConn.open(server, { unmanaged: true })
  const began = Date.now()
  conn.write(first)
  let at = 0
  const timer =
    trickle === undefined
      ? undefined
      : setInterval(() => {
          conn.write(trickle.charAt(at % trickle.length))
          at++
        }, TRICKLE_MS)
  const deadlineMs = boundSeconds * 1000 + SLACK_MS
  const closed = await conn.awaitClose(deadlineMs, 'close').then(
    () => true,
    () => false,
  )
  clearInterval(timer)
  const closedAfterMs = closed ? Date.now() - began : undefined
  const outcome = await describeOutcome(server, conn, closedAfterMs, deadlineMs)
  conn.destroy()
  return outcome
}

const describeOutcome = async (server: ServerProcess, conn: RawConn, closedAfterMs: number | undefined, deadlineMs: number): Promise<Outcome> => {
  const serverExited = server.exit !== undefined
  const raw = conn.unread()
  const answer = raw === '' ? undefined : await conn.answer(500, 'the answer written before the close').catch(() => undefined)
  const how = conn.error !== undefined ? (conn.error.code ?? conn.error.message) : conn.ended ? 'end' : conn.closed ? 'close' : 'open'
  return { serverExited, closedAfterMs, deadlineMs, answer, raw, how }
}

/** A kept-alive connection: one whole request and its answer, then nothing; the bound starts at the answer. */
const idleKeepAlive = async (server: ServerProcess): Promise<Outcome & { readonly first: Answer }> => {
  const conn = await RawConn.open(server, { unmanaged: true })
  conn.write('GET /api HTTP/1.1\r\nHost: hostile.test\r\n\r\n')
  const first = await conn.answer(5_000, 'the answer to GET /api')
  const answeredAt = Date.now()
  const deadlineMs = SECONDS.KEEP_ALIVE_TIMEOUT * 1000 + SLACK_MS
  const closed = await conn.awaitClose(deadlineMs, 'close').then(
    () => true,
    () => false,
  )
  const outcome = await describeOutcome(server, conn, closed ? Date.now() - answeredAt : undefined, deadlineMs)
  conn.destroy()
  return { ...outcome, first }
}

const POST_HEAD = 'POST /api/send HTTP/1.1\r\nHost: hostile.test\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n'
const BODY = '{"player_name":"Slow","message":"' + 'a'.repeat(2000)

/** The verdict for a slow client: closed in time, and anything it was told is a 408 JSON refusal with Connection: close. */
const expectTimedOut = (outcome: Outcome, what: string): void => {
  expect(outcome.serverExited, `${what}: the server process exited`).to.equal(false)
  expect(
    outcome.closedAfterMs,
    `${what}: the server closes the connection within ${outcome.deadlineMs} ms (it was ${outcome.how}; received ${JSON.stringify(outcome.raw.slice(0, 200))})`,
  ).to.be.a('number')
  if (outcome.raw === '') return
  expect(outcome.answer, `${what}: what the server wrote is one whole HTTP answer: ${JSON.stringify(outcome.raw.slice(0, 300))}`).to.not.equal(undefined)
  const answer = outcome.answer as Answer
  expectRefusal(answer, 408, /time|slow|long|received/i)
  expect(answer.headers.connection, `${what}: the 408 says Connection: close`).to.match(/close/i)
}

describe('hostile: slow and stalled clients', function () {
  this.timeout(30_000)
  const shared = useServer('main')
  let outcomes:
    | {
        readonly headers: Promise<Outcome>
        readonly body: Promise<Outcome>
        readonly partialRequest: Promise<Outcome>
        readonly partialBody: Promise<Outcome>
        readonly keepAlive: Promise<Outcome & { readonly first: Answer }>
      }
    | undefined
  let baselineKiB = 0
  let launchedOn: ServerProcess | undefined
  /** All five start together, on the first test; each test then awaits its own. */
  const started = () => {
    if (outcomes === undefined) {
      const server = shared.server()
      baselineKiB = shared.baseline()
      launchedOn = server
      outcomes = {
        // Request line and headers a byte at a time, never reaching the blank line.
        headers: slowClient(server, '', 'GET /api HTTP/1.1\r\nHost: hostile.test\r\nX-Trickle: ' + 'a'.repeat(10_000), SECONDS.HEADERS_TIMEOUT),
        // Whole headers announcing 1000 bytes, then the body a byte at a time.
        body: slowClient(server, POST_HEAD, BODY, SECONDS.REQUEST_TIMEOUT),
        // Half a request, then silence.
        partialRequest: slowClient(server, 'GET /api HTTP/1.1\r\nHost: hostile.test\r\n', undefined, Math.min(SECONDS.HEADERS_TIMEOUT, SECONDS.IDLE_TIMEOUT)),
        // Whole headers and 10 bytes of a 1000-byte body, then silence.
        partialBody: slowClient(server, POST_HEAD + BODY.slice(0, 10), undefined, Math.min(SECONDS.REQUEST_TIMEOUT, SECONDS.IDLE_TIMEOUT)),
        keepAlive: idleKeepAlive(server),
      }
      // Each is awaited by its own test; none may go unhandled meanwhile.
      for (const outcome of Object.values(outcomes)) (outcome as Promise<unknown>).catch(() => undefined)
    }
    return outcomes
  }

  it(`trickled headers are cut off within HEADERS_TIMEOUT_SECONDS (${SECONDS.HEADERS_TIMEOUT}) + slack`, async () => {
    expectTimedOut(await started().headers, 'headers a byte every 250 ms')
  })

  it(`a trickled body is cut off within REQUEST_TIMEOUT_SECONDS (${SECONDS.REQUEST_TIMEOUT}) + slack`, async () => {
    expectTimedOut(await started().body, 'a body a byte every 250 ms')
  })

  it('a half-sent request, then silence, is closed within the headers or idle bound', async () => {
    expectTimedOut(await started().partialRequest, 'half a request line and headers')
  })

  it('a half-sent body, then silence, is closed within the request or idle bound', async () => {
    expectTimedOut(await started().partialBody, 'headers and 10 of 1000 body bytes')
  })

  it(`an idle kept-alive connection is closed after KEEP_ALIVE_TIMEOUT_SECONDS (${SECONDS.KEEP_ALIVE_TIMEOUT})`, async () => {
    const outcome = await started().keepAlive
    expect(outcome.serverExited, 'the server process exited').to.equal(false)
    expect(outcome.first.status).to.equal(200)
    expect(
      outcome.closedAfterMs,
      `the server closes an idle kept-alive connection within ${outcome.deadlineMs} ms of its answer (it was ${outcome.how})`,
    ).to.be.a('number')
    expect(outcome.closedAfterMs, 'not before the keep-alive timeout (less half a second for timer granularity)').to.be.at.least(
      SECONDS.KEEP_ALIVE_TIMEOUT * 1000 - 500,
    )
    expect(outcome.raw, 'nothing more is written to it').to.equal('')
  })

  it('the process survives them all, its memory near where it began', async () => {
    const all = started()
    await Promise.all(Object.values(all) as Array<Promise<unknown>>)
    const server = launchedOn as ServerProcess
    // The process the five ran against, not a replacement started after it died.
    await finish(server, baselineKiB)
  })
})
