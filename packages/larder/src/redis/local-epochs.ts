import type { Clock, InvalidationLog, LogEntry, StoredEntry } from '../core/types.ts'

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
 * - raised to the id of any epoch the bounded map evicts;
 * - "never" while the log's reader has not been heard from for longer than `maxSilentMs`
 *   (the engine's smallest maxStaleness): what it heard may miss invalidations other instances
 *   recorded in Redis, so the server-side check decides (docs/invariants.md, R3).
 */
export class LocalEpochs {
  /** Per tenant: most tenants have no invalidation in memory, and a miss here is one lookup. */
  readonly #tenants = new Map<string, TenantEpochs>()
  /** Insertion order of recorded epochs, for the bound. */
  readonly #order: { t: TenantEpochs; map: Map<string, number> | undefined; field: 'g' | 'G' | undefined; name: string; id: number }[] = []
  #orderHead = 0
  #count = 0
  readonly #limit: number
  #watermark = NEVER
  #afterGap = false
  #started = false
  /** The largest id evicted from the map: entries older than it are never judged here. */
  #floor = 0
  readonly #off: () => void
  readonly #log: InvalidationLog
  readonly #clock: Clock
  readonly #maxSilentMs: number

  constructor(log: InvalidationLog & { whenInitialized?(): Promise<void> }, limit: number, options: { clock?: Clock; maxSilentMs?: number } = {}) {
    this.#limit = limit
    this.#log = log
    this.#clock = options.clock ?? Date
    this.#maxSilentMs = options.maxSilentMs ?? 1000
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

  get watermark(): number {
    const log = this.#log
    if (log.lastHeardAt !== undefined && this.#clock.now() - log.lastHeardAt() > this.#maxSilentMs) return NEVER
    return this.#watermark
  }

  #tenant(tenant: string): TenantEpochs {
    let t = this.#tenants.get(tenant)
    if (t === undefined) this.#tenants.set(tenant, (t = { g: 0, G: 0, hard: new Map(), soft: new Map(), deleted: new Map(), softKeys: new Map() }))
    return t
  }

  #record(t: TenantEpochs, map: Map<string, number> | undefined, field: 'g' | 'G' | undefined, name: string, id: number): void {
    if (map !== undefined) {
      if ((map.get(name) ?? 0) >= id) return
      map.set(name, id)
    } else if (field !== undefined) {
      if (t[field] >= id) return
      t[field] = id
    }
    this.#order.push({ t, map, field, name, id })
    if (++this.#count > this.#limit) this.#evict()
  }

  #evict(): void {
    const old = this.#order[this.#orderHead++]
    if (this.#orderHead > 1024 && this.#orderHead * 2 > this.#order.length) {
      this.#order.splice(0, this.#orderHead)
      this.#orderHead = 0
    }
    if (old === undefined) return
    this.#count--
    // Drop it only if no newer epoch replaced it (then that one is in the queue too).
    if (old.map !== undefined && old.map.get(old.name) === old.id) old.map.delete(old.name)
    if (old.field !== undefined && old.t[old.field] === old.id) old.t[old.field] = 0
    this.#floor = Math.max(this.#floor, old.id)
    if (this.#watermark !== NEVER) this.#watermark = Math.max(this.#watermark, old.id)
  }

  apply(e: LogEntry): void {
    if (e.kind !== 'clear' && e.kind !== 'hard' && e.kind !== 'soft') return
    const t = this.#tenant(e.tenant)
    if (e.kind === 'clear') this.#record(t, undefined, 'g', '', e.id)
    else if (e.kind === 'hard') {
      for (const tag of e.tags ?? []) this.#record(t, t.hard, undefined, tag, e.id)
      for (const key of e.keys ?? []) this.#record(t, t.deleted, undefined, key, e.id)
    } else {
      if (!e.tags?.length && !e.keys?.length) this.#record(t, undefined, 'G', '', e.id)
      for (const tag of e.tags ?? []) this.#record(t, t.soft, undefined, tag, e.id)
      for (const key of e.keys ?? []) this.#record(t, t.softKeys, undefined, key, e.id)
    }
  }

  verdict(tenant: string, key: string, e: StoredEntry): Verdict {
    const b = e.began
    if (b < this.#watermark) return Verdict.Unknown
    const t = this.#tenants.get(tenant)
    if (t === undefined) return Verdict.Fresh
    if (t.g > b || (t.deleted.size > 0 && (t.deleted.get(key) ?? 0) > b)) return Verdict.Dead
    let stale = t.G > b || (t.softKeys.size > 0 && (t.softKeys.get(key) ?? 0) > b)
    if (t.hard.size > 0 || t.soft.size > 0) {
      for (const tag of e.tags) {
        if ((t.hard.get(tag) ?? 0) > b) return Verdict.Dead
        if (!stale && (t.soft.get(tag) ?? 0) > b) stale = true
      }
    }
    return stale ? Verdict.Stale : Verdict.Fresh
  }

  close(): void {
    this.#off()
  }
}

interface TenantEpochs {
  /** Generation (clear) and tenant-wide soft epoch. */
  g: number
  G: number
  hard: Map<string, number>
  soft: Map<string, number>
  deleted: Map<string, number>
  softKeys: Map<string, number>
}
