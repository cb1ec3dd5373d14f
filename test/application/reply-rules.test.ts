import { expect } from 'chai'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as E from 'fp-ts/Either'
import * as O from 'fp-ts/Option'
import { createMemoryRateLimiter } from '../../adapters/memory/memory-rate-limiter'
import { replyByRules } from '../../application/reply-by-rules'
import { parseReplyRules } from '../../composition/reply-rules-file'
import { autoReplyFromTemplate } from '../../domain/auto-reply'
import type { ChannelName, MessageText, PlayerName } from '../../domain/message'
import type { ReplyRule } from '../../domain/reply-rules'

/*
 * Replies by rule: the file's rules (words, prefixes, RE2 patterns), their
 * order, channels, captures and cooldowns, the fallback, and the problems a
 * bad file is refused with, each naming its rule.
 */

const rulesOf = (json: unknown): ReadonlyArray<ReplyRule> => {
  const parsed = parseReplyRules(JSON.stringify(json), 'AUTO_REPLY_RULES')
  if (E.isLeft(parsed)) throw new Error(parsed.left.join('\n'))
  return parsed.right
}
const problemsOf = (json: unknown): ReadonlyArray<string> => {
  const parsed = parseReplyRules(typeof json === 'string' ? json : JSON.stringify(json), 'AUTO_REPLY_RULES')
  if (E.isRight(parsed)) throw new Error('expected the rules to be refused')
  return parsed.left
}

const context = (text: string, channel = 'global', playerName = 'Builderman', userId?: number) => ({
  playerName: playerName as PlayerName,
  text: text as MessageText,
  channel: channel as ChannelName,
  ...(userId === undefined ? {} : { userId }),
})

const RULES = [
  { name: 'help', match: { prefix: '!help' }, reply: 'Commands: !help, !report <name>' },
  { name: 'report', match: { regex: '^!report (\\w+)(?: (.*))?$' }, reply: 'Thanks {player}, {1} is reported ({2}).' },
  { name: 'greeting', channels: ['lobby'], match: { words: ['hi', 'good morning'] }, reply: 'Welcome to the lobby, {player}!', cooldown_seconds: 60 },
  { name: 'echo', match: { words: ['echo'] }, reply: '{player} said: {message}' },
]

