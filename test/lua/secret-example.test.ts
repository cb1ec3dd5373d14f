import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { ADMIN_SCOPES, createAuth, PLAIN_SCOPES } from '../../adapters/http/auth'
import { startTestServer, type TestServer } from '../support/server'
import { REPO_ROOT, requireLua, startRobloxScript, type LuaRun } from './lua-runner'

/*
 * The README's example of a game server sending with a key from the
 * Secrets store, run as written through the HttpService stand-in (whose
 * GetSecret hands out a Secret the script cannot print, only put in a
 * header) against a server with keys.
 */

const KEY = 'game-secret-0123456789abcdef'
const ADMIN = 'admin-secret-0123456789abcdef'

const exampleFromReadme = (): string => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
  const match = /<!-- roblox-secret:start -->\s*```lua\n([\s\S]*?)```\s*<!-- roblox-secret:end -->/.exec(readme)
  if (match?.[1] === undefined) throw new Error('README.md has no ```lua block between <!-- roblox-secret:start --> and <!-- roblox-secret:end -->')
  return match[1]
}

const explain = (run: LuaRun): string => `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`

describe("roblox: the README's example with a key from the Secrets store", () => {
  before(requireLua)

  let server: TestServer
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rms-secret-'))
  })
  afterEach(async () => {
    rmSync(dir, { recursive: true, force: true })
    await server?.close()
  })

  /** The example, then a game's use of it: a player says something. */
  const run = (secret: string, extra = '') => {
    const script = join(dir, 'secret-example.lua')
    writeFileSync(script, `${exampleFromReadme()}\nsendMessage({ Name = "Builderman", UserId = 156 }, "hello with a key")\n${extra}`)
    return startRobloxScript(script, server.url, {
      env: { ROBLOX_SECRETS: JSON.stringify({ messaging_api_key: secret }) },
      rewrites: { 'https://your-server.example.com': server.url },
    }).done
  }
  const stored = async () =>
    ((await (await fetch(`${server.url}/api/messages`, { headers: { 'x-api-key': ADMIN } })).json()) as { messages: Array<{ player_name: string; message: string; user_id?: number }> })
      .messages

  it('sends with the key in the Authorization header, and the message is stored', async () => {
    server = await startTestServer({ autoReplyTemplate: '', auth: createAuth({ keys: [{ label: 'game', secret: KEY, scopes: PLAIN_SCOPES }, { label: 'ops', secret: ADMIN, scopes: ADMIN_SCOPES }] }) })
    const result = await run(KEY)
    expect(result.code, explain(result)).to.equal(0)
    expect(result.stderr, explain(result)).to.equal('')
    const messages = await stored()
    expect(messages.map(({ player_name, message, user_id }) => ({ player_name, message, user_id }))).to.deep.equal([
      { player_name: 'Builderman', message: 'hello with a key', user_id: 156 },
    ])
  })

  it("warns with the server's reason when the key is wrong, and cannot print the secret", async () => {
    server = await startTestServer({ autoReplyTemplate: '', auth: createAuth({ keys: [{ label: 'ops', secret: ADMIN, scopes: ADMIN_SCOPES }] }) })
    const result = await run('not-the-key-0123456789abcdef', 'print(tostring(API_KEY))')
    expect(result.code, explain(result)).to.equal(0)
    expect(result.stderr).to.match(/send refused:\s+the API key is not one this server knows/)
    expect(result.stdout).to.equal('Secret\n')
    expect(await stored()).to.deep.equal([])
  })
})
