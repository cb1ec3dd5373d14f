import pino, { type DestinationStream, type Logger as Pino } from 'pino'

/*
 * The server's log, kept by pino: one JSON object per line (level, time in
 * ms since the epoch, pid, hostname, msg and the event's fields), for a log
 * system to read; or, with the pretty format, the same events for a person
 * at a terminal (pino-pretty).
 *
 * A request's line must cost a send little, so lines are not written one by
 * one: they are gathered for at most 50 ms (or 64 KiB, some three hundred
 * and fifty lines) and handed to pino's own writer (sonic-boom, which deals
 * with partial writes and EAGAIN) in one piece, written synchronously: one
 * write(2) of 64 KiB holds the event loop for microseconds, a reader of the log that
 * stalls holds the server rather than growing its memory without bound,
 * and nothing goes through the thread pool. Measured on this machine, pino's
 * default (an asynchronous write per line or two) cost about 3 µs of CPU a
 * line besides its JSON; gathered and written at once, under half a
 * microsecond. What is still held when the process exits is written on its
 * way out (main.ts exits through process.exit, SIGTERM included).
 */

export type LogOptions = {
  readonly level: string
  readonly format: 'json' | 'pretty'
  /** Where the lines go; standard output by default. */
  readonly destination?: DestinationStream
}

export type { Pino }

/** A request's log line: its fields, as `logger.info(fields, 'request')` takes them. */
export type RequestFields = {
  readonly request_id: string
  readonly method: string
  readonly route: string
  readonly status: number
  readonly duration_ms: number
  readonly key: string | undefined
}

/**
 * Writes a request's line as pino writes `logger[level](fields, 'request')`,
 * to the logger's own stream, with its time, bindings and message key, for
 * a logger without formatters, mixins or redaction (as createLogger makes
 * one): pino's general serialisation cost a send 2.7 µs, this line 0.4 µs. A
 * test holds the two equal over generated fields. The request id, method
 * and route need no escaping (the door accepts only ids of safe characters,
 * node only token methods, and routes are our templates); the key label is
 * escaped.
 */
export const requestWriter = (logger: Pino, level: 'info' | 'debug'): ((fields: RequestFields) => void) => {
  const stream = (logger as unknown as Record<symbol, { write: (line: string) => void }>)[pino.symbols.streamSym] as { write: (line: string) => void }
  const time = (logger as unknown as Record<symbol, () => string>)[pino.symbols.timeSym] as () => string
  const chindings = (logger as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] as string
  const messageKey = JSON.stringify((logger as unknown as Record<symbol, string>)[pino.symbols.messageKeySym])
  const head = `{"level":${logger.levels.values[level]}`
  return (f) =>
    stream.write(
      `${head}${time()}${chindings},"request_id":"${f.request_id}","method":"${f.method}","route":"${f.route}","status":${f.status},"duration_ms":${f.duration_ms}` +
        `${f.key === undefined ? '' : `,"key":${JSON.stringify(f.key)}`},${messageKey}:"request"}\n`,
    )
}

export const createLogger = (options: LogOptions): Pino => {
  if (options.destination !== undefined) return pino({ level: options.level }, options.destination)
  if (options.format === 'pretty') return pino({ level: options.level }, pretty())
  return pino({ level: options.level }, batched(pino.destination({ dest: 1, sync: true, contentMode: 'buffer' }) as unknown as BatchTarget))
}

/** Lines are handed on together once this many bytes wait (some three hundred and fifty request lines), or after BATCH_MS. */
const BATCH_BYTES = 64 * 1024
const BATCH_MS = 50
/** The most bytes UTF-8 takes for one UTF-16 unit of a JavaScript string. */
const MAX_BYTES_PER_UNIT = 3

/** Where a batch goes: a sonic-boom in buffer mode, which writes a Buffer whole (partial writes, EAGAIN on a pipe) and keeps it until written. */
export type BatchTarget = { readonly write: (bytes: Buffer) => unknown; readonly flushSync: () => void }

/**
 * A destination that gathers lines and hands them to `to` together: once
 * BATCH_BYTES wait, or BATCH_MS after the first of them, and on exit. Each
 * line is encoded straight into the batch's Buffer as it comes: joining the
 * lines into one string and encoding that when it is written cost a request
 * over a microsecond more (bench/README.md, logs and metrics), most of what
 * the log costs. Each batch handed on is a Buffer of its own, never written
 * into again, as the target may keep it until the descriptor takes it.
 */
export const batched = (to: BatchTarget): DestinationStream => {
  let batch = Buffer.allocUnsafe(BATCH_BYTES)
  let used = 0
  let timer: NodeJS.Timeout | undefined
  const hand = (): void => {
    if (timer !== undefined) {
      clearTimeout(timer)
      timer = undefined
    }
    if (used === 0) return
    const full = batch.subarray(0, used)
    batch = Buffer.allocUnsafe(BATCH_BYTES)
    used = 0
    to.write(full)
  }
  process.once('exit', () => {
    hand()
    try {
      to.flushSync()
    } catch {
      // Nothing more can be done for the log of a process that is ending.
    }
  })
  return {
    write: (line: string) => {
      const most = line.length * MAX_BYTES_PER_UNIT
      if (used + most > BATCH_BYTES) hand()
      // A line longer than a batch (an error's long stack) goes on its own, after what came before it.
      if (most > BATCH_BYTES) return void to.write(Buffer.from(line, 'utf8'))
      used += batch.write(line, used, 'utf8')
      if (timer === undefined) {
        timer = setTimeout(hand, BATCH_MS)
        timer.unref()
      }
    },
  }
}

/** pino-pretty, loaded only when asked for: a JSON log never needs it. Synchronous, as a person reads it as it comes. */
const pretty = (): DestinationStream => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const build = require('pino-pretty') as (options: { colorize: boolean; translateTime: string; ignore: string; destination: number; sync: boolean }) => DestinationStream
  return build({ colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', destination: 1, sync: true })
}
