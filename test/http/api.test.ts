import { expect } from 'chai'
import type { WireMessage } from '../../adapters/http/wire'
import { postJson, startTestServer, type TestServer, type TestServerOptions } from '../support/server'

/*
 * The seed's API over real HTTP: every endpoint, its answer's shape and the
 * rules the issue states (auto-replies, id order, limit, since, names).
 */

const ISO_MS_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/

type SendAnswer = { success: boolean; message: WireMessage; auto_reply: WireMessage | null }
type ListAnswer = { success: boolean; count: number; messages: WireMessage[] }
type PlayerAnswer = ListAnswer & { player_name: string }

describe('HTTP API: the seed endpoints', () => {
  let t: TestServer
  /** The test clock: each test moves it, so timestamps and `since` are exact. */
  let now: number
  const start = async (options: TestServerOptions = {}) => {
    t = await startTestServer({ clock: { now: () => now }, ...options })
  }
  beforeEach(() => {
    now = Date.UTC(2025, 10, 22, 10, 0, 0, 0)
  })
  afterEach(async () => {
    await t?.close()
  })

  const send = async (player_name: string, message: string): Promise<SendAnswer> => {
    const res = await postJson(`${t.url}/api/send`, { player_name, message })
    expect(res.status, await res.clone().text()).to.equal(200)
    return (await res.json()) as SendAnswer
  }
  const getJson = async <A>(path: string): Promise<A> => {
    const res = await fetch(`${t.url}${path}`)
    expect(res.status, await res.clone().text()).to.equal(200)
    expect(res.headers.get('content-type')).to.match(/^application\/json/)
    return (await res.json()) as A
  }
  const list = (query = '') => getJson<ListAnswer>(`/api/messages${query}`)

  describe('GET /api', () => {
    it('answers that the server is running and lists every endpoint', async () => {
      await start()
      const body = await getJson<{ success: boolean; status: string; endpoints: Array<{ method: string; path: string }> }>('/api')
      expect(body.success).to.equal(true)
      expect(body.status).to.equal('running')
      const listed = body.endpoints.map((e) => `${e.method} ${e.path}`)
      expect(listed).to.include.members([
        'GET /',
        'GET /api',
        'POST /api/send',
        'GET /api/messages',
        'GET /api/messages/:player_name',
        'POST /api/clear',
      ])
    })
  })

  describe('GET /', () => {
    it('serves the tester page as HTML', async () => {
      await start()
      const res = await fetch(`${t.url}/`)
      expect(res.status).to.equal(200)
      expect(res.headers.get('content-type')).to.match(/^text\/html/)
      expect((await res.text()).toLowerCase()).to.include('<!doctype html')
    })
  })

  describe('POST /api/send', () => {
    it('stores the message and answers it with the greeting reply', async () => {
      await start()
      const body = await send('Player123', 'Hello from Roblox!')
      expect(body.success).to.equal(true)
      expect(body.message).to.deep.include({ player_name: 'Player123', message: 'Hello from Roblox!', type: 'player' })
      expect(body.message.id).to.be.a('number').and.satisfy(Number.isInteger)
      expect(body.message).not.to.have.property('reply_to')
      expect(body.auto_reply).to.deep.include({ player_name: 'Server', message: 'Hello Player123!', type: 'reply', reply_to: body.message.id })
      expect(body.auto_reply?.id).to.be.greaterThan(body.message.id)
    })

    it('stores the reply too, after the message, both as they were answered', async () => {
      await start()
      const body = await send('Bob', 'hi')
      const stored = await list()
      expect(stored.count).to.equal(2)
      expect(stored.messages).to.deep.equal([body.message, body.auto_reply])
    })

    it('stamps messages with the clock as ISO-8601 UTC with milliseconds', async () => {
      now = Date.UTC(2025, 10, 22, 10, 0, 0, 7)
      await start()
      const body = await send('Bob', 'hi')
      expect(body.message.timestamp).to.match(ISO_MS_UTC).and.equal('2025-11-22T10:00:00.007Z')
      expect(body.auto_reply?.timestamp).to.match(ISO_MS_UTC)
    })

    it('stamps with the real time when the app is given the system clock', async () => {
      t = await startTestServer()
      const before = Date.now()
      const body = await send('Bob', 'hi')
      const stamped = Date.parse(body.message.timestamp)
      expect(body.message.timestamp).to.match(ISO_MS_UTC)
      expect(stamped).to.be.within(before, Date.now())
    })

    it('fills the configured template, {player} standing for the name, wherever and however often it appears', async () => {
      await start({ autoReplyTemplate: 'Welcome, {player}! ({player})' })
      const body = await send('Zoë', 'hi')
      expect(body.auto_reply?.message).to.equal('Welcome, Zoë! (Zoë)')
    })

    it('sends no reply and stores nothing extra when the template is empty', async () => {
      await start({ autoReplyTemplate: '' })
      const body = await send('Bob', 'hi')
      expect(body.success).to.equal(true)
      expect(body.auto_reply).to.equal(null)
      const stored = await list()
      expect(stored.count).to.equal(1)
      expect(stored.messages).to.deep.equal([body.message])
    })

    it('stores markup verbatim and returns it identical', async () => {
      await start()
      const markup = '<b>x</b><script>alert("y")</script> &amp; \' "'
      const body = await send('Bob', markup)
      expect(body.message.message).to.equal(markup)
      expect((await list()).messages[0]?.message).to.equal(markup)
    })

    it('trims a player name but keeps the message text exactly as sent', async () => {
      await start()
      const body = await send('  Bob  ', '  spaced out  ')
      expect(body.message.player_name).to.equal('Bob')
      expect(body.message.message).to.equal('  spaced out  ')
    })

    it('accepts application/json with a charset', async () => {
      await start()
      const res = await fetch(`${t.url}/api/send`, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ player_name: 'Bob', message: 'hi' }),
      })
      expect(res.status).to.equal(200)
    })
  })

  describe('ids', () => {
    it('strictly increase across sends', async () => {
      await start()
      const ids: number[] = []
      for (let i = 0; i < 5; i++) {
        const body = await send('Bob', `m${i}`)
        ids.push(body.message.id, body.auto_reply!.id)
      }
      for (let i = 1; i < ids.length; i++) expect(ids[i]).to.be.greaterThan(ids[i - 1]!)
    })

    it('are never reused, not even after a clear', async () => {
      await start()
      const before = await send('Bob', 'one')
      expect((await postJson(`${t.url}/api/clear`, {})).status).to.equal(200)
      const after = await send('Bob', 'two')
      expect(after.message.id).to.be.greaterThan(before.auto_reply!.id)
    })
  })

  describe('GET /api/messages', () => {
    /** Sends `n` messages one millisecond apart with replies off; answers their timestamps. */
    const sendSpaced = async (n: number): Promise<WireMessage[]> => {
      const sent: WireMessage[] = []
      for (let i = 0; i < n; i++) {
        now += 1
        sent.push((await send('Bob', `m${i}`)).message)
      }
      return sent
    }

    it('answers an empty list on a fresh server', async () => {
      await start()
      expect(await list()).to.deep.include({ success: true, count: 0, messages: [] })
    })

    it('lists every message, oldest first, with count', async () => {
      await start({ autoReplyTemplate: '' })
      const sent = await sendSpaced(4)
      const body = await list()
      expect(body.success).to.equal(true)
      expect(body.count).to.equal(4)
      expect(body.messages).to.deep.equal(sent)
    })

    it('keeps the most recent N with limit, still oldest first', async () => {
      await start({ autoReplyTemplate: '' })
      const sent = await sendSpaced(5)
      const body = await list('?limit=2')
      expect(body.count).to.equal(2)
      expect(body.messages.map((m) => m.message)).to.deep.equal(['m3', 'm4'])
      expect(body.messages).to.deep.equal(sent.slice(3))
    })

    it('answers everything when limit is larger than what is stored', async () => {
      await start({ autoReplyTemplate: '' })
      await sendSpaced(3)
      expect((await list('?limit=50')).count).to.equal(3)
    })

    it('keeps only messages strictly after since, given a timestamp the server returned', async () => {
      await start({ autoReplyTemplate: '' })
      const sent = await sendSpaced(4)
      const body = await list(`?since=${encodeURIComponent(sent[1]!.timestamp)}`)
      expect(body.messages.map((m) => m.message)).to.deep.equal(['m2', 'm3'])
      expect(body.count).to.equal(2)
    })

    it('excludes messages stamped exactly at since (a message and its reply share the instant)', async () => {
      await start()
      const first = await send('Bob', 'first')
      now += 1
      const second = await send('Bob', 'second')
      const body = await list(`?since=${encodeURIComponent(first.message.timestamp)}`)
      expect(body.messages).to.deep.equal([second.message, second.auto_reply])
    })

    it('answers nothing for since at the newest timestamp, and everything for since before the first', async () => {
      await start({ autoReplyTemplate: '' })
      const sent = await sendSpaced(3)
      expect((await list(`?since=${encodeURIComponent(sent[2]!.timestamp)}`)).count).to.equal(0)
      expect((await list('?since=2000-01-01T00:00:00Z')).count).to.equal(3)
    })

    it('reads since with an offset, without milliseconds and without a zone (as UTC)', async () => {
      await start({ autoReplyTemplate: '' })
      now = Date.UTC(2025, 10, 22, 10, 0, 0, 0)
      await send('Bob', 'at ten')
      now = Date.UTC(2025, 10, 22, 10, 0, 1, 0)
      await send('Bob', 'a second later')
      for (const since of ['2025-11-22T11:00:00+01:00', '2025-11-22T10:00:00', '2025-11-22T10:00:00.000Z', '2025-11-22T05:00:00-05:00']) {
        const body = await list(`?since=${encodeURIComponent(since)}`)
        expect(body.messages.map((m) => m.message), since).to.deep.equal(['a second later'])
      }
    })

    it('combines since and limit: the most recent N of those after since', async () => {
      await start({ autoReplyTemplate: '' })
      const sent = await sendSpaced(6)
      const body = await list(`?since=${encodeURIComponent(sent[1]!.timestamp)}&limit=2`)
      expect(body.messages.map((m) => m.message)).to.deep.equal(['m4', 'm5'])
      const few = await list(`?since=${encodeURIComponent(sent[3]!.timestamp)}&limit=5`)
      expect(few.messages.map((m) => m.message)).to.deep.equal(['m4', 'm5'])
    })

    it('lists player messages and replies alike, each with its type', async () => {
      await start()
      await send('Bob', 'hi')
      expect((await list()).messages.map((m) => m.type)).to.deep.equal(['player', 'reply'])
    })
  })

  describe('GET /api/messages/<player_name>', () => {
    const byPlayer = (name: string, query = '') => getJson<PlayerAnswer>(`/api/messages/${encodeURIComponent(name)}${query}`)

    it("lists the messages that player wrote, not others' nor the replies to them", async () => {
      await start()
      const bob1 = await send('Bob', 'one')
      await send('Alice', 'two')
      const bob2 = await send('Bob', 'three')
      const body = await byPlayer('Bob')
      expect(body.success).to.equal(true)
      expect(body.player_name).to.equal('Bob')
      expect(body.count).to.equal(2)
      expect(body.messages).to.deep.equal([bob1.message, bob2.message])
    })

    it('matches the name case-insensitively', async () => {
      await start()
      const sent = await send('BobTheBuilder', 'hi')
      for (const name of ['bobthebuilder', 'BOBTHEBUILDER', 'bObThEbUiLdEr']) {
        const body = await byPlayer(name)
        expect(body.messages, name).to.deep.equal([sent.message])
      }
    })

    it('URL-decodes names with spaces and non-ASCII letters, and matches them case-insensitively', async () => {
      await start()
      const sent = await send('Zoë Å', 'hej')
      await send('Zoe A', 'not her')
      const exact = await byPlayer('Zoë Å')
      expect(exact.player_name).to.equal('Zoë Å')
      expect(exact.messages).to.deep.equal([sent.message])
      expect((await byPlayer('zoë å')).messages).to.deep.equal([sent.message])
      const res = await fetch(`${t.url}/api/messages/Zo%C3%AB%20%C3%85`)
      expect(((await res.json()) as PlayerAnswer).messages).to.deep.equal([sent.message])
    })

    it('answers an empty list for a player who wrote nothing', async () => {
      await start()
      await send('Bob', 'hi')
      expect(await byPlayer('Nobody')).to.deep.include({ success: true, player_name: 'Nobody', count: 0, messages: [] })
    })

    it('keeps the most recent N with limit', async () => {
      await start()
      for (let i = 0; i < 4; i++) await send('Bob', `m${i}`)
      const body = await byPlayer('Bob', '?limit=2')
      expect(body.count).to.equal(2)
      expect(body.messages.map((m) => m.message)).to.deep.equal(['m2', 'm3'])
    })

    it("lists the server's replies under its own name", async () => {
      await start()
      await send('Bob', 'hi')
      const body = await byPlayer('Server')
      expect(body.messages.map((m) => m.message)).to.deep.equal(['Hello Bob!'])
    })
  })

  describe('POST /api/clear', () => {
    it('clears every message and says so', async () => {
      await start()
      await send('Bob', 'one')
      await send('Alice', 'two')
      const res = await postJson(`${t.url}/api/clear`, {})
      expect(res.status).to.equal(200)
      expect(await res.json()).to.deep.equal({ success: true, message: 'All messages cleared' })
      expect(await list()).to.deep.include({ count: 0, messages: [] })
      expect((await getJson<PlayerAnswer>('/api/messages/Bob')).count).to.equal(0)
    })

    it('needs no body and no content type', async () => {
      await start()
      await send('Bob', 'one')
      const res = await fetch(`${t.url}/api/clear`, { method: 'POST' })
      expect(res.status).to.equal(200)
      expect((await list()).count).to.equal(0)
    })
  })
})
