import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { expect } from 'chai'
import { startTestServer, type TestServer } from '../support/server'
import { FIXTURES, REPO_ROOT, requireLua, runRobloxScript, type LuaRun } from './lua-runner'

const SEED_EXAMPLE = join(REPO_ROOT, 'roblox', 'examples', 'seed-example.lua')
/** sha256 of the "Example Roblox Script (HttpService)" block in the seed's documentation, taken when it was copied. */
const SEED_EXAMPLE_SHA256 = 'e47b6c4ddb046f07dbbc60eadb357ea037a52251ca1855022944c02dfc6c53b7'

type Wire = { id: number; player_name: string; message: string; type: string; reply_to?: number }

const messagesOn = async (server: TestServer): Promise<Wire[]> => {
  const response = await fetch(`${server.url}/api/messages?limit=100`)
  expect(response.status).to.equal(200)
  return ((await response.json()) as { messages: Wire[] }).messages
}

const explain = (run: LuaRun): string => `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`

describe('roblox: the seed example is the documented one, unchanged', () => {
  it('is byte for byte the Lua block of the seed documentation', () => {
    const sha = createHash('sha256').update(readFileSync(SEED_EXAMPLE)).digest('hex')
    expect(sha).to.equal(SEED_EXAMPLE_SHA256)
  })
})

describe('roblox: Lua scripts through the HttpService stand-in against a real server', () => {
  before(requireLua)

  let server: TestServer
  afterEach(() => server.close())

  it("runs the seed's example script unchanged: it sends, prints the auto-reply and fetches", async () => {
    server = await startTestServer()
    const run = await runRobloxScript(SEED_EXAMPLE, server.url)
    expect(run.code, explain(run)).to.equal(0)
    expect(run.stdout, explain(run)).to.match(/Message sent! Auto-reply:\s+Hello Player123!/)
    expect(run.stderr, explain(run)).not.to.contain('Failed to')
    const messages = await messagesOn(server)
    expect(messages).to.have.length(2)
    const [sent, reply] = messages
    expect(sent).to.include({ player_name: 'Player123', message: 'Hello from Roblox!', type: 'player' })
    expect(reply).to.include({ message: 'Hello Player123!', type: 'reply', reply_to: sent?.id })
  })

  it('reads a 400 and its error text through RequestAsync, while PostAsync raises "HTTP 400 (Bad Request)"', async () => {
    server = await startTestServer()
    const run = await runRobloxScript(join(FIXTURES, 'request-async-blank.lua'), server.url)
    expect(run.code, explain(run)).to.equal(0)
    const lines = run.stdout.split('\n')
    expect(lines, explain(run)).to.include.members([
      'StatusCode: 400',
      'Success: false',
      'StatusMessage: Bad Request',
      'success field: false',
      'PostAsync ok: false',
      'PostAsync error: HTTP 400 (Bad Request)',
    ])
    const error = lines.find((line) => line.startsWith('error: '))
    expect(error, explain(run)).to.match(/^error: .*\bmessage\b/)
    expect(await messagesOn(server)).to.deep.equal([])
  })

  it('raises "HTTP 404 (Not Found)" from GetAsync on a 404; RequestAsync returns it', async () => {
    server = await startTestServer()
    const run = await runRobloxScript(join(FIXTURES, 'get-404.lua'), server.url)
    expect(run.code, explain(run)).to.equal(0)
    expect(run.stdout.split('\n'), explain(run)).to.include.members([
      'GetAsync ok: false',
      'GetAsync error: HTTP 404 (Not Found)',
      'RequestAsync: 404 false',
    ])
  })

  it('drops JSON null as Roblox does: with replies off, auto_reply is absent after JSONDecode', async () => {
    server = await startTestServer({ autoReplyTemplate: '' })
    const run = await runRobloxScript(join(FIXTURES, 'null-reply.lua'), server.url)
    expect(run.code, explain(run)).to.equal(0)
    expect(run.stdout.split('\n'), explain(run)).to.include.members([
      'raw has null: true',
      'auto_reply == nil: true',
      'message: Anyone there?',
    ])
  })

  it('fails the run when the script raises outside a pcall', async () => {
    // The seed's example indexes result.auto_reply.message outside its pcall, so a server with
    // replies switched off breaks it: worth knowing before anyone turns replies off by default.
    server = await startTestServer({ autoReplyTemplate: '' })
    const run = await runRobloxScript(SEED_EXAMPLE, server.url)
    expect(run.code, explain(run)).to.equal(1)
    expect(run.stderr, explain(run)).to.contain("attempt to index field 'auto_reply'")
  })
})

