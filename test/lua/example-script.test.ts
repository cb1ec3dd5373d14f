import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { createAuth, PLAIN_SCOPES } from '../../adapters/http/auth'
import { postJson, startTestServer, type TestServer } from '../support/server'
import { eventually } from '../support/until'
import { CLIENT_MODULE, REPO_ROOT, requireLua, startRobloxScript, type RunningScript } from './lua-runner'

/*
 * The complete example Script of roblox/README.md, between its markers, as
 * a game developer copies it, run in two game servers at once through the
 * stand-in (their players joining and chatting through its console) against
 * a live server with a key.
 */

const PLACEHOLDER = 'https://your-server.example.com'
const KEY = 'game-secret-0123456789abcdef'
const DEADLINE_MS = 15_000

const exampleFromReadme = (): string => {
  const readme = readFileSync(join(REPO_ROOT, 'roblox', 'README.md'), 'utf8')
  const match = /<!-- roblox-example:start -->\s*```lua\n([\s\S]*?)```\s*<!-- roblox-example:end -->/.exec(readme)
  if (match?.[1] === undefined) throw new Error('roblox/README.md has no ```lua block between <!-- roblox-example:start --> and <!-- roblox-example:end -->')
  return match[1]
}

type Wire = { id: number; player_name: string; message: string; user_id?: number }

describe("roblox: roblox/README.md's example Script, in two game servers at once", function () {
  this.timeout(60_000)
  before(requireLua)

  let dir: string
  let scriptFile: string
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'roblox-example-'))
    scriptFile = join(dir, 'cross-server-chat.lua')
    writeFileSync(scriptFile, exampleFromReadme())
  })
  after(() => dir && rmSync(dir, { recursive: true, force: true }))

  let server: TestServer
  const games: RunningScript[] = []
  afterEach(async function () {
    if (this.currentTest?.state === 'failed')
      for (const [i, game] of games.entries()) console.log(`      game server ${i + 1}:\n--- stdout\n${game.stdout()}--- stderr\n${game.stderr()}`)
    await Promise.all(games.splice(0).map((game) => game.stop()))
    await server?.close()
  })

  const startGame = (): RunningScript => {
    const game = startRobloxScript(scriptFile, server.url, {
      env: { ROBLOX_SECRETS: JSON.stringify({ messaging_api_key: KEY }), ROBLOX_FILTERED_WORDS: 'darn' },
      rewrites: { [PLACEHOLDER]: server.url },
      modules: { MessagingClient: CLIENT_MODULE },
    })
    games.push(game)
    return game
  }
  const shown = (game: RunningScript): string[] => game.stdout().split('\n').filter((line) => line.startsWith('FireClient '))
  const until = (condition: () => boolean, what: string) => eventually(condition, DEADLINE_MS, what)
  const stored = async (): Promise<Wire[]> =>
    ((await (await fetch(`${server.url}/api/messages?limit=100`, { headers: { authorization: `Bearer ${KEY}` } })).json()) as { messages: Wire[] }).messages

  it("relays a player's filtered words to the other server's players, not twice to their own, shows the web's filtered, and flushes at close", async () => {
    server = await startTestServer({ autoReplyTemplate: '', auth: createAuth({ keys: [{ label: 'game', secret: KEY, scopes: PLAIN_SCOPES }] }) })
    const [one, two] = [startGame(), startGame()] as [RunningScript, RunningScript]
    one.write('join 101 Alice')
    two.write('join 202 Bob')
    two.write('join 203 Cy')
    await until(() => server.holding() === 2, 'both game servers hold their long poll')

    one.write('chat 101 hello darn world')
    await until(() => shown(two).length === 2, "Alice's words reach the other server's players")
    expect(shown(two)).to.deep.equal(['FireClient Bob: Alice: hello #### world', 'FireClient Cy: Alice: hello #### world'])
    const [first] = await stored()
    expect(first).to.include({ player_name: 'Alice', message: 'hello #### world', user_id: 101 })

    // From outside Roblox, unfiltered: each server filters it for each of its players.
    const web = await postJson(`${server.url}/api/send`, { player_name: 'WebBot', message: 'darn bots' }, { authorization: `Bearer ${KEY}` })
    expect(web.status).to.equal(200)
    await until(() => shown(one).length === 1 && shown(two).length === 4, 'the web message reaches every player')
    expect(shown(one)).to.deep.equal(['FireClient Alice: WebBot: #### bots'])
    expect(shown(two).slice(2)).to.deep.equal(['FireClient Bob: WebBot: #### bots', 'FireClient Cy: WebBot: #### bots'])

    // Said just before the server shuts down: BindToClose's flush sends it.
    two.write('chat 202 see you')
    const closed = await two.close()
    expect(closed.code, closed.stderr).to.equal(0)
    await until(() => shown(one).length === 2, "Bob's last words reach the other server")
    expect(shown(one)[1]).to.equal('FireClient Alice: Bob: see you')
    expect((await stored()).map((m) => `${m.player_name}: ${m.message}`)).to.deep.equal(['Alice: hello #### world', 'WebBot: darn bots', 'Bob: see you'])
    expect(one.stderr()).to.equal('')
  })
})
