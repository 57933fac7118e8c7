/**
 * Adaptive TTLs and the TTL-effectiveness report (docs/core.md, "Adaptive TTLs").
 *
 * The group of an entry is the policy that stored it (`default` when a call names none),
 * observed per tenant. A bounded ledger remembers the entries stored lately (key, group,
 * when stored, when stale, tags, log position) and classifies each one when its life ends:
 *
 * - **invalidated** — the log changed it (hard or soft) before the next store of its key or
 *   before it was swept; also a direct `set` over a live entry (a write);
 * - **read after expiry** — it reached its ttl unchanged and a read then loaded the key
 *   again: a miss the ttl caused (a longer ttl would have been a hit);
 * - **expired unread** — it reached its ttl unchanged and no read loaded it again within
 *   one more ttl (then the sweep ends it).
 *
 * Because every invalidation goes through the log, "not invalidated at time t" means the
 * data was unchanged from the store to t. From the tracked entries of a (group, tenant), the
 * ended ones and those still alive (their time so far counts too: without it, entries that
 * live long would be missing from the estimate), this estimates the mean time between
 * changes (time observed unchanged ÷ (changes + 1), the censored estimate) and the share of expired entries that were read again; an adaptive
 * policy's ttl is then `clamp(min, max, 3 × changeInterval × max(0.25, readAgainShare))`:
 * popular, rarely changing → long; frequently changing → short; rarely read again → shorter.
 * The estimates decay with `halfLife` so a group that starts changing more is followed.
 *
 * Bounded (docs/invariants.md, P4): groups are configured policy names; tenants get their
 * own cells up to a limit (BoundedLabel: the first ones), later ones share `other`; the
 * ledger holds at most `capacity` entries (new keys are not tracked while it is full).
 * @module
 */
import { BoundedLabel, OTHER } from '../metrics/labels.ts'
import { LarderError } from './errors.ts'
import type { ResolvedPolicy } from './policy.ts'

/** How a resolved adaptive policy bounds its ttl. */
export interface AdaptiveBounds {
  min: number
  max: number
  halfLife: number
}

/** Ended entries a cell needs before its ttl moves off the policy's own. */
export const MIN_SAMPLES = 8

/**
 * The ttl is this many mean change intervals: with changes at random (exponential), about
 * e^-3 ≈ 5 % of entries then reach their ttl unchanged, so the ttl seldom costs a hit, and
 * data that changes often still gets a short one.
 */
export const CHANGE_INTERVALS = 3

/** One group's TTL effectiveness (counts since start; shares of `ended`). */
export interface TtlGroupReport {
  /** The policy name (`default` for calls that name none). */
  group: string
  adaptive: boolean
  /** The policy's own ttl (what a fixed-TTL policy uses). */
  policyTtlMs: number
  /** The ttls in use for this group's tenants now (equal to policyTtlMs when not adaptive). */
  ttlMs: { min: number; max: number }
  /** Entries whose life ended (classified), and how. */
  ended: number
  expiredUnchanged: number
  invalidatedBeforeExpiry: number
  readAfterExpiry: number
  /** Fractions of `ended`; null while nothing ended. `readAfterExpiry` is part of `expiredUnchanged`. */
  shares: { expiredUnchanged: number | null; invalidatedBeforeExpiry: number | null; readAfterExpiry: number | null }
  /** Estimated mean time between changes of an entry (decayed), null before any entry ended. */
  changeIntervalMs: number | null
}

export interface TtlReport {
  /** Entries the ledger follows now, and at most. */
  tracked: number
  capacity: number
  /** Stores counted under `other` because their tenant was past the limit of own cells. */
  folded: number
  groups: TtlGroupReport[]
}

interface Cell {
  readonly group: string
  readonly policy: ResolvedPolicy
  /** Since start (the report). */
  ended: number
  invalidated: number
  readAfter: number
  expiredUnread: number
  /** Decayed (the estimate): ms observed unchanged, changes, expired entries read again / not. */
  exposure: number
  changes: number
  again: number
  notAgain: number
  samples: number
  at: number
  /** Tracked entries still alive, and the sum of their store times: their exposure so far is `live × now − liveAt`. */
  live: number
  liveAt: number
}

/** One followed entry (updated in place when its key is stored again). */
interface Tracked {
  cell: Cell
  at: number
  staleAt: number
  tags: readonly string[]
  began: number
  tenant: string
}

