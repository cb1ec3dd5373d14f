import { readFileSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { DEFAULTS } from '../composition/config'
import { buildServers, START_FLAGS, startServer, type RunningServer } from './clients'

/*
 * `npx tsx bench/worst-case-memory.ts`: the most memory the default
 * configuration can be made to hold, measured on the real server.
 *
 * The server is compiled and started as `npm run bench` starts it (tsc's
 * output, `npm start`'s V8 flags, its own process, the default configuration
 * but for the loopback address and a free port) and filled over HTTP with
 * what costs the most to keep:
 *
 * - every channel (MAX_CHANNELS, with the longest names) full (MAX_MESSAGES),
 *   half of it messages of MAX_MESSAGE_LENGTH characters outside the Basic
 *   Multilingual Plane (two UTF-16 units each, and V8 keeps such a string at
 *   two bytes a unit: the costliest text there is, in the string and in its
 *   JSON alike), each from a different player with the longest name, in
 *   capital letters (so that the lower-case key is a second string), and a
 *   user id; the other half their automatic replies, which repeat the name;
 * - every stored message read in full pages, so that the JSON of each is
 *   written (and cached as far as the cache goes);
 * - every Idempotency-Key remembered (IDEMPOTENCY_KEYS_MAX, 255 characters
 *   each) for a send of that kind whose messages were read and then evicted;
 * - then MAX_STREAMS event streams and MAX_LONG_POLLS long polls held at
 *   once on top (streams from several loopback addresses, as a cap per
 *   address may apply).
 *
 * Before that, on a server of their own, up to 2,000 streams and then as many polls
 * give the cost of one of each, so that the worst case can also be stated as
 * store + MAX_LONG_POLLS × poll + MAX_STREAMS × stream for other settings.
 * Everything runs over loopback; every loop is bounded by the configuration.
 *
 * Memory is read from /proc/<pid>/status (VmRSS, and VmHWM, the most it was
 * at any moment) and from the server itself (heapUsed), after a full
 * collection. Arguments are passed to the server's node as V8 flags: with
 * `--max-old-space-size=256`, the old-space limit Node gives V8 in a 512 MB
 * container, it checks that the worst case also fits under that limit.
 */

const ROOT = join(__dirname, '..')

const CHANNELS = DEFAULTS.MAX_CHANNELS
const PER_CHANNEL = DEFAULTS.MAX_MESSAGES
const LENGTH = DEFAULTS.MAX_MESSAGE_LENGTH
const KEYS = DEFAULTS.IDEMPOTENCY_KEYS_MAX
/** Sends that fill every channel: each stores a message and its reply. */
const FILL_SENDS = CHANNELS * Math.ceil(PER_CHANNEL / 2)
/** Streams and polls held to measure one of each. */
const SAMPLE = Math.min(2_000, DEFAULTS.MAX_STREAMS, DEFAULTS.MAX_LONG_POLLS)
const STREAMS = DEFAULTS.MAX_STREAMS
const POLLS = DEFAULTS.MAX_LONG_POLLS
/** V8 flags for the server from the command line, such as --max-old-space-size=256. */
const EXTRA_FLAGS = process.argv.slice(2).filter((a) => a.startsWith('--'))
const WARM_UP_SENDS = 5_000
const CONCURRENCY = 16

// ---------------------------------------------------------------------------------------------
// What is sent: the longest of everything, each text and name its own string

const NAME_MAX = 50
const CHANNEL_MAX = 32
const KEY_MAX = 255

/** Deseret capitals (U+10400…U+10427): letters outside the BMP whose lower case differs. */
const deseret = (i: number): string => String.fromCodePoint(0x10400 + (i % 40))
/** Mathematical bold digits (U+1D7CE…U+1D7D7): digits outside the BMP. */
const boldDigits = (n: number): string => [...String(n)].map((d) => String.fromCodePoint(0x1d7ce + Number(d))).join('')

const playerName = (n: number): string => {
  let suffix = ''
  for (let rest = n, i = 0; i < 4; i++, rest = Math.floor(rest / 40)) suffix += deseret(rest)
  return deseret(7).repeat(NAME_MAX - 4) + suffix
}
const text = (n: number): string => {
  const head = boldDigits(n) + ' '
  return head + '😀'.repeat(LENGTH - [...head].length)
}
const channelName = (c: number): string => `channel-${String(c).padStart(3, '0')}-`.padEnd(CHANNEL_MAX, 'x')
const key = (n: number): string => `key-${n}-`.padEnd(KEY_MAX, 'k')

// ---------------------------------------------------------------------------------------------
// The server

type Server = RunningServer

/** Ours, compiled, as `npm run bench` starts it; with the V8 flags given on the command line. */
const start = (): Promise<Server> => startServer('ours', EXTRA_FLAGS)

type Memory = { readonly rss: number; readonly heap: number }

const statusKb = (pid: number, field: string): number => {
  const found = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  if (found === null) throw new Error(`no ${field} in /proc/${pid}/status`)
  return Number(found[1]) * 1024
}

/** heapUsed after a full collection (the server collects before it answers), then VmRSS. */
const memory = async (server: Server): Promise<Memory> => {
  const heap = await server.ask('heap')
  return { rss: statusKb(server.pid, 'VmRSS'), heap }
}

// ---------------------------------------------------------------------------------------------
// HTTP

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY })

