/**
 * Invalidation (docs/core.md, "Module layout"): `invalidate` appends to the log first and then
 * applies the entry to the epochs and L1 (and records it in L2) before it resolves; entries
 * the log delivers are applied the same way; a gap in the log distrusts L1. The engine hands
 * over the narrow view of its state this needs (`InvalidationHost`).
 * @module
 */
import type { InvalidateInput, InvalidationResult } from './api.ts'
import { channels, traces } from './diagnostics.ts'
import type { Scope } from './entry.ts'
import type { Epochs } from './epochs.ts'
import { LarderError } from './errors.ts'
import { SEP, validateKey, validateTags } from './keys.ts'
import type { MemoryStore } from '../stores/memory-store.ts'
import type { Clock, InvalidationLog, LogEntry, LogGap, Store } from './types.ts'

/** What invalidation reads and changes of the engine. */
export interface InvalidationHost {
  readonly instanceId: string
  readonly log: InvalidationLog
  readonly l1: MemoryStore | undefined
  readonly l2: Store | undefined
  readonly epochs: Epochs
  readonly clock: Clock
  onError(err: unknown, context: string): void
  /** Throws E_CLOSED once the engine is closed. */
  open(): void
  /** Loads begun before this never write back (the engine's flush generation moves on). */
  fence(): void
}

export class Invalidation {
  readonly #host: InvalidationHost
  /** L1 entries our own log entries purged when the log delivered them during append. */
  readonly #ownPurged = new Map<number, number>()

  constructor(host: InvalidationHost) {
    this.#host = host
  }

  /** `internal`: tags built by the engine itself (not validated as user tags). */
  async invalidateIn(scope: Scope, input: InvalidateInput, kind: 'clear' | 'internal' | undefined): Promise<InvalidationResult> {
    const host = this.#host
    if (input === null || typeof input !== 'object') throw new LarderError('E_INVALID_OPTION', 'invalidate expects { tags?, keys?, soft? }')
    const tags = kind === 'internal' ? [...(input.tags ?? [])] : validateTags(input.tags ?? [])
    if (!Array.isArray(input.keys ?? [])) throw new LarderError('E_INVALID_KEY', 'keys must be an array of strings')
    const keys = input.keys === undefined ? [] : (input.keys as unknown[]).map((k) => validateKey(k))
    host.open()
    const marker = scope.marker
    const append = {
      tenant: scope.tenant,
      kind: kind === 'clear' ? kind : input.soft === true ? ('soft' as const) : ('hard' as const),
      ...(tags.length > 0 ? { tags: [...tags] } : {}),
      ...(keys.length > 0 ? { keys: marker === '' ? keys : keys.map((k) => marker + k) } : {}),
      source: host.instanceId,
    }
    if (append.kind !== 'clear' && tags.length === 0 && keys.length === 0) return { id: host.log.lastId(), purged: 0 }
    let entry: LogEntry
    try {
      entry = await (traces.append.hasSubscribers ? traces.append.tracePromise(() => host.log.append(append), { tenant: scope.tenant, kind: append.kind, count: 1 }) : host.log.append(append))
    } catch (err) {
      // The log refused (e.g. its outage queue is full): still make the invalidation true
      // here, and kill in-flight loads, then report the failure.
      const local: LogEntry = { ...append, id: Math.max(host.log.lastId() + 1, Math.floor(host.clock.now() * 1000)), at: host.clock.now() }
      this.#apply(local)
      host.fence()
      throw err
    }
    // Applied already if the log delivered it to us during append (then we know the count).
    const early = this.#ownPurged.get(entry.id)
    if (early !== undefined) this.#ownPurged.delete(entry.id)
    const purged = this.#apply(entry) + (early ?? 0)
    if (host.l2?.applyInvalidation) {
      try {
        await host.l2.applyInvalidation(entry)
      } catch (err) {
        host.onError(err, 'l2.applyInvalidation')
      }
    }
    scope.counters.invalidations++
    if (channels.invalidate.hasSubscribers) channels.invalidate.publish({ entry, local: true, purged })
    // Not in the shared log yet (queued for replay): other instances do not have it.
    return entry.queued === true ? { id: entry.id, purged, queued: true } : { id: entry.id, purged }
  }

  /** Applies a log entry to the epochs and L1; returns how many L1 entries it dropped. */
  #apply(entry: LogEntry): number {
    this.#host.epochs.apply(entry)
    const l1 = this.#host.l1
    if (!l1) return 0
    let purged = 0
    if (entry.kind === 'hard' && entry.tags) purged += l1.deleteTagged(entry.tenant, entry.tags)
    if ((entry.kind === 'hard' || entry.kind === 'soft') && entry.keys) purged += l1.delete(entry.keys.map((k) => entry.tenant + SEP + k))
    return purged
  }

  /** The log's subscriber: entries it delivered (ours and other instances'). */
  received(entries: readonly LogEntry[]): void {
    const host = this.#host
    for (const entry of entries) {
      if (entry.kind === 'live' || entry.kind === 'event') continue
      // Apply at once, also our own entries: the log may hand them to later subscribers
      // (the SSE hub) before append() resolves, and those must find L1 already purged.
      const purged = this.#apply(entry)
      if (entry.source === host.instanceId) {
        if (this.#ownPurged.size > 1000) this.#ownPurged.clear()
        this.#ownPurged.set(entry.id, purged)
        continue
      }
      const l2 = host.l2
      if (l2?.applyInvalidation) {
        try {
          Promise.resolve(l2.applyInvalidation(entry)).catch((err) => host.onError(err, 'l2.applyInvalidation'))
        } catch (err) {
          host.onError(err, 'l2.applyInvalidation')
        }
      }
      if (channels.invalidate.hasSubscribers) channels.invalidate.publish({ entry, local: false, purged })
    }
  }

  /** The log's subscriber: entries were lost, so L1 of the tenants concerned is not trusted. */
  gap(gap: LogGap): void {
    this.distrust(gap.tenants)
    if (channels.gap.hasSubscribers) channels.gap.publish({ gap })
  }

  /** Drops L1 (of `tenants`, or all) and fences loads running now from writing back. */
  distrust(tenants?: readonly string[]): void {
    this.#host.fence()
    const l1 = this.#host.l1
    if (!l1) return
    if (tenants === undefined) l1.clear()
    else for (const t of tenants) l1.clear(t)
  }
}
