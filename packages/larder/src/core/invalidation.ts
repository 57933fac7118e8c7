/**
 * Invalidation (docs/core.md, "Module layout"): `invalidate` appends to the log first and then
 * applies the entry to the epochs and L1 (and records it in L2) before it resolves; entries
 * the log delivers are applied the same way; a gap in the log distrusts L1.
 * It works on the state the engine's modules share (`EngineState`, state.ts).
 * @module
 */
import type { InvalidateInput, InvalidationResult } from './api.ts'
import { channels, traces } from './diagnostics.ts'
import type { Scope } from './entry.ts'
import { LarderError } from './errors.ts'
import { SEP, validateKey, validateTags } from './keys.ts'
import type { EngineState } from './state.ts'
import type { LogEntry, LogGap } from './types.ts'

export class Invalidation {
  readonly #state: EngineState
  /** L1 entries our own log entries purged when the log delivered them during append. */
  readonly #ownPurged = new Map<number, number>()

  constructor(state: EngineState) {
    this.#state = state
  }

  /** `internal`: tags built by the engine itself (not validated as user tags). */
  async invalidateIn(scope: Scope, input: InvalidateInput, kind: 'clear' | 'internal' | undefined): Promise<InvalidationResult> {
    const state = this.#state
    if (input === null || typeof input !== 'object') throw new LarderError('E_INVALID_OPTION', 'invalidate expects { tags?, keys?, soft? }')
    const tags = kind === 'internal' ? [...(input.tags ?? [])] : validateTags(input.tags ?? [])
    if (!Array.isArray(input.keys ?? [])) throw new LarderError('E_INVALID_KEY', 'keys must be an array of strings')
    const keys = input.keys === undefined ? [] : (input.keys as unknown[]).map((k) => validateKey(k))
    state.open()
    const marker = scope.marker
    const append = {
      tenant: scope.tenant,
      kind: kind === 'clear' ? kind : input.soft === true ? ('soft' as const) : ('hard' as const),
      ...(tags.length > 0 ? { tags: [...tags] } : {}),
      ...(keys.length > 0 ? { keys: marker === '' ? keys : keys.map((k) => marker + k) } : {}),
      source: state.instanceId,
    }
    if (append.kind !== 'clear' && tags.length === 0 && keys.length === 0) return { id: state.log.lastId(scope.tenant), purged: 0 }
    let entry: LogEntry
    try {
      entry = await (traces.append.hasSubscribers ? traces.append.tracePromise(() => state.log.append(append), { tenant: scope.tenant, kind: append.kind, count: 1 }) : state.log.append(append))
    } catch (err) {
      // The log refused (e.g. its outage queue is full): still make the invalidation true
      // here, and kill in-flight loads, then report the failure.
      const local: LogEntry = { ...append, id: Math.max(state.log.lastId(scope.tenant) + 1, Math.floor(state.clock.now() * 1000)), at: state.clock.now() }
      this.#apply(local)
      state.fence()
      throw err
    }
    // Applied already if the log delivered it to us during append (then we know the count).
    const early = this.#ownPurged.get(entry.id)
    if (early !== undefined) this.#ownPurged.delete(entry.id)
    const purged = this.#apply(entry) + (early ?? 0)
    if (state.l2?.applyInvalidation) {
      try {
        await state.l2.applyInvalidation(entry)
      } catch (err) {
        state.onError(err, 'l2.applyInvalidation')
      }
    }
    scope.counters.invalidations++
    if (channels.invalidate.hasSubscribers) channels.invalidate.publish({ entry, local: true, purged })
    // Not in the shared log yet (queued for replay): other instances do not have it.
    return entry.queued === true ? { id: entry.id, purged, queued: true } : { id: entry.id, purged }
  }

  /** Applies a log entry to the epochs and L1; returns how many L1 entries it dropped. */
  #apply(entry: LogEntry): number {
    this.#state.epochs.apply(entry)
    const l1 = this.#state.l1
    if (!l1) return 0
    let purged = 0
    if (entry.kind === 'hard' && entry.tags) purged += l1.deleteTagged(entry.tenant, entry.tags)
    if ((entry.kind === 'hard' || entry.kind === 'soft') && entry.keys) purged += l1.delete(entry.keys.map((k) => entry.tenant + SEP + k))
    return purged
  }

  /** The log's subscriber: entries it delivered (ours and other instances'). */
  received(entries: readonly LogEntry[]): void {
    const state = this.#state
    for (const entry of entries) {
      if (entry.kind === 'live' || entry.kind === 'event') continue
      // Apply at once, also our own entries: the log may hand them to later subscribers
      // (the SSE hub) before append() resolves, and those must find L1 already purged.
      const purged = this.#apply(entry)
      if (entry.source === state.instanceId) {
        if (this.#ownPurged.size > 1000) this.#ownPurged.clear()
        this.#ownPurged.set(entry.id, purged)
        continue
      }
      const l2 = state.l2
      if (l2?.applyInvalidation) {
        try {
          Promise.resolve(l2.applyInvalidation(entry)).catch((err) => state.onError(err, 'l2.applyInvalidation'))
        } catch (err) {
          state.onError(err, 'l2.applyInvalidation')
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
    this.#state.fence()
    const l1 = this.#state.l1
    if (!l1) return
    if (tenants === undefined) l1.clear()
    else for (const t of tenants) l1.clear(t)
  }
}