const call = (port: number, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> =>
  new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, agent, headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })

type Sent = { message: { id: number }; auto_reply: { id: number } | null }

const send = async (port: number, n: number, channel: number, idempotencyKey?: string): Promise<Sent> => {
  const body = JSON.stringify({ player_name: playerName(n), message: text(n), channel: channelName(channel), user_id: 9_007_199_254_000_000 + n })
  const answer = await call(port, 'POST', '/api/send', body, idempotencyKey === undefined ? {} : { 'idempotency-key': idempotencyKey })
  if (answer.status !== 200) throw new Error(`send ${n} answered ${answer.status}: ${answer.text.slice(0, 300)}`)
  return JSON.parse(answer.text) as Sent
}

/** `count` sends numbered from `first`, spread over the first `channels` channels in turn, `CONCURRENCY` at a time. */
const sendMany = async (port: number, first: number, count: number, keyed: boolean, channels: number = CHANNELS): Promise<number> => {
  let next = 0
  let newest = 0
  const worker = async () => {
    while (next < count) {
      const i = next++
      const n = first + i
      const sent = await send(port, n, i % channels, keyed ? key(n) : undefined)
      newest = Math.max(newest, sent.auto_reply?.id ?? sent.message.id)
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  return newest
}

/** Reads every channel's whole page, so that the JSON of every stored message is written and cached. */
const readAll = async (port: number): Promise<number> => {
  let messages = 0
  for (let c = 0; c < CHANNELS; c++) {
    const answer = await call(port, 'GET', `/api/messages?channel=${channelName(c)}&limit=${PER_CHANNEL}`)
    if (answer.status !== 200) throw new Error(`reading ${channelName(c)} answered ${answer.status}`)
    messages += (JSON.parse(answer.text) as { count: number }).count
  }
  return messages
}

/** A raw request on its own socket, read and otherwise left alone: a held long poll or an open stream. */
const hold = (port: number, path: string, localAddress: string): Promise<Socket> =>
  new Promise((connected, failed) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress })
    socket.on('data', () => undefined)
    socket.once('error', failed)
    socket.once('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      connected(socket)
    })
  })

const until = async (condition: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> => {
  const deadline = Date.now() + ms
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 5))
  }
}

/**
 * Opens `count` requests in waves, each from a loopback address of its own
 * for every PER_ADDRESS of them (the server may cap streams per address),
 * and waits until the server holds them all.
 */
const holdMany = async (server: Server, count: number, path: string, base: number, addressBlock: number): Promise<Socket[]> => {
  const PER_ADDRESS = 40
  const WAVE = 200
  const sockets: Socket[] = []
  for (let opened = 0; opened < count; opened += WAVE) {
    const wave = Math.min(WAVE, count - opened)
    sockets.push(
      ...(await Promise.all(
        Array.from({ length: wave }, (_, i) => {
          const a = Math.floor((opened + i) / PER_ADDRESS)
          return hold(server.port, path, `127.${addressBlock}.${Math.floor(a / 250) + 1}.${(a % 250) + 1}`)
        }),
      )),
    )
    await until(async () => (await server.ask('waiters')) >= base + opened + wave, `the server to hold ${opened + wave} of ${path}`)
  }
  return sockets
}

