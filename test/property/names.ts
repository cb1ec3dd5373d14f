import { remove as removeConfusables } from 'confusables'

const MARKS_AND_INVISIBLE = /[\p{M}\p{Cf}\p{Default_Ignorable_Code_Point}]/gu

const fold = (s: string): string => s.normalize('NFKC').replace(MARKS_AND_INVISIBLE, '').trim().toLowerCase()

/**
 * Whether a name reads as the reserved "Server": after NFKC, without marks
 * and invisible characters, in lower case; or once the `confusables`
 * package has mapped look-alike letters (Cyrillic Ѕ, Greek ν, …) to Latin.
 */
export const looksLikeServer = (name: string): boolean => {
  const folded = fold(name)
  return folded === 'server' || fold(removeConfusables(folded)) === 'server' || fold(removeConfusables(name)) === 'server'
}

