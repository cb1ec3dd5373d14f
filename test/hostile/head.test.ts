import { expect } from 'chai'
import { finish, openStream, RawConn, sendMessage, useServer, type ServerProcess } from './harness'

/*
 * Scenario 3: HEAD on the endpoints that hold a request open. A HEAD gets a
 * status line and headers at once, and its connection is free afterwards:
 * the next request on it is answered, nothing stray is written into it, and
 * (for the stream) it holds no stream slot.
 */

/** Within this a HEAD counts as answered "at once": no wait is involved, only a busy machine. */
const AT_ONCE_MS = 3_000

const head = (path: string) => `HEAD ${path} HTTP/1.1\r\nHost: hostile.test\r\n\r\n`
const getApi = 'GET /api HTTP/1.1\r\nHost: hostile.test\r\n\r\n'

/**
 * Sends HEAD `path` on a fresh connection and checks the answer comes at once;
 * then that the connection is free: closed if the answer said so, otherwise
 * the next request on it is answered.
 */
const headAnswersAtOnce = async (server: ServerProcess, path: string): Promise<RawConn> => {
  const conn = await RawConn.open(server)
  conn.write(head(path))
  const answer = await conn.answer(AT_ONCE_MS, `the status line and headers of HEAD ${path}`, true)
  expect(answer.status, `HEAD ${path}`).to.be.within(200, 499)
  if (/close/i.test(answer.headers.connection ?? '')) {
    await conn.awaitClose(AT_ONCE_MS, `the connection closes after HEAD ${path} answered Connection: close`)
    return conn
  }
  await expectFree(conn, `after HEAD ${path}`)
  return conn
}

/** The next request on the connection is answered, and with its own answer (GET /api's). */
const expectFree = async (conn: RawConn, when: string): Promise<void> => {
  conn.write(getApi)
  const next = await conn.answer(AT_ONCE_MS, `GET /api on the same connection ${when}`)
  expect(next.status, `GET /api ${when}`).to.equal(200)
  expect(next.body, `GET /api's own answer ${when}, not another`).to.include('"status":"running"')
}

describe('hostile: HEAD on the stream and on long polls', function () {
  this.timeout(30_000)
  const shared = useServer('capped')

  it('HEAD /api/stream answers at once, frees its connection and takes no stream slot', async () => {
    const server = shared.server()
    // More HEADs than one address may hold streams (3), each connection kept open.
    const heads: RawConn[] = []
    for (let i = 0; i < 4; i++) heads.push(await headAnswersAtOnce(server, '/api/stream?channel=head-stream'))
    // A message for the channel: a stream still held behind a HEAD would have something to write now.
    await sendMessage(server, { player_name: 'Header', message: 'after the HEADs', channel: 'head-stream' })
    for (const conn of heads) if (!conn.closed && !conn.ended) await expectFree(conn, 'after a message for the channel')
    // Every stream slot of this address is still free.
    for (let i = 0; i < 3; i++) await openStream(server, '/api/stream?channel=head-stream')
    await finish(server, shared.baseline())
  })

  for (const [what, path, wake] of [
    ['a long poll', '/api/messages?after=0&wait=25&channel=head-poll', { player_name: 'Header', message: 'wake', channel: 'head-poll' }],
    ["a player's long poll", '/api/messages/HeadPlayer?after=0&wait=25', { player_name: 'HeadPlayer', message: 'wake' }],
  ] as const) {
    it(`HEAD on ${what} (${path}) answers at once and frees its connection`, async () => {
      const server = shared.server()
      const conn = await headAnswersAtOnce(server, path)
      // A message the poll would have been waiting for: nothing may be written into the connection now.
      await sendMessage(server, wake)
      if (!conn.closed && !conn.ended) await expectFree(conn, 'after a message the poll would have waited for')
      await finish(server, shared.baseline())
    })
  }
})
