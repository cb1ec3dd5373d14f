import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { createMemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { createMemoryOutboundQueues, type MemoryOutboundQueues } from '../../adapters/memory/memory-outbound-queues'
import { deliverOutbound, type OutboundEvent, type OutboundSettings } from '../../application/deliver-outbound'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import type { Deliverer, DeliveryOutcome, OutboundQueues } from '../../domain/outbound'
import { run } from '../contracts/message-repository.contract'
import { fakeTimer } from '../support/fake-timer'
import { deferred } from '../support/feeds'
import { until } from '../support/until'

/*
 * The delivery loop on the memory store's queues, with deliverers that
 * answer as told, and time moved by the test: order, at least once, retries
 * and their backoff, a rate limit waited for, pauses, refusals, one holder at
 * a time, and what a shutdown leaves.
 */

const SETTINGS: OutboundSettings = { leaseMs: 15_000, batch: 5, backoff: { baseMs: 1_000, maxMs: 8_000 }, pauseAfter: 4, pauseMs: 60_000 }
const BASE = 1_700_000_000_000

type Scripted = Deliverer & { readonly seen: Message[]; answer: (message: Message) => DeliveryOutcome }
const scripted = (answer: (message: Message) => DeliveryOutcome = () => ({ _tag: 'Delivered' })): Scripted => {
  const d: Scripted = {
    seen: [],
    answer,
    deliver: (message) => async () => {
      d.seen.push(message)
      return d.answer(message)
    },
  }
  return d
}

const setUp = (options: { durable?: boolean; maxQueue?: number } = {}) => {
  const timer = fakeTimer()
  const clock = { now: () => BASE + timer.now() }
  const queues = createMemoryOutboundQueues({ routes: [{ name: 't', maxQueue: options.maxQueue ?? 100 }], clock })
  const store = createMemoryMessageStore({ maxMessages: 1000, maxChannels: 8, onStored: queues.offer })
  const events: OutboundEvent[] = []
  const send = async (text: string) =>
    (await run(store.append({ draft: { channel: 'global' as ChannelName, playerName: 'Ann' as PlayerName, text: text as MessageText, sentAt: clock.now() } }))).message
  const start = (deliverer: Deliverer, holder = 'p1', q: OutboundQueues = queues) =>
    deliverOutbound({ queues: q, durable: options.durable ?? false, clock, timer, random: () => 0.5, holder, settings: SETTINGS, onEvent: (e) => events.push(e) }, [
      { route: { name: 't', maxQueue: 100 }, deliverer },
    ])
  return { timer, clock, queues, send, start, events }
}

const queued = async (queues: MemoryOutboundQueues) => (await run(queues.stats('t'))).queued

describe('deliverOutbound: the delivery loop', () => {
  it('delivers every queued message once, in id order, and takes each off the queue once taken', async () => {
    const { send, start, queues, timer } = setUp()
    const sent = [await send('a'), await send('b')]
    const d = scripted()
    const loop = start(d)
    await until(() => d.seen.length === 2)
    sent.push(await send('c'))
    await until(() => d.seen.length === 3)
    expect(d.seen.map((m) => m.id)).to.deep.equal(sent.map((m) => m.id))
    expect(await queued(queues)).to.equal(0)
    expect((await run(queues.stats('t'))).delivery).to.deep.include({ state: 'idle', delivered: 3, failures: 0 })
    const stopping = loop.stop(1_000)
    timer.advance(1_000)
    await stopping
  })

  it('tries a failing message again after a growing backoff, never sooner than asked, then goes on in order', async () => {
    const { send, start, timer, events } = setUp()
    await send('a')
    await send('b')
    let failures = 2
    const d = scripted((m) => (m.text === 'a' && failures-- > 0 ? { _tag: 'Retry', reason: 'answered 503', afterMs: failures === 1 ? 3_000 : undefined } : { _tag: 'Delivered' }))
    const loop = start(d)
    await until(() => d.seen.length === 1)
    // First failure: asked for 3 s, more than the first backoff (0.75 s with this jitter).
    timer.advance(2_999)
    await until(() => timer.pending().length > 0)
    expect(d.seen).to.have.length(1)
    timer.advance(1)
    await until(() => d.seen.length === 2)
    // Second failure: the backoff doubles (1.5 s with this jitter).
    timer.advance(1_499)
    await until(() => timer.pending().length > 0)
    expect(d.seen).to.have.length(2)
    timer.advance(1)
    await until(() => d.seen.length === 4)
    expect(d.seen.map((m) => m.text)).to.deep.equal(['a', 'a', 'a', 'b'])
    expect(events.filter((e) => e._tag === 'Retried')).to.have.length(2)
    const stopping = loop.stop(0)
    timer.advance(0)
    await stopping
  })

  it('waits for a spent rate limit to refill before the next message rather than be refused', async () => {
    const { send, start, timer } = setUp()
    await send('a')
    await send('b')
    const d = scripted(() => ({ _tag: 'Delivered', waitMs: 2_000 }))
    const loop = start(d)
    await until(() => d.seen.length === 1)
    timer.advance(1_999)
    await until(() => timer.pending().length > 0)
    expect(d.seen).to.have.length(1)
    timer.advance(1)
    await until(() => d.seen.length === 2)
    const stopping = loop.stop(0)
    timer.advance(0)
    await stopping
  })

  it('pauses a target that keeps failing, says so with when it is tried again, and tries again then', async () => {
    const { send, start, timer, queues, events } = setUp()
    await send('a')
    let failing = true
    const d = scripted(() => (failing ? { _tag: 'Retry', reason: 'answered 404: Unknown Webhook' } : { _tag: 'Delivered' }))
    const loop = start(d)
    for (let attempt = 1; attempt <= SETTINGS.pauseAfter; attempt++) {
      await until(() => d.seen.length === attempt)
      if (attempt < SETTINGS.pauseAfter) timer.advance(SETTINGS.backoff.maxMs)
    }
    await until(() => events.some((e) => e._tag === 'Paused'))
    const stats = await run(queues.stats('t'))
    expect(stats.delivery).to.deep.include({ state: 'paused', failures: SETTINGS.pauseAfter, lastError: 'answered 404: Unknown Webhook' })
    expect(stats.delivery?.until).to.equal(BASE + timer.now() + SETTINGS.pauseMs)
    failing = false
    timer.advance(SETTINGS.pauseMs - 1)
    await until(() => timer.pending().length > 0)
    expect(d.seen).to.have.length(SETTINGS.pauseAfter)
    timer.advance(1)
    await until(() => d.seen.length === SETTINGS.pauseAfter + 1)
    expect(await queued(queues)).to.equal(0)
    const stopping = loop.stop(0)
    timer.advance(0)
    await stopping
  })

  it('drops a message the target refuses for good, counts it, and goes on', async () => {
    const { send, start, queues, timer, events } = setUp()
    await send('bad')
    await send('good')
    const d = scripted((m) => (m.text === 'bad' ? { _tag: 'Refused', reason: 'answered 400' } : { _tag: 'Delivered' }))
    const loop = start(d)
    await until(() => d.seen.length === 2)
    await until(() => events.some((e) => e._tag === 'Delivered'))
    expect(await run(queues.stats('t'))).to.deep.include({ queued: 0, dropped: 1 })
    expect(events.map((e) => e._tag)).to.include('Refused')
    const stopping = loop.stop(0)
    timer.advance(0)
    await stopping
  })

  it('lets one holder deliver a target at a time: two loops on one queue deliver each message once', async () => {
    const { send, start, timer } = setUp()
    const a = scripted()
    const b = scripted()
    const loops = [start(a, 'process a'), start(b, 'process b')]
    for (let i = 0; i < 10; i++) await send(`m${i}`)
    await until(() => a.seen.length + b.seen.length === 10)
    expect([...a.seen, ...b.seen].map((m) => m.text).sort()).to.deep.equal(Array.from({ length: 10 }, (_, i) => `m${i}`).sort())
    expect(a.seen.length === 0 || b.seen.length === 0, 'one process delivered them all').to.equal(true)
    const stopping = Promise.all(loops.map((l) => l.stop(0)))
    timer.advance(0)
    await stopping
  })

  it('takes over the target of a holder that stopped renewing its lease, and delivers what it left', async () => {
    const { send, start, timer, queues } = setUp()
    // A holder that took the lease and then died: it never renews.
    expect(await run(queues.lease('t', 'dead', SETTINGS.leaseMs))).to.equal(true)
    await send('left behind')
    const d = scripted()
    const loop = start(d, 'alive')
    await until(() => timer.pending().length > 0)
    expect(d.seen).to.have.length(0)
    timer.advance(SETTINGS.leaseMs)
    await until(() => d.seen.length === 1)
    const stopping = loop.stop(0)
    timer.advance(0)
    await stopping
  })

  it('at a shutdown, delivers until the deadline and counts what is left as dropped when the queue is not durable', async () => {
    const { send, start, timer, queues, events } = setUp()
    await send('a')
    const d = scripted(() => ({ _tag: 'Retry', reason: 'answered 503' }))
    const loop = start(d)
    await until(() => d.seen.length === 1)
    const stopping = loop.stop(5_000)
    timer.advance(5_000)
    await stopping
    expect(await run(queues.stats('t'))).to.deep.include({ queued: 0, dropped: 1 })
    expect(events.find((e) => e._tag === 'LeftAtShutdown')).to.deep.include({ count: 1, kept: false })
    expect(await run(queues.lease('t', 'another', 1_000))).to.equal(true)
  })

  it('at a shutdown, goes on delivering what is still being stored (requests in their grace, model replies) until nothing more can be', async () => {
    const { send, start, timer, queues, events } = setUp()
    const d = scripted()
    const loop = start(d)
    await until(() => timer.pending().length > 0)
    const storing = deferred<void>()
    let stopped = false
    const stopping = loop.stop(5_000, storing.promise).then(() => (stopped = true))
    // Idle, but a request still under way stores a message: it is delivered, not left behind.
    await send('stored during the shutdown')
    await until(() => d.seen.length === 1)
    await until(() => timer.pending().length > 0)
    expect(stopped, 'waits while the HTTP side may still store').to.equal(false)
    storing.resolve()
    await stopping
    expect(await run(queues.stats('t'))).to.deep.include({ queued: 0, dropped: 0 })
    expect(events.filter((e) => e._tag === 'LeftAtShutdown')).to.deep.equal([])
  })

  it('at a shutdown, counts as dropped and says what is stored after the deadline, when the queue is not durable', async () => {
    const { send, start, timer, queues, events } = setUp()
    const d = scripted()
    const loop = start(d)
    await until(() => timer.pending().length > 0)
    const storing = deferred<void>()
    const stopping = loop.stop(1_000, storing.promise)
    timer.advance(1_000)
    // Past the deadline the loop has stopped; a request in its grace still stores two.
    await send('late one')
    await send('late two')
    storing.resolve()
    await stopping
    expect(d.seen).to.have.length(0)
    expect(await run(queues.stats('t'))).to.deep.include({ queued: 0, dropped: 2 })
    expect(events.filter((e) => e._tag === 'LeftAtShutdown')).to.deep.equal([{ _tag: 'LeftAtShutdown', target: 't', count: 2, kept: false }])
  })

  it('at a shutdown, leaves what it could not deliver queued when the queue is durable', async () => {
    const { send, start, timer, queues, events } = setUp({ durable: true })
    await send('a')
    const d = scripted(() => ({ _tag: 'Retry', reason: 'answered 503' }))
    const loop = start(d)
    await until(() => d.seen.length === 1)
    const stopping = loop.stop(1_000)
    timer.advance(1_000)
    await stopping
    expect(await run(queues.stats('t'))).to.deep.include({ queued: 1, dropped: 0 })
    expect(events.find((e) => e._tag === 'LeftAtShutdown')).to.deep.include({ count: 1, kept: true })
  })

  it('waits out a store that fails, and delivers once it answers again', async () => {
    const { send, start, timer, queues } = setUp()
    await send('a')
    let down = true
    const flaky: OutboundQueues = {
      ...queues,
      peek: (target, limit) => (down ? async () => E.left({ _tag: 'StoreUnavailable', detail: 'down' }) : queues.peek(target, limit)),
    }
    const d = scripted()
    const loop = start(d, 'p1', flaky)
    await until(() => timer.pending().length > 0)
    expect(d.seen).to.have.length(0)
    down = false
    timer.advance(15_000)
    await until(() => d.seen.length === 1)
    const stopping = loop.stop(0)
    timer.advance(0)
    await stopping
  })
})
