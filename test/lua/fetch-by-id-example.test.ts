import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect } from 'chai'
import { ADMIN_SCOPES, createAuth, PLAIN_SCOPES } from '../../adapters/http/auth'
import { startTestServer, type TestServer } from '../support/server'
import { REPO_ROOT, requireLua, startRobloxScript, type LuaRun } from './lua-runner'

/*
 * The README's fetch by id (Bridges, Roblox Open Cloud), run as written
 * through the HttpService stand-in against a server with keys: it finds a
 * message by its id, gives nothing for one that was removed (where
 * `after=id-1` answers the next message) or is past the end, and warns
 * rather than raise when the server cannot be reached.
 */

const KEY = 'game-secret-0123456789abcdef'
const ADMIN = 'admin-secret-0123456789abcdef'

const exampleFromReadme = (): string => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8')
  const match = /<!-- roblox-fetch-by-id:start -->\s*```lua\n([\s\S]*?)```\s*<!-- roblox-fetch-by-id:end -->/.exec(readme)
  if (match?.[1] === undefined) throw new Error('README.md has no ```lua block between <!-- roblox-fetch-by-id:start --> and <!-- roblox-fetch-by-id:end -->')
  return match[1]
}

const explain = (run: LuaRun): string => `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`

describe("roblox: the README's fetch by id of a message Open Cloud could not carry", () => {
  before(requireLua)

  let server: TestServer | undefined
  let dir: string
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rms-fetch-'))
  })
  afterEach(async () => {
    rmSync(dir, { recursive: true, force: true })
    await server?.close()
    server = undefined
  })

  const run = (url: string, calls: string): Promise<LuaRun> => {
    const script = join(dir, 'fetch-by-id.lua')
    writeFileSync(script, `${exampleFromReadme()}\nlocal function show(m) print(m and (m.id .. " " .. m.message) or "nil") end\n${calls}\n`)
    return startRobloxScript(script, url, {
      env: { ROBLOX_SECRETS: JSON.stringify({ messaging_api_key: KEY }) },
      rewrites: { 'https://your-server.example.com': url },
    }).done
  }
  const send = async (base: string, text: string): Promise<number> => {
    const response = await fetch(`${base}/api/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY },
      body: JSON.stringify({ player_name: 'Builderman', message: text }),
    })
    expect(response.status).to.equal(200)
    return ((await response.json()) as { message: { id: number } }).message.id
  }

  it('finds a message by its id with the key in a header, and gives nil for a removed id (never the next message) or one past the end', async () => {
    const started = await startTestServer({ autoReplyTemplate: '', auth: createAuth({ keys: [{ label: 'game', secret: KEY, scopes: PLAIN_SCOPES }, { label: 'ops', secret: ADMIN, scopes: ADMIN_SCOPES }] }) })
    server = started
    const [first, removed, third] = [await send(started.url, 'first'), await send(started.url, 'removed'), await send(started.url, 'third')]
    expect((await fetch(`${started.url}/api/messages/${removed}`, { method: 'DELETE', headers: { 'x-api-key': ADMIN } })).status).to.equal(200)
    const result = await run(started.url, `show(fetchById(${first}, "global"))\nshow(fetchById(${removed}, "global"))\nshow(fetchById(${third}, "global"))\nshow(fetchById(${third + 100}, "global"))`)
    expect(result.code, explain(result)).to.equal(0)
    expect(result.stderr, explain(result)).to.equal('')
    expect(result.stdout).to.equal(`${first} first\nnil\n${third} third\nnil\n`)
  })

  it('warns and gives nil, rather than raise, when the server cannot be reached or refuses', async () => {
    const started = await startTestServer({ autoReplyTemplate: '', auth: createAuth({ keys: [{ label: 'ops', secret: ADMIN, scopes: ADMIN_SCOPES }] }) })
    server = started
    const refused = await run(started.url, 'show(fetchById(1, "global"))')
    expect(refused.code, explain(refused)).to.equal(0)
    expect(refused.stdout).to.equal('nil\n')
    expect(refused.stderr).to.match(/fetch refused:\s+401/)
    const url = started.url
    await started.close()
    server = undefined
    const unreachable = await run(url, 'show(fetchById(1, "global"))\nprint("still running")')
    expect(unreachable.code, explain(unreachable)).to.equal(0)
    expect(unreachable.stdout).to.equal('nil\nstill running\n')
    expect(unreachable.stderr).to.match(/fetch failed:/)
  })
})
