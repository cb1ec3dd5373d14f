import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { createMemoryMessageStore } from '../../adapters/memory/memory-message-store'
import { modelReplies, type ModelReplyOutcome } from '../../application/model-replies'
import { replyLater } from '../../application/reply-later'
import { defaultContentPolicy } from '../../domain/content-policy'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import type { ReplyModel } from '../../domain/reply-model'
import { run } from '../contracts/message-repository.contract'
import { until } from '../support/until'

/*
 * The model's reply, after the send: stored as a reply of its own to the
 * player's message once the model answers, never delaying nor failing the
 * send; every way it can go wrong counted and nothing stored.
 */

type Held = { readonly text: string; readonly answer: (reply: string | Error) => void }

/** A model that answers when the test says so, and tells what it was asked. */
const heldModel = () => {
  const asked: Held[] = []
  const model: ReplyModel = {
    reply: (context) => () =>
      new Promise((resolve) =>
        asked.push({
          text: `${context.playerName}: ${context.text}`,
          answer: (reply) => resolve(reply instanceof Error ? E.left({ _tag: 'ModelFailed', reason: reply.message }) : E.right(reply)),
        }),
      ),
  }
  return { model, asked }
}

const setUp = (options: { maxInFlight?: number; maxMessageLength?: number; blockedWords?: ReadonlyArray<string> } = {}) => {
  const store = createMemoryMessageStore({ maxMessages: 100, maxChannels: 8 })
  const { model, asked } = heldModel()
  const outcomes: ModelReplyOutcome[] = []
  const maxMessageLength = options.maxMessageLength ?? 1000
  const replies = modelReplies({
    model,
    replyLater: replyLater({ messages: store, clock: { now: () => 1_700_000_000_000 }, maxMessageLength }),
    maxMessageLength,
    policy: defaultContentPolicy({ blockedWords: options.blockedWords ?? [] }),
    maxInFlight: options.maxInFlight ?? 4,
    onOutcome: (o) => outcomes.push(o),
  })
  const send = async (text: string): Promise<Message> =>
    (await run(store.append({ draft: { channel: 'lobby' as ChannelName, playerName: 'Ann' as PlayerName, text: text as MessageText, sentAt: 1_700_000_000_000 } }))).message
  const stored = async () => (await run(store.list({ channels: ['lobby' as ChannelName], limit: 100 }))).messages
  return { store, replies, asked, outcomes, send, stored }
}

describe('modelReplies: a model’s reply, stored after the send', () => {
  it('asks the model in the background and stores its answer as a reply to the message, in its channel', async () => {
    const { replies, asked, outcomes, send, stored } = setUp()
    const message = await send('what is the best sword?')
    replies.after(message)
    // Returned at once: nothing is stored until the model answers.
    expect(await stored()).to.have.length(1)
    await until(() => asked.length === 1)
    expect(asked[0]?.text).to.equal('Ann: what is the best sword?')
    asked[0]?.answer('The Darkheart, of course!')
    await replies.settled()
    const [, reply] = await stored()
    expect(reply).to.deep.include({ type: 'reply', replyTo: message.id, playerName: 'Server', text: 'The Darkheart, of course!', channel: 'lobby' })
    expect(outcomes.map((o) => o._tag)).to.deep.equal(['Replied'])
  })

  it('stores nothing, and says why, when the model fails, or the message was removed meanwhile, or the policy refuses its text', async () => {
    const { store, replies, asked, outcomes, send, stored } = setUp({ blockedWords: ['robux'] })
    const failed = await send('one')
    const removed = await send('two')
    const refused = await send('three')
    for (const m of [failed, removed, refused]) replies.after(m)
    await until(() => asked.length === 3)
    asked[0]?.answer(new Error('answered 500: overloaded'))
    await run(store.remove({ scope: { _tag: 'Message', id: removed.id }, sentAt: 1_700_000_000_000 }))
    asked[1]?.answer('fine')
    asked[2]?.answer('get free robux here')
    await replies.settled()
    expect((await stored()).filter((m) => m.type === 'reply')).to.deep.equal([])
    const reasons = outcomes.map((o) => (o._tag === 'Failed' ? o.reason : 'replied'))
    expect(reasons).to.have.members(['answered 500: overloaded', 'the message was removed (or evicted) before the model answered', "the content policy refused the model's reply (rule: blocked-word)"])
  })

  it('cuts a long answer to the longest message, never inside a character', async () => {
    const { replies, asked, send, stored } = setUp({ maxMessageLength: 5 })
    replies.after(await send('hi'))
    await until(() => asked.length === 1)
    asked[0]?.answer('😀😀😀😀😀😀😀')
    await replies.settled()
    expect((await stored())[1]?.text).to.equal('😀😀😀😀😀')
  })

  it('asks about players’ messages only, and at most so many at once: past that a message gets no model reply, counted', async () => {
    const { replies, asked, outcomes, send } = setUp({ maxInFlight: 2 })
    for (const text of ['a', 'b', 'c']) replies.after(await send(text))
    await until(() => asked.length === 2)
    expect(outcomes).to.have.length(1)
    expect(outcomes[0]).to.deep.include({ _tag: 'Failed', reason: '2 model calls are under way already' })
    for (const held of asked) held.answer('ok')
    await replies.settled()
    replies.after({ ...(await send('d')), type: 'reply' })
    expect(asked).to.have.length(2)
  })
})
