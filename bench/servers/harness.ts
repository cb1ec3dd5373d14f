import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/*
 * Every server under test runs in its own process, started by bench/run.ts
 * with IPC: it reports its port once listening, and answers the parent's
 * questions about its memory and its waiting long polls.
 */

/** What the parent may ask: resident and heap bytes (after a full collection), CPU time used so far in µs, long polls held now. */
export type Question = { readonly id: number; readonly ask: 'rss' | 'heap' | 'cpu' | 'waiters' }
export type Answer = { readonly id: number; readonly value: number }

const collect = (): void => {
  // Collect first when allowed, so what is measured is what is kept, not garbage not yet collected.
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    gc()
    gc()
  }
}

const answer = (ask: Question['ask'], waiters: () => number): number => {
  switch (ask) {
    case 'rss':
      collect()
      return process.memoryUsage().rss
    case 'heap':
      collect()
      return process.memoryUsage().heapUsed
    case 'cpu': {
      const { user, system } = process.cpuUsage()
      return user + system
    }
    case 'waiters':
      return waiters()
  }
}

export const reportWhenListening = (server: Server, waiters: () => number): void => {
  // Started by hand (for a profile, say) there is no parent to tell: print the port instead.
  const report = () =>
    process.send === undefined ? console.log(`listening on ${(server.address() as AddressInfo).port}`) : process.send({ port: (server.address() as AddressInfo).port })
  if (server.listening) report()
  else server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', report)
  process.on('message', (question: Question) => {
    process.send?.({ id: question.id, value: answer(question.ask, waiters) } satisfies Answer)
  })
  process.on('disconnect', () => process.exit(0))
  // A profile (node --cpu-prof) is written on a normal exit only.
  process.on('SIGTERM', () => process.exit(0))
  process.on('SIGINT', () => process.exit(0))
}

/** The same message shape and reply in every server, so that each does the same work. */
export type WireMessage = {
  id: number
  player_name: string
  message: string
  timestamp: string
  type: 'player' | 'reply'
  channel: string
  reply_to?: number
}

/** A bounded ring of the newest 1,000 messages, as the baselines keep them. */
export class Ring {
  private readonly slots: WireMessage[] = []
  private start = 0
  lastId = 0
  /** Like ours, a list answer names the life of the store, so a client can tell a restart from a gap. */
  readonly epoch = Math.random().toString(36).slice(2, 10)
  constructor(private readonly capacity = 1000) {}

  append(player: string, text: string, type: 'player' | 'reply', replyTo?: number): WireMessage {
    const message: WireMessage = {
      id: ++this.lastId,
      player_name: player,
      message: text,
      timestamp: new Date().toISOString(),
      type,
      channel: 'global',
    }
    if (replyTo !== undefined) message.reply_to = replyTo
    if (this.slots.length < this.capacity) this.slots.push(message)
    else {
      this.slots[this.start] = message
      this.start = (this.start + 1) % this.capacity
    }
    return message
  }

  /** The `count` messages from position `from` (0 is the oldest kept), oldest first. */
  private slice(from: number, count: number): WireMessage[] {
    const size = this.slots.length
    const out: WireMessage[] = []
    for (let i = from; i < from + count; i++) out.push(this.slots[(this.start + i) % size] as WireMessage)
    return out
  }

  /** The newest `n`, oldest first: what GET /api/messages?limit=n answers. */
  newest(n: number): WireMessage[] {
    const count = Math.min(n, this.slots.length)
    return this.slice(this.slots.length - count, count)
  }

  /** Up to `n` messages with an id above `id`, oldest first. Ids are consecutive, so no search is needed. */
  after(id: number, n: number): { messages: WireMessage[]; hasMore: boolean; gap: boolean } {
    const size = this.slots.length
    const newer = Math.max(0, this.lastId - id)
    const kept = Math.min(newer, size)
    const count = Math.min(kept, n)
    return { messages: this.slice(size - kept, count), hasMore: kept > count, gap: newer > size }
  }

  /** The answer to a list or a long poll, in the same shape as ours. */
  page(messages: WireMessage[], hasMore = false, gap = false) {
    return { success: true, count: messages.length, messages, next_after: hasMore ? (messages.at(-1) as WireMessage).id : this.lastId, has_more: hasMore, gap, epoch: this.epoch }
  }
}

/** The inline check both baselines make of a send body. */
export const checkSend = (body: unknown): { player: string; text: string } | string => {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the request body must be a JSON object'
  const { player_name: player, message: text } = body as Record<string, unknown>
  if (typeof player !== 'string' || player.trim() === '') return 'player_name must be a non-blank string'
  if (typeof text !== 'string' || text.trim() === '') return 'message must be a non-blank string'
  if (player.length > 50) return 'player_name is longer than 50 characters'
  if (text.length > 1000) return 'message is longer than 1000 characters'
  return { player: player.trim(), text }
}