describe('reply rules', () => {
  let now = 1_700_000_000_000
  const replies = (rules = rulesOf(RULES), fallback = 'Hello {player}!', maxLength = 1000) =>
    replyByRules({ rules: () => rules, cooldowns: createMemoryRateLimiter({ maxKeys: 100, now: () => now }), fallback: autoReplyFromTemplate(fallback), maxLength })
  const text = (o: O.Option<MessageText>) => (O.isSome(o) ? o.value : undefined)

  it('replies by the first rule that matches, in the file’s order, and falls back to AUTO_REPLY', async () => {
    const reply = replies()
    expect(text(await reply(context('!HELP me')))).to.equal('Commands: !help, !report <name>')
    expect(text(await reply(context('  !help')))).to.equal('Commands: !help, !report <name>')
    expect(text(await reply(context('just chatting')))).to.equal('Hello Builderman!')
    expect(text(await replies(rulesOf(RULES), '')(context('just chatting')))).to.equal(undefined)
  })

  it('fills in captured groups, the player and the message', async () => {
    const reply = replies()
    expect(text(await reply(context('!report Griefer123 broke my house')))).to.equal('Thanks Builderman, Griefer123 is reported (broke my house).')
    expect(text(await reply(context('!report Griefer123')))).to.equal('Thanks Builderman, Griefer123 is reported ().')
    expect(text(await reply(context('Echo this please')))).to.equal('Builderman said: Echo this please')
  })

  it('matches words and phrases as whole words, in any case, only in the rule’s channels', async () => {
    const reply = replies()
    expect(text(await reply(context('HI everyone', 'lobby')))).to.equal('Welcome to the lobby, Builderman!')
    expect(text(await reply(context('Good   Morning!', 'lobby', 'Ann')))).to.equal('Welcome to the lobby, Ann!')
    expect(text(await reply(context('this is high', 'lobby', 'Bob')))).to.equal('Hello Bob!')
    expect(text(await reply(context('hi', 'global', 'Cid')))).to.equal('Hello Cid!')
  })

  it('keeps a cooldown per player and rule: the next rule or the fallback answers meanwhile, and the rule again after it', async () => {
    const reply = replies()
    expect(text(await reply(context('hi', 'lobby', 'Ann', 7)))).to.equal('Welcome to the lobby, Ann!')
    // The same user under another name is the same player; another player is not cooling down.
    expect(text(await reply(context('hi', 'lobby', 'Ann2', 7)))).to.equal('Hello Ann2!')
    expect(text(await reply(context('hi', 'lobby', 'Bob')))).to.equal('Welcome to the lobby, Bob!')
    now += 59_000
    expect(text(await reply(context('hi', 'lobby', 'Ann', 7)))).to.equal('Hello Ann!')
    now += 1_000
    expect(text(await reply(context('hi', 'lobby', 'Ann', 7)))).to.equal('Welcome to the lobby, Ann!')
  })

  it('cuts a reply to the longest message', async () => {
    const reply = replies(rulesOf([{ name: 'echo', match: { words: ['echo'] }, reply: '{message}{message}' }]), 'x', 10)
    expect(text(await reply(context('echo 😀😀😀😀')))).to.equal('echo 😀😀😀😀e')
  })

  it('runs patterns in linear time: one that backtracks for ever in JavaScript answers at once', async () => {
    const reply = replies(rulesOf([{ name: 'evil', match: { regex: '^(a+)+$' }, reply: 'matched' }]))
    // JavaScript's own engine would take longer than the test's timeout on this text.
    expect(text(await reply(context(`${'a'.repeat(30_000)}!`)))).to.equal('Hello Builderman!')
    expect(text(await reply(context('aaaa')))).to.equal('matched')
  })

  it('refuses what needs backtracking (back-references, look-arounds), naming the rule', () => {
    expect(problemsOf([{ name: 'backref', match: { regex: '(a*)*\\1' }, reply: 'x' }])[0]).to.match(/^AUTO_REPLY_RULES: rule 1 \(backref\): match\.regex is refused: .*back-references/)
    expect(problemsOf([{ name: 'ok', match: { prefix: '!' }, reply: 'x' }, { name: 'look', match: { regex: '(?=a)b' }, reply: 'x' }])[0]).to.match(/^AUTO_REPLY_RULES: rule 2 \(look\): match\.regex is refused/)
  })

  it("reads the README's example file, and replies by it as the README says", async () => {
    const readme = readFileSync(join(__dirname, '..', '..', 'README.md'), 'utf8')
    const example = /## Replies by rule[\s\S]*?```json\n([\s\S]*?)```/.exec(readme)?.[1]
    const reply = replies(rulesOf(JSON.parse(example ?? 'null')))
    expect(text(await reply(context('!report Griefer123 broke my house')))).to.equal('Thanks Builderman, Griefer123 has been reported.')
    expect(text(await reply(context('good morning all', 'lobby')))).to.equal('Welcome to the lobby, Builderman!')
  })

  it('refuses a bad file, every problem naming its rule and field', () => {
    expect(problemsOf('not json')[0]).to.match(/^AUTO_REPLY_RULES must hold a JSON list of rules/)
    expect(problemsOf({ rules: [] })).to.deep.equal(['AUTO_REPLY_RULES must hold a JSON list of rules (an array)'])
    const problems = problemsOf([
      { name: 'bad name!', match: { prefix: '!' }, reply: 'x' },
      { name: 'nomatch', reply: 'x' },
      { name: 'noreply', match: { words: ['hi'] } },
      { name: 'cool', match: { words: ['hi'] }, reply: 'x', cooldown_seconds: -1 },
      { name: 'chan', channels: ['no spaces'], match: { words: ['hi'] }, reply: 'x' },
      { name: 'extra', match: { words: ['hi'] }, reply: 'x', colour: 'red' },
      { name: 'dup', match: { words: ['hi'] }, reply: 'x' },
      { name: 'dup', match: { words: ['hi'] }, reply: 'y' },
    ])
    expect(problems).to.include('AUTO_REPLY_RULES: rule 1: name must be 1–64 of A–Z a–z 0–9 _ -')
    expect(problems).to.include('AUTO_REPLY_RULES: rule 2 (nomatch): match must be one of { "words": [...] }, { "prefix": "..." } or { "regex": "..." }')
    expect(problems).to.include('AUTO_REPLY_RULES: rule 3 (noreply): reply must be a non-empty text ({player}, {message} and {0}…{9} are filled in)')
    expect(problems).to.include('AUTO_REPLY_RULES: rule 4 (cool): cooldown_seconds must be a whole number from 0 to 86400')
    expect(problems).to.include('AUTO_REPLY_RULES: rule 5 (chan): channels must be a non-empty list of channel names (1–32 of A–Z a–z 0–9 _ -)')
    expect(problems.some((p) => p.startsWith('AUTO_REPLY_RULES: rule 6 (extra): colour is not a field of a rule'))).to.equal(true)
    expect(problems.some((p) => p.startsWith('AUTO_REPLY_RULES: two rules are named dup'))).to.equal(true)
  })
})
