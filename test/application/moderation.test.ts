import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { createMemoryAuditLog } from '../../adapters/memory/memory-audit-log'
import { createMemoryIdempotencyKeys } from '../../adapters/memory/memory-idempotency-keys'
import { createMemoryMessageStore, type MemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { createMemoryMutes } from '../../adapters/memory/memory-mutes'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import { erasePlayer } from '../../application/erase-player'
import { limitPlayers } from '../../application/limit-players'
import { mutePlayer } from '../../application/mute-player'
import { refuseMuted } from '../../application/refuse-muted'
import { removeMessage } from '../../application/remove-message'
import { replyLater } from '../../application/reply-later'
import { sendIdempotently } from '../../application/send-idempotently'
import { sendMessage } from '../../application/send-message'
import type { AuditLog } from '../../domain/audit-log'
import { autoReplyFromTemplate } from '../../domain/auto-reply'
import type { ChannelName, Message } from '../../domain/message'
import type { Mutes } from '../../domain/mutes'
import { playerLimitKey } from '../../domain/rate-limit'
import { run } from '../contracts/message-repository.contract'

/*
 * The moderation use cases on the real memory adapters: the late reply a
 * model will store, the mute check's place in the send (before the rate
 * limit, inside the idempotency), and what an admin action answers when the
 * audit log cannot be written.
 */

const GLOBAL = 'global' as ChannelName

describe('moderation use cases', () => {
  let now: number
  let store: MemoryMessageStore
  const clock = { now: () => now }
  const heard: Message[] = []
  beforeEach(() => {
    now = 1_700_000_000_000
    store = createMemoryMessageStore({ maxMessages: 1000, maxChannels: 10 })
    heard.length = 0
    store.subscribe({ channels: [GLOBAL] }, (m) => void heard.push(m))
  })

  describe('replyLater: a reply stored after the fact', () => {
    it('stores a reply from Server to a message still stored, in its channel, told on the feed like any message', async () => {
      const question = await run(store.append({ draft: { channel: GLOBAL, playerName: 'Ann' as never, text: 'what is 2+2?' as never, sentAt: now } }))
      now += 1_500
      const reply = await run(replyLater({ messages: store, clock, maxMessageLength: 50 })({ to: question.message, text: 'four' }))
      expect(reply).to.deep.include({ type: 'reply', replyTo: question.message.id, playerName: 'Server', text: 'four', channel: GLOBAL, sentAt: now })
      expect(heard.map((m) => m.text)).to.deep.equal(['what is 2+2?', 'four'])
    })

    it('refuses a text that is not a valid message, and a reply to a message removed meanwhile, storing nothing', async () => {
      const late = replyLater({ messages: store, clock, maxMessageLength: 10 })
      const question = await run(store.append({ draft: { channel: GLOBAL, playerName: 'Ann' as never, text: 'hi' as never, sentAt: now } }))
      expect(await late({ to: question.message, text: '   ' })()).to.deep.equal(E.left({ _tag: 'Blank', field: 'message' }))
      expect(await late({ to: question.message, text: 'x'.repeat(11) })()).to.deep.equal(E.left({ _tag: 'TooLong', field: 'message', max: 10 }))
      await run(store.remove({ scope: { _tag: 'Message', id: question.message.id }, sentAt: now }))
      expect(await late({ to: question.message, text: 'too late' })()).to.deep.equal(E.left({ _tag: 'MessageNotFound', id: question.message.id }))
      expect(heard.map((m) => m.type)).to.deep.equal(['player', 'removal'])
    })
  })

  describe('refuseMuted: the mute check in the send', () => {
    it('refuses a muted player before the rate limit takes a token, and lets a replay of a send made before the mute answer as it did', async () => {
      const mutes = createMemoryMutes()
      const limiter = createMemoryRateLimiter({ maxKeys: 100, now: clock.now })
      const limit = { limit: 5, windowMs: 60_000 }
      const sending = sendIdempotently({
        keys: createMemoryIdempotencyKeys({ maxKeys: 100, retentionMs: 60_000 }),
        send: refuseMuted({ mutes, clock })(limitPlayers({ limiter, limit })(sendMessage({ messages: store, clock, autoReply: autoReplyFromTemplate(''), maxMessageLength: 50 }))),
      })
      const first = await run(sending({ playerName: 'Bob', message: 'before the mute' }, 'key-1'))
      await run(mutePlayer({ mutes, audit: createMemoryAuditLog({ maxEntries: 10 }), clock })({ playerName: 'bob', seconds: 60, reason: 'spam', actor: 'ops' }))
      const refused = await sending({ playerName: ' BOB ', message: 'muted' }, 'key-2')()
      expect(E.isLeft(refused) && refused.left).to.deep.include({ _tag: 'Muted', now })
      // The limiter spent one token, on the send before the mute: four are left.
      expect((await run(limiter.take(playerLimitKey(undefined, 'bob'), limit))).remaining).to.equal(3)
      const replay = await run(sending({ playerName: 'Bob', message: 'before the mute' }, 'key-1'))
      expect(replay.replayed).to.equal(true)
      expect(replay.conversation.message).to.deep.include({ id: first.conversation.message.id, text: 'before the mute' })
      now += 60_000
      expect((await run(sending({ playerName: 'Bob', message: 'free' }, 'key-3'))).replayed).to.equal(false)
    })

    it('fails the send when the mutes cannot be read, storing nothing: a mute that cannot be checked is not skipped', async () => {
      const broken: Mutes = { ...createMemoryMutes(), noneInForce: () => false, find: () => async () => E.left({ _tag: 'StoreUnavailable', detail: 'down' }) }
      const sending = refuseMuted({ mutes: broken, clock })(sendMessage({ messages: store, clock, autoReply: autoReplyFromTemplate(''), maxMessageLength: 50 }))
      expect(await sending({ playerName: 'Bob', message: 'hi' })()).to.deep.equal(E.left({ _tag: 'StoreUnavailable', detail: 'down' }))
      expect(heard).to.deep.equal([])
    })
  })

  describe('an admin action whose audit record cannot be written', () => {
    it('stands, and says it was not recorded, with the record', async () => {
      const failing: AuditLog = { record: () => async () => E.left({ _tag: 'StoreUnavailable', detail: 'the log is away' }), read: () => async () => E.right([]) }
      const sent = await run(store.append({ draft: { channel: GLOBAL, playerName: 'Bob' as never, text: 'rude' as never, sentAt: now } }))
      const removed = await run(removeMessage({ messages: store, audit: failing, clock })({ id: sent.message.id, actor: 'ops' }))
      expect(removed.done.removed).to.deep.equal([sent.message.id])
      expect(removed.entry).to.equal(undefined)
      expect(removed.unrecorded).to.deep.equal({
        record: { action: 'remove', messageId: sent.message.id, removed: [sent.message.id], at: now, actor: 'ops' },
        error: { _tag: 'StoreUnavailable', detail: 'the log is away' },
      })
      expect((await run(store.list({ channels: [GLOBAL], limit: 10 }))).messages).to.deep.equal([])
      const erased = await run(erasePlayer({ messages: store, audit: failing, clock })({ userId: 5, actor: 'roblox' }))
      expect(erased.unrecorded?.record).to.deep.include({ action: 'erase', userId: 5, removed: 0, channels: [] })
    })
  })
})
