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

/**
 * Invalidation epochs: for each qualified tag, key and tenant, the id of the last log entry
 * that invalidated it. An entry whose load began (`began`) before such an id is dead.
 * Checking an entry costs one Map lookup per tag, with no store round trip; invalidating a
 * tag costs O(1) whatever the number of entries.
 *
 * Memory is bounded: when a map outgrows `maxTracked`, its oldest epochs are forgotten and
 * the matching floor rises to the forgotten id, which treats every older entry as invalidated
 * — safe (a few extra misses), never stale.
 */
export class Epochs {
  readonly #hardTags = new Map<string, number>()
  readonly #softTags = new Map<string, number>()
  readonly #keys = new Map<string, number>()
  readonly #tenants = new Map<string, number>()
  readonly #max: number
  /** Entries that began before this are dead. */
  #hardFloor = 0
  /** Entries that began before this are at least soft-invalidated. */
  #softFloor = 0
  /** Bumped on every change: entries validated at the current version need no re-check. */
  version = 0

  constructor(maxTracked = 200_000) {
    this.#max = maxTracked
  }

  #put(map: Map<string, number>, key: string, id: number, hard: boolean): void {
    const prev = map.get(key)
    if (prev !== undefined) {
      if (prev >= id) return
      map.delete(key) // re-insert to keep insertion order = age order
    }
    map.set(key, id)
    if (map.size > this.#max) {
      const [oldKey, oldId] = map.entries().next().value as [string, number]
      map.delete(oldKey)
      if (hard) this.#hardFloor = Math.max(this.#hardFloor, oldId)
      else this.#softFloor = Math.max(this.#softFloor, oldId)
    }
  }

  /** Records what a log entry invalidates. */
  apply(entry: LogEntry): void {
    const { tenant, id } = entry
    switch (entry.kind) {
      case 'hard':
        if (entry.tags) for (const t of entry.tags) this.#put(this.#hardTags, tenant + SEP + t, id, true)
        if (entry.keys) for (const k of entry.keys) this.#put(this.#keys, tenant + SEP + k, id, true)
        break
      case 'soft':
        if (entry.tags) for (const t of entry.tags) this.#put(this.#softTags, tenant + SEP + t, id, false)
        if (entry.keys) for (const k of entry.keys) this.#put(this.#keys, tenant + SEP + k, id, true)
        break
      case 'clear':
        this.#put(this.#tenants, tenant, id, true)
        break
      default:
        return
    }
    this.version++
  }

  /** Judges an entry of `tenant` stored under qualified key `qkey`. */
  check(tenant: string, qkey: string, tags: readonly string[], began: number): Verdict {
    if (began < this.#hardFloor) return Verdict.Dead
    const te = this.#tenants.get(tenant)
    if (te !== undefined && te > began) return Verdict.Dead
    const ke = this.#keys.get(qkey)
    if (ke !== undefined && ke > began) return Verdict.Dead
    let verdict = began < this.#softFloor ? Verdict.Soft : Verdict.Valid
    for (let i = 0; i < tags.length; i++) {
      const qt = tenant + SEP + tags[i]
      const h = this.#hardTags.get(qt)
      if (h !== undefined && h > began) return Verdict.Dead
      const s = this.#softTags.get(qt)
      if (s !== undefined && s > began) verdict = Verdict.Soft
    }
    return verdict
  }

  get tracked(): number {
    return this.#hardTags.size + this.#softTags.size + this.#keys.size + this.#tenants.size
  }
}

/**
 * Direct writes (`set`) per key, stamped with a local sequence: a load that began before a
 * `set` of its key must not overwrite the newer value. Bounded like the epochs: forgetting
 * a stamp raises a floor that refuses every older load.
 */
export class WriteStamps {
  readonly #stamps = new Map<string, number>()
  readonly #max: number
  #seq = 0
  #floor = 0

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
      const [oldKey, oldSeq] = this.#stamps.entries().next().value as [string, number]
      this.#stamps.delete(oldKey)
      this.#floor = Math.max(this.#floor, oldSeq)
    }
  }

  /** True when `qkey` was written directly after a load that began at `stamp`. */
  superseded(qkey: string, stamp: number): boolean {
    if (stamp < this.#floor) return true
    const s = this.#stamps.get(qkey)
    return s !== undefined && s > stamp
  }
}
