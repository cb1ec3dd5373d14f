import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { createMemoryMessageStore, type MemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { clearMessages } from '../../application/clear-messages'
import { listByPlayer } from '../../application/list-by-player'
import { listMessages } from '../../application/list-messages'
import { sendMessage } from '../../application/send-message'
import { autoReplyFromTemplate } from '../../domain/auto-reply'
import { run } from '../contracts/message-repository.contract'
import { fakeTimer, type FakeTimer } from '../support/fake-timer'
import { until } from '../support/until'

describe('use cases on the in-memory store', () => {
  let store: MemoryMessageStore
  let now: number
  let timer: FakeTimer
  const build = (template = 'Hello {player}!') => {
    const deps = { messages: store, feed: store, timer }
    return {
      send: sendMessage({ messages: store, clock: { now: () => now }, autoReply: autoReplyFromTemplate(template), maxMessageLength: 20 }),
      list: listMessages(deps),
      byPlayer: listByPlayer(deps),
      clear: clearMessages({ messages: store }),
    }
  }
  beforeEach(() => {
    store = createMemoryMessageStore({ maxMessages: 100, maxChannels: 3 })
    now = Date.UTC(2025, 10, 22, 10)
    timer = fakeTimer()
  })

  it('sends a message with its reply, stamped by the clock', async () => {
    const { send, list } = build()
    const sent = await run(send({ playerName: 'Bob', message: 'hi', userId: 42 }))
    expect(sent.message).to.deep.include({ playerName: 'Bob', text: 'hi', sentAt: now, userId: 42, channel: 'global' })
    expect(sent.reply).to.deep.include({ playerName: 'Server', text: 'Hello Bob!', replyTo: sent.message.id })
    expect((await run(list({}))).messages).to.have.length(2)
  })

  it('stores no reply when replies are off', async () => {
    const { send, list } = build('')
    const sent = await run(send({ playerName: 'Bob', message: 'hi' }))
    expect(sent.reply).to.equal(undefined)
    expect((await run(list({}))).messages).to.have.length(1)
  })

  it('refuses invalid input and stores nothing', async () => {
    const { send, list } = build()
    expect(await send({ playerName: ' ', message: 'hi' })()).to.deep.equal(E.left({ _tag: 'Blank', field: 'player_name' }))
    expect(await send({ playerName: 'Bob', message: 'x'.repeat(21) })()).to.deep.equal(E.left({ _tag: 'TooLong', field: 'message', max: 20 }))
    expect((await send({ playerName: 'Bob', message: 'x', channel: 'bad channel' })())._tag).to.equal('Left')
    expect(await send({ playerName: 'server', message: 'I am the server' })()).to.deep.equal(
      E.left({ _tag: 'Reserved', field: 'player_name', value: 'server' }),
    )
    expect((await run(list({}))).messages).to.have.length(0)
  })

  it('refuses a send that would open one channel too many', async () => {
    const { send } = build()
    for (const channel of ['a', 'b', 'c']) await run(send({ playerName: 'Bob', message: 'hi', channel }))
    expect(await send({ playerName: 'Bob', message: 'hi', channel: 'd' })()).to.deep.equal(E.left({ _tag: 'ChannelLimitReached', max: 3 }))
  })

  it("lists one player's messages, whatever the case of the name", async () => {
    const { send, byPlayer } = build()
    await run(send({ playerName: 'Bob', message: 'one' }))
    await run(send({ playerName: 'Ann', message: 'two' }))
    const page = await run(byPlayer({ playerName: 'BOB' }))
    expect(page.playerName).to.equal('BOB')
    expect(page.messages.map((m) => m.text)).to.deep.equal(['one'])
  })

  it('caps the page size at 1000 and defaults to 100 after a cursor', async () => {
    const big = createMemoryMessageStore({ maxMessages: 2000, maxChannels: 1 })
    store = big
    const { send, list } = build('')
    for (let i = 0; i < 1200; i++) await run(send({ playerName: 'Bob', message: `m${i}` }))
    expect((await run(list({ limit: 5000 }))).messages).to.have.length(1000)
    expect((await run(list({}))).messages).to.have.length(1000)
    expect((await run(list({ cursor: { after: 0 } }))).messages).to.have.length(100)
  })

  it('holds a long poll until a matching message arrives, then answers it', async () => {
    const { send, list } = build('')
    const head = await run(list({ cursor: { after: 0 } }))
    const waiting = run(list({ cursor: { after: head.nextAfter }, wait: { ms: 10_000 } }))
    await until(() => store.listenerCount() === 1)
    await run(send({ playerName: 'Bob', message: 'wake' }))
    const page = await waiting
    expect(page.messages.map((m) => m.text)).to.deep.equal(['wake'])
    expect(store.listenerCount()).to.equal(0)
  })

  it("does not wake a player's long poll for another player's message", async () => {
    const { send, byPlayer } = build('')
    const waiting = run(byPlayer({ playerName: 'ann', cursor: { after: 0 }, wait: { ms: 10_000 } }))
    let answered = false
    void waiting.then(() => (answered = true))
    await until(() => store.listenerCount() === 1)
    await run(send({ playerName: 'Bob', message: 'not for ann' }))
    await new Promise((resolve) => setImmediate(resolve))
    expect(answered).to.equal(false)
    await run(send({ playerName: 'ANN', message: 'for ann' }))
    expect((await waiting).messages.map((m) => m.text)).to.deep.equal(['for ann'])
  })

  it('releases a long poll when its client leaves', async () => {
    const { list } = build('')
    let leave!: () => void
    const left = new Promise<void>((resolve) => (leave = resolve))
    const waiting = run(list({ cursor: { after: 0 }, wait: { ms: 60_000, released: left } }))
    await until(() => store.listenerCount() === 1)
    leave()
    expect((await waiting).messages).to.deep.equal([])
    expect(store.listenerCount()).to.equal(0)
  })

  it('answers an expired long poll empty, with a cursor to continue from', async () => {
    const { list } = build('')
    let answered = false
    const waiting = run(list({ cursor: { after: 0 }, wait: { ms: 25_000 } })).finally(() => (answered = true))
    await until(() => timer.pending().length === 1)
    expect(timer.pending()[0]?.ms).to.equal(25_000)
    timer.advance(24_999)
    await new Promise((resolve) => setImmediate(resolve))
    expect(answered).to.equal(false)
    timer.advance(1)
    const page = await waiting
    expect(page.messages).to.deep.equal([])
    expect(page.nextAfter).to.equal(0)
    expect(store.listenerCount()).to.equal(0)
  })

  it('clears one channel or everything', async () => {
    const { send, list, clear } = build('')
    await run(send({ playerName: 'Bob', message: 'g' }))
    await run(send({ playerName: 'Bob', message: 'r', channel: 'red' }))
    expect(await run(clear({ channel: 'red' }))).to.deep.equal({ _tag: 'Channel', channel: 'red' })
    expect((await run(list({}))).messages).to.have.length(1)
    await run(clear({}))
    expect((await run(list({}))).messages).to.have.length(0)
  })
})
