import type { ChannelName, MessageText, PlayerName } from './message'

/*
 * Replies by rule: an ordered list, each rule with an optional set of
 * channels, a match, a reply template and a per-player cooldown. The first
 * rule that matches (and is not cooling down for that player) replies;
 * when none does, the plain automatic reply (AUTO_REPLY) does.
 *
 * The match is a function here, so the domain stays free of any regular
 * expression engine: the composition root builds it (words and prefixes
 * here, regular expressions with a linear-time engine).
 */

/** What a reply is chosen by: the message as it will be stored. */
export type ReplyContext = {
  readonly playerName: PlayerName
  readonly text: MessageText
  readonly channel: ChannelName
  readonly userId?: number
}

/** The text matched, then its captured groups (`{1}`, `{2}`, …), or undefined when the rule does not match. */
export type Match = (text: string) => ReadonlyArray<string | undefined> | undefined

export type ReplyRule = {
  /** Names the rule in errors, logs and its cooldown's key: 1–64 of A–Z a–z 0–9 _ -. */
  readonly name: string
  /** Only in these channels; every channel when absent. */
  readonly channels?: ReadonlySet<string>
  readonly match: Match
  /** `{player}`, `{message}` and `{0}`…`{9}` (the match and its groups) are filled in. */
  readonly template: string
  /** Once a rule replied to a player, it does not reply to them again for this long. */
  readonly cooldownMs: number
}

/** Any of these words (or phrases of several words, matched as words in a row), in any case, as whole words. */
export const wordsMatch = (words: ReadonlyArray<string>): Match => {
  const wanted = words.map((w) => tokens(w)).filter((t) => t.length > 0)
  return (text) => {
    const said = tokens(text)
    for (const phrase of wanted)
      for (let i = 0; i + phrase.length <= said.length; i++) {
        let all = true
        for (let j = 0; j < phrase.length && all; j++) all = said[i + j] === phrase[j]
        if (all) return [phrase.join(' ')]
      }
    return undefined
  }
}

/** The text begins with this, in any case, after any leading spaces. */
export const prefixMatch = (prefix: string): Match => {
  const wanted = prefix.toLocaleLowerCase('en-US')
  return (text) => {
    const start = text.trimStart()
    return start.slice(0, wanted.length).toLocaleLowerCase('en-US') === wanted ? [start.slice(0, wanted.length)] : undefined
  }
}

/** Words as letters, marks and digits in a row, case folded: how a text is split for `wordsMatch`. */
const tokens = (text: string): string[] => (text.toLocaleLowerCase('en-US').match(/[\p{L}\p{M}\p{N}_']+/gu) ?? []).map((t) => t.replace(/^'+|'+$/g, '')).filter((t) => t !== '')

/** A rule's reply for a message it matched: the template filled in, cut to `maxLength` characters (never inside a character). */
export const renderReply = (template: string, context: ReplyContext, captures: ReadonlyArray<string | undefined>, maxLength: number): MessageText => {
  const filled = template.replace(/\{(player|message|[0-9])\}/g, (_, key: string) => {
    if (key === 'player') return context.playerName
    if (key === 'message') return context.text
    return captures[Number(key)] ?? ''
  })
  const chars = Array.from(filled)
  return (chars.length <= maxLength ? filled : chars.slice(0, maxLength).join('')) as MessageText
}

/** The rules that match a message, in order, with what each matched. */
export const matchingRules = function* (rules: ReadonlyArray<ReplyRule>, context: ReplyContext): Generator<{ readonly rule: ReplyRule; readonly captures: ReadonlyArray<string | undefined> }> {
  for (const rule of rules) {
    if (rule.channels !== undefined && !rule.channels.has(context.channel)) continue
    const captures = rule.match(context.text)
    if (captures !== undefined) yield { rule, captures }
  }
}
