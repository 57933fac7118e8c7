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
 * which docs/invariants.md P1 allows). Entries that began earlier go to the READ script, which checks
 * the epochs kept in Redis. The watermark is:
 * - "never" until the log knows its position (RedisLog.whenInitialized), then its last id;
 * - "never" again after a log gap, until the first entry after the gap arrives (entries
 *   lost in a gap have smaller ids than anything read after it);
 * - raised to the id of any epoch the bounded map evicts;
 * - "never" while the log's reader has not been heard from for longer than `maxSilentMs`
 *   (the engine's smallest maxStaleness): what it heard may miss invalidations other instances
 *   recorded in Redis, so the server-side check decides (docs/invariants.md, R3).
 *
 * Memory follows the bound, not the number of tenants ever seen: a tenant's record and its
 * maps exist only while it holds at least one epoch.
 */
export class LocalEpochs {
  /** Per tenant: most tenants have no invalidation in memory, and a miss here is one lookup. */
  readonly #tenants = new Map<string, TenantEpochs>()
  /** Insertion order of recorded epochs, for the bound. */
  readonly #order: { tenant: string; t: TenantEpochs; map: MapName | undefined; field: 'g' | 'G' | undefined; name: string; id: number }[] = []
  #orderHead = 0
  #count = 0
  readonly #limit: number
  #watermark = NEVER
  #afterGap = false
  /**
   * A partitioned log (redisLog `partitions`): the partitions that had a gap and have not
   * delivered an entry since. Entries lost in a gap have smaller ids than what that
   * partition delivers after it, but not than what the others do (each has its own ids).
   */
  readonly #gapped = new Set<number>()
  #started = false
  /** The largest id evicted from the map: entries older than it are never judged here. */
  #floor = 0
  readonly #off: () => void
  readonly #log: InvalidationLog
  readonly #clock: Clock
  readonly #maxSilentMs: number
  /** The log's `serves` (undefined when it reads every tenant). */
  readonly #serves: ((tenant: string) => boolean) | undefined

  constructor(log: InvalidationLog, limit: number, options: { clock?: Clock; maxSilentMs?: number } = {}) {
    this.#limit = limit
    this.#log = log
    this.#clock = options.clock ?? Date
    this.#maxSilentMs = options.maxSilentMs ?? 1000
    this.#serves = log.serves
    const partitionOf = (log.partitions ?? 1) > 1 ? log.partitionOf?.bind(log) : undefined
    this.#off = log.subscribe(
      {
        entries: (es) => {
          for (const e of es) this.apply(e)
          if (partitionOf !== undefined && this.#gapped.size > 0) for (const e of es) this.#gapped.delete(partitionOf(e.tenant))
          if (this.#afterGap && this.#started && this.#gapped.size === 0) {
            this.#afterGap = false
            this.#watermark = Math.max(log.lastId(), this.#floor)
          }
        },
        gap: (g) => {
          this.#watermark = NEVER
          this.#afterGap = true
          if (partitionOf !== undefined) {
            if (g.partition !== undefined) this.#gapped.add(g.partition)
            else for (let i = 0; i < (log.partitions ?? 1); i++) this.#gapped.add(i)
          }
        },
      },
      'now',
    )
    // Only a log that can tell when it knows its position gives a safe starting point.
    log.whenInitialized?.().then(
      () => {
        this.#started = true
        if (!this.#afterGap) this.#watermark = Math.max(log.lastId(), this.#floor)
      },
      // A refused log (its partition count is not the fleet's) vouches for nothing: every read takes the script.
      () => {},
    )
  }

  get watermark(): number {
    const log = this.#log
    if (log.lastHeardAt !== undefined && this.#clock.now() - log.lastHeardAt() > this.#maxSilentMs) return NEVER
    return this.#watermark
  }

  #tenant(tenant: string): TenantEpochs {
    let t = this.#tenants.get(tenant)
    if (t === undefined) this.#tenants.set(tenant, (t = { g: 0, G: 0, hard: undefined, soft: undefined, deleted: undefined, softKeys: undefined, n: 0 }))
    return t
  }

  #record(tenant: string, t: TenantEpochs, which: MapName | undefined, field: 'g' | 'G' | undefined, name: string, id: number): void {
    if (which !== undefined) {
      let map = t[which]
      if ((map?.get(name) ?? 0) >= id) return
      if (map === undefined) t[which] = map = new Map()
      if (!map.has(name)) t.n++
      map.set(name, id)
    } else if (field !== undefined) {
      if (t[field] >= id) return
      if (t[field] === 0) t.n++
      t[field] = id
    }
    this.#order.push({ tenant, t, map: which, field, name, id })
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
    const t = old.t
    const map = old.map === undefined ? undefined : t[old.map]
    if (map !== undefined && map.get(old.name) === old.id) {
      map.delete(old.name)
      if (map.size === 0) t[old.map as MapName] = undefined
      t.n--
    }
    if (old.field !== undefined && t[old.field] === old.id) {
      t[old.field] = 0
      t.n--
    }
    // A tenant without epochs has no record (a later one starts afresh; the floor covers the rest).
    if (t.n === 0 && this.#tenants.get(old.tenant) === t) this.#tenants.delete(old.tenant)
    this.#floor = Math.max(this.#floor, old.id)
    if (this.#watermark !== NEVER) this.#watermark = Math.max(this.#watermark, old.id)
  }

  apply(e: LogEntry): void {
    if (e.kind !== 'clear' && e.kind !== 'hard' && e.kind !== 'soft') return
    const n = e.tenant
    const t = this.#tenant(n)
    if (e.kind === 'clear') this.#record(n, t, undefined, 'g', '', e.id)
    else if (e.kind === 'hard') {
      for (const tag of e.tags ?? []) this.#record(n, t, 'hard', undefined, tag, e.id)
      for (const key of e.keys ?? []) this.#record(n, t, 'deleted', undefined, key, e.id)
    } else {
      if (!e.tags?.length && !e.keys?.length) this.#record(n, t, undefined, 'G', '', e.id)
      for (const tag of e.tags ?? []) this.#record(n, t, 'soft', undefined, tag, e.id)
      for (const key of e.keys ?? []) this.#record(n, t, 'softKeys', undefined, key, e.id)
    }
    if (t.n === 0 && this.#tenants.get(n) === t) this.#tenants.delete(n) // nothing newer was recorded
  }

  verdict(tenant: string, key: string, e: StoredEntry): Verdict {
    const b = e.began
    if (b < this.#watermark) return Verdict.Unknown
    // A tenant whose partition this process does not read: no local epoch can vouch for it.
    if (this.#serves !== undefined && !this.#serves(tenant)) return Verdict.Unknown
    const t = this.#tenants.get(tenant)
    if (t === undefined) return Verdict.Fresh
    if (t.g > b || (t.deleted !== undefined && (t.deleted.get(key) ?? 0) > b)) return Verdict.Dead
    let stale = t.G > b || (t.softKeys !== undefined && (t.softKeys.get(key) ?? 0) > b)
    const hard = t.hard
    const soft = t.soft
    if (hard !== undefined || soft !== undefined) {
      for (const tag of e.tags) {
        if ((hard?.get(tag) ?? 0) > b) return Verdict.Dead
        if (!stale && (soft?.get(tag) ?? 0) > b) stale = true
      }
    }
    return stale ? Verdict.Stale : Verdict.Fresh
  }

  /** Tenants holding at least one epoch here. */
  get tenants(): number {
    return this.#tenants.size
  }

  close(): void {
    this.#off()
  }
}

type MapName = 'hard' | 'soft' | 'deleted' | 'softKeys'

interface TenantEpochs {
  /** Generation (clear) and tenant-wide soft epoch. */
  g: number
  G: number
  /** Created on first use, dropped when emptied. */
  hard: Map<string, number> | undefined
  soft: Map<string, number> | undefined
  deleted: Map<string, number> | undefined
  softKeys: Map<string, number> | undefined
  /** Epochs held (map entries, and g and G when set). */
  n: number
}
