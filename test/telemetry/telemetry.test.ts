import { expect } from 'chai'
import * as fc from 'fast-check'
import pino from 'pino'
import { Histogram, Registry } from 'prom-client'
import { batched, requestWriter, type BatchTarget, type RequestFields } from '../../adapters/telemetry/logger'
import { BucketHistogram } from '../../adapters/telemetry/metrics'

/*
 * What the telemetry adapter writes by hand for speed, held equal to what
 * its libraries write: a request's log line to pino's own, a histogram's
 * exposition to prom-client's; and the batching of log lines.
 */

const capture = () => {
  const lines: string[] = []
  return { lines, logger: pino({ level: 'info' }, { write: (line: string) => void lines.push(line) }) }
}

describe('telemetry: the request log line', () => {
  const fields: fc.Arbitrary<RequestFields> = fc.record({
    request_id: fc.oneof(fc.uuid(), fc.stringMatching(/^[A-Za-z0-9._:;=+/@-]{1,128}$/)),
    method: fc.constantFrom('GET', 'POST', 'HEAD', 'OPTIONS', 'DELETE'),
    route: fc.constantFrom('/api/send', '/api/messages', '/api/messages/:player_name', 'static', 'unmatched'),
    status: fc.integer({ min: 100, max: 599 }),
    duration_ms: fc.oneof(fc.integer({ min: 0, max: 100_000 }).map((n) => n / 1000), fc.constant(0), fc.double({ min: 0, max: 1e6, noNaN: true }).map((n) => Math.round(n * 1000) / 1000)),
    key: fc.option(fc.string({ maxLength: 70 }), { nil: undefined }),
  })

  it("is written as pino writes logger.info(fields, 'request'), whatever the fields", () => {
    const { lines, logger } = capture()
    const write = requestWriter(logger, 'info')
    fc.assert(
      fc.property(fields, (f) => {
        lines.length = 0
        logger.info(f, 'request')
        write(f)
        const [byPino, byHand] = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
        // The same keys in the same order and the same values; only the time may have moved on.
        expect(Object.keys(byHand as object)).to.deep.equal(Object.keys(byPino as object))
        expect({ ...byHand, time: 0 }).to.deep.equal({ ...byPino, time: 0 })
        expect(lines[1]?.endsWith('}\n')).to.equal(true)
      }),
      { numRuns: 500 },
    )
  })

  it("follows the logger's bindings and level", () => {
    const lines: string[] = []
    const logger = pino({ level: 'debug', base: { service: 'rms' } }, { write: (line: string) => void lines.push(line) })
    requestWriter(logger, 'debug')({ request_id: 'a', method: 'GET', route: '/healthz', status: 200, duration_ms: 0.1, key: undefined })
    expect(JSON.parse(lines[0] as string)).to.deep.include({ level: 20, service: 'rms', msg: 'request' })
  })
})

describe('telemetry: log lines written together', () => {
  const target = () => {
    // The Buffers themselves, kept as a descriptor that has not taken them yet would keep them.
    const written: Buffer[] = []
    let wrote: () => void = () => undefined
    return {
      written,
      text: () => written.map((b) => b.toString('utf8')),
      next: () => new Promise<void>((resolve) => (wrote = resolve)),
      to: { write: (bytes: Buffer) => (written.push(bytes), wrote()), flushSync: () => undefined } satisfies BatchTarget,
    }
  }

  it('holds a quiet line a moment and then writes it, and writes at once once a batch is full, in order', async () => {
    const t = target()
    const destination = batched(t.to)
    const next = t.next()
    destination.write('one\n')
    destination.write('two\n')
    expect(t.written).to.deep.equal([])
    await next
    expect(t.text()).to.deep.equal(['one\ntwo\n'])
    const long = `${'x'.repeat(200)}\n`
    for (let i = 0; i < 400; i++) destination.write(long)
    expect(t.written.length, 'a full batch is handed on at once').to.equal(2)
    expect(t.written[1]?.length).to.be.at.least(60 * 1024)
    const last = t.next()
    await last
    expect(t.text().join('')).to.equal(`one\ntwo\n${long.repeat(400)}`)
  })

  it('never writes again into a batch it handed on, encodes any text as UTF-8, and hands a line longer than a batch on its own, in order', async () => {
    const t = target()
    const destination = batched(t.to)
    const accented = '{"key":"clé de l’équipe ✓ 🎮"}\n'
    const line = (i: number) => `${i} ${accented}`
    for (let i = 0; i < 3000; i++) destination.write(line(i))
    const huge = `${'é'.repeat(70 * 1024)}\n`
    destination.write(huge)
    destination.write('after\n')
    const handed = t.written.map((b) => Buffer.from(b))
    for (let i = 0; i < 3000; i++) destination.write('overwrite? '.repeat(20))
    expect(
      t.written.slice(0, handed.length).every((b, i) => b.equals(handed[i] as Buffer)),
      'the batches handed on are as they were',
    ).to.equal(true)
    const text = t.text().join('')
    const expected = `${Array.from({ length: 3000 }, (_, i) => line(i)).join('')}${huge}after\n`
    expect(text.startsWith(expected)).to.equal(true)
  })
})

describe('telemetry: BucketHistogram', () => {
  it('is written out exactly as prom-client writes its own Histogram', async () => {
    const buckets = [0.001, 0.01, 0.1, 1, 10]
    const values = fc.sample(fc.double({ min: 0, max: 100, noNaN: true }), 500)
    const theirs = new Registry()
    const ours = new Registry()
    const reference = new Histogram({ name: 'h', help: 'a histogram', labelNames: ['route', 'status'], buckets, registers: [theirs] })
    const fast = new BucketHistogram('h', 'a histogram', buckets)
    ours.registerMetric(fast as unknown as Histogram)
    const series = [
      { route: '/api/send', status: '200' },
      { route: '/api/messages/:player_name', status: '404' },
    ]
    const made = series.map((labels) => fast.series(labels))
    values.forEach((value, i) => {
      reference.observe(series[i % 2] as { route: string; status: string }, value)
      fast.observe(made[i % 2] as ReturnType<typeof fast.series>, value)
    })
    expect(await ours.metrics()).to.equal(await theirs.metrics())
    fast.reset()
    reference.reset()
    for (const labels of series) reference.zero(labels)
    expect(await ours.metrics()).to.equal(await theirs.metrics())
  })
})
