import * as E from 'fp-ts/Either'
import { nameSkeleton, type ChannelName, type MessageText, type PlayerName } from './message'

/*
 * The content policy: the port through which a message is judged after its fields are valid
 * (domain/message.ts) and before anything is stored. Blank, control-character and
 * invisible-only text never reaches a policy: the smart constructors in message.ts refuse
 * those (400). A policy refuses what is valid but unwanted (422, with the rule's name), or
 * passes the text on, possibly rewritten.
 *
 * This protects the server's own history and what it relays; it does not replace Roblox's
 * filter (TextService), which a game must still apply before showing any text to players.
 */

/** What a policy judges: the fields as the smart constructors accepted them. */
export type PolicedMessage = {
  readonly playerName: PlayerName
  readonly text: MessageText
  readonly channel: ChannelName
}

/** A refusal: the field it concerns and the stable name of the rule (`blocked-word`, or a game's own). Never the words themselves. */
export type PolicyRefusal = {
  readonly _tag: 'PolicyRefused'
  readonly rule: string
  readonly field: 'message' | 'player_name'
}

/**
 * The port. Returns the text to store (the same, or rewritten) or a refusal. It must not
 * throw and should be fast: it runs on every send.
 */
export type ContentPolicy = (message: PolicedMessage) => E.Either<PolicyRefusal, MessageText>

/** The rule name of a refusal for a blocked word, in the message or in the player's name. */
export const BLOCKED_WORD_RULE = 'blocked-word'

/** Stores everything as sent. */
export const allowAll: ContentPolicy = (message) => E.right(message.text)

/**
 * Runs policies in order, each on the text the previous one passed on; the first refusal
 * wins. A game puts its own rules after the default: `composePolicies(defaultContentPolicy(...), mine)`.
 */
export const composePolicies =
  (...policies: ReadonlyArray<ContentPolicy>): ContentPolicy =>
  (message) => {
    let text = message.text
    for (const policy of policies) {
      const judged = policy(text === message.text ? message : { ...message, text })
      if (E.isLeft(judged)) return judged
      text = judged.right
    }
    return E.right(text)
  }

// ---------------------------------------------------------------------------------------------
// Runs of invisible characters

/** Runs longer than this are collapsed; one to three in a row (an emoji's joiners, a Persian ZWNJ, an isolate and its pop) are kept. */
export const INVISIBLE_RUN_MAX = 3

/** Zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner, invisible operators, BOM, Mongolian vowel separator) and bidirectional controls (marks, embeddings, overrides, isolates), more than INVISIBLE_RUN_MAX in a row. */
const INVISIBLE_RUN = new RegExp(`[\\u061c\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u2064\\u2066-\\u2069\\ufeff]{${INVISIBLE_RUN_MAX + 1},}`, 'g')

const ASCII = /^[\x00-\x7f]*$/

/**
 * Collapses every run of more than three zero-width or bidirectional-control characters to
 * its first character. Only invisible characters are removed, and one of each run stays, so
 * text that shows something still shows the same, and the result is never blank.
 */
export const collapseInvisibleRuns = (text: string): string =>
  ASCII.test(text) ? text : text.replace(INVISIBLE_RUN, (run) => run.charAt(0))

// ---------------------------------------------------------------------------------------------
// Blocked words

/*
 * Text and word list are reduced alike to a "folded" string of word characters and spaces:
 *  - NFKC (fullwidth, mathematical, circled letters), accents and other combining marks and
 *    default-ignorable characters (zero-width, bidi controls, soft hyphen) dropped, look-alikes
 *    from other scripts mapped by `confusables` (Cyrillic а, Greek ο…), case folded: the
 *    `nameSkeleton` of message.ts, one character at a time, cached;
 *  - letters and digits of any script are word characters, and so are `@` and `$` (leet);
 *    everything else (spaces, punctuation, symbols, emoji) separates words.
 * A word (a maximal run of word characters) holding at least one letter is read in leet:
 * 0→o 3→e 4→a 5→s 7→t @→a $→s, and 1 as i or l. Numbers (no letter) are read as written,
 * so `1488` can be listed and `2024` or `$5` are never read as letters; 2, 6, 8 and 9 are not
 * mapped (`gr8`, `b2b`, `4u`: too many ordinary words). A run of three or more of one letter
 * stands for one or two (`baaad` is `bad`, `asss` is `ass`); doubles are exact (`good` is not `god`).
 * A listed word matches a whole word only (`class` does not contain `ass`, nor `Scunthorpe`
 * anything), or letters spelt out one at a time between separators (`b.a.d`, `b a d`,
 * `b-a-d`, `b_a_d`, `b...a...d`, also within a longer spelling: `a b a d`).
 * An entry of several words (`kill yourself`) matches those words in a row.
 */

