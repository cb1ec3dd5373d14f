import { expect } from 'chai'
import {
  awaitServerLetGo,
  awaitServerRead,
  call,
  destroyAll,
  expectRefusal,
  expectRetryAfter,
  finish,
  getRequest,
  newestCursor,
  openFilesLimit,
  openMany,
  PROFILES,
  sendMessage,
  useServer,
  type RawConn,
  type ServerProcess,
} from './harness'

/*
 * Scenario 8: a flood of long polls. Thousands from ONE address are all held
 * (there is no per-address cap on long polls: every Roblox game server
 * reaches us from Roblox's few data-centre addresses), and one message
 * answers them all. Past MAX_LONG_POLLS (200 in a process of its own) the
 * extra ones get 503 JSON with Retry-After; answering or closing polls frees
 * their slots.
 */

const WANTED = 3_000
/** Descriptors each process keeps for everything else (stdio, the listener, tsx, mocha, the suite's other sockets). */
const FD_RESERVE = 300

/**
 * Every poll is a socket in this process and another in the server, each
 * against its own process's open-files limit (3,000 polls: ~6,000
 * descriptors over the two, ~3,000 in each). The flood is sized to the
 * smaller limit, saying so when it has to be reduced.
 */
const floodSize = (server: ServerProcess): number => {
  const limit = Math.min(openFilesLimit('self'), openFilesLimit(server.pid))
  const size = Math.min(WANTED, limit - FD_RESERVE)
  if (size < WANTED)
    console.log(
      `      (open-files limit ${limit}: ${size} long polls instead of ${WANTED}, since each needs a descriptor in this process and one in the server; raise it with ulimit -n)`,
    )
  return size
}

const pollPath = (after: number, channel: string) => `/api/messages?after=${after}&wait=25&channel=${channel}`

/** Writes one poll on each connection and waits until the server has read them all, then one round trip so their handlers have run. */
const poll = async (server: ServerProcess, conns: ReadonlyArray<RawConn>, after: number, channel: string): Promise<void> => {
  for (const conn of conns) conn.write(getRequest(pollPath(after, channel)))
  await awaitServerRead(server, conns, 15_000, `the server reads ${conns.length} long polls`)
  await call(server, 'GET', '/api')
}

/** Every connection gets a 200 whose messages are exactly `ids`. */
const expectAnswered = async (conns: ReadonlyArray<RawConn>, ids: number[], ms: number): Promise<void> => {
  const answers = await Promise.all(conns.map((conn, i) => conn.answer(ms, `the answer to held poll #${i}`)))
  const wrong = answers.filter((a) => a.status !== 200)
  expect(wrong.length, `polls answered other than 200, e.g. ${wrong[0]?.status} ${wrong[0]?.body}`).to.equal(0)
  for (const answer of answers) expect((JSON.parse(answer.body) as { messages: Array<{ id: number }> }).messages.map((m) => m.id)).to.deep.equal(ids)
}

const expectNoAnswerYet = (conns: ReadonlyArray<RawConn>, what: string): void => {
  const answered = conns.filter((c) => c.unread() !== '' || c.closed || c.ended)
  expect(answered.length, `${what}: every poll is held, none answered or closed yet; e.g. ${JSON.stringify(answered[0]?.unread().slice(0, 200))}`).to.equal(0)
}

describe('hostile: a flood of long polls from one address', function () {
  this.timeout(90_000)
  const shared = useServer('flood')

  it(`${WANTED} long polls from one address are all held, and one message answers them all`, async () => {
    const server = shared.server()
    const size = floodSize(server)
    const channel = 'poll-flood'
    const after = await newestCursor(server, channel)
    const conns = await openMany(server, size)
    await poll(server, conns, after, channel)
    expectNoAnswerYet(conns, `${size} polls from 127.0.0.1`)
    const sent = await sendMessage(server, { player_name: 'Crier', message: 'to everyone at once', channel })
    await expectAnswered(conns, [sent.id], 20_000)
    destroyAll(conns)
    await finish(server, shared.baseline())
  })
})

describe('hostile: long polls past MAX_LONG_POLLS', function () {
  this.timeout(60_000)
  const shared = useServer('capped')
  const CAP = Number(PROFILES.capped.MAX_LONG_POLLS)

  it(`past MAX_LONG_POLLS (${CAP}): 503 JSON with Retry-After; closing and answering free the slots`, async () => {
    const server = shared.server()
    const channel = 'poll-cap'
    const c0 = await newestCursor(server, channel)
    const held = await openMany(server, CAP)
    await poll(server, held, c0, channel)
    expectNoAnswerYet(held, `${CAP} polls, the cap`)

    // Past the cap: refused at once.
    const extra = await openMany(server, 10)
    for (const conn of extra) conn.write(getRequest(pollPath(c0, channel)))
    for (const conn of extra) {
      const answer = await conn.answer(5_000, 'the answer to a long poll past MAX_LONG_POLLS')
      expectRefusal(answer, 503, /poll|many|capacity|limit|busy/i)
      expectRetryAfter(answer.headers)
    }
    destroyAll(extra)

    // Closing frees: 50 held polls go away, 50 new ones are held in their place (a refusal would show in their answers below).
    const gone = held.splice(0, 50)
    destroyAll(gone)
    await awaitServerLetGo(server, gone, 5_000, 'the server closes polls whose clients went away')
    const replacements = await openMany(server, 50)
    await poll(server, replacements, c0, channel)
    held.push(...replacements)
    expectNoAnswerYet(replacements, 'polls in the slots of closed ones')
    const m1 = await sendMessage(server, { player_name: 'Crier', message: 'one', channel })
    await expectAnswered(held, [m1.id], 10_000)

    // Answering frees: every connection polls again at once (as a game server does), and all are held again.
    await poll(server, held, m1.id, channel)
    expectNoAnswerYet(held, 'polls made again after their answers')
    const m2 = await sendMessage(server, { player_name: 'Crier', message: 'two', channel })
    await expectAnswered(held, [m2.id], 10_000)

    destroyAll(held)
    await finish(server, shared.baseline())
  })
})
