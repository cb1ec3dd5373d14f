import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { until, type PollResult } from './clients'
import { holdAndFire, rawPost, type FanoutClient } from './fanout'

/*
 * The servers the bench starts that are not Node: a redis-server for ours on
 * Redis, and nginx with the Nchan module as the C reference for the long-poll
 * fan-out. Each runs on a free loopback port, in a temporary directory of its
 * own, and is stopped (and its directory removed) when the bench is done, or
 * when it exits early. Either may be missing: `…Unavailable()` says why, and
 * the bench then skips what needs it.
 */

/** Every process started here, and its directory, stopped and removed when this process exits however it exits. */
/** What is still running, with the signal that stops it when this process exits without stopping it. */
const started = new Map<ChildProcess, NodeJS.Signals>()
const directories = new Set<string>()
process.once('exit', () => {
  for (const [child, signal] of started) if (child.exitCode === null && child.signalCode === null) child.kill(signal)
  for (const dir of directories) rmSync(dir, { recursive: true, force: true })
})

const temporaryDirectory = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  directories.add(dir)
  return dir
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

type External = { readonly child: ChildProcess; readonly output: () => string; readonly exited: Promise<void> }

/**
 * `atExit` is how it is stopped if this process exits first: SIGKILL for
 * redis-server, one process; SIGTERM for nginx, whose master then stops its
 * worker (a master killed outright leaves the worker running, listening,
 * parented to init).
 */
const launch = (command: string, args: ReadonlyArray<string>, atExit: NodeJS.Signals): External => {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  started.set(child, atExit)
  let output = ''
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-20_000)))
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output = (output + chunk).slice(-20_000)))
  const exited = new Promise<void>((resolve) => child.once('exit', () => (started.delete(child), resolve())))
  return { child, output: () => output, exited }
}

const stopped = async (external: External, signal: NodeJS.Signals): Promise<void> => {
  if (external.child.exitCode === null && external.child.signalCode === null) external.child.kill(signal)
  await external.exited
}

// ---------------------------------------------------------------------------------------------
// redis-server

/** How the bench's Redis runs: no snapshots, no append-only file, so that the comparison with memory is of speed, not of durability. */
export const REDIS_PERSISTENCE = "--save '' --appendonly no (no persistence)"

/** Why redis-server cannot be started here, or undefined when it can. */
export const redisUnavailable = (): string | undefined => {
  const probe = spawnSync('redis-server', ['--version'], { encoding: 'utf8' })
  if (probe.error) return `redis-server cannot be started (${probe.error.message}); install Debian's redis-server`
  if (probe.status !== 0) return `redis-server --version failed: ${probe.stderr.trim()}`
  return undefined
}

export type BenchRedis = {
  readonly url: string
  readonly version: string
  /** Its CPU time so far, in µs. */
  readonly cpu: () => number
  readonly stop: () => Promise<void>
}

export const startRedis = async (): Promise<BenchRedis> => {
  const port = await freePort()
  const dir = temporaryDirectory('bench-redis-')
  const version = /v=(\S+)/.exec(spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? 'unknown'
  const redis = launch('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no'], 'SIGKILL')
  const stop = async (): Promise<void> => {
    await stopped(redis, 'SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (/Ready to accept connections/.test(redis.output())) resolve()
      }
      redis.child.stdout?.on('data', check)
      void redis.exited.then(() => reject(new Error(`redis-server exited before it was ready:\n${redis.output()}`)))
      setTimeout(() => reject(new Error(`redis-server was not ready within 10 s:\n${redis.output()}`)), 10_000).unref()
      check()
    })
  } catch (err) {
    await stop()
    throw err
  }
  return { url: `redis://127.0.0.1:${port}`, version, cpu: () => cpuMicrosOf(redis.child.pid), stop }
}

// ---------------------------------------------------------------------------------------------
// nginx with Nchan

export const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so'

/** Why nginx with Nchan cannot be started here, or undefined when it can. */
export const nginxUnavailable = (): string | undefined => {
  const probe = spawnSync('nginx', ['-v'], { encoding: 'utf8' })
  if (probe.error) return `nginx cannot be started (${probe.error.message}); install Debian's nginx and libnginx-mod-nchan`
  if (!existsSync(NCHAN_MODULE)) return `${NCHAN_MODULE} is missing; install Debian's libnginx-mod-nchan`
  return undefined
}

/**
 * The configuration: one worker, a publisher and a long-poll subscriber
 * location for one channel. A subscriber waits for the next message
 * (`newest`), not the last one kept, so each round's subscribers wait for
 * that round's message.
 */