const SEPARATOR = ' '

/** Printable ASCII folded: lower-case letters, digits, `@`, `$`; everything else a separator. */
const ASCII_FOLD: ReadonlyArray<string> = Array.from({ length: 128 }, (_, code) => {
  const c = String.fromCharCode(code).toLowerCase()
  return /[a-z0-9@$]/.test(c) ? c : SEPARATOR
})

const WORD_CHARACTER = /[\p{L}\p{N}]/u
const FOLD_CACHE_MAX = 10_000
const foldCache = new Map<string, string>()

/** One non-ASCII character (code point) folded: '' when it is a mark or ignorable, possibly several characters (`ﬁ`). */
const foldCharacter = (ch: string): string => {
  const cached = foldCache.get(ch)
  if (cached !== undefined) return cached
  let folded = ''
  for (const c of nameSkeleton(ch)) {
    const code = c.charCodeAt(0)
    folded += code < 128 ? (ASCII_FOLD[code] as string) : WORD_CHARACTER.test(c) ? c : SEPARATOR
  }
  if (foldCache.size < FOLD_CACHE_MAX) foldCache.set(ch, folded)
  return folded
}

const NOT_ASCII_WORD = /[^a-z0-9@$]+/g

/** The text as word characters separated by spaces (see above). */
const foldText = (text: string): string => {
  if (ASCII.test(text)) return text.toLowerCase().replace(NOT_ASCII_WORD, SEPARATOR)
  let folded = ''
  for (const ch of text.normalize('NFKC')) {
    const code = ch.charCodeAt(0)
    folded += code < 128 ? (ASCII_FOLD[code] as string) : foldCharacter(ch)
  }
  return folded
}

