import { expect } from 'chai'
import { expectRefusal, finish, RawConn, sendMessage, SLACK_MS, useServer } from './harness'

/*
 * Scenario 4: a body over the 64 KiB limit on POST /api/send, announced
 * (Content-Length: 10 GB) or actual (a chunked body that keeps growing). The
 * answer is a 413 JSON refusal and the server then closes the connection: a
 * client that keeps writing gets EPIPE or ECONNRESET, or sees the socket end.
 * It does not go on reading (and discarding) what the client sends.
 */

/** Writing this much after the refusal without the connection closing means the server is still reading. */
const READ_ON_CAP = 64 * 1024 * 1024

/** The refusal comes as soon as the headers (or the 64 KiB) are in. */
const ANSWER_MS = 3_000

/** "Right after": the close follows the answer within this. */
const CLOSE_MS = SLACK_MS

const postHead = (framing: string) =>
  `POST /api/send HTTP/1.1\r\nHost: hostile.test\r\nContent-Type: application/json\r\n${framing}\r\n`

const isClosed = (conn: RawConn) => conn.closed || conn.ended || conn.error !== undefined

/**
 * Writes `next()` chunks, honouring backpressure, until `done(conn)` holds
 * (checked on every event of the socket), `cap` bytes are written, or `ms`
 * pass. Resolves with whether `done` held, and how the connection stands.
 */
const writeUntil = (
  conn: RawConn,
  next: () => Buffer | string,
  done: (conn: RawConn) => boolean,
  cap: number,
  ms: number,
): Promise<{ done: boolean; written: number; how: string }> =>
  new Promise((resolve) => {
    let written = 0
    let settled = false
    const how = () =>
      conn.error !== undefined ? (conn.error.code ?? conn.error.message) : conn.ended ? 'the socket ended' : conn.closed ? 'the socket closed' : 'still open'
    const stop = (held: boolean) => {
      if (settled) return
      settled = true
      conn.socket.off('drain', pump)
      resolve({ done: held, written, how: how() })
    }
    const pump = () => {
      while (!settled) {
        if (done(conn)) return stop(true)
        if (isClosed(conn)) return stop(false)
        if (written >= cap) return stop(false)
        const chunk = next()
        written += chunk.length
        if (!conn.write(chunk)) return // on 'drain', or when `done` holds
      }
    }
    conn.until(ms, 'writing', (c) => done(c) || isClosed(c)).then(
      () => stop(done(conn)),
      () => stop(false),
    )
    conn.socket.on('drain', pump)
    pump()
  })

const answered = (conn: RawConn) => conn.text().includes('\r\n\r\n')

describe('hostile: a request body over the limit', function () {
  this.timeout(30_000)
  // The default MAX_MESSAGE_LENGTH, so the body limit is the default 64 KiB.
  const shared = useServer('capped')

  it('Content-Length: 10 GB is refused with 413 JSON and the connection is closed, not read on', async () => {
    const server = shared.server()
    const conn = await RawConn.open(server)
    conn.write(postHead('Content-Length: 10000000000\r\n'))
    const answer = await conn.answer(ANSWER_MS, 'the answer to a send announcing 10 GB')
    expectRefusal(answer, 413, /body|large|limit|KiB/i)
    const filler = Buffer.alloc(64 * 1024, 0x61)
    const after = await writeUntil(conn, () => filler, isClosed, READ_ON_CAP, CLOSE_MS)
    expect(after.done, `the server closes the connection after its 413 (${after.how} with ${after.written} bytes written after the answer)`).to.equal(true)
    await sendMessage(server, { player_name: 'Honest', message: 'a normal send still works' })
    await finish(server, shared.baseline())
  })

  it('a chunked body growing past 64 KiB is refused with 413 JSON and the connection is closed, not read on', async () => {
    const server = shared.server()
    const conn = await RawConn.open(server)
    conn.write(postHead('Transfer-Encoding: chunked\r\n'))
    const data = 'a'.repeat(8 * 1024)
    const chunk = Buffer.from(`${data.length.toString(16)}\r\n${data}\r\n`)
    const start = '{"player_name":"Big","message":"'
    conn.write(`${start.length.toString(16)}\r\n${start}\r\n`)
    // 80 KiB of chunks, past the 64 KiB limit (fewer if the server answers or closes sooner), then the answer.
    await writeUntil(conn, () => chunk, (c) => answered(c) || isClosed(c), 80 * 1024, ANSWER_MS)
    const answer = await conn.answer(ANSWER_MS, 'the answer to a chunked body past 64 KiB')
    expectRefusal(answer, 413, /body|large|limit|KiB/i)
    // Then more, to see whether it keeps reading.
    const after = await writeUntil(conn, () => chunk, isClosed, READ_ON_CAP, CLOSE_MS)
    expect(after.done, `the server closes the connection after its 413 (${after.how} with ${after.written} bytes written after the answer)`).to.equal(true)
    await sendMessage(server, { player_name: 'Honest', message: 'a normal send still works' })
    await finish(server, shared.baseline())
  })
})
