/*
 * Names that try to pass for the server, and names that must keep working:
 * shared by the domain tests and the HTTP tests, so both refuse and accept
 * exactly the same list.
 */

/** Label, name, the refusal expected from `senderName`. */
export const IMPERSONATIONS: ReadonlyArray<readonly [string, string, 'Reserved' | 'InvisibleCharacters' | 'TooManyCombiningMarks' | 'UnassignedCharacters']> = [
  ['Server itself', 'Server', 'Reserved'],
  ['Server in another case', 'sERVER', 'Reserved'],
  ['Server with a zero-width space', 'Ser\u200bver', 'InvisibleCharacters'],
  ['Server with a zero-width joiner', 'Serv\u200der', 'InvisibleCharacters'],
  ['Server with a zero-width non-joiner', 'Server\u200c', 'InvisibleCharacters'],
  ['Server with a word joiner (U+2060)', 'Ser\u2060ver', 'InvisibleCharacters'],
  ['Server with a soft hyphen (U+00AD)', 'Ser\u00adver', 'InvisibleCharacters'],
  ['Server with a combining grapheme joiner (U+034F)', 'Server\u034f', 'InvisibleCharacters'],
  ['Server with an invisible separator (U+2063)', 'Se\u2063rver', 'InvisibleCharacters'],
  ['Server with a Mongolian vowel separator', 'Server\u180e', 'InvisibleCharacters'],
  ['Server with a right-to-left override (U+202E)', '\u202eServer', 'InvisibleCharacters'],
  ['Server with a left-to-right mark', 'Server\u200e', 'InvisibleCharacters'],
  ['Server with a right-to-left isolate', 'Server\u2067', 'InvisibleCharacters'],
  ['Server with an Arabic letter mark', 'Server\u061c', 'InvisibleCharacters'],
  ['Server with a variation selector', 'Server\ufe0f', 'InvisibleCharacters'],
  ['Server with a supplementary variation selector', 'Server\u{e0100}', 'InvisibleCharacters'],
  ['Server with a tag character', 'Server\u{e0041}', 'InvisibleCharacters'],
  ['Server with a Hangul filler (U+3164)', 'Server\u3164', 'InvisibleCharacters'],
  ['Server with a Hangul choseong filler (U+115F)', '\u115fServer', 'InvisibleCharacters'],
  ['Server with a halfwidth Hangul filler (U+FFA0)', 'Server\uffa0', 'InvisibleCharacters'],
  ['Server with a braille blank (U+2800)', 'Server\u2800', 'InvisibleCharacters'],
  ['Server with a BOM inside', 'Ser\ufeffver', 'InvisibleCharacters'],
  ['Server with a paragraph separator inside', 'Ser\u2029ver', 'InvisibleCharacters'],
  ['Server with an acute accent (U+0301)', 'Serve\u0301r', 'Reserved'],
  ['Server with a precomposed accent', 'Šerver', 'Reserved'],
  ['Server with a stack of combining marks', 'Se\u0301\u0302\u0303\u0304\u0305rver', 'TooManyCombiningMarks'],
  ['Cyrillic look-alikes (Ѕеrvеr)', 'Ѕеrvеr', 'Reserved'],
  ['one Cyrillic e', 'Sеrver', 'Reserved'],
  ['fullwidth letters', 'Ｓｅｒｖｅｒ', 'Reserved'],
  ['Greek nu for v', 'Serνer', 'Reserved'],
  ['small capitals', 'ꜱᴇʀᴠᴇʀ', 'Reserved'],
  ['mathematical bold', '𝐒𝐞𝐫𝐯𝐞𝐫', 'Reserved'],
  ['circled letters', 'Ⓢⓔⓡⓥⓔⓡ', 'Reserved'],
  ['a Cherokee S', 'Ꮪerver', 'Reserved'],
  ['a Cyrillic ghe for r', 'Serveг', 'Reserved'],
  ['a private-use glyph (a Roblox badge icon)', 'Server\ue000', 'UnassignedCharacters'],
]

/** Names made unshowable by an invisible or formatting character, whatever the letters. */
export const INVISIBLE_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['a zero-width space', 'Bob\u200bby'],
  ['a word joiner', 'Bob\u2060'],
  ['a soft hyphen', 'Bo\u00adb'],
  ['a right-to-left override', 'Bob\u202eyb'],
  ['a pop directional formatting', 'Bob\u202c'],
  ['a variation selector', 'Bob\ufe0e'],
  ['a Hangul filler', '\u3164'],
  ['a braille blank', '\u2800'],
  ['a line separator inside', 'Bo\u2028b'],
  ['a zero-width joiner between emoji', '👨\u200d👩\u200d👧'],
]

/** Names that must be accepted as they are and read back by name. */
export const LEGIT_NAMES: readonly string[] = ['Zoë', 'Müller', '小明', 'Builderman', 'Servant', 'Observer', 'server_bot', 'Ærøskøbing', 'Ольга', 'Σωκράτης', 'محمد', 'יוסי', 'Nguyễn Văn A', '김민준', '😀 Happy']
