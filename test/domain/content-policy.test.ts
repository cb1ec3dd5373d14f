import { expect } from 'chai'
import * as E from 'fp-ts/Either'
import {
  allowAll,
  blockedWordMatcher,
  collapseInvisibleRuns,
  composePolicies,
  defaultContentPolicy,
  type ContentPolicy,
  type PolicedMessage,
} from '../../domain/content-policy'
import { messageText, type ChannelName, type MessageText, type PlayerName } from '../../domain/message'

const message = (text: string, playerName = 'Builderman'): PolicedMessage => ({
  playerName: playerName as PlayerName,
  text: text as MessageText,
  channel: 'global' as ChannelName,
})

const refusedFor = (field: 'message' | 'player_name') => E.left({ _tag: 'PolicyRefused', rule: 'blocked-word', field })

describe('domain: the content policy', () => {
  describe('blocked words', () => {
    const holds = blockedWordMatcher(['bad', 'ass', 'shit', 'kill yourself', '1488'])

    it('matches a listed word in any case, among punctuation', () => {
      for (const text of ['bad', 'BAD', 'Bad!', 'that was bad.', '(bad)', '"bad"', 'so bad\nreally', 'ok:bad;ok', 'bad_guy', 'bad-ass'])
        expect(holds(text), text).to.equal(true)
    })

    it('sees through look-alike letters: Cyrillic, Greek, fullwidth, mathematical, circled, accents', () => {
      for (const text of [
        'b\u0430d', // Cyrillic а
        'ｂａｄ', // fullwidth
        'ＢＡＤ',
        '𝐛𝐚𝐝', // mathematical bold
        'ⓑⓐⓓ', // circled
        'bád',
        'b\u0061\u0301d', // a + combining acute
        'bȁd',
        'ѕhіt', // Cyrillic ѕ and і
        'ΒΑD', // Greek capitals
      ])
        expect(holds(text), text).to.equal(true)
    })

    it('sees through zero-width characters and soft hyphens inside a word', () => {
      for (const text of ['b\u200bad', 'b\u00adad', 'b\u200d\u200cad', 'b\u2060a\u2060d']) expect(holds(text), JSON.stringify(text)).to.equal(true)
    })

    it('catches a word spelt out with separators between single letters', () => {
      for (const text of ['b.a.d', 'b a d', 'b-a-d', 'b_a_d', 'b...a...d', 'b - a - d', 'B.A.D!', 'you are a b a d player', 's h i t', 'b.4.d', 'b·a·d'])
        expect(holds(text), text).to.equal(true)
    })

    it('reads common leet digits and symbols inside a word', () => {
      for (const text of ['b4d', 'b@d', 'B4D', 'a$$', 'a55', 'sh1t', '5hit', '$hit']) expect(holds(text), text).to.equal(true)
    })

    it('reads a run of three or more of one letter as one or two, but not a double as a single', () => {
      expect(holds('baaad')).to.equal(true)
      expect(holds('BaAaAaD')).to.equal(true)
      expect(holds('asssss')).to.equal(true)
      expect(holds('baad')).to.equal(false)
      expect(blockedWordMatcher(['god'])('good game')).to.equal(false)
      expect(blockedWordMatcher(['god'])('oh gooood')).to.equal(true)
    })

    it('matches whole words only: no false positives inside other words', () => {
      for (const text of ['class', 'Scunthorpe', 'assassin', 'passage', 'badge', 'badly', 'bass', 'embassy', 'shiitake', 'b ad', 'ba d'])
        expect(holds(text), text).to.equal(false)
      expect(blockedWordMatcher(['cunt'])('Scunthorpe United')).to.equal(false)
      expect(blockedWordMatcher(['hell'])('hello, shell, Michelle')).to.equal(false)
      expect(blockedWordMatcher(['sex'])('Sussex and Essex')).to.equal(false)
    })

    it('leaves numbers as written: 2024 is not a word, but a listed number matches', () => {
      expect(holds('year 1488')).to.equal(true)
      expect(holds('14880')).to.equal(false)
      expect(blockedWordMatcher(['so'])('costs $0 today and 50 tomorrow')).to.equal(false)
    })

    it('matches an entry of several words as those words in a row', () => {
      expect(holds('go kill yourself')).to.equal(true)
      expect(holds('KILL   YOURSELF!!')).to.equal(true)
      expect(holds('kill y0urself')).to.equal(true)
      expect(holds('kill kill yourself')).to.equal(true)
      expect(holds('kill the boss yourself')).to.equal(false)
      expect(holds('killyourself')).to.equal(false)
    })

    it('normalises the list as it normalises text: look-alikes, case, separators in the list work too', () => {
      const fromList = blockedWordMatcher(['  BÁD ', 'ｓｈｏｏｔ', 'b.u.g', 'n00b'])
      for (const text of ['bad', 'shoot', 'bug', 'noob', 'n00b', 'b u g']) expect(fromList(text), text).to.equal(true)
      expect(fromList('debug noobs')).to.equal(false)
    })

    it('allows everything with an empty list (or one of only separators)', () => {
      for (const list of [[], ['', '  ', '...']]) {
        const none = blockedWordMatcher(list)
        for (const text of ['bad', 'anything at all', 'b.a.d', '']) expect(none(text)).to.equal(false)
      }
    })

    it('handles non-Latin words in the list and in text', () => {
      const russian = blockedWordMatcher(['дурак'])
      expect(russian('ты дурак!')).to.equal(true)
      expect(russian('ТЫ ДУРАК')).to.equal(true)
      expect(russian('дураки')).to.equal(false)
    })
  })

  describe('runs of invisible characters', () => {
    it('collapses more than three zero-width or bidi controls in a row to one', () => {
      expect(collapseInvisibleRuns('a\u200b\u200b\u200b\u200bb')).to.equal('a\u200bb')
      expect(collapseInvisibleRuns(`a${'\u202e'.repeat(500)}b`)).to.equal('a\u202eb')
      expect(collapseInvisibleRuns('a\u200b\u200c\u200d\u2060\u200e\u200fb')).to.equal('a\u200bb')
      expect(collapseInvisibleRuns('x\u2066\u2067\u2068\u2069\u202ay')).to.equal('x\u2066y')
    })

    it('keeps up to three in a row: emoji joiners, a Persian ZWNJ, an isolate and its pop', () => {
      for (const text of ['👨\u200d👩\u200d👧\u200d👦', 'می\u200cخواهم', 'a\u2067b\u2069c', 'a\u200b\u200b\u200bb', 'plain text'])
        expect(collapseInvisibleRuns(text)).to.equal(text)
    })

    it('never turns visible text blank: the policy only removes invisible characters, one of each run stays', () => {
      const policy = defaultContentPolicy()
      const judged = policy(message(`hi${'\u200b'.repeat(1000)}`))
      expect(judged).to.deep.equal(E.right('hi\u200b'))
      // Text of nothing but invisible characters is refused earlier, by the smart constructor (a 400), and never reaches a policy.
      expect(messageText(1000)('\u200b'.repeat(10))._tag).to.equal('Left')
    })
  })

  describe('defaultContentPolicy', () => {
    const policy = defaultContentPolicy({ blockedWords: ['bad'] })

    it('passes ordinary messages unchanged', () => {
      expect(policy(message('hello there, good game!'))).to.deep.equal(E.right('hello there, good game!'))
    })

    it('refuses a blocked word in the message with the rule and the field', () => {
      expect(policy(message('you are b.а.d'))).to.deep.equal(refusedFor('message'))
    })

    it('refuses a blocked word in the player name, before the message', () => {
      expect(policy(message('hello', 'Bad_Player'))).to.deep.equal(refusedFor('player_name'))
      expect(policy(message('bad', 'Bаd'))).to.deep.equal(refusedFor('player_name'))
      expect(policy(message('hello', 'Badger'))).to.deep.equal(E.right('hello'))
    })

    it('collapses runs before it looks for words, and without words only collapses', () => {
      expect(policy(message('b\u200b\u200b\u200b\u200b\u200bad'))).to.deep.equal(refusedFor('message'))
      expect(defaultContentPolicy()(message('bad\u200b\u200b\u200b\u200b'))).to.deep.equal(E.right('bad\u200b'))
    })
  })

  describe('composing policies', () => {
    const noShouting: ContentPolicy = (m) => (m.text === m.text.toUpperCase() && /[A-Z]/.test(m.text) ? E.left({ _tag: 'PolicyRefused', rule: 'no-shouting', field: 'message' }) : E.right(m.text))
    const signed: ContentPolicy = (m) => E.right(`${m.text} (${m.playerName})` as MessageText)

    it('runs each in order on the text the previous one passed on; the first refusal wins', () => {
      const policy = composePolicies(defaultContentPolicy({ blockedWords: ['bad'] }), noShouting, signed)
      expect(policy(message('hi\u200b\u200b\u200b\u200b'))).to.deep.equal(E.right('hi\u200b (Builderman)'))
      expect(policy(message('BAD'))).to.deep.equal(refusedFor('message'))
      expect(policy(message('HELLO'))).to.deep.equal(E.left({ _tag: 'PolicyRefused', rule: 'no-shouting', field: 'message' }))
    })

    it('of none, or allowAll, allows everything', () => {
      expect(composePolicies()(message('anything'))).to.deep.equal(E.right('anything'))
      expect(allowAll(message('bad'))).to.deep.equal(E.right('bad'))
    })
  })
})
