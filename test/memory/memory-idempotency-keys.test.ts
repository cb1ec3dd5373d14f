import { expect } from 'chai'
import { createMemoryIdempotencyKeys } from '../../adapters/memory/memory-idempotency-keys'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import type { Conversation } from '../../domain/message-repository'
import { idempotencyKeysContract } from '../contracts/idempotency-keys.contract'
import { run } from '../contracts/message-repository.contract'
import { collector } from '../support/gc'

const conversation = (id: number, text: string): Conversation => {
  const message: Message = {
    id,
    channel: 'global' as ChannelName,
    playerName: 'Bob' as PlayerName,
    text: text as MessageText,
    sentAt: 1000,
    type: 'player',
    replyTo: undefined,
    userId: 42,
  }
  const reply: Message = { ...message, id: id + 1, playerName: 'Server' as PlayerName, text: 'Hello Bob!' as MessageText, type: 'reply', replyTo: id, userId: undefined }
  return { message, reply }
}

idempotencyKeysContract('memory', async (options) => ({ keys: createMemoryIdempotencyKeys(options), close: async () => undefined }))

describe('memory idempotency keys: what a completed key keeps', () => {
  it('replays the conversation it was given, field for field, for the same fingerprint', async () => {
    const keys = createMemoryIdempotencyKeys({ maxKeys: 10, retentionMs: 60_000 })
    const sent = conversation(7, 'hi')
    const fingerprint = JSON.stringify(['Bob', 'hi', 'global', 42])
    await run(keys.claim('k', fingerprint))
    await run(keys.complete('k', fingerprint, sent))
    const claim = await run(keys.claim('k', fingerprint))
    if (claim._tag !== 'Completed') throw new Error(`expected Completed, got ${claim._tag}`)
    expect(claim.sameRequest).to.equal(true)
    expect(claim.conversation).to.deep.equal(sent)
  })

  it('tells a different request apart', async () => {
    const keys = createMemoryIdempotencyKeys({ maxKeys: 10, retentionMs: 60_000 })
    await run(keys.claim('k', 'first'))
    await run(keys.complete('k', 'first', conversation(1, 'a')))
    for (const other of ['second', 'first ', '']) {
      const claim = await run(keys.claim('k', other))
      if (claim._tag !== 'Completed') throw new Error(`expected Completed, got ${claim._tag}`)
      expect(claim.sameRequest).to.equal(false)
    }
  })

  it('keeps none of the store’s message objects, under which their JSON is cached', async () => {
    const gc = collector()
    if (gc === undefined) throw new Error('no full collection available (node refused --expose-gc at run time)')
    const keys = createMemoryIdempotencyKeys({ maxKeys: 10, retentionMs: 60_000 })
    const refs = await (async () => {
      const sent = conversation(1, '😀'.repeat(1000))
      const fingerprint = JSON.stringify(['Bob', sent.message.text, 'global', 42])
      await run(keys.claim('k', fingerprint))
      await run(keys.complete('k', fingerprint, sent))
      return { message: new WeakRef(sent.message), reply: new WeakRef(sent.reply as Message) }
    })()
    // A WeakRef keeps its target until the job that made it is over.
    await new Promise((resolve) => setImmediate(resolve))
    gc()
    expect(refs.message.deref(), 'the message object').to.equal(undefined)
    expect(refs.reply.deref(), 'the reply object').to.equal(undefined)
    const claim = await run(keys.claim('k', JSON.stringify(['Bob', '😀'.repeat(1000), 'global', 42])))
    expect(claim._tag === 'Completed' && claim.conversation.message.text).to.equal('😀'.repeat(1000))
  })
})