// ---------------------------------------------------------------------------------------------
// Printing

const MB = 1024 * 1024
const mb = (bytes: number): string => (bytes / MB).toFixed(1)
const kb = (bytes: number): string => (bytes / 1024).toFixed(1)
const measured = async (server: Server, what: string): Promise<Memory> => {
  const m = await memory(server)
  console.log(`  ${what.padEnd(62)} VmRSS ${mb(m.rss).padStart(7)} MB   heapUsed ${mb(m.heap).padStart(7)} MB   VmHWM so far ${mb(statusKb(server.pid, 'VmHWM')).padStart(7)} MB`)
  return m
}

/**
 * Streams, then long polls, held on a server of their own: what one of each
 * costs. It is warmed up first with sends to one channel (which holds at most
 * MAX_MESSAGES), so that the young generation, pinned at its full size, has
 * been used through before the first measure and does not show as their cost.
 */
const perConnection = async (): Promise<{ stream: Memory; poll: Memory }> => {
  const server = await start()
  try {
    const channel = channelName(0)
    const newest = await sendMany(server.port, 0, WARM_UP_SENDS, false, 1)
    const before = await measured(server, `a fresh server after ${WARM_UP_SENDS} sends to one channel`)
    const streams = await holdMany(server, SAMPLE, `/api/stream?channel=${channel}`, 0, 1)
    const withStreams = await measured(server, `+ ${SAMPLE} open event streams`)
    // Polls are answered after the longest wait (25 s): they are opened and measured well within it.
    const polls = await holdMany(server, SAMPLE, `/api/messages?channel=${channel}&after=${newest}&wait=${DEFAULTS.LONG_POLL_MAX_SECONDS}`, SAMPLE, 2)
    const withPolls = await measured(server, `+ ${SAMPLE} held long polls`)
    for (const s of [...polls, ...streams]) s.destroy()
    await until(async () => (await server.ask('waiters')) === 0, 'every poll and stream to be let go')
    return {
      stream: { rss: (withStreams.rss - before.rss) / SAMPLE, heap: (withStreams.heap - before.heap) / SAMPLE },
      poll: { rss: (withPolls.rss - withStreams.rss) / SAMPLE, heap: (withPolls.heap - withStreams.heap) / SAMPLE },
    }
  } finally {
    await server.stop()
  }
}

type WorstCase = { idle: Memory; full: Memory; all: Memory; keysOnly: Memory; peak: number }

/** The store and the keys filled as badly as they can be, then every stream and poll held on top. */
const worstCase = async (): Promise<WorstCase> => {
  const server = await start()
  try {
    const idle = await measured(server, 'started, empty')

    // 1. Every key used by a send whose messages are read (their JSON written) and then evicted.
    await sendMany(server.port, 0, KEYS, true)
    await readAll(server.port)
    const replay = await send(server.port, 0, 0, key(0))
    if (replay.message.id > 2 * KEYS) throw new Error('the first key was not replayed')
    await measured(server, `${KEYS} keyed sends, stored and read`)

    // 2. Every channel filled with unkeyed sends, which evicts all the keyed ones, and read in full.
    const newest = await sendMany(server.port, KEYS, FILL_SENDS, false)
    const read = await readAll(server.port)
    if (read !== CHANNELS * PER_CHANNEL) throw new Error(`expected ${CHANNELS * PER_CHANNEL} stored messages, read ${read}`)
    const again = await send(server.port, 0, 0, key(0))
    if (again.message.id !== replay.message.id) throw new Error(`a key's conversation was not kept: ${again.message.id} ≠ ${replay.message.id}`)
    const full = await measured(server, `+ ${FILL_SENDS} sends: ${CHANNELS} channels × ${PER_CHANNEL} messages, read`)

    // 3. Every stream and every poll the configuration allows, held at once, spread over the channels.
    const streams = await holdMany(server, STREAMS, `/api/stream?channel=${channelName(0)}`, 0, 1)
    const polls = await holdMany(server, POLLS, `/api/messages?channel=${channelName(1)}&after=${newest}&wait=${DEFAULTS.LONG_POLL_MAX_SECONDS}`, STREAMS, 2)
    const all = await measured(server, `+ ${STREAMS} event streams and ${POLLS} long polls held`)
    for (const s of [...polls, ...streams]) s.destroy()
    await until(async () => (await server.ask('waiters')) === 0, 'every poll and stream to be let go')

    // 4. The store cleared: what is left is the keys' share (and the bounded JSON cache).
    const cleared = await call(server.port, 'POST', '/api/clear')
    if (cleared.status !== 200) throw new Error(`clear answered ${cleared.status}`)
    const keysOnly = await measured(server, 'streams and polls let go, store cleared, keys kept')
    return { idle, full, all, keysOnly, peak: statusKb(server.pid, 'VmHWM') }
  } finally {
    agent.destroy()
    await server.stop()
  }
}

