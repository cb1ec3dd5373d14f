import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import { readConfig } from '../../composition/config'
import { buildPorts, httpDeps } from '../../composition/start-server'
import { composePolicies, defaultContentPolicy, type ContentPolicy } from '../../domain/content-policy'
import type { ChannelName, MessageText, PlayerName } from '../../domain/message'
import { postJson, startTestServer, type TestServer } from '../support/server'

/*
 * The content policy through HTTP: a refusal is a 422 naming the field and the rule (never
 * the list), stores nothing and uses no id; what passes is stored as the policy passed it.
 */

const BLOCKED = ['bad', 'kill yourself', 'sh1t']

type Sent = { success: true; message: { id: number; message: string; player_name: string }; auto_reply: { id: number } | null }
type Refusal = { success: false; error: string }

for (const via of ['listener', 'koa'] as const) {
  describe(`HTTP API: the content policy (${via})`, () => {
    let t: TestServer
    beforeEach(async () => {
      t = await startTestServer({ via, contentPolicy: defaultContentPolicy({ blockedWords: BLOCKED }) })
    })
    afterEach(async () => {
      await t?.close()
    })

    const send = (body: unknown, headers: Record<string, string> = {}) => postJson(`${t.url}/api/send`, body, headers)
    const stored = async (): Promise<ReadonlyArray<{ id: number; message: string }>> =>
      ((await (await fetch(`${t.url}/api/messages`)).json()) as { messages: Array<{ id: number; message: string }> }).messages
    const expectRefused = async (res: Response, field: 'message' | 'player_name', rule = 'blocked-word'): Promise<void> => {
      const text = await res.text()
      expect(res.status, text).to.equal(422)
      expect(res.headers.get('content-type')).to.match(/^application\/json/)
      const body = JSON.parse(text) as Refusal
      expect(body).to.deep.equal({ success: false, error: `${field} was refused by the content policy (rule: ${rule})` })
      for (const word of BLOCKED) expect(body.error).not.to.include(word)
    }

    for (const text of [
      'you are bad',
      'BAD!',
      'b\u0430d', // Cyrillic а
      'ｂａｄ', // fullwidth
      'bád',
      'b.a.d',
      'b a d',
      'b-a-d',
      'b_a_d',
      'b...a...d',
      'b\u200bad',
      'b4d',
      'baaaad',
      'go kill yourself',
      'oh sh1t',
      'oh shit',
      'oh ѕhіt',
    ])
      it(`refuses ${JSON.stringify(text)} with 422 and the rule, storing nothing`, async () => {
        await expectRefused(await send({ player_name: 'Builderman', message: text }), 'message')
        expect(await stored()).to.deep.equal([])
      })

    it('refuses a blocked word in the player name, field player_name', async () => {
      await expectRefused(await send({ player_name: 'Bad_Player', message: 'hello' }), 'player_name')
      await expectRefused(await send({ player_name: 'B\u0430d', message: 'hello' }), 'player_name')
      expect(await stored()).to.deep.equal([])
    })

    it('uses no id: the next accepted message gets the next id', async () => {
      const first = (await (await send({ player_name: 'Builderman', message: 'hello' })).json()) as Sent
      expect(first.message.id).to.equal(1)
      expect(first.auto_reply?.id).to.equal(2)
      await expectRefused(await send({ player_name: 'Builderman', message: 'b.a.d' }), 'message')
      await expectRefused(await send({ player_name: 'Bad', message: 'hello' }), 'player_name')
      const next = (await (await send({ player_name: 'Builderman', message: 'hello again' })).json()) as Sent
      expect(next.message.id).to.equal(3)
      expect(next.auto_reply?.id).to.equal(4)
      expect((await stored()).map((m) => m.id)).to.deep.equal([1, 2, 3, 4])
    })

    it('passes ordinary messages, words that merely contain a blocked one included', async () => {
      for (const text of ['good game', 'a badge for the badger', 'Scunthorpe class assassin', 'kill the boss yourself', 'wow 2024'])
        expect((await send({ player_name: 'Builderman', message: text })).status, text).to.equal(200)
      expect((await stored()).filter((m) => m.id % 2 === 1).map((m) => m.message)).to.deep.equal([
        'good game',
        'a badge for the badger',
        'Scunthorpe class assassin',
        'kill the boss yourself',
        'wow 2024',
      ])
    })

    it('stores the text with absurd runs of invisible characters collapsed', async () => {
      const res = await send({ player_name: 'Builderman', message: `hi${'\u200b'.repeat(50)}there${'\u202e'.repeat(9)}` })
      expect(res.status).to.equal(200)
      const body = (await res.json()) as Sent
      expect(body.message.message).to.equal('hi\u200bthere\u202e')
      expect((await stored())[0]?.message).to.equal('hi\u200bthere\u202e')
    })

    it('leaves blank and invisible-only text to the 400 of the field rules, before any policy', async () => {
      for (const message of ['   ', '\u200b\u200b\u200b\u200b\u200b']) expect((await send({ player_name: 'Builderman', message })).status).to.equal(400)
    })

    it('releases an Idempotency-Key on a refusal: the same request is judged again, nothing replayed', async () => {
      const key = 'policy-key-0001'
      await expectRefused(await send({ player_name: 'Builderman', message: 'bad' }, { 'idempotency-key': key }), 'message')
      await expectRefused(await send({ player_name: 'Builderman', message: 'bad' }, { 'idempotency-key': key }), 'message')
      expect((await send({ player_name: 'Builderman', message: 'fine' }, { 'idempotency-key': key })).status).to.equal(200)
      expect(await stored()).to.have.length(2)
    })
  })

  describe(`HTTP API: a game's own policy after the default (${via})`, () => {
    let t: TestServer
    afterEach(async () => {
      await t?.close()
    })

    it('answers its rule by name, and stores the text it rewrote', async () => {
      const noLinks: ContentPolicy = (m) =>
        /https?:\/\//i.test(m.text) ? E.left({ _tag: 'PolicyRefused', rule: 'no-links', field: 'message' }) : E.right(m.text.trim() as MessageText)
      t = await startTestServer({ via, contentPolicy: composePolicies(defaultContentPolicy({ blockedWords: ['bad'] }), noLinks) })
      const link = await postJson(`${t.url}/api/send`, { player_name: 'Builderman', message: 'see http://example.com' })
      expect(link.status).to.equal(422)
      expect(((await link.json()) as Refusal).error).to.equal('message was refused by the content policy (rule: no-links)')
      expect((await postJson(`${t.url}/api/send`, { player_name: 'Builderman', message: 'bad' })).status).to.equal(422)
      const ok = (await (await postJson(`${t.url}/api/send`, { player_name: 'Builderman', message: '  padded  ' })).json()) as Sent
      expect(ok.message).to.include({ id: 1, message: 'padded' })
    })
  })
}

