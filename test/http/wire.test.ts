import { expect } from 'chai'
import { createWire, toWire } from '../../adapters/http/wire'

const { freshMessageJson, messageJson, pageJson } = createWire()
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'

/*
 * Message JSON is written out by hand on the hot paths (wire.ts). It must be
 * exactly the text JSON.stringify gives for the wire object, whatever the
 * message holds.
 */

const message = (over: Partial<Message>): Message => ({
  id: 1,
  channel: 'global' as ChannelName,
  playerName: 'Bob' as PlayerName,
  text: 'hi' as MessageText,
  sentAt: Date.UTC(2025, 10, 22, 10, 0, 0, 7),
  type: 'player',
  replyTo: undefined,
  userId: undefined,
  ...over,
})

const TEXTS = [
  'plain',
  'quotes " and \\ backslashes',
  '<img src=x onerror=alert(1)>',
  'emoji 😀 and accents éàü and CJK 漢字',
  'lone surrogates \ud800 and \udfff',
  'line separators \u2028 \u2029 and a tab\t',
  '\u0000\u001f\u007f control characters',
  '{"json":"inside"}',
]

describe('wire: message JSON', () => {
  it('writes exactly what JSON.stringify writes for the wire object', () => {
    const cases: Message[] = [
      ...TEXTS.map((text, i) => message({ id: i + 1, text: text as MessageText, playerName: text as PlayerName })),
      message({ type: 'reply', replyTo: 41, playerName: 'Server' as PlayerName }),
      message({ userId: 123456789 }),
      message({ userId: Number.MAX_SAFE_INTEGER, replyTo: 7, type: 'reply', channel: 'lobby-2_x' as ChannelName }),
      message({ sentAt: 0 }),
      message({ id: 9_007_199_254_740_991 }),
      message({ id: 50, type: 'removal', playerName: 'Server' as PlayerName, text: '' as MessageText, removes: [3, 4, 41] }),
    ]
    for (const m of cases) {
      const expected = JSON.stringify(toWire(m))
      expect(freshMessageJson(m), expected).to.equal(expected)
      expect(messageJson(m), expected).to.equal(expected)
      expect(JSON.parse(freshMessageJson(m))).to.deep.equal(toWire(m))
    }
  })

  it("writes a removal entry with the seed's fields and its removes, and no other message with removes", () => {
    const entry = message({ id: 9, type: 'removal', playerName: 'Server' as PlayerName, text: '' as MessageText, removes: [7, 8] })
    expect(JSON.parse(freshMessageJson(entry))).to.deep.equal({
      id: 9,
      player_name: 'Server',
      message: '',
      timestamp: '2025-11-22T10:00:00.007Z',
      type: 'removal',
      channel: 'global',
      removes: [7, 8],
    })
    expect(freshMessageJson(message({}))).not.to.include('removes')
  })

  it('writes a page that parses to the seed fields and the cursor fields', () => {
    const messages = [message({ id: 1 }), message({ id: 2, type: 'reply', replyTo: 1 })]
    const text = pageJson({ messages, epoch: 'e"1', nextAfter: 2, hasMore: false, gap: true }, '"player_name":"Bob",')
    expect(JSON.parse(text)).to.deep.equal({
      success: true,
      player_name: 'Bob',
      count: 2,
      messages: messages.map(toWire),
      next_after: 2,
      has_more: false,
      gap: true,
      epoch: 'e"1',
    })
  })
})