const LEET: Readonly<Record<string, string>> = { '0': 'o', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' }
const LEET_CHARACTERS = /[03457@$]/g
const HAS_LEET = /[0-9@$]/
const ALL_DIGITS_OR_SYMBOLS = /^[\p{N}@$]+$/u
const TRIPLE = /(.)\1\1/
/** Where readings of one word stop multiplying (each `1` and each run of three or more doubles them). */
const READINGS_MAX = 64

/** Whether a folded word holds a letter; if not, it is a number, read as written. */
const hasLetter = (word: string): boolean => !ALL_DIGITS_OR_SYMBOLS.test(word)

/**
 * The ways a folded word may be read: a number as written; a word with a letter with leet
 * mapped, each `1` as i or l, each run of three or more of one character as one or two of it.
 * Usually just the word itself.
 */
const readings = (word: string): ReadonlyArray<string> => {
  if (!hasLetter(word)) return [word]
  const mapped = HAS_LEET.test(word) ? word.replace(LEET_CHARACTERS, (c) => LEET[c] ?? c) : word
  if (!mapped.includes('1') && !TRIPLE.test(mapped)) return [mapped]
  let out: string[] = ['']
  for (let i = 0; i < mapped.length; ) {
    const c = mapped.charAt(i)
    let j = i + 1
    while (j < mapped.length && mapped.charAt(j) === c) j++
    const n = j - i
    const options = c === '1' ? (n >= 3 ? ['i', 'ii', 'l', 'll'] : n === 2 ? ['ii', 'il', 'li', 'll'] : ['i', 'l']) : n >= 3 ? [c, c + c] : [c.repeat(n)]
    const usable = out.length * options.length > READINGS_MAX ? options.slice(0, 1) : options
    const next: string[] = []
    for (const prefix of out) for (const option of usable) next.push(prefix + option)
    out = next
    i = j
  }
  return out
}

const isHighSurrogate = (code: number): boolean => code >= 0xd800 && code <= 0xdbff

/** One character, a surrogate pair included. */
const isSingle = (word: string): boolean => word.length === 1 || (word.length === 2 && isHighSurrogate(word.charCodeAt(0)))

/** The words of folded text, runs of single characters (`b a d`) joined into one: how an entry of the list is read. */
const entryWords = (folded: string): ReadonlyArray<string> => {
  const words: string[] = []
  let spelt = ''
  for (const word of folded.split(SEPARATOR)) {
    if (word === '') continue
    if (isSingle(word)) {
      spelt += word
      continue
    }
    if (spelt !== '') words.push(spelt)
    spelt = ''
    words.push(word)
  }
  if (spelt !== '') words.push(spelt)
  return words
}

/** A trie of the listed words' readings, by UTF-16 code: the scan walks it as it reads, and most words leave it after a letter or two. */
type TrieNode = {
  readonly next: Map<number, TrieNode>
  /** The ASCII children again, indexed by code, for a node with many (the first letters): an index is cheaper than a Map. */
  ascii: Array<TrieNode | undefined> | undefined
  /** A listed word ends here. */
  word: boolean
  /** An entry of several words starts with the word that ends here. */
  phrase: boolean
}

type Phrase = ReadonlyArray<ReadonlySet<string>>

/** The word list, folded once. */
type CompiledWords = {
  readonly root: TrieNode
  /** Every reading of every one-word entry. */
  readonly words: ReadonlySet<string>
  /** Entries of several words, by each reading of their first word. */
  readonly phrases: ReadonlyMap<string, ReadonlyArray<Phrase>>
}

const trieNode = (): TrieNode => ({ next: new Map(), ascii: undefined, word: false, phrase: false })

/** Children from which a node also gets an index by ASCII code. */
const DENSE_CHILDREN = 4

const indexDense = (node: TrieNode): void => {
  if (node.next.size >= DENSE_CHILDREN) {
    const ascii = new Array<TrieNode | undefined>(128).fill(undefined)
    for (const [code, child] of node.next) if (code < 128) ascii[code] = child
    node.ascii = ascii
  }
  for (const child of node.next.values()) indexDense(child)
}

const insert = (root: TrieNode, word: string): TrieNode => {
  let node = root
  for (let i = 0; i < word.length; i++) {
    const code = word.charCodeAt(i)
    let child = node.next.get(code)
    if (child === undefined) node.next.set(code, (child = trieNode()))
    node = child
  }
  return node
}

const child = (node: TrieNode, code: number): TrieNode | undefined =>
  code < 128 && node.ascii !== undefined ? node.ascii[code] : node.next.get(code)

const compileWords = (entries: ReadonlyArray<string>): CompiledWords => {
  const root = trieNode()
  const words = new Set<string>()
  const phrases = new Map<string, Phrase[]>()
  for (const entry of entries) {
    const parts = entryWords(foldText(entry))
    if (parts.length === 0) continue
    if (parts.length === 1) {
      for (const reading of readings(parts[0] as string)) {
        words.add(reading)
        insert(root, reading).word = true
      }
      continue
    }
    const phrase: Phrase = parts.map((part) => new Set(readings(part)))
    for (const first of phrase[0] as ReadonlySet<string>) {
      insert(root, first).phrase = true
      const list = phrases.get(first)
      if (list === undefined) phrases.set(first, [phrase])
      else list.push(phrase)
    }
  }
  indexDense(root)
  return { root, words, phrases }
}

/**
 * Whether a spelling of single characters (`b a d`, `b.4.d`) is a listed word, read as any
 * word is, or holds one anywhere as letters in a row (`a b a d`; `1` read as i there).
 */
const spellingHolds = (compiled: CompiledWords, spelt: string): boolean => {
  if (!hasLetter(spelt)) return false
  if (readings(spelt).some((reading) => compiled.words.has(reading))) return true
  const letters = spelt.replace(LEET_CHARACTERS, (c) => LEET[c] ?? c).replace(/1/g, 'i')
  // Every stretch of two letters or more, each walked down the trie from its first letter until it leaves it.
  for (let start = 0; start + 2 <= letters.length; start++) {
    let node: TrieNode | undefined = compiled.root
    for (let j = start; j < letters.length && node !== undefined; j++) {
      node = child(node, letters.charCodeAt(j))
      if (node?.word === true && j > start) return true
    }
  }
  return false
}

type Pending = { readonly phrase: Phrase; readonly next: number }

/** The phrases under way after one more word, or true when one is complete. */
const advance = (phrases: CompiledWords['phrases'], pending: ReadonlyArray<Pending>, forms: ReadonlyArray<string>): Pending[] | true => {
  const next: Pending[] = []
  for (const p of pending)
    if (forms.some((form) => (p.phrase[p.next] as ReadonlySet<string>).has(form))) {
      if (p.next + 1 === p.phrase.length) return true
      next.push({ phrase: p.phrase, next: p.next + 1 })
    }
  for (const form of forms) for (const phrase of phrases.get(form) ?? []) next.push({ phrase, next: 1 })
  return next
}

/** A code unit folded as the scan reads it: ASCII lower-cased, 0 for a separator; anything above ASCII is a word character (folded text only has those). */
const FOLD_CODE = Uint16Array.from({ length: 128 }, (_, code) => {
  const c = ASCII_FOLD[code] as string
  return c === SEPARATOR ? 0 : c.charCodeAt(0)
})

/** A word of the scanned text as a folded string. */
const cut = (s: string, start: number, end: number, ascii: boolean): string => (ascii ? s.slice(start, end).toLowerCase() : s.slice(start, end))

const isLeetCode = (c: number): boolean => (c >= 48 && c <= 57) || c === 64 || c === 36

/**
 * One pass over printable text already folded, or over ASCII text (folded as it is read): each
 * word walks the trie; only a word with a digit, `@`, `$` or a letter three times in a row, a
 * spelling, or a word that may start or continue a phrase is cut out as a string.
 */
const holdsBlocked = (compiled: CompiledWords, s: string, ascii: boolean): boolean => {
  const { root, words, phrases } = compiled
  const hasPhrases = phrases.size > 0
  const n = s.length
  let pending: Pending[] = []
  let spelt = ''
  let spelling = 0
  let i = 0
  while (i < n) {
    let c = s.charCodeAt(i)
    if (c < 128) c = FOLD_CODE[c] as number
    if (c === 0) {
      i++
      continue
    }
    const start = i
    let node: TrieNode | undefined = root
    let plain = true
    let p1 = 0
    let p2 = 0
    for (;;) {
      if (plain && (isLeetCode(c) || (c === p1 && c === p2))) plain = false
      if (node !== undefined) node = child(node, c)
      p2 = p1
      p1 = c
      if (++i >= n) break
      c = s.charCodeAt(i)
      if (c < 128) c = FOLD_CODE[c] as number
      if (c === 0) break
    }
    const length = i - start
    if (length === 1 || (length === 2 && isHighSurrogate(s.charCodeAt(start)))) {
      spelt += cut(s, start, i, ascii)
      spelling++
    } else if (spelling > 0) {
      if (spelling > 1 && spellingHolds(compiled, spelt)) return true
      spelt = ''
      spelling = 0
    }
    let forms: ReadonlyArray<string>
    if (plain) {
      if (node?.word === true) return true
      if (!hasPhrases || (pending.length === 0 && node?.phrase !== true)) continue
      forms = [cut(s, start, i, ascii)]
    } else {
      forms = readings(cut(s, start, i, ascii))
      for (const form of forms) if (words.has(form)) return true
      if (!hasPhrases) continue
    }
    const step = advance(phrases, pending, forms)
    if (step === true) return true
    pending = step
  }
  return spelling > 1 && spellingHolds(compiled, spelt)
}

/** A predicate for "this text holds a listed word or phrase", the list folded once. An empty list holds nothing. */
export const blockedWordMatcher = (blockedWords: ReadonlyArray<string>): ((text: string) => boolean) => {
  const compiled = compileWords(blockedWords)
  if (compiled.words.size === 0 && compiled.phrases.size === 0) return () => false
  return (text) => (ASCII.test(text) ? holdsBlocked(compiled, text, true) : holdsBlocked(compiled, foldText(text), false))
}

export type DefaultPolicyOptions = {
  /** Words (or phrases) no message nor player name may contain; matched as described above. */
  readonly blockedWords?: ReadonlyArray<string>
}

/**
 * The server's own policy: runs of more than three zero-width or bidirectional-control
 * characters collapsed to one (the text is stored so rewritten), then the blocked words,
 * in the player's name first (rule `blocked-word`, field `player_name`), then in the text
 * (rule `blocked-word`, field `message`). Without words it only collapses.
 */
export const defaultContentPolicy = (options: DefaultPolicyOptions = {}): ContentPolicy => {
  const holds = blockedWordMatcher(options.blockedWords ?? [])
  return (message) => {
    if (holds(message.playerName)) return E.left({ _tag: 'PolicyRefused', rule: BLOCKED_WORD_RULE, field: 'player_name' })
    const text = collapseInvisibleRuns(message.text) as MessageText
    if (holds(text)) return E.left({ _tag: 'PolicyRefused', rule: BLOCKED_WORD_RULE, field: 'message' })
    return E.right(text)
  }
}
