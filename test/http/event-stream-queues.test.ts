import { expect } from 'chai'
import { EventEmitter, once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import * as E from 'fp-ts/Either'
import type { FollowEvent } from '../../application/follow-messages'
import { eventStreams, MAX_QUEUED_BYTES } from '../../adapters/http/event-stream'
import { createWire } from '../../adapters/http/wire'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'

/*
 * The queue rules of event streams, on stand-in responses whose queue the
 * test controls: a socket's buffers make them unobservable over a real
 * connection. A response here queues everything written to it until told
 * that it drained.
 */

class QueueingResponse extends EventEmitter {
  writableLength = 0
  writable = true
  destroyed = false
  statusCode = 0
  readonly req = { method: 'GET', headers: {}, socket: { remoteAddress: '127.0.0.1', setNoDelay: () => undefined } }
  writeHead(status: number): this {
    this.statusCode = status
    return this
  }
  write(text: string): boolean {
    this.writableLength += Buffer.byteLength(text)
    this.emit('written', text)
    return true
  }
  end(): this {
    this.writable = false
    return this
  }
  setTimeout(): this {
    return this
  }
  destroy(): this {
    this.destroyed = true
    this.writable = false
    this.emit('close')
    return this
  }
  drain(): void {
    this.writableLength = 0
    this.emit('drain')
  }
}

const OPEN = { origins: '*' } as const

const message = (id: number, text: string): Message => ({
  id,
  channel: 'global' as ChannelName,
  playerName: 'Bob' as PlayerName,
  text: text as MessageText,
  sentAt: 0,
  type: 'player',
})

/** Opens a live stream on a stand-in response and hands back the function the feed would call. */
const openStream = async (streams: ReturnType<typeof eventStreams>, res: QueueingResponse): Promise<(event: FollowEvent) => void> => {
  let deliver: ((event: FollowEvent) => void) | undefined
  await streams.open(
    res.req as unknown as IncomingMessage,
    res as unknown as ServerResponse,
    (_input, d) => {
      deliver = d
      return async () => E.right({ epoch: 'e', after: 0 })
    },
    {},
    () => expect.fail('refused'),
  )
  if (deliver === undefined) throw new Error('never followed')
  return deliver
}

describe('event streams: what readers may have queued', () => {
  it('drops a live reader once more than MAX_QUEUED_BYTES is queued for it, and writes nothing to it afterwards', async () => {
    const streams = eventStreams({ cors: OPEN, wire: createWire() })
    const res = new QueueingResponse()
    const deliver = await openStream(streams, res)
    const text = 'x'.repeat(10_000)
    let sent = 0
    while (!res.destroyed && sent < 1_000) deliver({ _tag: 'Message', message: message(++sent, text) })
    expect(res.destroyed).to.equal(true)
    expect(res.writableLength).to.be.greaterThan(MAX_QUEUED_BYTES)
    expect(res.writableLength).to.be.lessThan(MAX_QUEUED_BYTES + 20_000)
    const queued = res.writableLength
    deliver({ _tag: 'Message', message: message(++sent, text) })
    expect(res.writableLength).to.equal(queued)
    expect(streams.openCount()).to.equal(0)
    expect(streams.queuedBytes()).to.equal(0)
  })

  it('keeps a reader that drains, however much passes through it', async () => {
    const streams = eventStreams({ cors: OPEN, wire: createWire() })
    const res = new QueueingResponse()
    const deliver = await openStream(streams, res)
    for (let i = 1; i <= 1_000; i++) {
      deliver({ _tag: 'Message', message: message(i, 'y'.repeat(10_000)) })
      if (i % 10 === 0) res.drain()
    }
    expect(res.destroyed).to.equal(false)
    expect(streams.queuedBytes()).to.be.lessThan(MAX_QUEUED_BYTES)
  })

  it('holds all readers together to the shared budget: past it, those holding more than a little are dropped first', async () => {
    const budget = 100_000
    const streams = eventStreams({ cors: OPEN, wire: createWire(), queuedBytesBudget: budget })
    const readers = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = new QueueingResponse()
        return { res, deliver: await openStream(streams, res) }
      }),
    )
    // Each reader stays well under its own bound; together they would queue 20 × 50 KB.
    for (let i = 1; i <= 5; i++) for (const { deliver } of readers) deliver({ _tag: 'Message', message: message(i, 'z'.repeat(10_000)) })
    const dropped = readers.filter((r) => r.res.destroyed).length
    expect(dropped).to.be.greaterThan(0)
    expect(readers.every((r) => r.res.writableLength < MAX_QUEUED_BYTES)).to.equal(true)
    // What the survivors hold is the budget and at most one message more.
    expect(streams.queuedBytes()).to.be.at.most(budget + 11_000)
    expect(streams.openCount()).to.equal(20 - dropped)
  })

  it('never writes the heartbeat to a dropped stream', async () => {
    const streams = eventStreams({ cors: OPEN, wire: createWire(), heartbeatMs: 1 })
    const res = new QueueingResponse()
    const deliver = await openStream(streams, res)
    while (!res.destroyed) deliver({ _tag: 'Message', message: message(1, 'x'.repeat(100_000)) })
    const queued = res.writableLength
    // Another stream hears two heartbeats meanwhile: the timer ran, and passed the dropped one by.
    const other = new QueueingResponse()
    await openStream(streams, other)
    for (let beats = 0; beats < 2; ) if ((await once(other, 'written'))[0] === ': keep-alive\n\n') beats++
    expect(res.writableLength).to.equal(queued)
  })
})
