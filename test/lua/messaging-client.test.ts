import type { IncomingMessage, Server } from 'node:http'
import { createServer as createNetServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { expect } from 'chai'
import * as TE from 'fp-ts/TaskEither'
import { ADMIN_SCOPES, createAuth, PLAIN_SCOPES } from '../../adapters/http/auth'
import { STORE_RETRY_AFTER_SECONDS, STORE_UNAVAILABLE_TEXT } from '../../adapters/http/problems'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import type { MessageRepository } from '../../domain/message-repository'
import { postJson, startTestServer, type TestServer, type TestServerOptions } from '../support/server'
import { eventually } from '../support/until'
import { CLIENT_MODULE, FIXTURES, requireLua, startRobloxScript, type LuaRun, type RunningScript } from './lua-runner'

/*
 * roblox/MessagingClient.lua, required as a ModuleScript by scripts run
 * through the HttpService stand-in, against a live server: what reaches the
 * server (counted and recorded here, on its own requests) and what the
 * script prints.
 */

/** The address the fixtures are written against; the stand-in rewrites it to the test server. */
const PLACEHOLDER = 'https://your-server.example.com'
/** How long a wait may take before it fails with the script's output: a deadline for failing, never a pause. */
const DEADLINE_MS = 15_000

/** The ModuleScripts a fixture may require: the client, and FakeWait, which records task.wait's seconds and lets a frame pass instead. */
const MODULES = { MessagingClient: CLIENT_MODULE, FakeWait: join(FIXTURES, 'fake-wait.lua') }

/** A store whose appends fail (the server answers 503 with its own text and Retry-After) `times` times, then succeed. */
const failingAppends = (times: number) => (store: MessageRepository): MessageRepository => {
  let failures = 0
  return { ...store, append: (request) => (failures++ < times ? TE.left({ _tag: 'StoreUnavailable', detail: 'a test store failing on purpose' }) : store.append(request)) }
}
/** The server's text for a 503 from its store. */
const STORE_UNAVAILABLE = STORE_UNAVAILABLE_TEXT

type Wire = { id: number; player_name: string; message: string; channel: string; user_id?: number }

/** A request the server received from the game (the stand-in's User-Agent), and when its answer was finished. */
type Seen = { readonly method: string; readonly path: string; readonly url: string; readonly headers: IncomingMessage['headers']; readonly at: number; status?: number; answeredAt?: number; replayed?: boolean; retryAfter?: number }

const record = (server: Server): Seen[] => {
  const seen: Seen[] = []
  server.on('request', (req: IncomingMessage, res) => {
    if (!(req.headers['user-agent'] ?? '').startsWith('RobloxGameCloud/')) return
    const entry: Seen = { method: req.method ?? '', path: (req.url ?? '').split('?')[0] ?? '', url: req.url ?? '', headers: req.headers, at: Date.now() }
    seen.push(entry)
    // The answer's headers, as the app writes them (a flat list given to writeHead, which getHeader does not see); it answers later than this listener runs.
    const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => typeof res
    res.writeHead = ((status: number, ...rest: unknown[]) => {
      const headers = rest.find((arg) => typeof arg === 'object' && arg !== null)
      const flat = Array.isArray(headers) ? (headers as string[]) : Object.entries((headers ?? {}) as Record<string, string>).flat()
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const name = String(flat[i]).toLowerCase()
        if (name === 'idempotent-replayed') entry.replayed = flat[i + 1] === 'true'
        if (name === 'retry-after') entry.retryAfter = Number(flat[i + 1])
      }
      return writeHead(status, ...rest)
    }) as typeof res.writeHead
    res.on('finish', () => {
      entry.status = res.statusCode
      entry.answeredAt = Date.now()
    })
  })
  return seen
}

const explain = (run: Pick<LuaRun, 'stdout' | 'stderr'>): string => `--- stdout\n${run.stdout}--- stderr\n${run.stderr}`