const main = async (): Promise<void> => {
  const t0 = Date.now()
  console.log('Compiling the server (bench/tsconfig.json) …')
  buildServers()
  console.log(
    `Default configuration: MAX_CHANNELS ${CHANNELS}, MAX_MESSAGES ${PER_CHANNEL}, MAX_MESSAGE_LENGTH ${LENGTH}, IDEMPOTENCY_KEYS_MAX ${KEYS}, ` +
      `AUTO_REPLY ${JSON.stringify(DEFAULTS.AUTO_REPLY)}, MAX_LONG_POLLS ${POLLS}, MAX_STREAMS ${STREAMS}; node flags ${['--expose-gc', ...START_FLAGS, ...EXTRA_FLAGS].join(' ')}`,
  )
  console.log(
    `Each send: a ${LENGTH}-character text, ${[...text(0)].filter((c) => c.length === 2).length} of its characters outside the BMP (${text(0).length} UTF-16 units), ` +
      `a ${NAME_MAX}-character name (${playerName(0).length} units), a ${CHANNEL_MAX}-character channel, a user id.`,
  )
  console.log()
  console.log('One stream and one poll:')
  const one = await perConnection()
  console.log()
  console.log('The worst case:')
  const w = await worstCase()
  const heap = (from: Memory, to: Memory): number => to.heap - from.heap
  const store = heap(w.keysOnly, w.full)
  const keys = heap(w.idle, w.keysOnly)
  const connections = w.all.rss - w.full.rss
  const formula = w.full.rss + POLLS * one.poll.rss + STREAMS * one.stream.rss

  console.log()
  // A clear frees heap that V8 keeps as resident memory, so the store and the keys are told apart by heapUsed.
  console.log('Shares (VmRSS also counts what V8 keeps reserved; a clear frees heap but not resident memory, so store and keys are split by heapUsed):')
  console.log(`  the process, empty                       VmRSS ${mb(w.idle.rss)} MB, heap ${mb(w.idle.heap)} MB`)
  console.log(`  the store, ${CHANNELS} × ${PER_CHANNEL} messages            heap ${mb(store)} MB = ${kb(store / FILL_SENDS)} KB per send (a message and its reply)`)
  console.log(`  ${KEYS} idempotency keys                 heap ${mb(keys)} MB = ${kb(keys / KEYS)} KB per key (and the bounded JSON cache)`)
  console.log(`  store and keys together                  VmRSS ${mb(w.full.rss - w.idle.rss)} MB over the empty process`)
  console.log(`  one open event stream                    VmRSS ${kb(one.stream.rss)} KB, heap ${kb(one.stream.heap)} KB`)
  console.log(`  one held long poll                       VmRSS ${kb(one.poll.rss)} KB, heap ${kb(one.poll.heap)} KB`)
  console.log(`  ${STREAMS} streams and ${POLLS} polls on the full server  VmRSS ${mb(connections)} MB, heap ${mb(heap(w.full, w.all))} MB`)
  console.log()
  console.log(`Worst case of the default configuration, measured: VmRSS ${mb(w.all.rss)} MB, heapUsed ${mb(w.all.heap)} MB; the most resident at any moment (VmHWM) ${mb(w.peak)} MB`)
  console.log(
    `  by the formula: ${mb(w.full.rss)} MB (store and keys full) + ${POLLS} polls × ${kb(one.poll.rss)} KB + ${STREAMS} streams × ${kb(one.stream.rss)} KB = ${mb(formula)} MB`,
  )
  console.log(`(measured in ${((Date.now() - t0) / 1000).toFixed(0)} s)`)
}

main().catch((err: unknown) => {
  console.error(err)
  process.exit(1)
})
