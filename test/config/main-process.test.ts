import { expect } from 'chai'
import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { DEFAULTS } from '../../composition/config'
import { parseRawAnswer, rawSocket } from '../http/raw'

/*
 * `main` as a real process: a bad variable stops it at once with a message
 * naming the variable; a good configuration serves, and SIGTERM ends it
 * cleanly with exit code 0. Every wait is for an event, never a sleep.
 */

const ROOT = join(__dirname, '..', '..')
const MAIN = join(ROOT, 'main.ts')
/** The variables `main` reads, cleared from the inherited environment so that only each test's own apply. */
const CONFIG_VARIABLES = Object.keys(DEFAULTS)

type Run = { readonly child: ChildProcess; stdout: string; stderr: string; readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }

const runMain = (env: Record<string, string>): Run => {
  const base = { ...process.env }
  for (const name of CONFIG_VARIABLES) delete base[name]
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: ROOT, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
  }
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (run.stdout += chunk))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (run.stderr += chunk))
  return run
}

/** Resolves with the first stdout line matching `pattern`; rejects if the process exits first. */
const lineMatching = (run: Run, pattern: RegExp): Promise<string> =>
  new Promise((resolve, reject) => {
    const check = () => {
      const line = run.stdout.split('\n').find((l) => pattern.test(l))
      if (line === undefined) return
      run.child.stdout?.off('data', check)
      resolve(line)
    }
    run.child.stdout?.on('data', check)
    check()
    void run.exited.then(({ code }) => reject(new Error(`main exited (${code}) before printing ${pattern}: ${run.stderr}`)))
  })

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      probe.close(() => resolve(port))
    })
  })

describe('main as a process', function () {
  this.timeout(30_000)
  const started: Run[] = []
  afterEach(() => {
    for (const run of started.splice(0)) if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL')
  })
  const start = (env: Record<string, string>): Run => {
    const run = runMain(env)
    started.push(run)
    return run
  }

  it('exits non-zero at once, naming PORT, when PORT is not a number', async () => {
    const began = Date.now()
    const run = start({ PORT: 'abc' })
    const { code } = await run.exited
    expect(code).to.be.a('number').and.not.equal(0)
    expect(run.stderr).to.match(/PORT/).and.include('"abc"')
    expect(run.stdout).not.to.match(/listening/)
    expect(Date.now() - began).to.be.below(15_000)
  })

  it('names every bad variable before exiting', async () => {
    const run = start({ PORT: '70000', MAX_MESSAGES: '0', CORS_ORIGINS: 'not-a-url' })
    const { code } = await run.exited
    expect(code).not.to.equal(0)
    expect(run.stderr).to.include('PORT').and.include('MAX_MESSAGES').and.include('CORS_ORIGINS')
  })

  it('serves on PORT and exits 0 on SIGTERM', async () => {
    const port = await freePort()
    const run = start({ PORT: String(port), HOST: '127.0.0.1', AUTO_REPLY: 'Hi {player}' })
    const line = await lineMatching(run, /listening/)
    expect(line).to.include(`127.0.0.1:${port}`)

    const status = await fetch(`http://127.0.0.1:${port}/api`)
    expect(status.status).to.equal(200)
    expect(await status.json()).to.deep.include({ success: true, status: 'running' })
    const sent = await fetch(`http://127.0.0.1:${port}/api/send`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ player_name: 'Bob', message: 'hi' }),
    })
    expect(((await sent.json()) as { auto_reply: { message: string } }).auto_reply.message, 'AUTO_REPLY is applied').to.equal('Hi Bob')
    const garbage = parseRawAnswer(await rawSocket(`http://127.0.0.1:${port}`, 'HELLO THERE\r\n\r\n'))
    expect(garbage.status, 'bytes that are not HTTP are refused in JSON too').to.equal(400)
    expect(JSON.parse(garbage.body)).to.include({ success: false })

    expect(run.child.kill('SIGTERM')).to.equal(true)
    const { code, signal } = await run.exited
    expect({ code, signal }, run.stderr).to.deep.equal({ code: 0, signal: null })
    expect(run.stdout).to.match(/SIGTERM/)
  })

  it('exits 0 on SIGTERM while a client holds an idle keep-alive connection', async () => {
    const port = await freePort()
    const run = start({ PORT: String(port), HOST: '127.0.0.1' })
    await lineMatching(run, /listening/)
    const { Agent, get } = await import('node:http')
    const agent = new Agent({ keepAlive: true })
    await new Promise<void>((resolve, reject) =>
      get({ host: '127.0.0.1', port, path: '/api', agent }, (res) => {
        res.resume()
        res.on('end', resolve)
      }).on('error', reject),
    )
    run.child.kill('SIGTERM')
    const { code } = await run.exited
    agent.destroy()
    expect(code, run.stderr).to.equal(0)
  })

  it('exits non-zero, saying why, when the port is taken', async () => {
    const holder = createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const address = holder.address()
    const port = typeof address === 'object' && address !== null ? address.port : 0
    try {
      const run = start({ PORT: String(port), HOST: '127.0.0.1' })
      const { code } = await run.exited
      expect(code).not.to.equal(0)
      expect(run.stderr).to.match(/EADDRINUSE|in use/)
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()))
    }
  })
})
