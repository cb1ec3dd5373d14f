import type { Message } from '../../domain/message'
import { messageJsonOf } from '../../domain/message-json'
import type { Page } from '../../domain/message-repository'

// The message's JSON shape is the project's data contract, shared with the outbound adapters: it lives in the domain.
export { messageJsonOf, toWire, type WireMessage } from '../../domain/message-json'

/** The JSON kept by one Wire, in UTF-16 units (at most twice as many bytes), each entry also charged ENTRY_UNITS. */
export const JSON_CACHE_UNITS = 2 * 1024 * 1024
/** What an entry costs besides its text, as units: the Map's slot, and the message it keeps alive until forgotten. */
const ENTRY_UNITS = 64

export type Wire = {
  /** A message's JSON without remembering it: for an answer that carries a message once, such as a send's. */
  readonly freshMessageJson: (m: Message) => string
  /** A message's JSON, remembered for the next reader (within JSON_CACHE_UNITS). */
  readonly messageJson: (m: Message) => string
  /**
   * A list answer as JSON text: the seed's `success`, `count` and `messages`,
   * then the cursor fields. `head` holds any fields that come right after
   * `success` (a player's name), already as JSON members.
   */
  readonly pageJson: (page: Page, head?: string) => string
  /** What the message JSON cache holds now: for tests. */
  readonly cached: () => { readonly messages: number; readonly units: number }
}

/**
 * Messages as JSON text, for one app: what it remembers is its own, so two
 * apps in one process share nothing.
 *
 * Messages never change once stored, so each is turned into JSON once and the
 * text reused by every answer and stream event that carries it: a page of 50
 * read by thousands of clients costs 50 serialisations, not 50 per client, and
 * a new message costs one however many streams it goes out on. What pays is
 * the JSON of the messages being read now, the newest above all; kept for
 * every stored message it would double the store's memory (a message of
 * 1,000 characters outside the BMP is 4 KB of text and 4 KB of JSON). So the
 * texts kept are bounded, JSON_CACHE_UNITS in all, and the first written are
 * the first forgotten, a quarter at a time (one pass over the Map per
 * quarter, not one per message). A message read again after that is written
 * again.
 *
 * A page is never changed once read (shareReads hands the same frozen page to
 * every reader who asked the same at once), so its JSON is written once too.
 */
export const createWire = (): Wire => {
  // The last instant formatted: a message and its reply share one, and messages stored in the same millisecond are common under load.
  let lastInstant = Number.NaN
  let lastIso = ''
  const isoInstant = (ms: number): string => {
    if (ms !== lastInstant) {
      lastIso = new Date(ms).toISOString()
      lastInstant = ms
    }
    return lastIso
  }
  const freshMessageJson = (m: Message): string => messageJsonOf(m, isoInstant(m.sentAt))

  const jsonOf = new Map<Message, string>()
  let cachedUnits = 0
  const forgetOldest = (): void => {
    for (const [m, json] of jsonOf) {
      if (cachedUnits <= JSON_CACHE_UNITS * 0.75) return
      jsonOf.delete(m)
      cachedUnits -= json.length + ENTRY_UNITS
    }
  }
  const messageJson = (m: Message): string => {
    let json = jsonOf.get(m)
    if (json === undefined) {
      json = freshMessageJson(m)
      jsonOf.set(m, json)
      cachedUnits += json.length + ENTRY_UNITS
      if (cachedUnits > JSON_CACHE_UNITS) forgetOldest()
    }
    return json
  }

  const pageJsonOf = new WeakMap<Page, string>()
  const writePageJson = (page: Page, head: string): string => {
    let messages = ''
    for (let i = 0; i < page.messages.length; i++) messages += (i === 0 ? '' : ',') + messageJson(page.messages[i] as Message)
    return (
      `{"success":true,${head}"count":${page.messages.length},"messages":[${messages}],` +
      `"next_after":${page.nextAfter},"has_more":${page.hasMore},"gap":${page.gap},"epoch":${JSON.stringify(page.epoch)}}`
    )
  }
  const pageJson = (page: Page, head = ''): string => {
    if (head !== '') return writePageJson(page, head)
    let json = pageJsonOf.get(page)
    if (json === undefined) {
      json = writePageJson(page, head)
      pageJsonOf.set(page, json)
    }
    return json
  }

  return { freshMessageJson, messageJson, pageJson, cached: () => ({ messages: jsonOf.size, units: cachedUnits }) }
}
