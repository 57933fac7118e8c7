/**
 * The outage replay queue of the Redis store: invalidations that could not be recorded
 * while Redis was unreachable, replayed in order before the store answers another read
 * (docs/invariants.md, P3). Bounded: past `limit` it stops remembering tags and fences the whole
 * tenant on recovery (a generation bump to the newest id it dropped), which is always safe.
 * @module
 */
import { LarderError } from '../core/errors.ts'
import type { LogEntry } from '../core/types.ts'

export class ReplayQueue {
  readonly #pending: LogEntry[] = []
  /** Tenants whose queued invalidations overflowed: fenced by a generation bump on recovery. */
  readonly #overflow = new Map<string, number>()
  readonly #limit: number
  readonly #name: string
  /** Records one entry in Redis (under the breaker); rejects while Redis is unreachable. */
  readonly #record: (entry: LogEntry) => Promise<unknown>
  #flushing: Promise<void> | undefined

  constructor(options: { limit: number; name: string; record(entry: LogEntry): Promise<unknown> }) {
    this.#limit = options.limit
    this.#name = options.name
    this.#record = options.record
  }

  get hasPending(): boolean {
    return this.#pending.length > 0 || this.#overflow.size > 0
  }

  /** Invalidations waiting to be replayed (an overflowed tenant counts once). */
  get size(): number {
    return this.#pending.length + this.#overflow.size
  }

  push(entry: LogEntry): void {
    if (this.#pending.length < this.#limit) {
      this.#pending.push(entry)
      return
    }
    this.#overflow.set(entry.tenant, Math.max(this.#overflow.get(entry.tenant) ?? 0, entry.id))
  }

  /** Replays queued invalidations in order (one replay at a time); resolves when all are recorded. */
  flush(): Promise<void> {
    this.#flushing ??= (async () => {
      try {
        while (this.#pending.length > 0) {
          await this.#record(this.#pending[0] as LogEntry)
          this.#pending.shift()
        }
        for (const [tenant, id] of [...this.#overflow]) {
          await this.#record({ id, tenant, kind: 'clear', at: 0 })
          this.#overflow.delete(tenant)
        }
      } finally {
        this.#flushing = undefined
      }
    })()
    return this.#flushing
  }

  /** Replays first; a failure becomes E_STORE_UNAVAILABLE (reads wait for the replay). */
  async replayFirst(): Promise<void> {
    try {
      await this.flush()
    } catch (cause) {
      throw new LarderError('E_STORE_UNAVAILABLE', `${this.#name}: ${this.#pending.length} invalidation(s) still to replay; not reading from Redis until they are`, { cause })
    }
  }
}
