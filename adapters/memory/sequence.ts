import type { Message } from '../../domain/message'

/** Messages in id order, read by position: a ring or a queue. */
export type Sequence = {
  readonly length: number
  readonly at: (index: number) => Message
}

/** A fixed-capacity ring: O(1) append that evicts the oldest, O(1) access by position. */
export class Ring implements Sequence {
  private readonly slots: Array<Message | undefined>
  private start = 0
  length = 0

  constructor(readonly capacity: number) {
    this.slots = new Array<Message | undefined>(capacity)
  }

  /** Appends and returns the message that fell out, if the ring was full. */
  push(message: Message): Message | undefined {
    if (this.length < this.capacity) {
      this.slots[(this.start + this.length) % this.capacity] = message
      this.length++
      return undefined
    }
    const evicted = this.slots[this.start]
    this.slots[this.start] = message
    this.start = (this.start + 1) % this.capacity
    return evicted
  }

  at(index: number): Message {
    return this.slots[(this.start + index) % this.capacity] as Message
  }

  newest(): Message | undefined {
    return this.length === 0 ? undefined : this.at(this.length - 1)
  }

  clear(): void {
    this.slots.fill(undefined)
    this.start = 0
    this.length = 0
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
