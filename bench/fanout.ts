import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { CONNECT_WAVE, until } from './clients'

/*
 * The fan-out phase's client: bench/fanout-client.c, compiled here with the
 * machine's C compiler and driven over its stdin and stdout (the protocol is
 * in its header). Holding 5,000 polls and reading their answers costs a Node
 * client about as much CPU as answering them costs a server, on the same two
 * cores; the C client spends a few microseconds an answer, so the delay it
 * times is the servers'.
 */

const ROOT = join(__dirname, '..')
const BINARY = join(ROOT, '.bench-tmp', 'fanout-client')
const SOURCE = join(ROOT, 'bench', 'fanout-client.c')

/** Why the C client cannot be built here, or undefined when it can. */
export const compilerUnavailable = (): string | undefined => {
  const probe = spawnSync('cc', ['--version'], { encoding: 'utf8' })
  if (probe.error) return `no C compiler (cc: ${probe.error.message}); install Debian's gcc`
  return undefined
}

export const buildFanoutClient = (): void => {
  mkdirSync(join(ROOT, '.bench-tmp'), { recursive: true })
  execFileSync('cc', ['-O2', '-Wall', '-o', BINARY, SOURCE], { stdio: 'inherit' })
}

export type Fired = {
  /** From the write of the request that answers them to the last complete answer. */
  readonly delayMs: number
  readonly answers: number
  readonly notOk: number
  /** How many different bodies the answers had (1: all the same). */
  readonly distinctBodies: number
  /** The client's own CPU time over that delay. */
  readonly clientCpuMs: number
  readonly firstBody: string
}

export type FanoutClient = {
  /** Opens `count` long polls on a port; resolves once every request is written. */
  readonly open: (port: number, count: number, path: string) => Promise<void>
  /** Sends `request` (raw HTTP) to `port` and resolves once every held poll is answered. */
  readonly fire: (port: number, request: string) => Promise<Fired>
  readonly close: () => Promise<void>
  readonly stop: () => void
}

export const startFanoutClient = (): FanoutClient => {
  const child: ChildProcess = spawn(BINARY, [], { stdio: ['pipe', 'pipe', 'inherit'] })
  let buffered = Buffer.alloc(0)
  let waiting: { resolve: (lines: Buffer) => void; reject: (err: Error) => void; complete: (b: Buffer) => number } | undefined
  const settle = (): void => {
    if (waiting === undefined) return
    const used = waiting.complete(buffered)
    if (used < 0) return
    const answer = buffered.subarray(0, used)
    buffered = buffered.subarray(used)
    const w = waiting
    waiting = undefined
    const text = answer.toString('utf8')
    if (text.startsWith('error ')) w.reject(new Error(`the fan-out client: ${text.trim()}`))
    else w.resolve(answer)
  }
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk])
    settle()
  })
  child.on('exit', (code) => waiting?.reject(new Error(`the fan-out client exited (${code})`)))
  /** One line, or for `fired`, its three lines: the figures, "body <n>" and n bytes and a line feed. */
  const oneLine = (b: Buffer): number => {
    const nl = b.indexOf(10)
    return nl < 0 ? -1 : nl + 1
  }
  const firedAnswer = (b: Buffer): number => {
    const first = oneLine(b)
    if (first < 0) return -1
    if (b.subarray(0, first).toString().startsWith('error ')) return first
    const second = b.indexOf(10, first)
    if (second < 0) return -1
    const length = Number(/^body (\d+)/.exec(b.subarray(first, second).toString())?.[1])
    const end = second + 1 + length + 1
    return b.length >= end ? end : -1
  }
  const ask = (command: Buffer | string, complete: (b: Buffer) => number): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      waiting = { resolve, reject, complete }
      child.stdin?.write(command)
      settle()
    })
  return {
    open: async (port, count, path) => {
      await ask(`open ${port} ${count} ${path}\n`, oneLine)
    },
    fire: async (port, request) => {
      const bytes = Buffer.from(request, 'utf8')
      const answer = await ask(Buffer.concat([Buffer.from(`fire ${port} ${bytes.length}\n`), bytes]), firedAnswer)
      const first = answer.indexOf(10)
      const [, us, answers, notOk, distinct, cpu] = answer.subarray(0, first).toString().trim().split(' ').map(Number)
      const second = answer.indexOf(10, first + 1)
      return {
        delayMs: (us as number) / 1000,
        answers: answers as number,
        notOk: notOk as number,
        distinctBodies: distinct as number,
        clientCpuMs: (cpu as number) / 1000,
        firstBody: answer.subarray(second + 1, answer.length - 1).toString('utf8'),
      }
    },
    close: async () => {
      await ask('close\n', oneLine)
    },
    stop: () => {
      child.stdin?.end()
      child.kill()
    },
  }
}

export type FanOut = {
  /** The ports the polls are spread over, poll i to port i mod n. */
  readonly ports: ReadonlyArray<number>
  readonly path: string
  readonly count: number
  /** How many polls the server (all its processes) holds now. */
  readonly heldNow: () => Promise<number>
  readonly what: string
  /** Called once every poll is held, before the request that answers them is sent (to measure memory). */
  readonly whenHeld?: () => Promise<void>
  /** Called once every poll is answered, before they are closed (to measure the CPU time the answers took). */
  readonly whenAnswered?: () => Promise<void>
  /** Where that request goes, and the request itself, raw. */
  readonly firePort: number
  readonly request: string
}

/**
 * Holds `count` polls in waves, each once the server says it holds the
 * previous ones (the kernel completes a connection before the server accepts
 * it: connecting faster overflows the accept queue), fires the request, and
 * closes them all once answered.
 */
export const holdAndFire = async (client: FanoutClient, f: FanOut): Promise<Fired> => {
  try {
    for (let opened = 0; opened < f.count; opened += CONNECT_WAVE) {
      const wave = Math.min(CONNECT_WAVE, f.count - opened)
      for (let j = 0; j < f.ports.length; j++) {
        // Polls opened + 0 … opened + wave - 1 whose index mod n is j.
        let n = 0
        for (let i = opened; i < opened + wave; i++) if (i % f.ports.length === j) n++
        if (n > 0) await client.open(f.ports[j] as number, n, f.path)
      }
      await until(async () => (await f.heldNow()) >= opened + wave, `${f.what} to hold ${opened + wave} long polls`)
    }
    await f.whenHeld?.()
    const fired = await client.fire(f.firePort, f.request)
    await f.whenAnswered?.()
    if (fired.answers !== f.count) throw new Error(`${f.what}: ${fired.answers} of ${f.count} long polls were answered`)
    if (fired.notOk > 0) throw new Error(`${f.what}: ${fired.notOk} of ${f.count} long polls were answered with another status than 200: ${fired.firstBody.slice(0, 200)}`)
    if (fired.distinctBodies !== 1) throw new Error(`${f.what}: the long polls were not all answered with the same body`)
    return fired
  } finally {
    await client.close()
  }
}

/** A raw HTTP/1.1 POST of a JSON body, closing its connection once answered. */
export const rawPost = (port: number, path: string, body: string, headers: Readonly<Record<string, string>> = {}): string =>
  [
    `POST ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    'Content-Type: application/json',
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n')
