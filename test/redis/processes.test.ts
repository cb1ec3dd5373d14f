import { randomBytes } from 'node:crypto'
import { expect } from 'chai'
import { createClient } from 'redis'
import { startServer, type ServerProcess } from '../hostile/harness'
import { startRedis, requireRedis, freePort, type TestRedis } from '../support/redis'
import { openEventStream } from '../support/sse'

/*
 * Several real server processes (main.ts, as `npm start` runs it) on one
 * real Redis, behaving as one: what one stores the other reads and wakes
 * on, ids distinct and increasing, retries recognised across them, the
 * bound held exactly; and what a process or Redis going away does.
 */

type Message = { id: number; player_name: string; message: string; channel: string }
type Page = { success: boolean; count: number; messages: Message[]; next_after: number; has_more: boolean; gap: boolean; epoch: string }

const prefix = () => `t${randomBytes(4).toString('hex')}`

const send = async (server: ServerProcess, body: Record<string, unknown>, headers: Record<string, string> = {}) => {
  const response = await fetch(`${server.base}/api/send`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  return { status: response.status, headers: response.headers, body: (await response.json()) as { success: boolean; message?: Message; error?: string } }
}
const list = async (server: ServerProcess, query = '') => (await (await fetch(`${server.base}/api/messages${query}`)).json()) as Page
/** Resolves once the processes together hold `count` long polls, as their status pages say; fails after a deadline. */
const holding = async (servers: ReadonlyArray<ServerProcess>, count: number): Promise<void> => {
  const deadline = Date.now() + 10_000
  for (;;) {
    const held = await Promise.all(servers.map(async (s) => ((await (await fetch(`${s.base}/api`)).json()) as { holding: { long_polls: number } }).holding.long_polls))
    if (held.reduce((a, b) => a + b, 0) === count) return
    if (Date.now() > deadline) throw new Error(`the processes hold ${held.join(' + ')} long polls, not ${count}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Resolves once the process's status page says its store answers; fails after a deadline. */
const storeAvailable = async (server: ServerProcess): Promise<void> => {
  const deadline = Date.now() + 10_000
  for (;;) {
    const status = (await (await fetch(`${server.base}/api`)).json()) as { store: { available: boolean } }
    if (status.store.available) return
    if (Date.now() > deadline) throw new Error('the store never became available')
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Waits, with a deadline, for a page after `after`: a long poll, answered at once when messages wait. */
const poll = async (server: ServerProcess, after: number, epoch?: string) =>
  (await (await fetch(`${server.base}/api/messages?after=${after}&wait=20${epoch === undefined ? '' : `&epoch=${epoch}`}`)).json()) as Page

/** `work`, or a failure saying `what` came instead once `ms` pass: a stream that brings nothing fails the test, never hangs it. */
const within = <A>(work: Promise<A>, ms: number, what: () => string): Promise<A> => {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(what())), Math.max(0, ms))))
  return Promise.race([work, late]).finally(() => clearTimeout(timer))
}

/** Sends until one is taken, once Redis is back; fails after a deadline. */
const sendOnceBack = async (server: ServerProcess, body: Record<string, unknown>): Promise<void> => {
  const deadline = Date.now() + 15_000
  while ((await send(server, body)).status !== 200) {
    if (Date.now() > deadline) throw new Error('sends did not work again once Redis was back')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

describe('redis: several server processes on one Redis', function () {
  this.timeout(120_000)
  before(requireRedis)

  let redis: TestRedis
  const running: ServerProcess[] = []
  before(async () => {
    redis = await startRedis({ appendOnly: true })
  })
  after(async () => {
    await Promise.all(running.map((s) => s.stop()))
    await redis?.close()
  })
  afterEach(async () => {
    await Promise.all(running.splice(0).map((s) => s.stop()))
  })

  const start = async (p: string, extra: Record<string, string> = {}, url = redis.url) => {
    const server = await startServer({ STORE: 'redis', REDIS_URL: url, REDIS_PREFIX: p, AUTO_REPLY: '', ...extra })
    running.push(server)
    return server
  }
  /** A process that connects to Redis in the background: started, and then its store reachable. */
  const started = async (p: string, extra: Record<string, string> = {}) => {
    const server = await start(p, extra)
    await storeAvailable(server)
    return server
  }

  it('agrees across two processes: what one stores the other reads, ids distinct and increasing', async () => {
    const p = prefix()
    const [a, b] = await Promise.all([started(p), started(p)])
    const sent = await Promise.all(Array.from({ length: 40 }, (_, i) => send(i % 2 === 0 ? a : b, { player_name: `P${i % 5}`, message: `m${i}` })))
    for (const s of sent) expect(s.status).to.equal(200)
    const ids = sent.map((s) => s.body.message?.id as number)
    expect(new Set(ids).size).to.equal(40)
    const [fromA, fromB] = await Promise.all([list(a), list(b)])
    expect(fromA.messages).to.deep.equal(fromB.messages)
    expect(fromA.messages.map((m) => m.id)).to.deep.equal([...ids].sort((x, y) => x - y))
    const channels = await Promise.all([a, b].map(async (s) => (await (await fetch(`${s.base}/api/channels`)).json()) as unknown))
    expect(channels[0]).to.deep.equal(channels[1])
  })

  it('wakes a long poll held by one process with a send to the other', async () => {
    const p = prefix()
    const [a, b] = await Promise.all([started(p), started(p)])
    const head = await list(a)
    const t0 = Date.now()
    const held = poll(a, head.next_after, head.epoch)
    await holding([a], 1)
    expect((await send(b, { player_name: 'Bob', message: 'across processes' })).status).to.equal(200)
    const page = await held
    expect(page.messages.map((m) => m.message)).to.deep.equal(['across processes'])
    expect(Date.now() - t0).to.be.below(5_000)
  })

  it('recognises an Idempotency-Key retried against the other process', async () => {
    const p = prefix()
    const [a, b] = await Promise.all([started(p), started(p)])
    const key = { 'idempotency-key': `k-${p}` }
    const first = await send(a, { player_name: 'Bob', message: 'once' }, key)
    const retry = await send(b, { player_name: 'Bob', message: 'once' }, key)
    expect(retry.status).to.equal(200)
    expect(retry.headers.get('idempotent-replayed')).to.equal('true')
    expect(retry.body.message?.id).to.equal(first.body.message?.id)
    expect((await list(b)).count).to.equal(1)
    expect((await send(b, { player_name: 'Bob', message: 'another body' }, key)).status).to.equal(422)
  })

  it('delivers every message exactly once, in order, to pollers on both processes under concurrent senders', async () => {
    const p = prefix()
    const [a, b] = await Promise.all([started(p, { MAX_MESSAGES: '10000' }), started(p, { MAX_MESSAGES: '10000' })])
    const TOTAL = 200
    const follow = async (server: ServerProcess): Promise<number[]> => {
      const seen: number[] = []
      let page = await list(server)
      let after = page.next_after
      const epoch = page.epoch
      while (seen.length < TOTAL) {
        page = await poll(server, after, epoch)
        expect(page.gap).to.equal(false)
        seen.push(...page.messages.map((m) => m.id))
        after = page.next_after
      }
      return seen
    }
    const readers = [follow(a), follow(a), follow(b), follow(b)]
    await holding([a, b], 4)
    const senders = Array.from({ length: 10 }, (_, s) =>
      (async () => {
        for (let i = 0; i < TOTAL / 10; i++) expect((await send(s % 2 === 0 ? a : b, { player_name: `S${s}`, message: `${s}.${i}` })).status).to.equal(200)
      })(),
    )
    await Promise.all(senders)
    const stored = (await list(a, '?limit=1000')).messages.map((m) => m.id)
    expect(stored).to.have.length(TOTAL)
    for (const seen of await Promise.all(readers)) expect(seen).to.deep.equal(stored)
  })

  it('delivers every message of several channels exactly once, in order, to pollers of channels=… on both processes under concurrent senders', async () => {
    const p = prefix()
    const [a, b] = await Promise.all([started(p, { MAX_MESSAGES: '10000' }), started(p, { MAX_MESSAGES: '10000' })])
    const followed = ['lobby', 'team-red']
    const everywhere = [...followed, 'global']
    const SENDS = 150
    const wanted = SENDS - SENDS / everywhere.length
    const follow = async (server: ServerProcess): Promise<number[]> => {
      const seen: number[] = []
      let page = await list(server, `?channels=${followed.join(',')}`)
      let after = page.next_after
      const epoch = page.epoch
      while (seen.length < wanted) {
        page = (await (await fetch(`${server.base}/api/messages?channels=${followed.join(',')}&after=${after}&wait=20&epoch=${epoch}`)).json()) as Page
        expect(page.gap).to.equal(false)
        seen.push(...page.messages.map((m) => m.id))
        after = page.next_after
      }
      return seen
    }
    const readers = [follow(a), follow(b), follow(b)]
    await holding([a, b], 3)
    await Promise.all(
      Array.from({ length: 10 }, async (_, s) => {
        for (let i = 0; i < SENDS / 10; i++)
          expect((await send(s % 2 === 0 ? a : b, { player_name: `S${s}`, message: `${s}.${i}`, channel: everywhere[(s + i) % everywhere.length] })).status).to.equal(200)
      }),
    )
    const stored = (await list(b, `?limit=1000&channels=${followed.join(',')}`)).messages.map((m) => m.id)
    expect(stored).to.have.length(wanted)
    for (const seen of await Promise.all(readers)) expect(seen).to.deep.equal(stored)
  })

  it('holds a player to one rate limit across processes', async () => {
    const p = prefix()
    const [a, b] = await Promise.all([started(p, { PLAYER_RATE_LIMIT: '3/60s' }), started(p, { PLAYER_RATE_LIMIT: '3/60s' })])
    const statuses: number[] = []
    for (let i = 0; i < 6; i++) statuses.push((await send(i % 2 === 0 ? a : b, { player_name: 'Bob', message: `m${i}` })).status)
    expect(statuses).to.deep.equal([200, 200, 200, 429, 429, 429])
  })

  it('holds the bound exactly across processes', async () => {
    const p = prefix()
    const [a, b] = await Promise.all([started(p, { MAX_MESSAGES: '25' }), started(p, { MAX_MESSAGES: '25' })])
    await Promise.all(Array.from({ length: 60 }, (_, i) => send(i % 2 === 0 ? a : b, { player_name: 'Bob', message: `m${i}` })))
    const page = await list(b)
    expect(page.count).to.equal(25)
    const all = (await (await fetch(`${a.base}/api/channels`)).json()) as { channels: Array<{ count: number }> }
    expect(all.channels[0]?.count).to.equal(25)
  })

  it('keeps the history and goes on with higher ids after a process is killed with SIGKILL and started again', async () => {
    const p = prefix()
    const a = await started(p)
    for (let i = 0; i < 5; i++) await send(a, { player_name: 'Bob', message: `before ${i}` })
    const before = await list(a)
    a.child.kill('SIGKILL')
    await a.exited
    const again = await started(p)
    const after = await list(again)
    expect(after.messages).to.deep.equal(before.messages)
    expect(after.epoch).to.equal(before.epoch)
    const next = await send(again, { player_name: 'Bob', message: 'after' })
    expect(next.body.message?.id).to.be.greaterThan(before.next_after)
  })

  it('loses nothing acknowledged when a process is killed with SIGKILL in the middle of concurrent sends, and hands out no id twice', async () => {
    const p = prefix()
    const a = await started(p)
    const b = await started(p)
    // Sends to both processes at once, 20 at a time to each; the first is killed once 40 of its own were answered,
    // with others of its still under way.
    let answeredByA = 0
    const results: Array<{ i: number; status: number; id: number | undefined }> = []
    const lane = async (to: ServerProcess, from: number) => {
      for (let i = from; i < 400; i += 40) {
        const r = await send(to, { player_name: 'Bob', message: `m${i}` }).then(
          (answer) => ({ i, status: answer.status, id: answer.body.message?.id }),
          () => ({ i, status: 0, id: undefined }),
        )
        results.push(r)
        if (to === a && r.status === 200 && ++answeredByA === 40) a.child.kill('SIGKILL')
      }
    }
    await Promise.all(Array.from({ length: 40 }, (_, lanes) => lane(lanes % 2 === 0 ? a : b, lanes)))
    await a.exited
    const acknowledged = results.filter((r) => r.status === 200)
    expect(answeredByA, 'killed in the middle of its sends').to.be.at.least(40)
    expect(results.filter((r) => r.status !== 200).length, 'some of its sends were cut off').to.be.greaterThan(0)
    expect(acknowledged.length, 'the other process goes on answering').to.be.at.least(200)
    const again = await started(p)
    const stored: Message[] = []
    for (let after = 0; ; ) {
      const page = await list(again, `?after=${after}&limit=100`)
      stored.push(...page.messages)
      if (!page.has_more) break
      after = page.next_after
    }
    const byText = new Map(stored.map((m) => [m.message, m.id]))
    for (const r of acknowledged) expect(byText.get(`m${r.i}`), `m${r.i}, acknowledged with id ${r.id}`).to.equal(r.id)
    const ids = stored.map((m) => m.id)
    expect(new Set(ids).size, 'no id twice').to.equal(ids.length)
    expect(ids.every((id, i) => i === 0 || id > (ids[i - 1] as number)), 'in id order').to.equal(true)
    const next = await send(again, { player_name: 'Bob', message: 'after' })
    expect(next.body.message?.id).to.be.greaterThan(Math.max(...ids))
  })

  it('holds hundreds of long polls and streams on the same two Redis connections a process opens at start-up', async () => {
    const p = prefix()
    const a = await started(p)
    const admin = createClient({ url: redis.url })
    await admin.connect()
    const clients = async () => Number(/connected_clients:(\d+)/.exec(String(await admin.sendCommand(['INFO', 'clients'])))?.[1])
    const controller = new AbortController()
    try {
      const before = await clients()
      const head = await list(a)
      const polls = Array.from({ length: 200 }, () => fetch(`${a.base}/api/messages?after=${head.next_after}&wait=20`, { signal: controller.signal }).catch(() => undefined))
      const streams = await Promise.all(Array.from({ length: 20 }, () => openEventStream(`${a.base}/api/stream`)))
      await holding([a], 200)
      expect(await clients(), 'no connection per waiting client').to.equal(before)
      await send(a, { player_name: 'Bob', message: 'wakes them all' })
      const answered = await Promise.all(polls)
      expect(answered.every((r) => r?.status === 200)).to.equal(true)
      for (const stream of streams) await stream.close()
    } finally {
      controller.abort()
      await admin.quit()
    }
  })

  it('keeps an event stream open through an outage and catches it up from where it was once Redis is back', async () => {
    const p = prefix()
    const a = await started(p)
    const stream = await openEventStream(`${a.base}/api/stream`)
    try {
      await stream.nextOf('ready')
      await send(a, { player_name: 'Bob', message: 'before' })
      expect(JSON.parse((await stream.nextOf('message')).data).message).to.equal('before')
      await redis.stop()
      expect((await send(a, { player_name: 'Bob', message: 'refused' })).status).to.equal(503)
      await redis.start()
      await sendOnceBack(a, { player_name: 'Bob', message: 'after' })
      const next = await within(stream.nextOf('message'), 20_000, () => 'the stream brought nothing after the outage')
      expect(JSON.parse(next.data).message, 'the next message, nothing refused, nothing twice').to.equal('after')
    } finally {
      await stream.close()
    }
  })

  it('misses nothing on a stream whose process lost its subscription while the other went on storing', async () => {
    const p = prefix()
    const a = await started(p)
    const b = await started(p)
    const stream = await openEventStream(`${b.base}/api/stream`)
    const admin = createClient({ url: redis.url })
    await admin.connect()
    try {
      await stream.nextOf('ready')
      await send(a, { player_name: 'Bob', message: 'm0' })
      expect(JSON.parse((await stream.nextOf('message')).data).message).to.equal('m0')
      // Every process's subscription cut while the store stays up: what A stores meanwhile is published to no one.
      await admin.sendCommand(['CLIENT', 'KILL', 'TYPE', 'pubsub'])
      for (let i = 1; i <= 5; i++) expect((await send(a, { player_name: 'Bob', message: `m${i}` })).status).to.equal(200)
      const seen: string[] = []
      while (seen.length < 5) {
        const event = await within(stream.nextOf('message'), 20_000, () => `the stream brought ${JSON.stringify(seen)} and then nothing`)
        seen.push((JSON.parse(event.data) as { message: string }).message)
      }
      expect(seen).to.deep.equal(['m1', 'm2', 'm3', 'm4', 'm5'])
      await send(a, { player_name: 'Bob', message: 'm6' })
      expect(JSON.parse((await stream.nextOf('message')).data).message, 'and live again, nothing twice').to.equal('m6')
    } finally {
      await admin.quit()
      await stream.close()
    }
  })

  it('answers 503 at once while Redis is away, recovers by itself, and a poller misses nothing stored', async () => {
    const p = prefix()
    const a = await started(p)
    const b = await started(p)
    await send(a, { player_name: 'Bob', message: 'before the outage' })
    const head = await list(a)
    const heldThrough = fetch(`${b.base}/api/messages?after=${head.next_after}&epoch=${head.epoch}&wait=20`)
    await holding([b], 1)
    await redis.stop()
    // A poll held when Redis went away is answered (its feed lost, its read refused), not left hanging for its 20 s.
    const tHeld = Date.now()
    expect((await heldThrough).status).to.be.oneOf([200, 503])
    expect(Date.now() - tHeld).to.be.below(5_000)
    const t0 = Date.now()
    const refused = await send(a, { player_name: 'Bob', message: 'during the outage' })
    expect(refused.status).to.equal(503)
    expect(refused.body.error).to.equal('message store unavailable')
    expect(Date.now() - t0).to.be.below(2_500)
    const status = (await (await fetch(`${a.base}/api`)).json()) as { store: { available: boolean } }
    expect(status.store.available).to.equal(false)
    await redis.start()
    // Back by itself: sends work again, on both processes.
    let back = false
    const deadline = Date.now() + 15_000
    while (!back && Date.now() < deadline) {
      back = (await send(b, { player_name: 'Bob', message: 'after the outage' })).status === 200
      if (!back) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(back, 'sends work again once Redis is back').to.equal(true)
    const page = await poll(a, head.next_after, head.epoch)
    expect(page.gap).to.equal(false)
    expect(page.messages.map((m) => m.message)).to.deep.equal(['after the outage'])
  })

  it('says so when Redis comes back empty: a new epoch, and an old cursor answered from the start with a gap', async () => {
    const p = prefix()
    const a = await started(p)
    for (let i = 0; i < 3; i++) await send(a, { player_name: 'Bob', message: `lost ${i}` })
    const before = await list(a)
    await redis.stop()
    await redis.start({ empty: true })
    let page: Page | undefined
    const deadline = Date.now() + 15_000
    while (page === undefined && Date.now() < deadline) {
      const response = await fetch(`${a.base}/api/messages?after=${before.next_after}&epoch=${before.epoch}`)
      if (response.status === 200) page = (await response.json()) as Page
      else await new Promise((resolve) => setTimeout(resolve, 100))
    }
    expect(page, 'reads work again once Redis is back').not.to.equal(undefined)
    expect(page?.epoch).not.to.equal(before.epoch)
    expect(page?.gap).to.equal(true)
  })

  it('keeps an open stream through Redis coming back empty: the gap, then the new life\'s messages, whose ids begin again', async () => {
    const p = prefix()
    const a = await started(p)
    const stream = await openEventStream(`${a.base}/api/stream`)
    try {
      await stream.nextOf('ready')
      for (let i = 0; i < 3; i++) await send(a, { player_name: 'Bob', message: `old ${i}` })
      for (let i = 0; i < 3; i++) expect(JSON.parse((await stream.nextOf('message')).data).message).to.equal(`old ${i}`)
      await redis.stop()
      await redis.start({ empty: true })
      await sendOnceBack(a, { player_name: 'Ann', message: 'new 0' })
      await send(a, { player_name: 'Ann', message: 'new 1' })
      const seen: string[] = []
      const until = Date.now() + 10_000
      while (seen.filter((s) => s.startsWith('new')).length < 2) {
        const event = await within(stream.next(), until - Date.now(), () => `the stream brought ${JSON.stringify(seen)} and then nothing`)
        if (event.event === 'gap') seen.push('GAP')
        else if (event.event === 'message') seen.push(`${(JSON.parse(event.data) as { message: string }).message} #${event.id}`)
      }
      expect(seen[0]).to.equal('GAP')
      const news = seen.filter((s) => s.startsWith('new'))
      expect(news[0]).to.equal('new 0 #1')
      expect(news[1]).to.match(/^new 1 #\d+$/)
    } finally {
      await stream.close()
    }
  })

  it('starts without Redis, says the store is unavailable, answers 503 within 2 s, and recovers when Redis comes', async () => {
    const port = await freePort()
    const a = await start(prefix(), {}, `redis://127.0.0.1:${port}`)
    const status = (await (await fetch(`${a.base}/api`)).json()) as { status: string; store: { kind: string; available: boolean } }
    expect(status.store).to.deep.equal({ kind: 'redis', available: false })
    const t0 = Date.now()
    const refused = await send(a, { player_name: 'Bob', message: 'no redis yet' })
    expect(refused.status).to.equal(503)
    expect(refused.body).to.deep.equal({ success: false, error: 'message store unavailable' })
    expect(refused.headers.get('retry-after')).to.equal('2')
    const read = await fetch(`${a.base}/api/messages`)
    expect(read.status).to.equal(503)
    expect(await read.json()).to.deep.equal({ success: false, error: 'message store unavailable' })
    expect(read.headers.get('retry-after')).to.equal('2')
    // A long poll is answered at once too, never held while the store cannot be read.
    const held = await fetch(`${a.base}/api/messages?after=0&wait=20`)
    expect(held.status).to.equal(503)
    expect(Date.now() - t0).to.be.below(2_500)
    const late = await startRedisOn(port)
    try {
      let ok = false
      const deadline = Date.now() + 15_000
      while (!ok && Date.now() < deadline) {
        ok = (await send(a, { player_name: 'Bob', message: 'redis came' })).status === 200
        if (!ok) await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(ok).to.equal(true)
    } finally {
      await late.close()
    }
  })
})

/** A redis-server on a port chosen beforehand (for a server started before it). */
const startRedisOn = async (port: number): Promise<TestRedis> => {
  const { spawn } = await import('node:child_process')
  const { mkdtempSync, rmSync } = await import('node:fs')
  const { tmpdir } = await import('node:os')
  const { join } = await import('node:path')
  const dir = mkdtempSync(join(tmpdir(), 'rms-redis-late-'))
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => /Ready to accept connections/.test(output) && resolve())
    child.once('exit', () => reject(new Error(`redis-server exited: ${output}`)))
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const close = async () => {
    child.kill('SIGTERM')
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
  return { url: `redis://127.0.0.1:${port}`, port, stop: close, start: async () => undefined, close }
}
