import { LarderError } from '../core/errors.ts'
import type { Clock, InvalidationLog, LogAppend, LogEntry, LogSubscriber, ReadResult } from '../core/types.ts'

export interface MemoryLogOptions {
  /** How many entries the ring keeps for replay (default 10,000). */
  capacity?: number
  clock?: Clock
  /** Instance name written as `source`. */
  source?: string
}

/**
 * The embedded invalidation log: an in-process ring with time-based monotonic ids.
 * Appends are delivered synchronously to subscribers, in order, before `append` resolves,
 * so an invalidation has reached every in-process consumer when its promise settles.
 */
export class MemoryLog implements InvalidationLog {
  readonly name = 'memory'
  readonly shared: boolean = false
  readonly #capacity: number
  readonly #clock: Clock
  readonly #source: string | undefined
  readonly #ring: (LogEntry | undefined)[]
  #head = 0 // index of the oldest entry
  #count = 0
  #last = 0
  /** Id of the newest entry dropped from the ring (0 when none). */
  #droppedMax = 0
  #closed = false
  readonly #subs = new Set<LogSubscriber>()

  constructor(options: MemoryLogOptions = {}) {
    const capacity = options.capacity ?? 10_000
    if (!Number.isInteger(capacity) || capacity < 1) throw new LarderError('E_INVALID_OPTION', 'log capacity must be a positive integer')
    this.#capacity = capacity
    this.#clock = options.clock ?? Date
    this.#source = options.source
    this.#ring = new Array(capacity)
  }

  lastId(): number {
    return this.#last
  }

  #push(input: LogAppend): LogEntry {
    const at = this.#clock.now()
    // Time-based ids (µs) stay increasing across restarts; bump to keep them strictly increasing.
    const id = Math.max(this.#last + 1, Math.floor(at * 1000))
    this.#last = id
    const entry: LogEntry = { ...input, id, at }
    if (this.#source !== undefined && entry.source === undefined) entry.source = this.#source
    const tail = (this.#head + this.#count) % this.#capacity
    if (this.#count === this.#capacity) this.#droppedMax = (this.#ring[tail] as LogEntry).id
    this.#ring[tail] = entry
    if (this.#count < this.#capacity) this.#count++
    else this.#head = (this.#head + 1) % this.#capacity
    return entry
  }

  async append(input: LogAppend): Promise<LogEntry> {
    return (await this.appendMany([input]))[0] as LogEntry
  }

  async appendMany(inputs: readonly LogAppend[]): Promise<LogEntry[]> {
    if (this.#closed) throw new LarderError('E_CLOSED', 'the invalidation log is closed')
    const out = inputs.map((i) => this.#push(i))
    for (const s of this.#subs) deliver(s, out)
    return out
  }

  /** Oldest id still held, or undefined when empty. */
  oldestId(): number | undefined {
    return this.#count === 0 ? undefined : (this.#ring[this.#head] as LogEntry).id
  }

  #after(afterId: number, limit: number): ReadResult {
    const entries: LogEntry[] = []
    // A gap: an entry newer than the caller's id was already dropped from the ring.
    const trimmed = this.#droppedMax > afterId
    // Binary search would be faster; replay is rare and bounded, a scan from the end is fine.
    let start = this.#count
    for (let i = this.#count - 1; i >= 0; i--) {
      const e = this.#ring[(this.#head + i) % this.#capacity] as LogEntry
      if (e.id <= afterId) break
      start = i
    }
    for (let i = start; i < this.#count && entries.length < limit; i++) entries.push(this.#ring[(this.#head + i) % this.#capacity] as LogEntry)
    return { entries, gap: trimmed }
  }

  async read(afterId: number, limit: number): Promise<ReadResult> {
    return this.#after(afterId, limit)
  }

  subscribe(subscriber: LogSubscriber, fromId: number | 'now' = 'now'): () => void {
    if (fromId !== 'now') {
      const { entries, gap } = this.#after(fromId, Number.MAX_SAFE_INTEGER)
      if (gap) subscriber.gap({ reason: 'trimmed' })
      if (entries.length > 0) deliver(subscriber, entries)
    }
    this.#subs.add(subscriber)
    return () => {
      this.#subs.delete(subscriber)
    }
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#subs.clear()
  }
}

export function memoryLog(options?: MemoryLogOptions): MemoryLog {
  return new MemoryLog(options)
}

/** A throwing subscriber must not stop delivery to the others nor fail the append (as in the Redis log). */
function deliver(s: LogSubscriber, entries: LogEntry[]): void {
  try {
    s.entries(entries)
  } catch {
    // The subscriber's own failure; the log's order and the other subscribers are unaffected.
  }
}
