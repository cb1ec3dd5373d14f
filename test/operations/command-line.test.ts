import { expect } from 'chai'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as E from 'fp-ts/Either'
import { flagOf, readCommandLine } from '../../composition/command-line'
import { defaultText, readConfig, SETTINGS } from '../../composition/config'
import { freePort } from '../support/redis'

/*
 * The command line: every setting as a flag or its variable, --help with
 * each default and meaning, --version, and a bad value refused with a
 * message that names the flag it came from (the variable when it came from
 * the environment). Then the real command, run as a process.
 */

const ROOT = join(__dirname, '..', '..')
const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version

const run = (argv: string[], env: NodeJS.ProcessEnv = {}) => readCommandLine(argv, env, VERSION)

describe('operations: the command line', () => {
  it('lists every setting in --help with its flag, its variable, its default and its meaning', () => {
    const help = run(['--help'])
    expect(help).to.deep.include({ _tag: 'Exit', code: 0 })
    const text = help._tag === 'Exit' ? help.stdout.replace(/\s+/g, ' ') : ''
    for (const name of SETTINGS) {
      expect(text, name).to.include(`${flagOf(name)} <value>`)
      expect(text, name).to.include(`env ${name},`)
      const fallback = defaultText(name)
      expect(text, name).to.include(`default ${fallback === '' ? 'none' : JSON.stringify(fallback)}`)
    }
    expect(text).to.include('TCP port to listen on').and.include('--version').and.include('/readyz')
  })

  it('prints the version of the package with --version and -v', () => {
    for (const flag of ['--version', '-v']) expect(run([flag])).to.deep.equal({ _tag: 'Exit', code: 0, stdout: `${VERSION}\n`, stderr: '' })
  })

  it('refuses an unknown flag, a flag without its value and a stray argument, exiting 2', () => {
    const unknown = run(['--prot', '5000'])
    expect(unknown).to.deep.include({ _tag: 'Exit', code: 2 })
    expect(unknown._tag === 'Exit' && unknown.stderr).to.include("unknown option '--prot'").and.include('--port')
    const bare = run(['--port'])
    expect(bare._tag === 'Exit' && bare.stderr).to.include("option '--port <value>' argument missing")
    expect(run(['serve'])).to.deep.include({ _tag: 'Exit', code: 2 })
  })

  it('takes flags over the environment, and names the flag or the variable a bad value came from', () => {
    const line = run(['--port', '6000', '--max-messages', '0', '--store', 'memory'], { PORT: '7000', MAX_CHANNELS: 'many', HOST: '127.0.0.1' })
    if (line._tag !== 'Run') throw new Error('expected a run')
    expect(line.settings).to.deep.include({ PORT: '6000', MAX_MESSAGES: '0', HOST: '127.0.0.1', STORE: 'memory' })
    const config = readConfig(line.settings, undefined, line.nameOf)
    expect(E.isLeft(config) && config.left).to.deep.equal([
      '--max-messages must be a whole number from 1 to 10000000, got "0"',
      'MAX_CHANNELS must be a whole number from 1 to 100000, got "many"',
    ])
    const good = run(['--port', '6000', '--cors-origins', 'https://a.example', '--trust-proxy', '1', '--metrics', 'off'], {})
    if (good._tag !== 'Run') throw new Error('expected a run')
    const decoded = readConfig(good.settings, undefined, good.nameOf)
    expect(E.isRight(decoded) && decoded.right).to.deep.include({ PORT: 6000, CORS_ORIGINS: ['https://a.example'], TRUST_PROXY: 1, METRICS: false })
  })

  it('names the flags of a rule between two settings, and never repeats a secret given as a flag', () => {
    const line = run(['--stream-heartbeat-seconds', '40', '--metrics-key', 'short', '--api-keys', 'game:tiny', '--roblox-webhook-secret', 'wee', '--auto-reply-model-url', 'ftp://u:pw4@llm/v1', '--auto-reply-model', 'm'], {})
    if (line._tag !== 'Run') throw new Error('expected a run')
    const problems = readConfig(line.settings, undefined, line.nameOf)
    const text = E.isLeft(problems) ? problems.left.join('\n') : ''
    expect(text).to.include('--metrics-key must be 16–256').and.include('--api-keys: the key labelled game must be 16–256')
    expect(text).to.include('--roblox-webhook-secret must be 16–1024').and.include('--auto-reply-model-url must be')
    expect(text).not.to.match(/"short"|tiny|"wee"|pw4/)
    const cross = run(['--stream-heartbeat-seconds', '40'], {})
    if (cross._tag !== 'Run') throw new Error('expected a run')
    const crossed = readConfig(cross.settings, undefined, cross.nameOf)
    expect(E.isLeft(crossed) && crossed.left[0]).to.match(/^--stream-heartbeat-seconds must be less than IDLE_TIMEOUT_SECONDS \(30\), got 40/)
  })

  describe('as a process', function () {
    this.timeout(30_000)
    const command = (args: string[]) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'main.ts'), ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
      const out = { stdout: '', stderr: '' }
      child.stdout.setEncoding('utf8').on('data', (c: string) => (out.stdout += c))
      child.stderr.setEncoding('utf8').on('data', (c: string) => (out.stderr += c))
      return { child, out, exited: new Promise<number | null>((resolve) => child.once('exit', resolve)) }
    }

    it('serves with the settings given as flags, and stops on SIGTERM', async () => {
      const port = await freePort()
      const server = command(['--port', String(port), '--host', '127.0.0.1', '--store', 'memory', '--auto-reply', 'Hi {player}', '--log-level', 'warn'])
      try {
        await new Promise<void>((resolve, reject) => {
          const ready = () => fetch(`http://127.0.0.1:${port}/healthz`).then(() => resolve(), () => setImmediate(ready))
          void server.exited.then((code) => reject(new Error(`exited ${code}: ${server.out.stderr}`)))
          ready()
        })
        const sent = await fetch(`http://127.0.0.1:${port}/api/send`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ player_name: 'Bob', message: 'hi' }) })
        expect(((await sent.json()) as { auto_reply: { message: string } }).auto_reply.message).to.equal('Hi Bob')
        server.child.kill('SIGTERM')
        expect(await server.exited).to.equal(0)
        expect(server.out.stdout, 'LOG_LEVEL=warn: no info lines').not.to.include('"level":30')
      } finally {
        server.child.kill('SIGKILL')
      }
    })

    it('exits 2 at once on a bad flag, naming it and pointing at --help', async () => {
      const bad = command(['--max-messages', 'lots'])
      expect(await bad.exited).to.equal(2)
      expect(bad.out.stderr).to.include('configuration error: --max-messages must be a whole number from 1 to 10000000, got "lots"').and.include('--help')
      expect(bad.out.stdout).to.equal('')
    })

    it('prints --help and --version', async () => {
      const help = command(['--help'])
      expect(await help.exited).to.equal(0)
      expect(help.out.stdout).to.include('Usage: roblox-messaging-server [options]').and.include('--redis-url <value>')
      const version = command(['--version'])
      expect(await version.exited).to.equal(0)
      expect(version.out.stdout.trim()).to.equal(VERSION)
    })
  })
})
