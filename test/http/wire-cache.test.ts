import { expect } from 'chai'
import { createWire, JSON_CACHE_UNITS } from '../../adapters/http/wire'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'

const message = (id: number, text: string): Message => ({
  id,
  channel: 'global' as ChannelName,
  playerName: 'Bob' as PlayerName,
  text: text as MessageText,
  sentAt: 1000 + id,
  type: 'player',
  replyTo: undefined,
  userId: undefined,
})

describe('wire: the message JSON cache', () => {
  it('writes a message once and answers the same text again', () => {
    const { messageJson, freshMessageJson } = createWire()
    const m = message(1, 'hello')
    const first = messageJson(m)
    expect(first).to.equal(freshMessageJson(m))
    expect(messageJson(m)).to.equal(first)
  })

  it('keeps at most JSON_CACHE_UNITS of JSON, forgetting the first written first, and writes a forgotten one again', () => {
    const { messageJson, freshMessageJson, cached: messageJsonCached } = createWire()
    const long = '😀'.repeat(1000) // 2,000 UTF-16 units: the longest default message, at its costliest
    const messages = Array.from({ length: Math.ceil((JSON_CACHE_UNITS * 2) / long.length) }, (_, i) => message(i + 1, long))
    for (const m of messages) {
      messageJson(m)
      expect(messageJsonCached().units).to.be.at.most(JSON_CACHE_UNITS)
    }
    const cached = messageJsonCached()
    expect(cached.messages).to.be.below(messages.length)
    expect(cached.messages).to.be.above(0)
    // The oldest was forgotten; asked again it is written again, the same text.
    expect(messageJson(messages[0] as Message)).to.equal(freshMessageJson(messages[0] as Message))
  })

  it('is one app’s own: what one wire remembers another does not hold', () => {
    const one = createWire()
    const other = createWire()
    one.messageJson(message(1, 'kept by one'))
    expect(one.cached().messages).to.equal(1)
    expect(other.cached().messages).to.equal(0)
  })
})
