import { expect } from 'chai'
import { postJson, startTestServer, type TestServer } from '../support/server'

type Wire = { id: number; message: string; channel: string }
type ListAnswer = { success: boolean; count: number; messages: Wire[]; error?: string }

describe('delivery: channels', () => {
  let server: TestServer
  afterEach(() => server.close())

  const list = async (query = '') => (await (await fetch(`${server.url}/api/messages${query}`)).json()) as ListAnswer

  it('keeps each channel apart; without one everything is the default channel, as in the seed', async () => {
    server = await startTestServer({ autoReplyTemplate: '' })
    await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'seed' })
    const red = await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'red', channel: 'team_red-1' })
    expect(((await red.json()) as { message: Wire }).message.channel).to.equal('team_red-1')
    expect((await list()).messages.map((m) => [m.message, m.channel])).to.deep.equal([['seed', 'global']])
    expect((await list('?channel=global')).messages.map((m) => m.message)).to.deep.equal(['seed'])
    expect((await list('?channel=team_red-1')).messages.map((m) => m.message)).to.deep.equal(['red'])
    const byPlayer = (await (await fetch(`${server.url}/api/messages/bob?channel=team_red-1`)).json()) as ListAnswer
    expect(byPlayer.messages.map((m) => m.message)).to.deep.equal(['red'])
  })

  it('lists channels with their counts and newest ids', async () => {
    server = await startTestServer()
    await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'a' })
    await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'b', channel: 'lobby' })
    const body = (await (await fetch(`${server.url}/api/channels`)).json()) as unknown
    expect(body).to.deep.equal({
      success: true,
      count: 2,
      channels: [
        { channel: 'global', count: 2, newest_id: 2 },
        { channel: 'lobby', count: 2, newest_id: 4 },
      ],
    })
  })

  it('clears one channel with ?channel, everything without', async () => {
    server = await startTestServer({ autoReplyTemplate: '' })
    await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'a' })
    await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'b', channel: 'lobby' })
    const cleared = await fetch(`${server.url}/api/clear?channel=lobby`, { method: 'POST' })
    expect(await cleared.json()).to.deep.equal({ success: true, message: 'All messages in channel lobby cleared' })
    expect((await list('?channel=lobby')).count).to.equal(0)
    expect((await list()).count).to.equal(1)
    await fetch(`${server.url}/api/clear`, { method: 'POST' })
    expect((await list()).count).to.equal(0)
  })

  it('refuses a send that would open one channel more than MAX_CHANNELS, clearly', async () => {
    server = await startTestServer({ store: { maxChannels: 2 } })
    expect((await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'a', channel: 'one' })).status).to.equal(200)
    expect((await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'a', channel: 'two' })).status).to.equal(200)
    const refused = await postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'a', channel: 'three' })
    expect(refused.status).to.equal(409)
    const body = (await refused.json()) as ListAnswer
    expect(body.success).to.equal(false)
    expect(body.error).to.match(/^channel: .*2 channels/)
    expect((await list('?channel=three')).count).to.equal(0)
  })

  it('refuses malformed channel names wherever a channel is taken', async () => {
    server = await startTestServer()
    const checks: Array<Promise<Response>> = [
      postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'a', channel: 'has space' }),
      postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'a', channel: 'x'.repeat(33) }),
      postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'a', channel: '' }),
      postJson(`${server.url}/api/send`, { player_name: 'Bob', message: 'a', channel: 7 }),
      fetch(`${server.url}/api/messages?channel=%F0%9F%98%80`),
      fetch(`${server.url}/api/messages/bob?channel=a.b`),
      fetch(`${server.url}/api/clear?channel=a/b`, { method: 'POST' }),
    ]
    for (const response of await Promise.all(checks)) {
      expect(response.status).to.equal(400)
      expect(((await response.json()) as ListAnswer).error).to.match(/^channel /)
    }
  })
})