describe('roblox: MessagingClient.lua against a live server, through the HttpService stand-in', function () {
  this.timeout(60_000)
  before(requireLua)

  let server: TestServer
  let serving = false
  let seen: Seen[]
  let script: RunningScript | undefined
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && script !== undefined) console.log(`      the script's output:\n${explain({ stdout: script.stdout(), stderr: script.stderr() })}`)
    await script?.stop()
    script = undefined
    if (serving) await server.close()
    serving = false
  })

  const start = async (options: TestServerOptions = {}) => {
    server = await startTestServer({ autoReplyTemplate: '', ...options })
    serving = true
    seen = record(server.server)
  }
  const run = (fixture: string, env: Record<string, string> = {}): RunningScript => {
    script = startRobloxScript(join(FIXTURES, fixture), server.url, { env, rewrites: { [PLACEHOLDER]: server.url }, modules: MODULES })
    return script
  }
  const lines = (): string[] => (script?.stdout() ?? '').split('\n').filter((line) => line !== '')
  const printed = (prefix: string): string[] => lines().filter((line) => line.startsWith(prefix))
  const until = (condition: () => boolean, what: string) =>
    eventually(() => {
      if (script?.exited() === true && !condition()) throw new Error(`the script exited before ${what}\n${explain({ stdout: script.stdout(), stderr: script.stderr() })}`)
      return condition()
    }, DEADLINE_MS, what)
  const send = async (player_name: string, message: string, channel?: string): Promise<Wire> => {
    const response = await postJson(`${server.url}/api/send`, channel === undefined ? { player_name, message } : { player_name, message, channel })
    expect(response.status).to.equal(200)
    return ((await response.json()) as { message: Wire }).message
  }
  const stored = async (query = '?limit=1000'): Promise<Wire[]> => ((await (await fetch(`${server.url}/api/messages${query}`)).json()) as { messages: Wire[] }).messages
  const sends = () => seen.filter((s) => s.method === 'POST' && s.path === '/api/send')
  const gets = () => seen.filter((s) => s.method === 'GET')

  it('sends, fetches, polls and subscribes over several channels: each new message once, in order, no other channel', async () => {
    await start()
    run('client-basics.lua')
    await until(() => server.holding() === 1, 'the first poll is held')
    expect(printed('send:')).to.deep.equal(['send: true 1 lobby 156 true'])
    expect(printed('fetch:')).to.deep.equal(['fetch: true 1 hello lobby'])
    await send('Ann', 'elsewhere', 'global')
    await send('Ann', 'for the team', 'team-red')
    await until(() => printed('poll 1:').length === 1 && server.holding() === 1, 'the first poll answered and the second held')
    await send('Bob', 'in the lobby', 'lobby')
    await until(() => printed('poll 2:').length === 1, 'the second poll answered')
    expect(printed('poll')).to.deep.equal(['poll 1: true team-red/for the team false', 'poll 2: true lobby/in the lobby false'])
    await until(() => printed('subscribed').length === 1 && server.holding() === 1, 'the subscription holds its poll')
    const burst = await Promise.all([send('A', 's1', 'lobby'), send('B', 's2', 'global'), send('C', 's3', 'team-red'), send('D', 's4', 'lobby')])
    const followed = burst.filter((m) => m.channel !== 'global').sort((a, b) => a.id - b.id)
    await until(() => printed('heard:').length >= followed.length, 'the subscription hears the burst')
    expect(printed('heard:')).to.deep.equal(followed.map((m) => `heard: ${m.id} ${m.channel} ${m.message}`))
    // Every read named both channels in one request.
    for (const get of gets()) expect(get.url, get.url).to.match(/[?&]channels=lobby%2Cteam-red(&|$)/)
    expect(script?.stderr()).to.equal('')
  })

  it('fetches by player, after a cursor and from other channels than its own, as asked', async () => {
    await start()
    await send('Ann', 'a1', 'global')
    await send('Bob', 'b1', 'lobby')
    await send('Ann', 'a2', 'lobby')
    await send('Ann', 'c1', 'team-red')
    await send('Cid', 'a3', 'global')
    const result = await run('client-fetch.lua').done
    expect(result.code, explain(result)).to.equal(0)
    expect(lines()).to.deep.equal([
      'all: true 1=global/a1,2=lobby/b1,3=lobby/a2,5=global/a3',
      'player: true 1=global/a1,3=lobby/a2',
      'player in any case: true 1=global/a1,3=lobby/a2',
      'after: true 3=lobby/a2,5=global/a3',
      'channels: true 4=team-red/c1',
      'all together: true 3=lobby/a2,4=team-red/c1',
    ])
    expect(gets().map((g) => g.url)).to.deep.equal([
      '/api/messages?channels=global%2Clobby',
      '/api/messages/Ann?channels=global%2Clobby',
      '/api/messages/aNN?channels=global%2Clobby',
      '/api/messages?channels=global%2Clobby&after=2',
      '/api/messages?channels=team-red',
      '/api/messages/Ann?channels=lobby%2Cteam-red&limit=10&after=1',
    ])
  })

  it('holds its polls 25 s and allows itself 300 requests a minute, by default', async () => {
    await start()
    const running = run('client-defaults.lua')
    await until(() => server.holding() === 1, 'the poll is held')
    expect(printed('budget:')).to.deep.equal(['budget: 300'])
    const held = gets().at(-1)
    expect(held?.url, 'the poll asks the server to hold it 25 s').to.match(/[?&]wait=25(&|$)/)
    await send('Ann', 'lets the poll go')
    const result = await running.done
    expect(result.code, explain(result)).to.equal(0)
    // The head and the poll, then fetches up to 300: the 301st waits the minute out (61 s on a clock of whole seconds).
    expect(printed('poll:')).to.deep.equal(['poll: true 1'])
    expect(printed('spent:')).to.deep.equal(['spent: 298 0'])
    expect(printed('over budget:')).to.deep.equal(['over budget: false 61.000'])
    expect(printed('a minute later:')).to.deep.equal(['a minute later: true 299'])
    expect(gets()).to.have.length(301)
  })

  it('makes no poll once its subscription is disconnected: the held one is let go unread', async () => {
    await start()
    const running = run('client-disconnect.lua')
    await until(() => printed('subscribed').length === 1 && server.holding() === 1, 'the subscription holds its poll')
    running.write('join 1 Ann')
    await until(() => printed('disconnected:').length === 1, 'the subscription disconnected')
    // The held poll answers now; a subscription still going would hear this and poll again, and the script would not end.
    await send('Ann', 'after the end')
    await until(() => running.exited(), 'the script ended, nothing polling any more')
    const result = await running.done
    expect(result.code, explain(result)).to.equal(0)
    expect(lines()).to.deep.equal(['subscribed', 'disconnected: false'])
    // The head and the held poll, nothing after.
    expect(gets()).to.have.length(2)
    expect(gets().at(-1)?.status).to.equal(200)
  })

  it('hands a moderator’s removal to onRemoved with the ids taken down, in order, and never to the message callback', async () => {
    await start()
    run('client-removed.lua')
    await until(() => printed('subscribed').length === 1 && server.holding() === 1, 'the subscription holds its poll')
    const kept = await send('Ann', 'kind words')
    const rude = await send('Bob', 'rude words')
    await until(() => printed('shown:').length === 2, 'both shown')
    const removed = await (await fetch(`${server.url}/api/messages/${rude.id}`, { method: 'DELETE' })).json() as { removals: Array<{ id: number }> }
    await until(() => printed('removed:').length === 1, 'the removal heard')
    expect(printed('shown:')).to.deep.equal([`shown: ${kept.id} kind words`, `shown: ${rude.id} rude words`])
    expect(printed('removed:')).to.deep.equal([`removed: ${removed.removals[0]?.id} removal ${rude.id}=rude words`])
    expect(script?.stderr()).to.equal('')
  })

  it('reports a gap when the history it asks for from the start was partly evicted', async () => {
    await start({ store: { maxMessages: 2 } })
    for (const text of ['one', 'two', 'three']) await send('Bob', text)
    const result = await run('client-gap.lua').done
    expect(result.code, explain(result)).to.equal(0)
    expect(printed('poll:')).to.deep.equal(['poll: true two,three true'])
  })

  it('backs off a subscription while the server cannot be reached, each wait about twice the last', async () => {
    // An address nothing answers at: a port just let go.
    const probe = createNetServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const deadUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const result = await startRobloxScript(join(FIXTURES, 'client-backoff.lua'), deadUrl, { rewrites: { [PLACEHOLDER]: deadUrl }, modules: { MessagingClient: CLIENT_MODULE } }).done
    expect(result.code, explain(result)).to.equal(0)
    const waits = [...result.stderr.matchAll(/poll failed \(HttpError: ConnectFail\); trying again in ([0-9.]+) s/g)].map((m) => Number(m[1]))
    expect(waits, explain(result)).to.have.length(3)
    // Exponential with jitter: the nth wait is between half and all of 0.5 s × 2^(n-1).
    waits.forEach((wait, i) => expect(wait, `wait ${i + 1}`).to.be.within(0.5 * 0.5 * 2 ** i - 0.05, 0.5 * 2 ** i + 0.05))
    expect(result.stdout).to.equal('disconnected after 3\n')
  })

  it("returns the server's error text for a refused send, after exactly one request", async () => {
    await start()
    const result = await run('client-refused.lua').done
    expect(result.code, explain(result)).to.equal(0)
    expect(printed('refused:')).to.deep.equal(['refused: false 400 message must not be blank'])
    expect(sends()).to.have.length(1)
    expect(await stored()).to.deep.equal([])
  })

  it('retries a send whose answer was lost after it reached the server, with the same key, and it is stored once', async () => {
    await start()
    const result = await run('client-one-send.lua', { ROBLOX_DROP_RESPONSES: JSON.stringify([{ method: 'POST', path: '/api/send', count: 1 }]) }).done
    expect(result.code, explain(result)).to.equal(0)
    expect(printed('sent:')).to.deep.equal(['sent: first true 1', 'sent: second true 2'])
    const [lost, retry, second] = sends()
    expect(sends()).to.have.length(3)
    expect(lost?.status, 'the first attempt was answered: the stand-in lost the answer').to.equal(200)
    expect(retry?.headers['idempotency-key']).to.be.a('string').and.equal(lost?.headers['idempotency-key'])
    expect(retry?.replayed, 'the retry gets the first answer again').to.equal(true)
    expect(second?.headers['idempotency-key']).not.to.equal(lost?.headers['idempotency-key'])
    expect((await stored()).map((m) => m.message)).to.deep.equal(['first', 'second'])
  })

  it("waits the 429's Retry-After before it retries, and the send goes through", async () => {
    await start({ playerRateLimit: { limiter: createMemoryRateLimiter({ maxKeys: 100 }), limit: { limit: 1, windowMs: 2_000 } } })
    const result = await run('client-one-send.lua').done
    expect(result.code, explain(result)).to.equal(0)
    expect(printed('sent:')).to.deep.equal(['sent: first true 1', 'sent: second true 2'])
    const [, limited, retry] = sends()
    expect(limited?.status).to.equal(429)
    expect(retry?.status).to.equal(200)
    const asked = limited?.retryAfter ?? 0
    expect(asked, 'the 429 says when to come back').to.be.at.least(1)
    // Measured on the server: from the 429 going out to the retry coming in (a few ms of slack for the two clocks' reads).
    expect((retry?.at ?? 0) - (limited?.answeredAt ?? Infinity), 'waited Retry-After before retrying').to.be.at.least(asked * 1000 - 20)
    expect(retry?.headers['idempotency-key']).to.equal(limited?.headers['idempotency-key'])
    expect((await stored()).map((m) => m.message)).to.deep.equal(['first', 'second'])
  })

  it('retries a send answered 503 with the same key, after the Retry-After, and it is stored once', async () => {
    await start({ wrapStore: failingAppends(1) })
    const result = await run('client-retry.lua').done
    expect(result.code, explain(result)).to.equal(0)
    expect(printed('sent:')).to.deep.equal(['sent: true 1 through a 503'])
    const [refused, retry] = sends()
    expect(sends()).to.have.length(2)
    expect(refused?.status).to.equal(503)
    expect(refused?.retryAfter, 'the 503 says when to come back').to.equal(STORE_RETRY_AFTER_SECONDS)
    expect(retry?.status).to.equal(200)
    expect(retry?.replayed, 'the first attempt stored nothing: the retry is the one processed').not.to.equal(true)
    expect(retry?.headers['idempotency-key']).to.be.a('string').and.equal(refused?.headers['idempotency-key'])
    // The one wait between the attempts is the Retry-After (the backoff's first step is at most 0.5 s).
    expect(printed('waits:')).to.deep.equal([`waits: ${STORE_RETRY_AFTER_SECONDS.toFixed(3)}`])
    expect((await stored()).map((m) => m.message)).to.deep.equal(['through a 503'])
  })

  it("gives up on a send always answered 503 after 1 + maxRetries attempts, with the server's text", async () => {
    await start({ wrapStore: failingAppends(Infinity) })
    const result = await run('client-retry.lua').done
    expect(result.code, explain(result)).to.equal(0)
    expect(printed('sent:')).to.deep.equal([`sent: false 503 ${STORE_UNAVAILABLE}`])
    // maxRetries is 3 by default: four attempts, all with the one key, and three waits between them.
    expect(sends()).to.have.length(4)
    expect(new Set(sends().map((s) => s.headers['idempotency-key'])).size).to.equal(1)
    expect(sends().map((s) => s.status)).to.deep.equal([503, 503, 503, 503])
    expect(printed('waits:')).to.deep.equal([`waits: ${Array(3).fill(STORE_RETRY_AFTER_SECONDS.toFixed(3)).join(',')}`])
    expect(await stored()).to.deep.equal([])
  })

  it('waits longer before each retry of a send that got no answer: exponential, with jitter, up to 8 s', async () => {
    const probe = createNetServer()
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
    const deadUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}`
    await new Promise<void>((resolve) => probe.close(() => resolve()))
    const result = await startRobloxScript(join(FIXTURES, 'client-send-backoff.lua'), deadUrl, { rewrites: { [PLACEHOLDER]: deadUrl }, modules: MODULES }).done
    expect(result.code, explain(result)).to.equal(0)
    expect(result.stdout.split('\n').filter((line) => line.startsWith('send'))).to.deep.equal([1, 2, 3].map((round) => `send ${round}: false nil HttpError: ConnectFail`))
    const rounds = [1, 2, 3].map((round) => (new RegExp(`^waits ${round}: (.*)$`, 'm').exec(result.stdout)?.[1] ?? '').split(',').map(Number))
    const all: number[] = []
    rounds.forEach((waits, r) => {
      // maxRetries 6: seven attempts, six waits; the nth between half and all of min(8, 0.5 s × 2^(n-1)).
      expect(waits, `round ${r + 1}: ${explain(result)}`).to.have.length(6)
      waits.forEach((wait, i) => {
        const most = Math.min(8, 0.5 * 2 ** i)
        expect(wait, `round ${r + 1}, wait ${i + 1}`).to.be.within(most / 2 - 0.001, most + 0.001)
        if (i > 0 && i < 5) expect(wait, `round ${r + 1}, wait ${i + 1} longer than the one before`).to.be.above(waits[i - 1] ?? Infinity)
        all.push(wait / most)
      })
    })
    // Jitter: not every wait is its step's most (the chance that 18 random waits all are is nil).
    expect(all.filter((share) => share < 0.99), 'waits below their step’s most').not.to.be.empty
  })

  it("waits the Retry-After of a refused poll before it polls again", async () => {
    let lists = 0
    await start({ wrapStore: (store) => ({ ...store, list: (query) => (lists++ === 0 ? TE.left({ _tag: 'StoreUnavailable', detail: 'a test store failing on purpose' }) : store.list(query)) }) })
    const result = await run('client-poll-retry.lua').done
    expect(result.code, explain(result)).to.equal(0)
    const [refused] = gets()
    expect(refused?.status).to.equal(503)
    expect(refused?.retryAfter).to.equal(STORE_RETRY_AFTER_SECONDS)
    // The backoff's first step is at most 0.5 s: the wait is the server's.
    expect(printed('waits:')).to.deep.equal([`waits: ${STORE_RETRY_AFTER_SECONDS.toFixed(3)}`])
    expect(result.stderr).to.contain(`poll failed (503: ${STORE_UNAVAILABLE}); trying again in ${STORE_RETRY_AFTER_SECONDS.toFixed(1)} s`)
  })

  it('keeps a subscription to a busy channel within its budget: batches, every message once, in order', async () => {
    await start()
    run('client-chatty.lua', { ROBLOX_HTTP_REQUEST_LIMIT: '30' })
    await until(() => server.holding() === 1, 'the subscription holds its poll')
    // 60 messages over 3 s, one every 50 ms: a poll per message would be 60 requests, twice the game's whole budget.
    const sent: Wire[] = []
    for (let i = 0; i < 60; i++) {
      sent.push(await send(`P${i % 7}`, `chat ${i}`, i % 3 === 0 ? 'lobby' : 'global'))
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    await until(() => printed('heard:').length >= sent.length, 'every message heard')
    expect(printed('heard:')).to.deep.equal(sent.map((m) => `heard: ${m.id} ${m.message}`))
    // At budget 30 a busy channel is polled at most every 4 s: the head, the poll the first message answers, then one or two batches.
    expect(gets().length, gets().map((g) => g.url).join('\n')).to.be.at.most(5)
    expect(script?.stderr()).not.to.contain('exceeded')
  })

  it('sends what is under way when the server shuts down: BindToClose flushes it, each stored once', async () => {
    // Each append takes a second, so the eight sends are still under way when the shutdown comes.
    await start({ wrapStore: (store) => ({ ...store, append: (request) => TE.chainW(() => store.append(request))(TE.fromTask(() => new Promise<void>((resolve) => setTimeout(resolve, 1_000)))) }) })
    const running = run('client-close.lua')
    await until(() => printed('pending:').length === 1, 'the sends are under way')
    expect(printed('pending:')).to.deep.equal(['pending: 8'])
    expect(await stored(), 'nothing is stored yet when the server is told to close').to.deep.equal([])
    const result = await running.close()
    expect(result.code, explain(result)).to.equal(0)
    expect(printed('flushed:')).to.deep.equal(['flushed: true 0'])
    expect(printed('sent:')).to.have.length(8)
    expect(lines().at(-1), 'the flush ends once every send is done').to.equal('flushed: true 0')
    // Eight threads' sends, under way together: each stored once, in whatever order they reached the server.
    expect(sends()).to.have.length(8)
    expect((await stored()).map((m) => m.message).sort()).to.deep.equal(Array.from({ length: 8 }, (_, i) => `goodbye ${i + 1}`))
  })

  it('gives up flushing at the timeout and says how many sends are still pending', async () => {
    // Each append takes a second: a flush of 0.3 s ends before any send does.
    await start({ wrapStore: (store) => ({ ...store, append: (request) => TE.chainW(() => store.append(request))(TE.fromTask(() => new Promise<void>((resolve) => setTimeout(resolve, 1_000)))) }) })
    const result = await run('client-flush-timeout.lua').done
    expect(result.code, explain(result)).to.equal(0)
    expect(lines()[0]).to.equal('flushed: false 3')
    expect(lines().at(-1)).to.equal('flushed again: true 0')
    expect([...printed('sent:')].sort()).to.deep.equal([1, 2, 3].map((i) => `sent: ${i} true slow ${i}`))
    expect(sends()).to.have.length(3)
  })

  it('sends at once while the budget allows, however many are under way: a slow send holds up and drops none', async () => {
    // The message "slow" takes the store 1.5 s; the others are stored at once.
    const slowly = () => new Promise<void>((resolve) => setTimeout(resolve, 1_500))
    await start({ wrapStore: (store) => ({ ...store, append: (request) => (request.draft.text === 'slow' ? TE.chainW(() => store.append(request))(TE.fromTask(slowly)) : store.append(request)) }) })
    const result = await run('client-slow-send.lua').done
    expect(result.code, explain(result)).to.equal(0)
    // All eleven went out at once: none waits in the queue of 2, none is dropped.
    expect(printed('pending:')).to.deep.equal(['pending: 11 289'])
    const quick = Array.from({ length: 10 }, (_, i) => `quick ${i + 1}`)
    expect([...printed('sent:')].sort()).to.deep.equal([...quick, 'slow'].map((text) => `sent: ${text} true ${text}`).sort())
    // The slow one finished last: the others were stored while it was under way.
    expect(printed('sent:').at(-1)).to.equal('sent: slow true slow')
    expect(result.stderr).not.to.contain('dropped')
    expect(sends()).to.have.length(11)
    expect((await stored()).map((m) => m.message).sort()).to.deep.equal([...quick, 'slow'].sort())
  })

  it('never spends more than its budget: sends past it wait in a bounded queue, the oldest dropped with a warning', async () => {
    await start()
    const running = run('client-budget.lua')
    await until(() => running.exited(), 'the script ended, every send done')
    const result = await running.done
    expect(result.code, explain(result)).to.equal(0)
    // Four under way or waiting (the fifth dropped the third), the budget spent.
    expect(printed('pending:')).to.deep.equal(['pending: 4 0'])
    // Sends 1 and 2 stored, 3 dropped; 4 and 5 wait for the budget: it asks to wait the window (61 s) out.
    expect(printed('waiting:')).to.deep.equal(['waiting: 2 0 61'])
    expect(printed('a minute later:')).to.deep.equal(['a minute later: 0 0'])
    expect([...printed('sent:')].sort()).to.deep.equal(['sent: 1 true m1', 'sent: 2 true m2', 'sent: 3 false dropped: the send queue was full (queueSize 2)', 'sent: 4 true m4', 'sent: 5 true m5'])
    // The two that waited went once the minute had passed, not before.
    const waited = lines().indexOf('waiting: 2 0 61')
    for (const line of ['sent: 4 true m4', 'sent: 5 true m5']) expect(lines().indexOf(line), line).to.be.above(waited)
    expect(result.stderr.match(/the oldest was dropped/g)).to.have.length(1)
    expect(sends()).to.have.length(4)
    expect((await stored()).map((m) => m.message).sort()).to.deep.equal(['m1', 'm2', 'm4', 'm5'])
  })

  it('presents a key from the Secrets store as an Authorization header, never in a URL or a body', async () => {
    const KEY = 'game-secret-0123456789abcdef'
    await start({ auth: createAuth({ keys: [{ label: 'game', secret: KEY, scopes: PLAIN_SCOPES }, { label: 'ops', secret: 'admin-secret-0123456789abcdef', scopes: ADMIN_SCOPES }] }) })
    const result = await run('client-key.lua', { ROBLOX_SECRETS: JSON.stringify({ messaging_api_key: KEY }) }).done
    expect(result.code, explain(result)).to.equal(0)
    expect(printed('sent:')).to.deep.equal(['sent: true 1'])
    expect(printed('fetched:')).to.deep.equal(['fetched: true 1'])
    // The script can hold the key, not read it.
    expect(printed('key:')).to.deep.equal(['key: Secret'])
    expect(seen).to.have.length(2)
    for (const request of seen) {
      expect(request.headers.authorization).to.equal(`Bearer ${KEY}`)
      expect(request.url).not.to.contain(KEY)
    }
  })

  it('filters a player\'s text for broadcast before sending it, and sends nothing when the filter fails', async () => {
    await start()
    const result = await run('client-filtered.lua', { ROBLOX_FILTERED_WORDS: 'darn' }).done
    expect(result.code, explain(result)).to.equal(0)
    expect(printed('sent:')).to.deep.equal(['sent: true #### this lag'])
    expect(printed('filter:')).to.deep.equal(['filter: ####'])
    expect(printed('filter fails:')).to.deep.equal(['filter fails: nil Unable to cast string to int64'])
    const [message] = await stored('?channel=lobby')
    expect(message).to.include({ player_name: 'Builderman', message: '#### this lag', user_id: 156 })
  })
})
