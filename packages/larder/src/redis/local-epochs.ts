import { SEP } from '../core/keys.ts'
import type { InvalidationLog, LogEntry, StoredEntry } from '../core/types.ts'

export const Verdict = {
  Fresh: 0,
  Stale: 1,
  Dead: 2,
  /** The entry began before what this map can vouch for: ask Redis (READ script). */
  Unknown: 3,
} as const
export type Verdict = (typeof Verdict)[keyof typeof Verdict]

const NEVER = Number.MAX_SAFE_INTEGER

/**
 * Epochs of the invalidations this instance heard from the log, so an L2 hit can be a
 * plain GET (one round trip, no script) and be judged here.
 *
 * The map can only vouch for entries whose load began at or after `watermark`: every
 * invalidation with a larger id has been applied here (or is still in flight on the bus,
 * which invariant 1 allows). Entries that began earlier go to the READ script, which checks
 * the epochs kept in Redis. The watermark is:
 * - "never" until the log knows its position (RedisLog.whenInitialized), then its last id;
 * - "never" again after a log gap, until the first entry after the gap arrives (entries
 *   lost in a gap have smaller ids than anything read after it);
 * - raised to the id of any epoch the bounded map evicts.
 */
export class LocalEpochs {
  readonly #map = new Map<string, number>()
  readonly #limit: number
  #watermark = NEVER
  #afterGap = false
  #started = false
  readonly #off: () => void

  constructor(log: InvalidationLog & { whenInitialized?(): Promise<void> }, limit: number) {
    this.#limit = limit
    this.#off = log.subscribe(
      {
        entries: (es) => {
          for (const e of es) this.apply(e)
          if (this.#afterGap && this.#started) {
            this.#afterGap = false
            this.#watermark = Math.max(log.lastId(), this.#floor)
          }
        },
        gap: () => {
          this.#watermark = NEVER
          this.#afterGap = true
        },
      },
      'now',
    )
    // Only a log that can tell when it knows its position gives a safe starting point.
    void log.whenInitialized?.().then(() => {
      this.#started = true
      if (!this.#afterGap) this.#watermark = Math.max(log.lastId(), this.#floor)
    })
  }

  /** The largest id evicted from the map: entries older than it are never judged here. */
  #floor = 0

  get watermark(): number {
    return this.#watermark
  }

  #bump(k: string, id: number): void {
    const cur = this.#map.get(k)
    if (cur !== undefined && cur >= id) return
    this.#map.delete(k)
    this.#map.set(k, id)
    if (this.#map.size > this.#limit) {
      const [oldKey, oldId] = this.#map.entries().next().value as [string, number]
      this.#map.delete(oldKey)
      this.#floor = Math.max(this.#floor, oldId)
      if (this.#watermark !== NEVER) this.#watermark = Math.max(this.#watermark, oldId)
    }
  }

  apply(e: LogEntry): void {
    const t = e.tenant + SEP
    if (e.kind === 'clear') this.#bump(`g${t}`, e.id)
    else if (e.kind === 'hard') {
      for (const tag of e.tags ?? []) this.#bump(`t${t}${tag}`, e.id)
      for (const key of e.keys ?? []) this.#bump(`d${t}${key}`, e.id)
    } else if (e.kind === 'soft') {
      if (!e.tags?.length && !e.keys?.length) this.#bump(`G${t}`, e.id)
      for (const tag of e.tags ?? []) this.#bump(`s${t}${tag}`, e.id)
      for (const key of e.keys ?? []) this.#bump(`k${t}${key}`, e.id)
    }
  }

  verdict(tenant: string, key: string, e: StoredEntry): Verdict {
    const b = e.began
    if (b < this.#watermark) return Verdict.Unknown
    const t = tenant + SEP
    const m = this.#map
    if ((m.get(`g${t}`) ?? 0) > b || (m.get(`d${t}${key}`) ?? 0) > b) return Verdict.Dead
    let stale = (m.get(`G${t}`) ?? 0) > b || (m.get(`k${t}${key}`) ?? 0) > b
    for (const tag of e.tags) {
      if ((m.get(`t${t}${tag}`) ?? 0) > b) return Verdict.Dead
      if (!stale && (m.get(`s${t}${tag}`) ?? 0) > b) stale = true
    }
    return stale ? Verdict.Stale : Verdict.Fresh
  }

  close(): void {
    this.#off()
  }
}
