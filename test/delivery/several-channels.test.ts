import { expect } from 'chai'
import { postJson, startTestServer, type TestServer } from '../support/server'
import { openEventStream } from '../support/sse'
import { until } from '../support/until'

/*
 * `channels=a,b,c` on GET /api/messages, /api/messages/<player> and
 * /api/stream: one cursor over several channels, their messages in id order,
 * through both ways of mounting the server.
 */

type Wire = { id: number; player_name: string; message: string; channel: string }
type ListAnswer = { success: boolean; count: number; messages: Wire[]; next_after: number; has_more: boolean; gap: boolean; epoch: string; error?: string }

const getJson = async (url: string): Promise<{ status: number; body: ListAnswer }> => {
  const response = await fetch(url)
  return { status: response.status, body: (await response.json()) as ListAnswer }
}

for (const via of ['listener', 'koa'] as const) {
  describe(`delivery: several channels under one cursor (${via})`, () => {
    let server: TestServer
    afterEach(() => server.close())

    const send = async (player_name: string, message: string, channel?: string): Promise<Wire> => {
      const response = await postJson(`${server.url}/api/send`, channel === undefined ? { player_name, message } : { player_name, message, channel })
      expect(response.status).to.equal(200)
      return ((await response.json()) as { message: Wire }).message
    }

    it('lists the channels named, merged in id order, and no other', async () => {
      server = await startTestServer({ via, autoReplyTemplate: '' })
      const sent: Wire[] = []
      for (const [i, channel] of ['global', 'lobby', 'team-red', 'lobby', 'global', 'team-red'].entries()) sent.push(await send('Bob', `m${i}`, channel))
      const { status, body } = await getJson(`${server.url}/api/messages?channels=lobby,global`)
      expect(status).to.equal(200)
      expect(body.messages.map((m) => [m.message, m.channel])).to.deep.equal([
        ['m0', 'global'],
        ['m1', 'lobby'],
        ['m3', 'lobby'],
        ['m4', 'global'],
      ])
      expect(body.next_after).to.equal(sent.at(-1)?.id)
      const paged = await getJson(`${server.url}/api/messages?channels=team-red,lobby&after=0&limit=2`)
      expect(paged.body.messages.map((m) => m.message)).to.deep.equal(['m1', 'm2'])
      expect(paged.body.has_more).to.equal(true)
      const rest = await getJson(`${server.url}/api/messages?channels=team-red,lobby&after=${paged.body.next_after}&epoch=${paged.body.epoch}`)
      expect(rest.body.messages.map((m) => m.message)).to.deep.equal(['m3', 'm5'])
      expect(rest.body.gap).to.equal(false)
      // One player's messages across the channels, the same way.
      await send('Ann', 'ann in lobby', 'lobby')
      const ann = await getJson(`${server.url}/api/messages/ANN?channels=global,lobby`)
      expect(ann.body.messages.map((m) => m.message)).to.deep.equal(['ann in lobby'])
    })

    it('answers a held poll when a message arrives in any of its channels, and not for another channel', async () => {
      server = await startTestServer({ via, autoReplyTemplate: '' })
      const head = (await getJson(`${server.url}/api/messages?channels=lobby,team-red`)).body
      const poll = getJson(`${server.url}/api/messages?channels=lobby,team-red&after=${head.next_after}&epoch=${head.epoch}&wait=20`)
      await until(() => server.holding() === 1)
      await send('Bob', 'elsewhere', 'global')
      await send('Bob', 'for the team', 'team-red')
      const { body } = await poll
      expect(body.messages.map((m) => m.message)).to.deep.equal(['for the team'])
      expect(body.gap).to.equal(false)
      // The cursor it hands out is past the message in the other channel: the next poll waits for new ones.
      const next = getJson(`${server.url}/api/messages?channels=lobby,team-red&after=${body.next_after}&epoch=${body.epoch}&wait=20`)
      await until(() => server.holding() === 1)
      await send('Ann', 'in the lobby', 'lobby')
      expect((await next).body.messages.map((m) => m.message)).to.deep.equal(['in the lobby'])
    })

    it('delivers every message of its channels exactly once, in id order, to long polls and streams over them while 20 senders send to those channels and others', async function () {
      this.timeout(60_000)
      server = await startTestServer({ via, autoReplyTemplate: '', store: { maxMessages: 10_000 } })
      const followed = ['red', 'blue', 'global']
      const everywhere = [...followed, 'green']
      const perSender = 16
      const total = 20 * perSender
      // Each sender writes to every channel in turn, so about three in four messages are followed.
      const expectedCount = Array.from({ length: 20 }, (_, s) => Array.from({ length: perSender }, (_, i) => everywhere[(s + i) % everywhere.length])).flat().filter((c) => followed.includes(c as string)).length
      const pollers = Array.from({ length: 8 }, async (_, n) => {
        const seen: Wire[] = []
        let after = 0
        let epoch = ''
        while (seen.length < expectedCount) {
          const { status, body } = await getJson(`${server.url}/api/messages?channels=${followed.join(',')}&after=${after}&wait=5${epoch ? `&epoch=${epoch}` : ''}${n % 2 ? '&limit=7' : ''}`)
          expect(status).to.equal(200)
          expect(body.gap).to.equal(false)
          seen.push(...body.messages)
          after = body.next_after
          epoch = body.epoch
        }
        return seen.map((m) => m.id)
      })
      const stream = await openEventStream(`${server.url}/api/stream?channels=blue,global,red&after=0`)
      await stream.nextOf('ready')
      await until(() => server.holding() >= 9)
      await Promise.all(
        Array.from({ length: 20 }, async (_, s) => {
          for (let i = 0; i < perSender; i++) await send(`Sender${s}`, `m${i}`, everywhere[(s + i) % everywhere.length])
        }),
      )
      const stored = (await getJson(`${server.url}/api/messages?limit=1000&channels=${everywhere.join(',')}`)).body.messages
      expect(stored).to.have.length(total)
      const expected = stored.filter((m) => followed.includes(m.channel)).map((m) => m.id)
      expect(expected).to.have.length(expectedCount)
      for (const seen of await Promise.all(pollers)) expect(seen).to.deep.equal(expected)
      const streamed: number[] = []
      while (streamed.length < expected.length) {
        const event = await stream.next()
        if (event.event === 'message') streamed.push(Number(event.id))
      }
      expect(streamed).to.deep.equal(expected)
      await stream.close()
    })

    it('streams the channels named, backlog then live, and resumes after Last-Event-ID across them', async () => {
      server = await startTestServer({ via, autoReplyTemplate: '' })
      await send('Bob', 'lobby 1', 'lobby')
      await send('Bob', 'global 1')
      await send('Bob', 'other 1', 'other')
      const stream = await openEventStream(`${server.url}/api/stream?channels=lobby,global&after=0`)
      const backlog = [await stream.next(), await stream.next()].map((e) => JSON.parse(e.data).message)
      expect(backlog).to.deep.equal(['lobby 1', 'global 1'])
      expect((await stream.nextOf('ready')).event).to.equal('ready')
      await send('Ann', 'other 2', 'other')
      await send('Ann', 'lobby 2', 'lobby')
      const live = await stream.next()
      expect(JSON.parse(live.data)).to.include({ message: 'lobby 2', channel: 'lobby' })
      await stream.close()
      await send('Ann', 'global 2')
      const resumed = await openEventStream(`${server.url}/api/stream?channels=lobby,global&after=0`, { 'Last-Event-ID': String(live.id) })
      expect(JSON.parse((await resumed.next()).data).message).to.equal('global 2')
      await resumed.close()
    })

    it('refuses a bad list of channels with a 400 that names channels, wherever one is taken', async () => {
      server = await startTestServer({ via })
      const eleven = Array.from({ length: 11 }, (_, i) => `c${i}`).join(',')
      const cases: Array<[string, RegExp]> = [
        [`channels=${eleven}`, /^channels names more than 10; one read follows at most 10 channels$/],
        ['channels=lobby,has%20space', /^channels: "has space" is not a channel name \(channel may only contain A-Z a-z 0-9 _ -\)$/],
        ['channels=lobby,,global', /^channels: "" is not a channel name \(channel must not be blank\)$/],
        ['channels=', /^channels: "" is not a channel name/],
        [`channels=lobby,${'x'.repeat(33)}`, /^channels: "x+" is not a channel name \(channel is longer than 32 characters\)$/],
        ['channels=lobby&channel=global', /^channel and channels cannot both be given/],
        ['channels=lobby&channels=global', /^channels must be a string$/],
      ]
      for (const [query, error] of cases)
        for (const path of [`/api/messages?${query}`, `/api/messages/Bob?${query}`, `/api/messages?${query}&after=0&wait=5`, `/api/stream?${query}`]) {
          const response = await fetch(`${server.url}${path}`)
          expect(response.status, path).to.equal(400)
          expect(((await response.json()) as { success: boolean; error: string }).error, path).to.match(error)
        }
      expect(server.holding()).to.equal(0)
      // Ten are fine, and a name given twice is read once.
      const ten = Array.from({ length: 10 }, (_, i) => `c${i}`).join(',')
      expect((await getJson(`${server.url}/api/messages?channels=${ten}`)).status).to.equal(200)
      await send('Bob', 'once', 'lobby')
      expect((await getJson(`${server.url}/api/messages?channels=lobby,lobby`)).body.messages.map((m) => m.message)).to.deep.equal(['once', 'Hello Bob!'])
    })
  })
}
