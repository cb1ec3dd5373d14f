import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/*
 * A real redis-server (Debian's package) for the tests: started on a free
 * loopback port in a temporary directory, stopped afterwards, and able to
 * be stopped and restarted under a running app (with its data, as a server
 * with an append-only file keeps it, or empty, as one without loses it).
 */

/** Why redis-server cannot be started here, or undefined when it can. */
export const redisUnavailable = (): string | undefined => {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (probe.error) return `redis-server cannot be started (${probe.error.message}); install the Debian package redis-server`
  if (probe.status !== 0) return `redis-server --version failed: ${probe.stderr.trim()}`
  return undefined
}

/**
 * A `before` hook body: in CI (CI=true) a missing redis-server fails the
 * suite; on a laptop the suite is skipped and the reason printed.
 */
export function requireRedis(this: Mocha.Context): void {
  const reason = redisUnavailable()
  if (reason === undefined) return
  if (process.env.CI === 'true') throw new Error(`CI needs redis-server for the Redis tests: ${reason}`)
  console.log(`      skipping the Redis tests: ${reason}`)
  this.skip()
}

export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      probe.close(() => resolve(port))
    })
  })

export type RedisOptions = {
  /** Keep an append-only file (appendfsync always), so that a restart keeps every write. */
  readonly appendOnly?: boolean
}

export type TestRedis = {
  readonly url: string
  readonly port: number
  /** Stops the server (SIGTERM: it saves what it keeps); resolves once it has exited. */
  readonly stop: () => Promise<void>
  /** Starts it again on the same port and directory: with its data, or `empty` as a server that lost it. */
  readonly start: (options?: { readonly empty?: boolean }) => Promise<void>
  /** Stops it for good and removes its directory. */
  readonly close: () => Promise<void>
}

/** Resolves once the server says it accepts connections; rejects if it exits first. */
const ready = (child: ChildProcess, output: () => string): Promise<void> =>
  new Promise((resolve, reject) => {
    const check = () => {
      if (!/Ready to accept connections/.test(output())) return
      child.stdout?.off('data', check)
      resolve()
    }
    child.stdout?.on('data', check)
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before it was ready:\n${output()}`)))
    check()
  })

export const startRedis = async (options: RedisOptions = {}): Promise<TestRedis> => {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'rms-redis-'))
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  const launch = async (): Promise<void> => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--protected-mode', 'no', '--daemonize', 'no', '--loglevel', 'notice']
    args.push(...(options.appendOnly === true ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']))
    const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    started.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    started.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
    child = started
    exited = new Promise((resolve) => started.once('exit', () => resolve()))
    await ready(started, () => output)
  }
  const stop = async (): Promise<void> => {
    if (child === undefined || child.exitCode !== null) return
    child.kill('SIGTERM')
    await exited
  }
  await launch()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    start: async (restart = {}) => {
      if (restart.empty === true) {
        rmSync(dir, { recursive: true, force: true })
        mkdirSync(dir, { recursive: true })
      }
      await launch()
    },
    close: async () => {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
