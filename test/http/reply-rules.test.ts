import { expect } from 'chai'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { startServer, type ServerProcess } from '../hostile/harness'

/*
 * AUTO_REPLY_RULES through the real process: the rules reply to sends, a bad
 * file stops the start naming the rule, and SIGHUP reloads the file (a bad
 * reload keeps the rules in force and says why).
 */

const ROOT = resolve(__dirname, '..', '..')

describe('reply rules through the real server', function () {
  this.timeout(30_000)
  let dir: string
  let server: ServerProcess | undefined
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rules-'))
  })
  afterEach(async () => {
    await server?.stop()
    server = undefined
    rmSync(dir, { recursive: true, force: true })
  })
  const replyTo = async (s: ServerProcess, message: string): Promise<string | null> => {
    const response = await fetch(`${s.base}/api/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ player_name: 'Builderman', message }) })
    expect(response.status).to.equal(200)
    return ((await response.json()) as { auto_reply: { message: string } | null }).auto_reply?.message ?? null
  }
  /** Sends SIGHUP and resolves once the server has said what it did with it (its output is emptied first). */
  const hangUp = async (s: ServerProcess): Promise<void> => {
    s.output.stdout = ''
    s.output.stderr = ''
    s.child.kill('SIGHUP')
    const deadline = Date.now() + 10_000
    while (!/SIGHUP received/.test(s.output.stdout + s.output.stderr)) {
      if (Date.now() > deadline) throw new Error('the server said nothing of the SIGHUP')
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  it('replies by the rules, falls back to AUTO_REPLY, and reloads the file on SIGHUP; a bad reload keeps the old rules', async () => {
    const file = join(dir, 'rules.json')
    writeFileSync(file, JSON.stringify([{ name: 'help', match: { prefix: '!help' }, reply: 'Try !rules, {player}.' }]))
    server = await startServer({ AUTO_REPLY_RULES: file })
    expect(await replyTo(server, '!help')).to.equal('Try !rules, Builderman.')
    expect(await replyTo(server, 'hello')).to.equal('Hello Builderman!')

    writeFileSync(file, JSON.stringify([{ name: 'rules', match: { regex: '^!rules?\\b' }, reply: 'Be kind.' }]))
    await hangUp(server)
    expect(server.output.stdout + server.output.stderr).to.include('SIGHUP received: 1 reply rule(s) in force')
    expect(await replyTo(server, '!rules')).to.equal('Be kind.')
    expect(await replyTo(server, '!help')).to.equal('Hello Builderman!')

    writeFileSync(file, JSON.stringify([{ name: 'broken', match: { regex: '(?<=x)' }, reply: 'x' }]))
    await hangUp(server)
    expect(server.output.stdout + server.output.stderr).to.match(/SIGHUP received: the reply rules were not reloaded, the old ones stay: AUTO_REPLY_RULES: rule 1 \(broken\): match\.regex is refused/)
    expect(await replyTo(server, '!rules')).to.equal('Be kind.')
    expect(server.exit).to.equal(undefined)
  })

  it('refuses to start with a bad rules file, naming the variable and the rule; or a file that is not there', () => {
    const file = join(dir, 'rules.json')
    writeFileSync(file, JSON.stringify([{ name: 'ok', match: { prefix: '!' }, reply: 'x' }, { name: 'bad', match: { regex: '(a)\\1' }, reply: 'x' }]))
    const bad = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts'], { cwd: ROOT, env: { ...process.env, PORT: '0', AUTO_REPLY_RULES: file }, encoding: 'utf8', timeout: 20_000 })
    expect(bad.status).to.equal(2)
    expect(bad.stderr).to.match(/AUTO_REPLY_RULES: rule 2 \(bad\): match\.regex is refused/)
    const missing = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts'], { cwd: ROOT, env: { ...process.env, PORT: '0', AUTO_REPLY_RULES: join(dir, 'nope.json') }, encoding: 'utf8', timeout: 20_000 })
    expect(missing.status).to.equal(2)
    expect(missing.stderr).to.include('AUTO_REPLY_RULES must name a readable file')
  })
})