describe('composition: BLOCKED_WORDS builds the default policy', () => {
  it('httpDeps gives the HTTP adapter a policy with the configured words', () => {
    const config = readConfig({ BLOCKED_WORDS: 'bad,kill yourself' })
    if (E.isLeft(config)) throw new Error(config.left.join('; '))
    const deps = httpDeps(config.right, buildPorts(config.right), new AbortController().signal, { error: () => undefined })
    const judge = (text: string) => deps.contentPolicy?.({ playerName: 'P' as PlayerName, text: text as MessageText, channel: 'global' as ChannelName })
    expect(judge('b.а.d')).to.deep.equal(E.left({ _tag: 'PolicyRefused', rule: 'blocked-word', field: 'message' }))
    expect(judge('good')).to.deep.equal(E.right('good'))
  })

  it('without BLOCKED_WORDS the policy only collapses runs of invisible characters', () => {
    const config = readConfig({})
    if (E.isLeft(config)) throw new Error(config.left.join('; '))
    const deps = httpDeps(config.right, buildPorts(config.right), new AbortController().signal, { error: () => undefined })
    const judge = (text: string) => deps.contentPolicy?.({ playerName: 'P' as PlayerName, text: text as MessageText, channel: 'global' as ChannelName })
    expect(judge('bad')).to.deep.equal(E.right('bad'))
    expect(judge('a\u200b\u200b\u200b\u200bb')).to.deep.equal(E.right('a\u200bb'))
  })
})