const nginxConfig = (dir: string, port: number, connections: number): string => `load_module ${NCHAN_MODULE};
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile ${connections + 1_000};
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events {
    worker_connections ${connections + 500};
}
http {
    access_log off;
    client_body_temp_path ${dir}/client_body;
    proxy_temp_path ${dir}/proxy;
    fastcgi_temp_path ${dir}/fastcgi;
    uwsgi_temp_path ${dir}/uwsgi;
    scgi_temp_path ${dir}/scgi;
    server {
        listen 127.0.0.1:${port};
        location = /pub {
            nchan_publisher;
            nchan_channel_id bench;
        }
        location = /sub {
            nchan_subscriber longpoll;
            nchan_channel_id bench;
            nchan_subscriber_first_message newest;
        }
    }
}
`

export type BenchNginx = {
  readonly name: 'nginx+nchan'
  readonly port: number
  readonly version: string
  /** The configuration it runs, for the record. */
  readonly config: string
  /** Subscribers the channel has now (the publisher location's channel info). */
  readonly subscribers: () => Promise<number>
  readonly stop: () => Promise<void>
}

/** One GET or POST on the publisher location: its status and body. */
const publisher = (port: number, method: 'GET' | 'POST', body?: string): Promise<{ status: number; text: string }> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/pub', method, headers: { accept: 'text/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
    req.end(body)
  })

export const startNginx = async (connections: number): Promise<BenchNginx> => {
  const port = await freePort()
  const dir = temporaryDirectory('bench-nginx-')
  // Started as root, the worker runs as nobody: it must be able to reach its temporary directories.
  chmodSync(dir, 0o755)
  const config = nginxConfig(dir, port, connections)
  writeFileSync(join(dir, 'nginx.conf'), config)
  const version = (spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim().split('/')[1] ?? 'unknown').trim()
  const nginx = launch('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], 'SIGTERM')
  const stop = async (): Promise<void> => {
    // SIGTERM: a fast shutdown of the master and its worker.
    await stopped(nginx, 'SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
  const subscribers = async (): Promise<number> => {
    const info = await publisher(port, 'GET')
    if (info.status === 404) return 0 // no channel yet: no one has subscribed or published
    const count = /"subscribers":\s*(\d+)/.exec(info.text)
    if (info.status !== 200 || count === null) throw new Error(`nchan's channel info answered ${info.status}: ${info.text}`)
    return Number(count[1])
  }
  try {
    let up = false
    await until(
      async () => {
        if (nginx.child.exitCode !== null) throw new Error(`nginx exited (${nginx.child.exitCode}):\n${nginx.output()}`)
        up = await subscribers().then(
          () => true,
          () => false,
        )
        return up
      },
      'nginx to answer',
      10_000,
    )
  } catch (err) {
    await stop()
    throw err
  }
  return { name: 'nginx+nchan', port, version, config, subscribers, stop }
}

/** What nchan is given to publish: the size and shape of ours' answer to a woken long poll (a page of a message and its reply). */
const NCHAN_MESSAGE = JSON.stringify({
  success: true,
  count: 2,
  messages: [
    { id: 1, player_name: 'Player123', message: 'Hello from Roblox!', timestamp: new Date(0).toISOString(), type: 'player', channel: 'global' },
    { id: 2, player_name: 'Server', message: 'Hello Player123!', timestamp: new Date(0).toISOString(), type: 'reply', channel: 'global', reply_to: 1 },
  ],
  next_after: 2,
  has_more: false,
  gap: false,
  epoch: 'bench000',
})

/**
 * The long-poll fan-out on nchan, as ours is measured (bench/run.ts,
 * oursFanOut): `count` subscribers held by the C client, one message
 * published, and the time from the publish to the last complete answer.
 * Memory is not measured here (0).
 */
export const nchanPolls = async (client: FanoutClient, nginx: BenchNginx, count: number): Promise<PollResult> => {
  await until(async () => (await nginx.subscribers()) === 0, 'nginx+nchan to hold no subscribers before the test')
  const fired = await holdAndFire(client, {
    ports: [nginx.port],
    path: '/sub',
    count,
    heldNow: () => nginx.subscribers(),
    what: 'nginx+nchan',
    firePort: nginx.port,
    request: rawPost(nginx.port, '/pub', NCHAN_MESSAGE, { Accept: 'text/json' }),
  })
  if (fired.firstBody !== NCHAN_MESSAGE) throw new Error(`nginx+nchan: the subscribers were answered with something other than the message: ${fired.firstBody.slice(0, 200)}`)
  return { delayMs: fired.delayMs, rssBytes: 0, heapBytes: 0 }
}

const CLOCK_TICKS = Number((spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout ?? '').trim()) || 100

/** CPU time (user and system) a process has used so far, in µs, from /proc (to the clock tick); 0 when it cannot be read. */
export const cpuMicrosOf = (pid: number | undefined): number => {
  if (pid === undefined) return 0
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // After the name: state is field 3, utime 14 and stime 15 (1-based over the whole line).
    return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS
  } catch {
    return 0
  }
}
