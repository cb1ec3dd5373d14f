import type { Message } from '../../domain/message'

/** Messages in id order, read by position: a ring or a queue. */
export type Sequence = {
  readonly length: number
  readonly at: (index: number) => Message
}

/** Slots a ring starts with: a channel that holds a few messages costs a few slots, whatever its capacity. */
const INITIAL_SLOTS = 16

/**
 * A bounded ring: O(1) append that evicts the oldest once `capacity` messages
 * are held, O(1) access by position. Its slots grow with use, doubling up to
 * the capacity (an amortised O(1) copy per append), so memory follows what is
 * stored rather than what is allowed: a channel of one message costs the same
 * under MAX_MESSAGES 10,000,000 as under 1,000. A clear lets the slots go.
 */
export class Ring implements Sequence {
  private slots: Array<Message | undefined>
  private start = 0
  length = 0

  constructor(readonly capacity: number) {
    this.slots = Ring.empty(capacity)
  }

  private static empty(capacity: number): Array<Message | undefined> {
    return new Array<Message | undefined>(Math.min(capacity, INITIAL_SLOTS))
  }

  /** Appends and returns the message that fell out, if the ring was full. */
  push(message: Message): Message | undefined {
    const size = this.slots.length
    if (this.length < size) {
      let i = this.start + this.length
      if (i >= size) i -= size
      this.slots[i] = message
      this.length++
      return undefined
    }
    if (size < this.capacity) {
      this.grow(size)
      this.slots[this.length++] = message
      return undefined
    }
    const evicted = this.slots[this.start]
    this.slots[this.start] = message
    if (++this.start === size) this.start = 0
    return evicted
  }

  /** Full below capacity: the slots, oldest first, into an array twice the size (at most the capacity). */
  private grow(size: number): void {
    const grown = new Array<Message | undefined>(Math.min(this.capacity, size * 2))
    for (let i = 0, j = this.start; i < size; i++) {
      grown[i] = this.slots[j]
      if (++j === size) j = 0
    }
    this.slots = grown
    this.start = 0
  }

  at(index: number): Message {
    let i = this.start + index
    if (i >= this.slots.length) i -= this.slots.length
    return this.slots[i] as Message
  }

  newest(): Message | undefined {
    return this.length === 0 ? undefined : this.at(this.length - 1)
  }

  /** How many slots are allocated now: for tests of the growth. */
  get allocated(): number {
    return this.slots.length
  }

  clear(): void {
    this.slots = Ring.empty(this.capacity)
    this.start = 0
    this.length = 0
  }

  /**
   * Takes out every message `remove` picks, keeping the others in order, in
   * one pass over the ring (a removal, not eviction: it may take any of
   * them). Returns what it took, oldest first.
   */
  removeWhere(remove: (message: Message) => boolean): Message[] {
    const taken: Message[] = []
    let kept = 0
    for (let i = 0; i < this.length; i++) {
      const message = this.at(i)
      if (remove(message)) taken.push(message)
      else {
        // Kept messages move down into the places of those taken; the slots past the last kept are let go.
        if (kept !== i) this.slots[this.position(kept)] = message
        kept++
      }
    }
    for (let i = kept; i < this.length; i++) this.slots[this.position(i)] = undefined
    this.length = kept
    return taken
  }

  private position(index: number): number {
    const i = this.start + index
    return i >= this.slots.length ? i - this.slots.length : i
  }
}

/** A FIFO queue with O(1) amortised push and shift, readable by position. */
export class Queue implements Sequence {
  private items: Message[] = []
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(message: Message): void {
    this.items.push(message)
  }

  shift(): Message | undefined {
    if (this.head >= this.items.length) return undefined
    const first = this.items[this.head]
    this.items[this.head] = undefined as unknown as Message
    this.head++
    // Compact once the dead prefix outweighs the live part, so memory stays proportional to what is held.
    if (this.head >= 64 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return first
  }

  at(index: number): Message {
    return this.items[this.head + index] as Message
  }

  /** Takes out every message `remove` picks, keeping the others in order; returns how many it took. */
  removeWhere(remove: (message: Message) => boolean): number {
    const before = this.length
    this.items = this.items.slice(this.head).filter((message) => !remove(message))
    this.head = 0
    return before - this.items.length
  }
}

/** The first position whose message satisfies `isAfter`, which must be false then true along the sequence. */
export const firstPosition = (seq: Sequence, isAfter: (message: Message) => boolean): number => {
  let lo = 0
  let hi = seq.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (isAfter(seq.at(mid))) hi = mid
    else lo = mid + 1
  }
  return lo
}
