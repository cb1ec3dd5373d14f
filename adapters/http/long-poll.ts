import type { IncomingMessage, ServerResponse } from 'node:http'
import { parse as parseQuery } from 'node:querystring'
import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import type { ListByPlayerError, ListByPlayerInput } from '../../application/list-by-player'
import type { ListError, ListInput } from '../../application/list-messages'
import type { Wait } from '../../application/read-page'
import type { PlayerName } from '../../domain/message'
import type { Page } from '../../domain/message-repository'
import type { PageQuery } from './codecs'
import type { RawResponses } from './raw-response'
import { pageJson } from './wire'

/*
 * Held long polls, answered on node:http's own request and response.
 *
 * Thousands of game servers each keep one poll open. Through Koa every held
 * poll would also keep a context, a request and a response wrapper, the
 * middleware chain's promises and the router's match alive for up to 25 s:
 * the benchmark measured that at about 1.9× the memory of bare node:http.
 * So a request that is a valid long poll is taken before Koa sees it
 * (`take`), and a long poll that reaches the Koa route anyway (an app
 * embedded with `createApp().callback()`) is handed over to the same `hold`.
 * Both use the same use cases, codecs and wire format as every other list.
 */

/** What a list request asks, decoded: the page input, how long to wait and, for a player's list, the name from the path. */
export type PageRequest = {
  readonly input: ListInput
  /** Present for a long poll: how long to hold it, in milliseconds. */
  readonly waitMs?: number
  readonly player?: string
}

export type HeldPollDeps = {
  readonly list: (input: ListInput) => TE.TaskEither<ListError, Page>
  readonly listPlayer: (input: ListByPlayerInput) => TE.TaskEither<ListByPlayerError, Page & { readonly playerName: PlayerName }>
  /** Decodes a parsed query string, or says what is wrong with it. */
  readonly pageQuery: (query: unknown) => E.Either<string, PageQuery>
  readonly responses: RawResponses
  readonly shutdown?: AbortSignal
  /** Polls held at once, from every client together; past it a poll is refused with 503 and Retry-After. */
  readonly maxHeld?: number
  /**
   * How long a connection may be idle beyond a poll's wait before it is
   * closed: a held poll's socket is quiet for the whole wait, which may be
   * longer than the server's idle timeout for other requests.
   */
  readonly idleMs?: number
}

/** The query's cursor, since, limit and wait as the use cases take them. */
export const pageRequest = (query: PageQuery, player: string | undefined): E.Either<string, PageRequest> => {
  if (query.wait !== undefined && query.after === undefined)
    return E.left('wait needs after: a long poll waits for messages after a cursor (pass the next_after of your last answer)')
  return E.right({
    input: {
      cursor: query.after === undefined ? undefined : { after: query.after, epoch: query.epoch },
      since: query.since,
      limit: query.limit,
      wait: undefined,
      channel: query.channel,
    },
    waitMs: query.wait === undefined ? undefined : query.wait * 1000,
    player,
  })
}

/** The same input with a wait: built field by field, as thousands are built at once. */
const waiting = (input: ListInput, wait: Wait): ListInput => ({
  cursor: input.cursor,
  since: input.since,
  limit: input.limit,
  wait,
  channel: input.channel,
})

const LIST_PATH = '/api/messages'

/** The player named by `/api/messages/<name>`, '' for `/api/messages`, undefined for anything this fast path leaves to the router. */
const playerInPath = (path: string): string | undefined => {
  if (!path.startsWith(LIST_PATH)) return undefined
  if (path.length === LIST_PATH.length) return ''
  if (path.charCodeAt(LIST_PATH.length) !== 0x2f /* / */) return undefined
  const encoded = path.slice(LIST_PATH.length + 1)
  if (encoded === '' || encoded.includes('/')) return undefined
  try {
    return decodeURIComponent(encoded)
  } catch {
    return undefined
  }
}

export type HeldPolls = {
  /**
   * Takes a request that is a valid long poll and holds it below Koa;
   * answers false for every other request, bad long polls included, which
   * the Koa app then answers as usual.
   */
  readonly take: (req: IncomingMessage, res: ServerResponse) => boolean
  /** Holds (or answers at once, when messages are waiting) a decoded long poll. */
  readonly hold: (req: IncomingMessage, res: ServerResponse, request: PageRequest) => void
  /** How many polls are held now. */
  readonly count: () => number
}

export const heldPolls = (deps: HeldPollDeps): HeldPolls => {
  // Each held poll's release; one listener on the shutdown signal releases them all.
  const held = new Set<() => void>()
  deps.shutdown?.addEventListener(
    'abort',
    () => {
      for (const release of held) release()
    },
    { once: true },
  )

  const { answer, answerError, answerFailure } = deps.responses
  const maxHeld = deps.maxHeld ?? Number.POSITIVE_INFINITY

  const hold = (req: IncomingMessage, res: ServerResponse, request: PageRequest): void => {
    if (held.size >= maxHeld) return answerError(req, res, { _tag: 'TooManyLongPolls', max: maxHeld })
    if (request.waitMs !== undefined && deps.idleMs !== undefined) req.socket.setTimeout(request.waitMs + deps.idleMs)
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    // Closed before its answer was written: the client went away. (After the answer this finds it finished and does nothing.)
    res.on('close', () => {
      if (!res.writableFinished) release()
    })
    held.add(release)
    if (deps.shutdown?.aborted) release()
    const input = request.waitMs === undefined ? request.input : waiting(request.input, { ms: request.waitMs, released })
    const settled = request.player === undefined ? listed(req, res, input) : listedForPlayer(req, res, input, request.player)
    // One reaction for both outcomes rather than catch() then finally(): a promise fewer per waiter when thousands wake at once.
    settled.then(
      () => held.delete(release),
      (err: unknown) => {
        held.delete(release)
        answerFailure(req, res, err)
      },
    )
  }

  // Async, so that even an adapter that throws instead of rejecting ends in hold's failure handler.
  const listed = async (req: IncomingMessage, res: ServerResponse, input: ListInput): Promise<void> => {
    const page = await deps.list(input)()
    if (E.isLeft(page)) answerError(req, res, page.left)
    else answer(req, res, 200, pageJson(page.right))
  }

  const listedForPlayer = async (req: IncomingMessage, res: ServerResponse, input: ListInput, player: string): Promise<void> => {
    const page = await deps.listPlayer({ ...input, playerName: player })()
    if (E.isLeft(page)) answerError(req, res, page.left)
    else answer(req, res, 200, pageJson(page.right, `"player_name":${JSON.stringify(page.right.playerName)},`))
  }

  const take = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = req.url
    if (req.method !== 'GET' || url === undefined || !url.includes('wait=')) return false
    const mark = url.indexOf('?')
    if (mark === -1) return false
    const player = playerInPath(url.slice(0, mark))
    if (player === undefined) return false
    const query = deps.pageQuery(parseQuery(url.slice(mark + 1)))
    if (E.isLeft(query)) return false
    const request = pageRequest(query.right, player === '' ? undefined : player)
    if (E.isLeft(request) || request.right.waitMs === undefined) return false
    hold(req, res, request.right)
    return true
  }

  return { take, hold, count: () => held.size }
}