export interface TtlObserverOptions {
  now(): number
  /** True when the log changed this entry since it was loaded (hard or soft). */
  changed(tenant: string, qkey: string, tags: readonly string[], began: number): boolean
  /** Tenants with their own cells; later ones share `other`. */
  tenantLimit: number
  /** Most entries the ledger follows. */
  capacity: number
}

/** The stored-entry shape the observer reads. */
export interface ObservedEntry {
  readonly tags: readonly string[]
  readonly began: number
  readonly at: number
  readonly staleAt: number
}

export class TtlObserver {
  readonly #opts: TtlObserverOptions
  readonly #tenants: BoundedLabel
  /** Policy name → tenant label → cell. */
  readonly #cells = new Map<string, Map<string, Cell>>()
  readonly #ledger = new Map<string, Tracked>()
  /** The sweep's place in the ledger: a live iterator, one step per store (round robin). */
  #cursor: MapIterator<[string, Tracked]> | undefined

  constructor(options: TtlObserverOptions) {
    if (!Number.isInteger(options.capacity) || options.capacity < 0) throw new LarderError('E_INVALID_OPTION', 'ttlTracking must be a non-negative integer')
    this.#opts = options
    this.#tenants = new BoundedLabel(options.tenantLimit)
  }

  /** The ttl an adaptive policy uses for this tenant now; undefined for other policies. */
  ttl(tenant: string, policy: ResolvedPolicy): number | undefined {
    if (policy.adaptive === undefined) return undefined
    const cell = this.#cells.get(policy.name)?.get(this.#tenants.has(tenant) ? tenant : OTHER)
    return cell === undefined ? clamp(policy.ttl, policy.adaptive) : this.#ttlOf(cell, this.#opts.now())
  }

