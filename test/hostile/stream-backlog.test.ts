import { expect } from 'chai'
import { get } from 'node:http'
import {
  awaitServerLetGo,
  call,
  exitNote,
  finish,
  getRequest,
  LONG_TEXT,
  RawConn,
  rssKiB,
  SECONDS,
  sendMany,
  SLACK_MS,
  useServer,
  type ServerProcess,
} from './harness'

/*
 * Scenario 1: a stream whose stored backlog is far larger than the 1 MiB a
 * stream may have queued. A reader that reads gets all of it and then
 * `event: ready`; a reader that never reads is disconnected within the idle
 * timeout; the process survives either way.
 */

/** ~380 messages of ~64 KB of JSON each: a backlog of ~24 MB, far beyond the ~4 MB the kernel's socket buffers absorb. */
const BACKLOG = 380
const CHANNEL = 'backlog'

/** Stores the backlog once per process, then reads it once as a list so the per-message JSON is cached before any baseline. */
const filled = new WeakMap<ServerProcess, number[]>()
const ensureBacklog = async (server: ServerProcess): Promise<{ ids: number[]; baseline: number }> => {
  let ids = filled.get(server)
  if (ids === undefined) {
    const sent = await sendMany(server, BACKLOG, (i) => ({ player_name: `Backlog${i % 10}`, message: `${i} ${LONG_TEXT}`, channel: CHANNEL }))
    // Sent eight at a time, so stored in whatever order they arrived: the store's order is the ids' order.
    ids = sent.map((s) => s.id).sort((a, b) => a - b)
    filled.set(server, ids)
  }
  const list = await call(server, 'GET', `/api/messages?after=0&limit=1000&channel=${CHANNEL}`, { ms: 20_000 })
  expect(list.status).to.equal(200)
  expect((list.json as { count: number }).count).to.equal(BACKLOG)
  return { ids, baseline: rssKiB(server.pid) }
}

type StreamRead = { readonly ids: number[]; readonly ready: boolean; readonly ended: boolean; readonly bytes: number }

/** Reads an event stream with node's HTTP client, as a browser would, until `event: ready` (or the end). */
const readUntilReady = (server: ServerProcess, path: string): Promise<StreamRead> =>
  new Promise((resolve, reject) => {
    const ids: number[] = []
    let bytes = 0
    let buffer = ''
    let done = false
    const req = get({ host: server.host, port: server.port, path, agent: false, headers: { accept: 'text/event-stream' } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET ${path} answered ${res.statusCode}`))
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (done) return
        bytes += chunk.length
        buffer += chunk
        let end: number
        let from = 0
        while ((end = buffer.indexOf('\n\n', from)) !== -1) {
          const block = buffer.slice(from, end)
          from = end + 2
          if (block.startsWith('id: ')) ids.push(Number(block.slice(4, block.indexOf('\n'))))
          if (/^event: ready$/m.test(block)) {
            done = true
            req.destroy()
            return resolve({ ids, ready: true, ended: false, bytes })
          }
        }
        buffer = buffer.slice(from)
      })
      res.on('end', () => {
        if (!done) resolve({ ids, ready: false, ended: true, bytes })
      })
      res.on('error', () => {
        if (!done) resolve({ ids, ready: false, ended: true, bytes })
      })
    })
    req.on('error', () => {
      if (!done) resolve({ ids, ready: false, ended: true, bytes })
    })
  })

describe('hostile: an event stream with a backlog of many MB', function () {
  this.timeout(60_000)
  const shared = useServer('main')

  it('a reader that reads gets the whole backlog, then event: ready', async () => {
    const server = shared.server()
    const { ids, baseline } = await ensureBacklog(server)
    const read = await readUntilReady(server, `/api/stream?after=0&channel=${CHANNEL}`)
    if (!read.ready)
      expect.fail(`the stream ended after ${read.ids.length} of ${ids.length} messages (${read.bytes} characters) without event: ready; ${await exitNote(server)}`)
    expect(read.ids, 'every stored message, once, in order').to.deep.equal(ids)
    await finish(server, baseline)
  })

  it('a reader that never reads is disconnected within IDLE_TIMEOUT_SECONDS (+ slack), and the process lives on', async () => {
    const server = shared.server()
    const { baseline } = await ensureBacklog(server)
    // Two readers that send their request and never read a byte of the answer.
    const stalled = await Promise.all([RawConn.open(server, { read: false }), RawConn.open(server, { read: false })])
    for (const conn of stalled) conn.write(getRequest(`/api/stream?after=0&channel=${CHANNEL}`))
    await awaitServerLetGo(
      server,
      stalled,
      SECONDS.IDLE_TIMEOUT * 1000 + SLACK_MS,
      `the server disconnects stream readers that never read (IDLE_TIMEOUT_SECONDS=${SECONDS.IDLE_TIMEOUT}); server exit: ${JSON.stringify(server.exit)}`,
    )
    await finish(server, baseline)
  })
})
