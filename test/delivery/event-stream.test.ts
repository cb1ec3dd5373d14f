import { expect } from 'chai'
import { postJson, startTestServer, type TestServer } from '../support/server'
import { openEventStream } from '../support/sse'
import { until } from '../support/until'

describe('delivery: the Server-Sent Events stream', () => {
  let server: TestServer
  beforeEach(async () => {
    server = await startTestServer({ autoReplyTemplate: '', heartbeatMs: 50 })
  })
  afterEach(() => server.close())

  const send = (player_name: string, message: string, channel?: string) =>
    postJson(`${server.url}/api/send`, channel === undefined ? { player_name, message } : { player_name, message, channel })

  it('sends the stored messages after the cursor, then each new one live, ids as event ids', async () => {
    await send('Bob', 'one')
    await send('Bob', 'two')
    const stream = await openEventStream(`${server.url}/api/stream?after=1`)
    expect(stream.response.headers.get('content-type')).to.match(/^text\/event-stream/)
    const backlog = await stream.next()
    expect(backlog.id).to.equal('2')
    expect(JSON.parse(backlog.data)).to.include({ id: 2, message: 'two', player_name: 'Bob' })
    expect((await stream.next()).event).to.equal('ready')
    await send('Ann', 'three')
    const live = await stream.next()
    expect(live.id).to.equal('3')
    expect(JSON.parse(live.data).message).to.equal('three')
    await stream.close()
  })

  it('resumes after Last-Event-ID without a repeat or a miss', async () => {
    const first = await openEventStream(`${server.url}/api/stream?after=0`)
    await first.nextOf('ready')
    await send('Bob', 'a')
    await send('Bob', 'b')
    expect((await first.next()).id).to.equal('1')
    await first.close()
    // b arrived while the client was away; c arrives after it reconnects.
    await send('Bob', 'c')
    const resumed = await openEventStream(`${server.url}/api/stream?after=0`, { 'Last-Event-ID': '1' })
    const seen = [await resumed.next(), await resumed.next()].map((e) => JSON.parse(e.data).message)
    expect(seen).to.deep.equal(['b', 'c'])
    expect((await resumed.next()).event).to.equal('ready')
    await send('Bob', 'd')
    expect(JSON.parse((await resumed.next()).data).message).to.equal('d')
    await resumed.close()
  })

  it('filters by channel and player', async () => {
    const stream = await openEventStream(`${server.url}/api/stream?channel=red&player=ANN`)
    await stream.nextOf('ready')
    await send('Ann', 'global ann')
    await send('Bob', 'red bob', 'red')
    await send('ann', 'red ann', 'red')
    const event = await stream.next()
    expect(JSON.parse(event.data)).to.include({ message: 'red ann', channel: 'red' })
    await stream.close()
  })

  it('keeps a quiet stream alive with comment lines', async () => {
    const controller = new AbortController()
    const response = await fetch(`${server.url}/api/stream`, { signal: controller.signal })
    const reader = response.body!.getReader()
    const decoder = new TextDecoder()
    let text = ''
    while (!text.includes(': keep-alive\n\n')) text += decoder.decode((await reader.read()).value, { stream: true })
    controller.abort()
    await reader.cancel().catch(() => undefined)
  })

  it('tells a reader behind an eviction that it missed messages', async () => {
    await server.close()
    server = await startTestServer({ autoReplyTemplate: '', store: { maxMessages: 2 } })
    for (const m of ['a', 'b', 'c']) await send('Bob', m)
    const stream = await openEventStream(`${server.url}/api/stream?after=0`)
    expect((await stream.next()).event).to.equal('gap')
    expect([await stream.next(), await stream.next()].map((e) => JSON.parse(e.data).message)).to.deep.equal(['b', 'c'])
    await stream.close()
  })

  it('lets go of everything when the client disconnects', async () => {
    const streams = await Promise.all(Array.from({ length: 20 }, () => openEventStream(`${server.url}/api/stream?after=0`)))
    await Promise.all(streams.map((s) => s.nextOf('ready')))
    expect(server.holding()).to.equal(20)
    await Promise.all(streams.map((s) => s.close()))
    await until(() => server.holding() === 0)
  })

  it('refuses bad parameters with a JSON error before streaming', async () => {
    for (const [query, headers, field] of [
      ['channel=no%20spaces', {}, 'channel'],
      ['after=x', {}, 'after'],
      ['player=%20', {}, 'player_name'],
      ['', { 'Last-Event-ID': 'abc' }, 'Last-Event-ID'],
    ] as const) {
      const response = await fetch(`${server.url}/api/stream?${query}`, { headers })
      expect(response.status, query).to.equal(400)
      const body = (await response.json()) as { success: boolean; error: string }
      expect(body.success).to.equal(false)
      expect(body.error).to.include(field)
    }
  })
})
