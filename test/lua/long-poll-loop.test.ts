import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { postJson, startTestServer, type TestServer } from '../support/server'
import { REPO_ROOT, requireLua, startRobloxScript, type RunningScript } from './lua-runner'

/** The address the README's loop is written against; the stand-in rewrites it to the test server. */
const PLACEHOLDER = 'https://your-server.example.com'
/** How long a wait may take before it fails with the script's output: a deadline for failing, never a pause. */
const DEADLINE_MS = 10_000

/** The Lua long-poll loop of the README's Roblox section, between its markers, as readers copy it. */
const loopFromReadme = (): string => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
  const match = /<!-- roblox-long-poll:start -->\s*```lua\n([\s\S]*?)```\s*<!-- roblox-long-poll:end -->/.exec(readme)
  if (match?.[1] === undefined)
    throw new Error('README.md has no ```lua block between <!-- roblox-long-poll:start --> and <!-- roblox-long-poll:end -->')
  return match[1]
}

type Wire = { id: number; player_name: string; message: string }

const storedOn = async (server: TestServer): Promise<Wire[]> =>
  ((await (await fetch(`${server.url}/api/messages?limit=100`)).json()) as { messages: Wire[] }).messages

/** What the loop prints for a message: Roblox's print joins its arguments with a space. */
const printed = (message: Wire): string => `${message.player_name} ${message.message}`

/** GET /api/messages requests a server received from the game (the stand-in's User-Agent), and how many are unanswered. */
type Polls = { started: number; open: number }

const countPolls = (server: Server, changed: () => void): Polls => {
  const polls: Polls = { started: 0, open: 0 }
  server.on('request', (req, res) => {
    const path = (req.url ?? '').split('?')[0]
    const fromGame = (req.headers['user-agent'] ?? '').startsWith('RobloxGameCloud/')
    if (!fromGame || req.method !== 'GET' || path !== '/api/messages') return
    polls.started++
    polls.open++
    res.on('close', () => {
      polls.open--
      changed()
    })
    changed()
  })
  return polls
}

/** Forwards every request to whichever server `target` names at the time: a "restart" behind one address. */
const startProxy = async (target: () => string): Promise<{ url: string; close: () => Promise<void> }> => {
  const proxy = createServer((req, res) => {
    const upstream = request(`${target()}${req.url ?? '/'}`, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(res)
    })
    upstream.on('error', () => res.destroy())
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        proxy.close(() => resolve())
        proxy.closeAllConnections()
      }),
  }
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

