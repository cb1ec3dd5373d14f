import * as E from 'fp-ts/Either'
import { RE2JS, RE2JSSyntaxException } from 're2js'
import { prefixMatch, wordsMatch, type Match, type ReplyRule } from '../domain/reply-rules'

/*
 * AUTO_REPLY_RULES: a JSON file of reply rules, an ordered list. Each rule:
 *
 *   { "name": "report",                        1–64 of A–Z a–z 0–9 _ -, unique
 *     "channels": ["global"],                  optional: only these channels
 *     "match": { "words": ["hi", "hello"] }    any of these words or phrases, whole words, any case
 *           or { "prefix": "!help" }           the text begins with this, any case
 *           or { "regex": "^!report (\\w+)",   RE2 syntax, any case unless "case_sensitive": true
 *                "case_sensitive": false }
 *     "reply": "Thanks {player}, {1} is reported.",   {player}, {message}, {0}…{9}
 *     "cooldown_seconds": 30 }                 optional: per player
 *
 * Regular expressions run on RE2JS, a port of RE2: matching takes time in
 * proportion to the text whatever the pattern, so no rule can make a send
 * backtrack for ever. What needs backtracking (back-references,
 * look-arounds) is refused, naming the rule.
 */

const NAME = /^[A-Za-z0-9_-]{1,64}$/
const CHANNEL = /^[A-Za-z0-9_-]{1,32}$/
const RULE_FIELDS = new Set(['name', 'channels', 'match', 'reply', 'cooldown_seconds'])
/** The longest pattern accepted: RE2 compiles in time and memory proportional to it. */
const PATTERN_MAX = 1000

export const parseReplyRules = (text: string, where: string): E.Either<ReadonlyArray<string>, ReadonlyArray<ReplyRule>> => {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (err) {
    return E.left([`${where} must hold a JSON list of rules: ${(err as Error).message}`])
  }
  if (!Array.isArray(parsed)) return E.left([`${where} must hold a JSON list of rules (an array)`])
  const problems: string[] = []
  const rules: ReplyRule[] = []
  const names = new Set<string>()
  parsed.forEach((raw: unknown, i) => {
    const rule = parseRule(raw, `${where}: rule ${i + 1}`)
    if (E.isLeft(rule)) return problems.push(...rule.left)
    if (names.has(rule.right.name)) problems.push(`${where}: two rules are named ${rule.right.name}; each rule's name must be its own (it keys the rule's cooldowns)`)
    names.add(rule.right.name)
    rules.push(rule.right)
  })
  return problems.length > 0 ? E.left(problems) : E.right(rules)
}

const parseRule = (raw: unknown, where: string): E.Either<ReadonlyArray<string>, ReplyRule> => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return E.left([`${where} must be an object`])
  const o = raw as Record<string, unknown>
  const name = typeof o.name === 'string' && NAME.test(o.name) ? o.name : undefined
  const at = name === undefined ? where : `${where} (${name})`
  const problems: string[] = []
  if (name === undefined) problems.push(`${where}: name must be 1–64 of A–Z a–z 0–9 _ -`)
  for (const field of Object.keys(o)) if (!RULE_FIELDS.has(field)) problems.push(`${at}: ${field} is not a field of a rule (its fields: ${[...RULE_FIELDS].join(', ')})`)
  let channels: ReadonlySet<string> | undefined
  if (o.channels !== undefined) {
    if (Array.isArray(o.channels) && o.channels.length > 0 && o.channels.every((c) => typeof c === 'string' && CHANNEL.test(c))) channels = new Set(o.channels as string[])
    else problems.push(`${at}: channels must be a non-empty list of channel names (1–32 of A–Z a–z 0–9 _ -)`)
  }
  if (typeof o.reply !== 'string' || o.reply.trim() === '') problems.push(`${at}: reply must be a non-empty text ({player}, {message} and {0}…{9} are filled in)`)
  let cooldownMs = 0
  if (o.cooldown_seconds !== undefined) {
    if (typeof o.cooldown_seconds === 'number' && Number.isInteger(o.cooldown_seconds) && o.cooldown_seconds >= 0 && o.cooldown_seconds <= 86_400) cooldownMs = o.cooldown_seconds * 1000
    else problems.push(`${at}: cooldown_seconds must be a whole number from 0 to 86400`)
  }
  const match = parseMatch(o.match, at, problems)
  if (problems.length > 0 || match === undefined || name === undefined) return E.left(problems)
  return E.right({ name, ...(channels === undefined ? {} : { channels }), match, template: String(o.reply), cooldownMs })
}

const parseMatch = (raw: unknown, at: string, problems: string[]): Match | undefined => {
  const kinds = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? Object.keys(raw).filter((k) => k !== 'case_sensitive') : []
  if (kinds.length !== 1) {
    problems.push(`${at}: match must be one of { "words": [...] }, { "prefix": "..." } or { "regex": "..." }`)
    return undefined
  }
  const o = raw as Record<string, unknown>
  switch (kinds[0]) {
    case 'words':
      if (Array.isArray(o.words) && o.words.length > 0 && o.words.every((w) => typeof w === 'string' && /[\p{L}\p{N}]/u.test(w))) return wordsMatch(o.words as string[])
      problems.push(`${at}: match.words must be a non-empty list of words or phrases`)
      return undefined
    case 'prefix':
      if (typeof o.prefix === 'string' && o.prefix.trim() !== '') return prefixMatch(o.prefix.trimStart())
      problems.push(`${at}: match.prefix must be a non-empty text`)
      return undefined
    case 'regex': {
      if (typeof o.regex !== 'string' || o.regex === '' || o.regex.length > PATTERN_MAX) {
        problems.push(`${at}: match.regex must be a pattern of 1–${PATTERN_MAX} characters`)
        return undefined
      }
      if (o.case_sensitive !== undefined && typeof o.case_sensitive !== 'boolean') problems.push(`${at}: match.case_sensitive must be true or false`)
      try {
        const pattern = RE2JS.compile(o.regex, o.case_sensitive === true ? 0 : RE2JS.CASE_INSENSITIVE)
        const groups = pattern.groupCount()
        return (text) => {
          const m = pattern.matcher(text)
          if (!m.find()) return undefined
          const captures: Array<string | undefined> = []
          for (let g = 0; g <= Math.min(groups, 9); g++) captures.push(m.group(g) ?? undefined)
          return captures
        }
      } catch (err) {
        const reason = err instanceof RE2JSSyntaxException ? err.message : String(err)
        problems.push(
          `${at}: match.regex is refused: ${reason}. Patterns run on RE2 (linear time), which has no back-references or look-arounds, the features that can make a pattern backtrack for ever`,
        )
        return undefined
      }
    }
    default:
      problems.push(`${at}: match must be one of { "words": [...] }, { "prefix": "..." } or { "regex": "..." }`)
      return undefined
  }
}
