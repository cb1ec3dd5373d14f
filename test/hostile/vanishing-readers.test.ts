import { expect } from 'chai'
import {
  awaitHeartbeats,
  awaitServerRead,
  call,
  finish,
  getRequest,
  newestCursor,
  openMany,
  openStream,
  RawConn,
  sendMessage,
  useServer,
  type ServerProcess,
} from './harness'

/*
 * Scenario 6: readers that vanish in the middle of an answer, on every path
 * that holds one open: an event stream, a held long poll, a player's held
 * long poll. Each is opened (many at once), then destroyed, or separately
 * half-closed (the client sends its FIN and keeps reading); then messages
 * arrive for it. The process survives, its memory returns, and a long poll
 * made afterwards is answered normally.
 */

/** Readers of one kind opened and dropped at once: enough that a leak per connection would add up. */
const COUNT = 50

type Kind = 'stream' | 'long poll' | "player's long poll"
type Vanish = 'destroyed' | 'half-closed'

const KINDS: ReadonlyArray<Kind> = ['stream', 'long poll', "player's long poll"]
const VANISHES: ReadonlyArray<Vanish> = ['destroyed', 'half-closed']

const slug = (text: string) => text.replace(/[^a-z]+/gi, '-').replace(/-+$/, '')

/** Opens COUNT readers of a kind and resolves once each is under way (the stream ready, the poll read by the server). */
const openReaders = async (server: ServerProcess, kind: Kind, channel: string, player: string): Promise<RawConn[]> => {
  if (kind === 'stream') {
    const streams: RawConn[] = []
    for (let i = 0; i < COUNT; i++) streams.push(await openStream(server, `/api/stream?channel=${channel}`))
    return streams
  }
  const after = await newestCursor(server, channel)
  const path = kind === 'long poll' ? `/api/messages?after=${after}&wait=25&channel=${channel}` : `/api/messages/${player}?after=${after}&wait=25&channel=${channel}`
  const polls = await openMany(server, COUNT)
  for (const poll of polls) poll.write(getRequest(path))
  await awaitServerRead(server, polls, 5_000, `the server reads ${COUNT} long polls`)
  // A round trip after the server has read them: their handlers have run and they are held.
  await call(server, 'GET', '/api')
  for (const poll of polls) expect(poll.bytes, `a ${kind} with nothing to answer is held, not answered: ${poll.text().slice(0, 200)}`).to.equal(0)
  return polls
}

describe('hostile: readers that vanish mid-answer', function () {
  this.timeout(30_000)
  const shared = useServer('main')

  for (const kind of KINDS)
    for (const vanish of VANISHES)
      it(`${COUNT} ${kind}s ${vanish}, then messages: the process lives on and a later long poll is answered`, async () => {
        const server = shared.server()
        const channel = `vanish-${slug(kind)}-${vanish}`.slice(0, 32)
        const player = `Vanisher${slug(kind).length}${vanish.length}`
        const readers = await openReaders(server, kind, channel, player)

        if (vanish === 'destroyed') for (const reader of readers) reader.destroy()
        else for (const reader of readers) reader.socket.end()

        for (let i = 0; i < 3; i++) await sendMessage(server, { player_name: player, message: `for no one ${i}`, channel })
        // The heartbeat ticks over every stream it still knows: twice more, with nothing written to a gone one.
        if (kind === 'stream') await awaitHeartbeats(server, 2)

        // A long poll of the same kind made now is held and then answered with the next message.
        const after = await newestCursor(server, channel)
        const path = kind === "player's long poll" ? `/api/messages/${player}?after=${after}&wait=10&channel=${channel}` : `/api/messages?after=${after}&wait=10&channel=${channel}`
        const next = await RawConn.open(server)
        next.write(getRequest(path))
        await awaitServerRead(server, [next], 5_000, 'the server reads the later long poll')
        const sent = await sendMessage(server, { player_name: player, message: 'for the one still here', channel })
        const answer = await next.answer(5_000, 'the answer to the later long poll')
        expect(answer.status, answer.body).to.equal(200)
        const page = JSON.parse(answer.body) as { success: boolean; messages: Array<{ id: number; message: string }> }
        expect(page.success).to.equal(true)
        expect(page.messages.map((m) => m.id)).to.deep.equal([sent.id])

        await finish(server, shared.baseline())
      })
})