describe('roblox: the stand-in behaves like Roblox where tests depend on it', () => {
  before(requireLua)

  it('encodes and decodes JSON by Roblox rules and offers only Luau globals', async () => {
    const run = await runRobloxScript(join(FIXTURES, 'json.lua'), 'http://127.0.0.1:9')
    expect(run.code, explain(run)).to.equal(0)
    expect(run.stdout.split('\n'), explain(run)).to.include.members([
      '[]',
      '[1,2,"three"]',
      '{"nested":[]}',
      'b,c,f',
      'true x table',
      "false Can't parse JSON",
      'Player%20123%2F%C3%A9',
      'EnumItem Enum.HttpContentType.TextPlain',
      "false Expected ':' not '.' calling member function JSONEncode",
      'true false',
    ])
    const encoded = run.stdout.split('\n')[3] ?? ''
    expect(JSON.parse(encoded)).to.deep.equal({ id: 9007199254740991, half: 0.5, text: 'a "quoted"\nline' })
    expect(run.stdout).to.match(/^false Can't convert mixed or sparse tables/m)
    expect(run.stdout).to.match(/^false .*ApplicationJsonn is not a valid member of "Enum.HttpContentType"$/m)
  })

  it('waits with task.wait at least the time asked (one frame when none) and returns the time that passed', async () => {
    const run = await runRobloxScript(join(FIXTURES, 'task-wait.lua'), 'http://127.0.0.1:9')
    expect(run.code, explain(run)).to.equal(0)
    expect(run.stdout.split('\n'), explain(run)).to.include.members([
      'waited: number true true',
      'one frame: true',
      "false invalid argument #1 to 'wait' (number expected, got string)",
    ])
  })

  it('runs threads side by side: spawn at once, defer later, delay with arguments, cancel, waits and pcall that yield', async () => {
    const run = await runRobloxScript(join(FIXTURES, 'task-threads.lua'), 'http://127.0.0.1:9')
    expect(run.code, explain(run)).to.equal(0)
    expect(run.stdout.split('\n'), explain(run)).to.include.members([
      'spawned runs at once; after spawn; deferred runs later; delayed with its argument; pcall waited true; resumed with a value; short wait done; long wait done',
      'thread: thread thread',
      'still running',
    ])
    // A thread that raises stops, with its error on the output, and the others go on.
    expect(run.stderr).to.contain('a thread that raises')
  })

  it('raises HttpError: ConnectFail from RequestAsync when nothing answers at the address', async () => {
    const run = await runRobloxScript(join(FIXTURES, 'connect-fail.lua'), 'http://127.0.0.1:9')
    expect(run.code, explain(run)).to.equal(0)
    expect(run.stdout, explain(run)).to.equal('false HttpError: ConnectFail\n')
  })

  describe('on the wire', () => {
    type Seen = { method: string; url: string; headers: IncomingHttpHeaders; body: string }
    let recorder: Server
    let seen: Seen[]
    let url: string

    beforeEach(async () => {
      seen = []
      recorder = createServer((request, response) => {
        let body = ''
        request.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
        request.on('end', () => {
          seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, body })
          response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
        })
      })
      await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve))
      url = `http://127.0.0.1:${(recorder.address() as AddressInfo).port}`
    })
    afterEach(() => new Promise<void>((resolve) => recorder.close(() => resolve())))

    it('refuses the 501st request within a minute with "Number of requests exceeded limit", and does not make it', async function () {
      this.timeout(30_000)
      const run = await runRobloxScript(join(FIXTURES, 'request-limit.lua'), url)
      expect(run.code, explain(run)).to.equal(0)
      expect(run.stdout.split('\n'), explain(run)).to.include.members(['500 made', 'false Number of requests exceeded limit'])
      expect(run.stdout.split('\n').filter((line) => line === 'false Number of requests exceeded limit')).to.have.length(2)
      expect(seen).to.have.length(500)
    })

    it("sends Roblox's User-Agent and Roblox-Id, the script's headers and content types; refuses locked headers", async () => {
      const run = await runRobloxScript(join(FIXTURES, 'headers.lua'), url, { ROBLOX_PLACE_ID: '4242' })
      expect(run.code, explain(run)).to.equal(0)
      expect(seen.map((s) => `${s.method} ${s.url}`)).to.deep.equal(['GET /get?x=1', 'POST /post', 'POST /text', 'PUT /request'])
      for (const request of seen) {
        expect(request.headers['user-agent']).to.equal('RobloxGameCloud/1.0 (+http://www.roblox.com)')
        expect(request.headers['roblox-id']).to.equal('4242')
      }
      const [get, post, text, put] = seen
      expect(get?.headers['x-api-key']).to.equal('key-1')
      expect(post?.headers['content-type']).to.equal('application/json')
      expect(post?.headers.authorization).to.equal('Bearer t')
      expect(post?.body).to.equal('{"a":1}')
      expect(text?.headers['content-type']).to.equal('text/plain')
      expect(text?.body).to.equal('plain words')
      expect(put?.headers['content-type']).to.equal('application/json')
      expect(put?.body).to.equal('[]')
      expect(run.stdout.split('\n'), explain(run)).to.include.members([
        'false Header "User-Agent" is not allowed!',
        'false Header "Roblox-Id" is not allowed!',
        'false Header "Content-Length" is not allowed!',
        'false Header "Host" is not allowed!',
        'false Header "Content-Type" is not allowed!',
      ])
    })
  })
})