describe("roblox: the README's long-poll loop, run as written against a live server", function () {
  this.timeout(30_000)
  before(requireLua)

  let dir: string
  let loopFile: string
  before(() => {
    const loop = loopFromReadme()
    expect(loop, 'the README loop must use the placeholder the test rewrites').to.contain(`"${PLACEHOLDER}"`)
    dir = mkdtempSync(join(tmpdir(), 'roblox-long-poll-'))
    loopFile = join(dir, 'long-poll-loop.lua')
    writeFileSync(loopFile, loop)
  })
  after(() => dir && rmSync(dir, { recursive: true, force: true }))

  let cleanups: Array<() => Promise<unknown>>
  let script: RunningScript | undefined
  beforeEach(() => {
    cleanups = []
    script = undefined
  })
  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && script !== undefined) {
      console.log(`      the loop's output:\n--- stdout\n${script.stdout().slice(0, 4000)}--- stderr\n${script.stderr().slice(0, 4000)}`)
    }
    const failures: unknown[] = []
    for (const cleanup of cleanups.reverse()) await cleanup().catch((err: unknown) => failures.push(err))
    if (failures.length > 0) throw failures[0]
  })

  /** Wakes `until` whenever the script writes or exits, or a poll starts or ends. */
  let version = 0
  let wake: (() => void) | undefined
  const changed = () => {
    version++
    wake?.()
  }

  /** Starts the loop with the placeholder rewritten to `url`; stopped (SIGTERM, awaited) after the test. */
  const startLoop = (url: string): RunningScript => {
    const running = startRobloxScript(loopFile, url, { rewrites: { [PLACEHOLDER]: url } })
    running.onActivity(changed)
    cleanups.push(async () => {
      const run = await running.stop()
      expect(run.code === null || run.code === 0, `the loop ended with ${run.code}: ${run.stderr}`).to.equal(true)
    })
    script = running
    return running
  }

  const lines = (): string[] => (script?.stdout() ?? '').split('\n').filter((line) => line !== '')

  /**
   * Resolves once `condition` holds, re-checking it for a few event-loop turns after each change
   * (server-side work such as registering a long poll follows its request by a few turns). Fails at
   * once when `broken` reports a reason or the script exits, and with the output after DEADLINE_MS.
   */
  const until = async (what: string, condition: () => boolean, broken: () => string | undefined = () => undefined) => {
    const deadline = Date.now() + DEADLINE_MS
    const timer = setTimeout(changed, DEADLINE_MS)
    try {
      for (;;) {
        const seen = version
        for (let turn = 0; turn < 50; turn++) {
          const reason = broken()
          if (reason !== undefined) throw new Error(`${reason} (while waiting until ${what})`)
          if (condition()) return
          await nextTurn()
        }
        if (script?.exited()) throw new Error(`the loop exited while waiting until ${what}`)
        if (Date.now() >= deadline) throw new Error(`never ${what} within ${DEADLINE_MS} ms`)
        if (version === seen) await new Promise<void>((resolve) => (wake = resolve))
      }
    } finally {
      clearTimeout(timer)
      wake = undefined
    }
  }

  let sent: number
  beforeEach(() => (sent = 0))
  const send = async (server: TestServer, player: string, message: string) => {
    sent++
    const response = await postJson(`${server.url}/api/send`, { player_name: player, message })
    expect(response.status).to.equal(200)
  }
  /** A line more than messages sent is a message printed twice (or something else printed). */
  const overprinted = () => (lines().length > sent ? `the loop printed ${lines().length} lines for ${sent} messages` : undefined)
  /** Messages arrive in id order: what is printed so far must begin the expected lines. */
  const strayed = (expected: string[]) => () => {
    const printedSoFar = lines()
    const stray = printedSoFar.findIndex((line, i) => line !== expected[i])
    return stray === -1 ? undefined : `line ${stray + 1} is ${JSON.stringify(printedSoFar[stray])}, expected ${JSON.stringify(expected[stray])}`
  }
  const overBudget = (polls: ReadonlyArray<Polls>, budget: number) => () => {
    const made = polls.reduce((sum, p) => sum + p.started, 0)
    return made > budget ? `the loop made ${made} polls, over the budget of ${budget}` : undefined
  }

  it('prints every message once, in id order, with a handful of requests, and holds one request while idle', async () => {
    const server = await startTestServer({ autoReplyTemplate: '' })
    cleanups.push(() => server.close())
    const polls = countPolls(server.server, changed)
    const bursts = 2
    const budget = 3 + bursts
    const wasteful = () => overprinted() ?? overBudget([polls], budget)()
    const idle = () => server.holding() === 1 && polls.open === 1

    startLoop(server.url)
    await until('the first long poll is held', idle, wasteful)
    expect(polls.started).to.equal(1)

    await send(server, 'Builderman', 'anyone here?')
    await until('the first message is printed and the loop waits again', () => lines().length === 1 && idle(), wasteful)

    await Promise.all([send(server, 'Noob42', 'hi!'), send(server, 'Builderman', 'welcome, Noob42')])
    await until('all 3 messages are printed and the loop waits again', () => lines().length === 3 && idle(), wasteful)

    const stored = await storedOn(server)
    expect(stored.map((m) => m.id)).to.deep.equal([1, 2, 3])
    expect(lines()).to.deep.equal(stored.map(printed))
    expect(polls.started, 'GET /api/messages requests').to.be.at.most(budget)
    // Idle, the loop spends no requests: its one poll is held open by the server, not repeated.
    expect(server.holding()).to.equal(1)
    expect(polls.open).to.equal(1)
    expect(script?.stderr()).to.equal('')
  })

  it('hears a removal once, after the messages it removes, and goes on', async () => {
    const server = await startTestServer({ autoReplyTemplate: '' })
    cleanups.push(() => server.close())
    const polls = countPolls(server.server, changed)
    const idle = () => server.holding() === 1 && polls.open === 1
    startLoop(server.url)
    await until('the first long poll is held', idle)
    await send(server, 'Griefer', 'something rude')
    await send(server, 'Ann', 'hello')
    await until('both are printed and the loop waits again', () => lines().length === 2 && idle())
    const [rude] = await storedOn(server)
    expect((await fetch(`${server.url}/api/messages/${rude!.id}`, { method: 'DELETE' })).status).to.equal(200)
    await send(server, 'Ann', 'after')
    const expected = ['Griefer something rude', 'Ann hello', `removed ${rude!.id}`, 'Ann after']
    await until('the removal and the next message are printed, and the loop waits again', () => lines().length === 4 && idle(), strayed(expected))
    expect(lines()).to.deep.equal(expected)
    expect(script?.stderr()).to.equal('')
  })

  it('follows a restart: a cursor from the old epoch reads the new history from its start, with a gap warning', async () => {
    const shutdown = new AbortController()
    const oldLife = await startTestServer({ autoReplyTemplate: '', shutdown: shutdown.signal })
    cleanups.push(() => oldLife.close())
    const newLife = await startTestServer({ autoReplyTemplate: '' })
    cleanups.push(() => newLife.close())
    // Two bursts: the two messages before the restart, and the restart itself.
    const polls = [countPolls(oldLife.server, changed), countPolls(newLife.server, changed)]
    const wasteful = overBudget(polls, 3 + 2)
    let current = oldLife
    const proxy = await startProxy(() => current.url)
    cleanups.push(() => proxy.close())

    startLoop(proxy.url)
    await until('the loop holds a long poll on the first server', () => oldLife.holding() === 1, wasteful)
    await Promise.all([send(oldLife, 'Builderman', 'before 1'), send(oldLife, 'Noob42', 'before 2')])
    await until(
      'both are printed and the loop waits again',
      () => lines().length === 2 && oldLife.holding() === 1,
      () => overprinted() ?? wasteful(),
    )
    const old = (await storedOn(oldLife)).map(printed)
    expect(lines()).to.deep.equal(old)

    // The new life has ids 1..3 again: a loop that dropped the epoch would read only id 3 after its cursor 2.
    for (const text of ['after 1', 'after 2', 'after 3']) await send(newLife, 'Builderman', text)
    const expected = [...old, ...(await storedOn(newLife)).map(printed)]
    current = newLife
    shutdown.abort() // the old server answers its held poll as it shuts down; the next one reaches the new server
    const waitsOnNewLife = () => newLife.holding() === 1 && polls[1]?.open === 1
    await until(
      'the new history is printed and the loop waits on the new server',
      () => lines().length === 5 && waitsOnNewLife(),
      () => strayed(expected)() ?? wasteful(),
    )

    expect(lines()).to.deep.equal(expected)
    expect(script?.stderr()).to.contain('some messages were missed')
    expect(script?.stderr()).not.to.contain('long poll failed')
  })
})
