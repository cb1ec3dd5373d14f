import { expect } from 'chai'
import type { Claim, IdempotencyKeys } from '../../domain/idempotency'
import type { ChannelName, Message, MessageText, PlayerName } from '../../domain/message'
import type { Conversation } from '../../domain/message-repository'
import { run } from './message-repository.contract'

export type KeysUnderTest = { readonly keys: IdempotencyKeys; readonly close: () => Promise<void> }

/**
 * Opens fresh, empty keys. `now` is the clock the keys must keep time by
 * (retention and age): the suite moves it instead of sleeping.
 */
export type KeysFactory = (options: { readonly maxKeys: number; readonly retentionMs: number; readonly now: () => number }) => Promise<KeysUnderTest>

const conversation = (id: number, text: string, reply = true): Conversation => {
  const message: Message = {
    id,
    channel: 'global' as ChannelName,
    playerName: 'Bob' as PlayerName,
    text: text as MessageText,
    sentAt: 1_700_000_000_000,
    type: 'player',
    replyTo: undefined,
    userId: 42,
  }
  if (!reply) return { message }
  return {
    message,
    reply: { id: id + 1, channel: message.channel, playerName: 'Server' as PlayerName, text: 'Hello Bob!' as MessageText, sentAt: message.sentAt, type: 'reply', replyTo: id, userId: undefined },
  }
}

/** A conversation as data: a store that keeps it as JSON gives back no `undefined` fields, and need not. */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

const completed = (claim: Claim): Extract<Claim, { _tag: 'Completed' }> => {
  if (claim._tag !== 'Completed') throw new Error(`expected Completed, got ${claim._tag}`)
  return claim
}

/**
 * What every IdempotencyKeys store must do (see domain/idempotency.ts),
 * whatever it keeps them in. Each adapter's test file calls this with a
 * factory.
 */
export const idempotencyKeysContract = (adapter: string, factory: KeysFactory): void => {
  describe(`IdempotencyKeys contract: ${adapter}`, () => {
    const RETENTION = 60_000
    let now: number
    let opened: KeysUnderTest | undefined
    let keys: IdempotencyKeys
    const open = async (maxKeys = 100, retentionMs = RETENTION) => {
      await opened?.close()
      opened = await factory({ maxKeys, retentionMs, now: () => now })
      keys = opened.keys
    }
    const claim = (key: string, fingerprint = 'request') => run(keys.claim(key, fingerprint))
    const complete = (key: string, fingerprint = 'request', outcome = conversation(1, 'hi')) => run(keys.complete(key, fingerprint, outcome))

    beforeEach(async () => {
      now = 1_700_000_000_000
      await open()
    })
    afterEach(async () => {
      await opened?.close()
      opened = undefined
    })

    it('claims a new key, and answers InProgress to another claim while the first is unfinished', async () => {
      expect(await claim('k')).to.deep.equal({ _tag: 'Claimed' })
      expect(await claim('k')).to.deep.equal({ _tag: 'InProgress' })
      expect(await claim('k', 'another request')).to.deep.equal({ _tag: 'InProgress' })
      expect(await claim('other')).to.deep.equal({ _tag: 'Claimed' })
    })

    it('answers exactly one of many claims made at once with Claimed', async () => {
      const claims = await Promise.all(Array.from({ length: 20 }, () => claim('k')))
      expect(claims.filter((c) => c._tag === 'Claimed')).to.have.length(1)
      expect(claims.filter((c) => c._tag === 'InProgress')).to.have.length(19)
    })

    it('replays a completed key for the same request: sameRequest, and the conversation it was completed with', async () => {
      const withReply = conversation(7, 'hi')
      await claim('k', 'fingerprint')
      await complete('k', 'fingerprint', withReply)
      const replay = completed(await claim('k', 'fingerprint'))
      expect(replay.sameRequest).to.equal(true)
      expect(plain(replay.conversation)).to.deep.equal(plain(withReply))
      const alone = conversation(20, 'no reply', false)
      await claim('lone', 'fingerprint')
      await complete('lone', 'fingerprint', alone)
      const lone = completed(await claim('lone', 'fingerprint'))
      expect(plain(lone.conversation)).to.deep.equal(plain(alone))
      expect(lone.conversation.reply).to.equal(undefined)
    })

    it('tells a different request with a completed key apart: sameRequest false', async () => {
      await claim('k', 'first')
      await complete('k', 'first', conversation(1, 'a'))
      for (const other of ['second', 'first ', 'First', '']) expect(completed(await claim('k', other)).sameRequest, JSON.stringify(other)).to.equal(false)
      expect(completed(await claim('k', 'first')).sameRequest).to.equal(true)
    })

    it('lets a released key be claimed afresh; releasing a key it does not hold is harmless', async () => {
      await claim('k')
      await run(keys.release('k'))
      expect(await claim('k')).to.deep.equal({ _tag: 'Claimed' })
      await run(keys.release('never claimed'))
      expect(await claim('never claimed')).to.deep.equal({ _tag: 'Claimed' })
    })

    it('remembers a completed key for the retention counted from its completion, then forgets it', async () => {
      await claim('k')
      now += RETENTION / 2
      await complete('k')
      now += RETENTION - 1
      expect((await claim('k'))._tag, 'one millisecond before the retention ends').to.equal('Completed')
      now += 1
      expect(await claim('k'), 'once the retention has passed').to.deep.equal({ _tag: 'Claimed' })
    })

    it('forgets a claim never completed (its process died) once the retention has passed', async () => {
      await claim('k')
      now += RETENTION - 1
      expect(await claim('k')).to.deep.equal({ _tag: 'InProgress' })
      now += 1
      expect(await claim('k')).to.deep.equal({ _tag: 'Claimed' })
    })

    it('keeps at most maxKeys keys, forgetting the oldest first', async () => {
      await open(3)
      for (const key of ['k1', 'k2', 'k3', 'k4']) {
        now += 1
        await claim(key)
        await complete(key)
      }
      // Claims of completed keys add nothing, so these can be asked in any order.
      for (const key of ['k4', 'k3', 'k2']) expect((await claim(key))._tag, key).to.equal('Completed')
      expect(await claim('k1')).to.deep.equal({ _tag: 'Claimed' })
    })

    it('counts a key’s age from its completion when choosing the oldest to forget', async () => {
      await open(3)
      now += 1
      await claim('a')
      now += 1
      await claim('b')
      now += 1
      await complete('b')
      now += 1
      await complete('a')
      now += 1
      await claim('c')
      await complete('c')
      now += 1
      // A fourth key: b, completed before a, is the oldest.
      expect(await claim('d')).to.deep.equal({ _tag: 'Claimed' })
      expect((await claim('a'))._tag).to.equal('Completed')
      expect((await claim('c'))._tag).to.equal('Completed')
      expect(await claim('b')).to.deep.equal({ _tag: 'Claimed' })
    })
  })
}