  /** The cell's ttl now: the policy's (clamped) until MIN_SAMPLES entries ended, then the estimate's. */
  #ttlOf(c: Cell, now: number): number {
    const a = c.policy.adaptive
    if (a === undefined) return c.policy.ttl
    if (c.samples < MIN_SAMPLES) return clamp(c.policy.ttl, a)
    const interval = (c.exposure + c.live * now - c.liveAt) / (c.changes + 1)
    const expiredSeen = c.again + c.notAgain
    const readAgain = expiredSeen === 0 ? 1 : c.again / expiredSeen
    return clamp(CHANGE_INTERVALS * interval * Math.max(0.25, readAgain), a)
  }

  /**
   * An entry of `policy` was stored for `qkey`: the previous one of the key ends (`read`:
   * a read loaded it, so an expired predecessor was read after expiry).
   */
  stored(tenant: string, policy: ResolvedPolicy, qkey: string, entry: ObservedEntry, read: boolean): void {
    if (this.#opts.capacity === 0) return
    const now = this.#opts.now()
    const prev = this.#ledger.get(qkey)
    // Two steps per store: the sweep outruns the one entry a store may append, so it wraps around.
    this.#sweep(now, prev)
    this.#sweep(now, prev)
    if (prev !== undefined) {
      // The followed entry ends; the key stays followed, its record now the new entry's.
      prev.cell.live--
      prev.cell.liveAt -= prev.at
      this.#end(prev, qkey, now, read ? 'read' : 'write')
      const cell = prev.tenant === tenant && prev.cell.policy === policy ? prev.cell : this.#cell(tenant, policy, now)
      prev.cell = cell
      prev.at = entry.at
      prev.staleAt = entry.staleAt
      prev.tags = entry.tags
      prev.began = entry.began
      prev.tenant = tenant
      cell.live++
      cell.liveAt += entry.at
      return
    }
    if (this.#ledger.size >= this.#opts.capacity) return
    const cell = this.#cell(tenant, policy, now)
    this.#ledger.set(qkey, { cell, at: entry.at, staleAt: entry.staleAt, tags: entry.tags, began: entry.began, tenant })
    cell.live++
    cell.liveAt += entry.at
  }

  /**
   * One step of the sweep (Map iterators see later changes): the next followed entry ends
   * "expired unread" when one more ttl passed after its ttl without a read loading it again.
   */
  #sweep(now: number, skip: Tracked | undefined): void {
    let next = this.#cursor?.next()
    if (next === undefined || next.done === true) {
      this.#cursor = this.#ledger.entries()
      next = this.#cursor.next()
      if (next.done === true) return
    }
    const [qkey, t] = next.value
    if (t === skip || now < t.staleAt + (t.staleAt - t.at)) return
    this.#ledger.delete(qkey)
    t.cell.live--
    t.cell.liveAt -= t.at
    this.#end(t, qkey, now, 'sweep')
  }

  #end(t: Tracked, qkey: string, now: number, why: 'read' | 'write' | 'sweep'): void {
    const c = t.cell
    const expired = now >= t.staleAt
    // A write over a live entry is a change whatever the log says (no epoch check needed).
    const changed = (!expired && why === 'write') || this.#opts.changed(t.tenant, qkey, t.tags, t.began)
    // Replaced while live and unchanged (L1 eviction, refresh-ahead): not an end of life.
    if (!changed && !expired && why !== 'write') return
    this.#decay(c, now)
    c.ended++
    c.samples++
    if (changed || !expired) {
      c.invalidated++
      c.changes++
      c.exposure += Math.max(0, Math.min(now, t.staleAt) - t.at)
    } else {
      // Not changed by now: the data stayed the same from the store until now.
      c.exposure += Math.max(0, now - t.at)
      if (why === 'read') {
        c.readAfter++
        c.again++
      } else {
        c.expiredUnread++
        c.notAgain++
      }
    }
  }

  #decay(c: Cell, now: number): void {
    const h = c.policy.adaptive?.halfLife ?? 0
    if (h > 0 && now > c.at) {
      const f = 2 ** (-(now - c.at) / h)
      c.exposure *= f
      c.changes *= f
      c.again *= f
      c.notAgain *= f
    }
    c.at = now
  }

  #cell(tenant: string, policy: ResolvedPolicy, now: number): Cell {
    let byTenant = this.#cells.get(policy.name)
    if (byTenant === undefined) this.#cells.set(policy.name, (byTenant = new Map()))
    const id = this.#tenants.get(tenant)
    let c = byTenant.get(id)
    if (c === undefined || c.policy !== policy) {
      c = { group: policy.name, policy, ended: 0, invalidated: 0, readAfter: 0, expiredUnread: 0, exposure: 0, changes: 0, again: 0, notAgain: 0, samples: 0, at: now, live: 0, liveAt: 0 }
      byTenant.set(id, c)
    }
    return c
  }

  /** Per group, over all tenants, or only `tenant`'s own cells (never `other`'s, which mixes tenants). */
  report(tenant?: string): TtlReport {
    const now = this.#opts.now()
    const rows = new Map<string, TtlGroupReport & { exposure: number; changes: number }>()
    // `other` never answers for one tenant: it mixes every tenant past the limit.
    if (tenant === OTHER) return { tracked: this.#ledger.size, capacity: this.#opts.capacity, folded: this.#tenants.folded, groups: [] }
    for (const [id, c] of [...this.#cells.values()].flatMap((m) => [...m])) {
      if (tenant !== undefined && id !== tenant) continue
      let r = rows.get(c.group)
      const ttl = this.#ttlOf(c, now)
      if (r === undefined) {
        r = {
          group: c.group,
          adaptive: c.policy.adaptive !== undefined,
          policyTtlMs: c.policy.ttl,
          ttlMs: { min: ttl, max: ttl },
          ended: 0,
          expiredUnchanged: 0,
          invalidatedBeforeExpiry: 0,
          readAfterExpiry: 0,
          shares: { expiredUnchanged: null, invalidatedBeforeExpiry: null, readAfterExpiry: null },
          changeIntervalMs: null,
          exposure: 0,
          changes: 0,
        }
        rows.set(c.group, r)
      }
      r.ttlMs.min = Math.min(r.ttlMs.min, ttl)
      r.ttlMs.max = Math.max(r.ttlMs.max, ttl)
      r.ended += c.ended
      r.invalidatedBeforeExpiry += c.invalidated
      r.readAfterExpiry += c.readAfter
      r.expiredUnchanged += c.readAfter + c.expiredUnread
      r.exposure += c.exposure + c.live * now - c.liveAt
      r.changes += c.changes
    }
    const groups = [...rows.values()]
      .map(({ exposure, changes, ...r }) => {
        if (r.ended > 0) {
          r.shares = { expiredUnchanged: r.expiredUnchanged / r.ended, invalidatedBeforeExpiry: r.invalidatedBeforeExpiry / r.ended, readAfterExpiry: r.readAfterExpiry / r.ended }
          r.changeIntervalMs = Math.round(exposure / (changes + 1))
        }
        return r
      })
      .sort((a, b) => (a.group < b.group ? -1 : a.group > b.group ? 1 : 0))
    return { tracked: this.#ledger.size, capacity: this.#opts.capacity, folded: this.#tenants.folded, groups }
  }
}

function clamp(ms: number, a: AdaptiveBounds): number {
  return Math.round(Math.min(a.max, Math.max(a.min, ms)))
}
