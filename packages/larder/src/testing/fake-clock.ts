import type { Clock } from '../core/types.ts'

interface Timer {
  at: number
  seq: number
  fn: () => void
}

/**
 * A fake clock for tests: `now()` only moves when the test calls `advance()`, which runs
 * due timers in time order and lets promise callbacks settle between them.
 */
export class FakeClock implements Clock {
  #now: number
  #seq = 0
  #timers = new Map<number, Timer>()

  constructor(start = 1_700_000_000_000) {
    this.#now = start
  }

  now(): number {
    return this.#now
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#seq
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), seq: id, fn })
    return id
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number)
  }

  /** Number of pending timers. */
  get pending(): number {
    return this.#timers.size
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms
    for (;;) {
      await flushMicrotasks()
      let next: Timer | undefined
      for (const t of this.#timers.values()) if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t
      if (!next) break
      this.#timers.delete(next.seq)
      this.#now = Math.max(this.#now, next.at)
      next.fn()
    }
    this.#now = target
    await flushMicrotasks()
  }
}

/** Lets pending promise callbacks run: `turns` event-loop turns (one drains every queued microtask). */
export async function flushMicrotasks(turns = 1): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r))
}

