import { expect } from 'chai'
import { Agent } from 'node:http'
import type { WireMessage } from '../../adapters/http/wire'
import { startTestServer, type TestServer, type TestServerOptions } from '../support/server'
import { rawRequest } from './raw'

/*
 * Many game servers send at once. Over real HTTP and pooled keep-alive
 * connections, every send is answered, every id is distinct, nothing is
 * lost, and the bound keeps exactly the newest messages.
 */

type SendAnswer = { success: boolean; message: WireMessage; auto_reply: WireMessage | null }
type ListAnswer = { count: number; messages: WireMessage[] }

describe('HTTP API: concurrent sends', function () {
  this.timeout(60_000)
  let t: TestServer
  let agent: Agent
  const start = async (options: TestServerOptions) => {
    t = await startTestServer(options)
    agent = new Agent({ keepAlive: true, maxSockets: 50 })
  }
  afterEach(async () => {
    agent?.destroy()
    await t?.close()
  })

  const sendAll = async (n: number): Promise<SendAnswer[]> => {
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        rawRequest(t.url, {
          method: 'POST',
          path: '/api/send',
          agent,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ player_name: `Player${i % 37}`, message: `message ${i}` }),
        }),
      ),
    )
    for (const answer of answers) expect(answer.status, answer.text).to.equal(200)
    return answers.map((a) => a.json as SendAnswer)
  }
  const listAll = async (): Promise<ListAnswer> => {
    const answer = await rawRequest(t.url, { path: '/api/messages?limit=1000', agent })
    expect(answer.status).to.equal(200)
    return answer.json as ListAnswer
  }
  const expectStrictlyIncreasing = (ids: number[]) => {
    for (let i = 1; i < ids.length; i++) expect(ids[i], `ids[${i}]`).to.be.greaterThan(ids[i - 1]!)
  }

  it('answers 500 simultaneous sends, each with distinct ids, and loses none', async () => {
    await start({ store: { maxMessages: 2000 } })
    const answers = await sendAll(500)

    expect(answers.every((a) => a.success)).to.equal(true)
    // Each answer is its own send, with its own reply.
    expect(new Set(answers.map((a) => a.message.message)).size).to.equal(500)
    for (const a of answers) {
      expect(a.auto_reply?.reply_to).to.equal(a.message.id)
      expect(a.auto_reply?.message).to.equal(`Hello ${a.message.player_name}!`)
    }
    const ids = answers.flatMap((a) => [a.message.id, a.auto_reply!.id])
    expect(new Set(ids).size).to.equal(1000)

    const listed = await listAll()
    expect(listed.count).to.equal(1000)
    expect(listed.messages.map((m) => m.id).sort((a, b) => a - b)).to.deep.equal([...ids].sort((a, b) => a - b))
    expectStrictlyIncreasing(listed.messages.map((m) => m.id))
    // What was answered is exactly what was stored.
    const byId = new Map(listed.messages.map((m) => [m.id, m]))
    for (const a of answers) {
      expect(byId.get(a.message.id)).to.deep.equal(a.message)
      expect(byId.get(a.auto_reply!.id)).to.deep.equal(a.auto_reply)
    }
    // Timestamps follow id order.
    const stamps = listed.messages.map((m) => Date.parse(m.timestamp))
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).to.be.at.least(stamps[i - 1]!)
  })

  it('holds exactly the newest 1000 of 1600 under the default bound, ids strictly increasing', async () => {
    await start({})
    const answers = await sendAll(800)
    const ids = answers.flatMap((a) => [a.message.id, a.auto_reply!.id]).sort((a, b) => a - b)
    expect(new Set(ids).size).to.equal(1600)

    const listed = await listAll()
    expect(listed.count).to.equal(1000)
    const held = listed.messages.map((m) => m.id)
    expectStrictlyIncreasing(held)
    expect(held).to.deep.equal(ids.slice(-1000))
    // Nothing older than the newest 1000 is anywhere to be found, not even by player.
    const oldest = answers.reduce((a, b) => (a.message.id < b.message.id ? a : b))
    const byPlayer = await rawRequest(t.url, { path: `/api/messages/${oldest.message.player_name}?limit=1000`, agent })
    expect((byPlayer.json as ListAnswer).messages.map((m) => m.id)).not.to.include(oldest.message.id)
  })

  it('keeps the answers of concurrent reads consistent while sends go on', async () => {
    await start({ store: { maxMessages: 2000 } })
    const reads: Promise<ListAnswer>[] = []
    const sends = sendAll(200)
    for (let i = 0; i < 50; i++) reads.push(listAll())
    await sends
    for (const page of await Promise.all(reads)) {
      expectStrictlyIncreasing(page.messages.map((m) => m.id))
      expect(page.count).to.equal(page.messages.length)
      // A message and its reply are stored together: no page holds a reply without its message.
      const ids = new Set(page.messages.map((m) => m.id))
      for (const m of page.messages) if (m.type === 'reply') expect(ids.has(m.reply_to!), `reply ${m.id}`).to.equal(true)
    }
  })
})
