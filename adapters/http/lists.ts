import type { IncomingMessage, ServerResponse } from 'node:http'
import * as E from 'fp-ts/Either'
import type * as TE from 'fp-ts/TaskEither'
import type { ListByPlayerError, ListByPlayerInput, PlayerPage } from '../../application/list-by-player'
import type { ListError, ListInput } from '../../application/list-messages'
import type { Wait } from '../../application/read-page'
import type { Page } from '../../domain/message-repository'
import { DEFAULT_CHANNEL } from '../../domain/message'
import type { Answers } from './answers'
import { channelRefused, mayUseChannel, type Identity } from './auth'
import { channelsParam, type ListParams } from './codecs'
import type { Wire } from './wire'

/*
 * GET /api/messages and /api/messages/<player>: a page at once, or, with
 * `wait` and a cursor, a long poll held until a message arrives; of one
 * channel (`channel`), or of several under one cursor (`channels=a,b`).
 *
 * Thousands of game servers each keep one poll open, so a held poll costs
 * what it must and no more: no framework context, a promise rather than an
 * AbortSignal to release it (see Wait.released), one listener on the
 * shutdown signal for all of them. How many are held is counted here, and
 * capped in total (never per address: Roblox's servers share a few).
 */

export type ListsDeps = {
  readonly list: (input: ListInput) => TE.TaskEither<ListError, Page>
  readonly listPlayer: (input: ListByPlayerInput) => TE.TaskEither<ListByPlayerError, PlayerPage>
  /** Decodes a parsed query string, or says what is wrong with it. */
  readonly decodeParams: (query: unknown) => E.Either<string, ListParams>
  readonly answers: Answers
  readonly wire: Wire
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

export type Lists = {
  /** GET or HEAD /api/messages with its parsed query. HEAD never waits. */
  readonly channel: (req: IncomingMessage, res: ServerResponse, query: unknown, identity: Identity) => Promise<void>
  /** GET or HEAD /api/messages/<player>, the name already percent-decoded. */
  readonly player: (req: IncomingMessage, res: ServerResponse, query: unknown, player: string, identity: Identity) => Promise<void>
  /** How many polls are held now. */
  readonly held: () => number
}

const WAIT_NEEDS_CURSOR = 'wait needs after: a long poll waits for messages after a cursor (pass the next_after of your last answer)'

export const lists = (deps: ListsDeps): Lists => {
  const { json, refuse } = deps.answers
  const maxHeld = deps.maxHeld ?? Number.POSITIVE_INFINITY
  // Each held poll's release; one listener on the shutdown signal releases them all.
  const held = new Set<() => void>()
  deps.shutdown?.addEventListener(
    'abort',
    () => {
      for (const release of held) release()
    },
    { once: true },
  )

  /** The list input the query asks for, with a wait when it is a long poll; undefined when refused (and answered). */
  const inputOf = (req: IncomingMessage, res: ServerResponse, raw: unknown, identity: Identity): { input: ListInput; waitMs: number | undefined } | undefined => {
    const query = deps.decodeParams(raw)
    if (E.isLeft(query)) return void refuse(req, res, { _tag: 'InvalidRequest', error: query.left })
    const q = query.right
    const asked = channelsParam(q)
    if (E.isLeft(asked)) return void refuse(req, res, { _tag: 'InvalidRequest', error: asked.left })
    const { channel, channels } = asked.right
    // A key limited to channels may read several at once only if it may read each of them.
    const refused = channels === undefined ? (mayUseChannel(identity, channel ?? DEFAULT_CHANNEL) ? undefined : (channel ?? DEFAULT_CHANNEL)) : channelRefused(identity, channels)
    if (refused !== undefined)
      return void refuse(req, res, { _tag: 'Forbidden', reason: `the key ${identity._tag === 'Key' ? identity.key.label : ''} may not use the channel ${refused}` })
    if (q.wait !== undefined && q.after === undefined) return void refuse(req, res, { _tag: 'InvalidRequest', error: WAIT_NEEDS_CURSOR })
    // Built field by field, the same shape for every request: thousands are built at once.
    const input: ListInput = {
      cursor: q.after === undefined ? undefined : { after: q.after, epoch: q.epoch },
      since: q.since,
      limit: q.limit,
      wait: undefined,
      channel,
      channels,
    }
    // HEAD asks what GET would answer now: it is never held.
    return { input, waitMs: q.wait === undefined || req.method !== 'GET' ? undefined : q.wait * 1000 }
  }

  /**
   * Holds the poll (or answers at once, when messages are waiting), counting
   * it until it is answered. `read` is given the input with its wait.
   */
  const hold = (req: IncomingMessage, res: ServerResponse, input: ListInput, waitMs: number, read: (input: ListInput) => Promise<void>): Promise<void> => {
    if (held.size >= maxHeld) return Promise.resolve(refuse(req, res, { _tag: 'TooManyLongPolls', max: maxHeld }))
    if (deps.idleMs !== undefined) req.socket.setTimeout(waitMs + deps.idleMs)
    let release!: () => void
    const released = new Promise<void>((resolve) => (release = resolve))
    // Closed before its answer was written: the client went away. (After the answer this finds it finished and does nothing.)
    res.on('close', () => {
      if (!res.writableFinished) release()
    })
    held.add(release)
    if (deps.shutdown?.aborted) release()
    const wait: Wait = { ms: waitMs, released }
    // One reaction for both outcomes rather than finally(): a promise fewer per waiter when thousands wake at once.
    return read(waiting(input, wait)).then(
      () => void held.delete(release),
      (err: unknown) => {
        held.delete(release)
        throw err
      },
    )
  }

  const readChannel = async (req: IncomingMessage, res: ServerResponse, input: ListInput): Promise<void> => {
    const page = await deps.list(input)()
    if (E.isLeft(page)) refuse(req, res, page.left)
    else json(req, res, 200, deps.wire.pageJson(page.right))
  }

  const readPlayer = async (req: IncomingMessage, res: ServerResponse, input: ListInput, player: string): Promise<void> => {
    const page = await deps.listPlayer(withPlayer(input, player))()
    if (E.isLeft(page)) refuse(req, res, page.left)
    else json(req, res, 200, deps.wire.pageJson(page.right, `"player_name":${JSON.stringify(page.right.playerName)},`))
  }

  return {
    channel: (req, res, query, identity) => {
      const asked = inputOf(req, res, query, identity)
      if (asked === undefined) return Promise.resolve()
      if (asked.waitMs === undefined) return readChannel(req, res, asked.input)
      return hold(req, res, asked.input, asked.waitMs, (input) => readChannel(req, res, input))
    },
    player: (req, res, query, player, identity) => {
      const asked = inputOf(req, res, query, identity)
      if (asked === undefined) return Promise.resolve()
      if (asked.waitMs === undefined) return readPlayer(req, res, asked.input, player)
      return hold(req, res, asked.input, asked.waitMs, (input) => readPlayer(req, res, input, player))
    },
    held: () => held.size,
  }
}

/** The same input with a wait: built field by field, as thousands are built at once. */
const waiting = (input: ListInput, wait: Wait): ListInput => ({
  cursor: input.cursor,
  since: input.since,
  limit: input.limit,
  wait,
  channel: input.channel,
  channels: input.channels,
})

const withPlayer = (input: ListInput, playerName: string): ListByPlayerInput => ({
  cursor: input.cursor,
  since: input.since,
  limit: input.limit,
  wait: input.wait,
  channel: input.channel,
  channels: input.channels,
  playerName,
})
