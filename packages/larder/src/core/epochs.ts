import type { EpochLimits } from './api.ts'
import { LarderError } from './errors.ts'
import { SEP } from './keys.ts'
import type { LogEntry } from './types.ts'

/** What a stored entry is worth right now. */
export const enum Verdict {
  Valid = 0,
  /** Soft-invalidated: may be served stale within its grace while one refresh runs. */
  Soft = 1,
  /** Hard-invalidated (or older than a flush): never serve, never write back. */
  Dead = 2,
}

export interface EpochsOptions {
  /** Most epochs (tags, soft tags and keys together) one tenant keeps. Default 100,000. */
  maxPerTenant?: number
  /** Most epochs kept in all tenants' tables. Default 200,000. */
  maxTracked?: number
  /** Most tenants with an epoch table. Default 10,000. */
  maxTenants?: number
  /**
   * True while `tenant` has entries in L1. The floor of such a tenant is kept (it is what
   * vouches for those entries); other floors may be forgotten (see {@link Epochs}).
   */
  resident?: (tenant: string) => boolean
}

/** Checks the `epochs` option of createCache (each bound a positive integer when given). */
export function epochLimits(limits: EpochLimits | undefined): EpochLimits {
  if (limits === undefined) return {}
  if (limits === null || typeof limits !== 'object') throw new LarderError('E_INVALID_OPTION', 'epochs must be an object { maxPerTenant?, maxTracked?, maxTenants? }')
  for (const name of ['maxPerTenant', 'maxTracked', 'maxTenants'] as const) {
    const v = limits[name]
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw new LarderError('E_INVALID_OPTION', `epochs.${name} must be a positive integer, got ${String(v)}`)
  }
  return { maxPerTenant: limits.maxPerTenant, maxTracked: limits.maxTracked, maxTenants: limits.maxTenants }
}

/** Slots of forgotten floors: a forgotten tenant's floor costs misses to 1 in 4,096 of the other forgotten tenants, not all. */
const FORGOTTEN_SLOTS = 4096

/** FNV-1a of the tenant id (the first `end` characters of `s`), reduced to a slot of forgotten floors. */
function slotOf(s: string, end = s.length): number {
  let h = 0x811c9dc5
  for (let i = 0; i < end; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return (h >>> 0) & (FORGOTTEN_SLOTS - 1)
}

/** One tenant's epochs. Maps are created on first use: most tenants invalidate one kind. */
class Table {
  hard: Map<string, number> | undefined = undefined
  soft: Map<string, number> | undefined = undefined
  /** Keyed by qualified key (as the engine checks them). */
  keys: Map<string, number> | undefined = undefined
  /** Entries that began before this are dead (the tenant's clear, or forgotten hard epochs). */
  hardFloor: number
  /** Entries that began before this are at least soft-invalidated. */
  softFloor = 0
  /** Loads and L2 reads that began before this are dead (see Epochs: forgotten floors). */
  loadFloor: number
  /** The largest id recorded here. */
  newest = 0
  count = 0

  constructor(hardFloor: number, loadFloor: number) {
    this.hardFloor = hardFloor
    this.loadFloor = loadFloor
  }

  /** The floor that stands for everything this table knows once it is forgotten. */
  get summary(): number {
    return Math.max(this.hardFloor, this.softFloor, this.newest, this.loadFloor)
  }
}

/**
 * Invalidation epochs: for each tag, key and tenant, the id of the last log entry that
 * invalidated it, in one table per tenant. An entry whose load began (`began`) before such
 * an id is dead. Checking an entry costs one Map lookup per tag, with no store round trip;
 * invalidating a tag costs O(1) whatever the number of entries.
 *
 * Memory is bounded per tenant and in all, and whatever is forgotten becomes a floor of the
 * tenant it belonged to (docs/invariants.md, "Per-tenant bounds"):
 * - a table past `maxPerTenant` forgets its oldest epochs and raises that tenant's floor;
 * - past `maxTracked` epochs in all, or `maxTenants` tables, the least recently invalidating
 *   tenants' tables are replaced by one number each, a floor at their newest id;
 * - those floors are kept while the tenant has L1 entries; the others, past `maxTenants`,
 *   are forgotten too and raise one of `#forgotten`'s slots (by a hash of the tenant): a floor
 *   for loads and L2 reads (never for entries held in L1) of the tenants hashed there that
 *   have neither table nor floor.
 * A floor only ever turns entries into misses, never serves a stale one; it reaches other
 * tenants only through a forgotten slot, and then only their loads and L2 reads.
 */
export class Epochs {
  /** Tenant → table, least recently invalidated first. */
  readonly #tables = new Map<string, Table>()
  /** Floors of tenants whose table was evicted, oldest first. */
  readonly #floors = new Map<string, number>()
  readonly #maxPerTenant: number
  readonly #maxTracked: number
  readonly #maxTenants: number
  readonly #resident: (tenant: string) => boolean
  /** Epochs held in all tables. */
  #count = 0
  /** Forgotten floors by slot: loads and L2 reads of tenants with no table and no floor that began before their slot's are dead. */
  readonly #forgotten = new Float64Array(FORGOTTEN_SLOTS)
  /** The largest value in #forgotten: most checks stop there without hashing the tenant. */
  #forgottenMax = 0
  /** #floors is swept when it grows past this (amortized: floors of resident tenants stay). */
  #sweepAt: number
  /** Bumped on every change: entries validated at the current version need no re-check. */
  version = 0

  constructor(options: EpochsOptions = {}) {
    this.#maxTracked = options.maxTracked ?? 200_000
    this.#maxPerTenant = Math.min(options.maxPerTenant ?? 100_000, this.#maxTracked)
    this.#maxTenants = options.maxTenants ?? 10_000
    this.#resident = options.resident ?? (() => false)
    this.#sweepAt = this.#maxTenants
  }

  /** The tenant's table, made most recently used (created when missing). */
  #table(tenant: string): Table {
    let t = this.#tables.get(tenant)
    if (t !== undefined) {
      this.#tables.delete(tenant)
      this.#tables.set(tenant, t)
      return t
    }
    const floor = this.#floors.get(tenant)
    if (floor !== undefined) {
      this.#floors.delete(tenant)
      t = new Table(floor, 0)
    } else t = new Table(0, this.#forgottenMax === 0 ? 0 : (this.#forgotten[slotOf(tenant)] as number))
    this.#tables.set(tenant, t)
    return t
  }

  #put(t: Table, which: 'hard' | 'soft' | 'keys', key: string, id: number): void {
    let map = t[which]
    if (map === undefined) t[which] = map = new Map()
    const prev = map.get(key)
    if (prev !== undefined) {
      if (prev >= id) return
      map.delete(key) // re-insert to keep insertion order = age order
      this.#count--
      t.count--
    }
    map.set(key, id)
    this.#count++
    t.count++
    if (id > t.newest) t.newest = id
    if (t.count > this.#maxPerTenant) this.#trim(t)
  }

  /**
   * Forgets the tenant's oldest epochs, largest map first, raising its own floors, down to
   * 15/16 of the bound: one pass over a map's oldest entries serves many later puts (asking a
   * Map for its first entry after deleting from its front costs a scan of the holes).
   */
  #trim(t: Table): void {
    const target = this.#maxPerTenant - (this.#maxPerTenant >> 4)
    while (t.count > target) {
      const h = t.hard?.size ?? 0
      const s = t.soft?.size ?? 0
      const k = t.keys?.size ?? 0
      const map = (h >= s && h >= k ? t.hard : s >= k ? t.soft : t.keys) as Map<string, number>
      let floor = 0
      let n = t.count - target
      for (const [key, id] of map) {
        if (n-- <= 0) break
        map.delete(key)
        this.#count--
        t.count--
        if (id > floor) floor = id
      }
      if (map === t.soft) t.softFloor = Math.max(t.softFloor, floor)
      else t.hardFloor = Math.max(t.hardFloor, floor)
    }
  }

  /**
   * Replaces least recently invalidating tenants' tables by floors until within bounds, with
   * some slack (15/16 of the bounds) so that one pass over the oldest tables serves many
   * later invalidations (asking a Map for its first entry after deleting from its front scans
   * the holes).
   */
  #evict(keep: string): void {
    const tables = this.#maxTenants - (this.#maxTenants >> 4)
    const tracked = this.#maxTracked - (this.#maxTracked >> 4)
    for (const [tenant, t] of this.#tables) {
      if (this.#tables.size <= tables && this.#count <= tracked) break
      if (tenant === keep) continue // the table being written stays (#trim bounds it)
      this.#tables.delete(tenant)
      this.#count -= t.count
      this.#floors.set(tenant, t.summary)
    }
    if (this.#floors.size > this.#sweepAt) this.#sweep()
  }

  /**
   * Forgets the oldest floors of tenants with no L1 entry (their floor then lives on in
   * their slot of `#forgotten`, which only judges loads and L2 reads). Floors of resident tenants stay:
   * they are bounded by the number of L1 entries.
   */
  #sweep(): void {
    let excess = this.#floors.size - this.#maxTenants
    for (const [tenant, floor] of this.#floors) {
      if (excess <= 0) break
      if (this.#resident(tenant)) continue
      this.#floors.delete(tenant)
      const i = slotOf(tenant)
      if (floor > (this.#forgotten[i] as number)) this.#forgotten[i] = floor
      if (floor > this.#forgottenMax) this.#forgottenMax = floor
      excess--
    }
    this.#sweepAt = Math.max(this.#maxTenants, 2 * this.#floors.size)
  }

  /** Records what a log entry invalidates. */
  apply(entry: LogEntry): void {
    const { tenant, id } = entry
    let t: Table
    switch (entry.kind) {
      case 'hard':
        t = this.#table(tenant)
        if (entry.tags) for (const tag of entry.tags) this.#put(t, 'hard', tag, id)
        if (entry.keys) for (const k of entry.keys) this.#put(t, 'keys', tenant + SEP + k, id)
        break
      case 'soft':
        t = this.#table(tenant)
        if (entry.tags) for (const tag of entry.tags) this.#put(t, 'soft', tag, id)
        if (entry.keys) for (const k of entry.keys) this.#put(t, 'keys', tenant + SEP + k, id)
        break
      case 'clear':
        t = this.#table(tenant)
        if (id > t.hardFloor) t.hardFloor = id
        if (id > t.newest) t.newest = id
        break
      default:
        return
    }
    if (this.#tables.size > this.#maxTenants || this.#count > this.#maxTracked) this.#evict(tenant)
    this.version++
  }

  /**
   * Judges an entry of `tenant` stored under qualified key `qkey`. `resident`: the entry is
   * held in L1 now (so the tenant's floor has been kept since it was stored, and forgotten
   * floors need not be checked); leave it false for loads and L2 reads.
   */
  check(tenant: string, qkey: string, tags: readonly string[], began: number, resident = false): Verdict {
    const t = this.#tables.get(tenant)
    if (t === undefined) {
      if (this.#floors.size > 0) {
        const f = this.#floors.get(tenant)
        if (f !== undefined) return began < f ? Verdict.Dead : Verdict.Valid
      }
      return !resident && began < this.#forgottenMax && began < (this.#forgotten[slotOf(tenant)] as number) ? Verdict.Dead : Verdict.Valid
    }
    if (began < t.hardFloor || (!resident && began < t.loadFloor)) return Verdict.Dead
    const ke = t.keys?.get(qkey)
    if (ke !== undefined && ke > began) return Verdict.Dead
    let verdict = began < t.softFloor ? Verdict.Soft : Verdict.Valid
    const hard = t.hard
    const soft = t.soft
    for (let i = 0; i < tags.length; i++) {
      const tag = tags[i] as string
      const h = hard?.get(tag)
      if (h !== undefined && h > began) return Verdict.Dead
      const s = soft?.get(tag)
      if (s !== undefined && s > began) verdict = Verdict.Soft
    }
    return verdict
  }

  /** Epochs held in tables (not counting floors). */
  get tracked(): number {
    return this.#count
  }

  /** Tenants with a table, and tenants reduced to a floor. */
  get tenants(): { tables: number; floors: number } {
    return { tables: this.#tables.size, floors: this.#floors.size }
  }
}

/**
 * Direct writes (`set`) per key, stamped with a local sequence: a load that began before a
 * `set` of its key must not overwrite the newer value. Bounded: forgetting a stamp raises the
 * floor of its tenant's slot (as forgotten epoch floors, 1 tenant in 4,096 shares it), which
 * refuses that slot's older loads — one tenant's flood of writes never refuses every load.
 */
export class WriteStamps {
  readonly #stamps = new Map<string, number>()
  readonly #max: number
  #seq = 0
  readonly #floors = new Float64Array(FORGOTTEN_SLOTS)
  /** The largest value in #floors: most checks stop there. */
  #floorMax = 0

  constructor(maxTracked = 100_000) {
    this.#max = maxTracked
  }

  /** The stamp a load takes when it begins. */
  now(): number {
    return this.#seq
  }

  /** Records a direct write of `qkey`. */
  write(qkey: string): void {
    const s = ++this.#seq
    this.#stamps.delete(qkey)
    this.#stamps.set(qkey, s)
    if (this.#stamps.size > this.#max) {
      // Down to 15/16 in one pass (asking a Map for its first entry after deleting from its front scans the holes).
      let n = this.#stamps.size - (this.#max - (this.#max >> 4))
      for (const [oldKey, oldSeq] of this.#stamps) {
        if (n-- <= 0) break
        this.#stamps.delete(oldKey)
        const i = slotOf(oldKey, oldKey.indexOf(SEP))
        if (oldSeq > (this.#floors[i] as number)) this.#floors[i] = oldSeq
        if (oldSeq > this.#floorMax) this.#floorMax = oldSeq
      }
    }
  }

  /** True when `qkey` was written directly after a load that began at `stamp`. */
  superseded(qkey: string, stamp: number): boolean {
    if (stamp < this.#floorMax && stamp < (this.#floors[slotOf(qkey, qkey.indexOf(SEP))] as number)) return true
    const s = this.#stamps.get(qkey)
    return s !== undefined && s > stamp
  }
}
