/**
 * The write path (docs/core.md, "Module layout"): building an entry (codec round trip, tags,
 * lifetime), storing it with its fences (L2 versioned first, then L1, unless an invalidation,
 * a flush or a newer write came in between), `set`, `setMany` and `writeThrough`. Loads store
 * their results through the same `entryFor` and `store`. It works on the state the
 * engine's modules share (`EngineState`, state.ts) and the engine's policies (`WritesHost`).
 * @module
 */
import { TtlObserver } from './adaptive-ttl.ts'
import type { SetManyItem, SetOptions } from './api.ts'
import { attachEncoded, type ValueCodec } from './codec.ts'
import { channels } from './diagnostics.ts'
import { type L1Entry, makeEntry, NO_TAGS, type Scope } from './entry.ts'
import { Verdict, WriteStamps } from './epochs.ts'
import { LarderError } from './errors.ts'
import type { Flight } from './loading.ts'
import { validateKey, validateTags } from './keys.ts'
import { type LoaderOverrides, lifetime } from './options.ts'
import type { ResolvedPolicy } from './policy.ts'
import type { EngineState } from './state.ts'
import type { StoredEntry } from './types.ts'

/** The encoded form of null (shared: null needs no codec round trip). */
const NULL_ENC = { v: null, text: 'null', bytes: 4 }

/** What the write path calls of the engine besides the shared state. */
export interface WritesHost {
  readonly codec: ValueCodec
  /** The named policy (the defaults for undefined); throws E_UNKNOWN_POLICY. */
  policy(name: string | undefined): ResolvedPolicy
  /** A direct write wins over loads of the same key that are still running. */
  supersede(qkey: string): void
  /** Bounds of adaptive TTLs and the TTL report (core/adaptive-ttl.ts): tenants with own figures, entries followed. */
  readonly ttlTracking: { tenantLimit: number; capacity: number }
}

/** What a loader chose for its own entry (ctx.setTtl/setGrace/setTags/addTags). */
export interface EntryOverrides extends LoaderOverrides {
  tags?: readonly string[]
}

export class Writes {
  /** Write stamps: a load begun before a direct write of its key does not store. */
  readonly stamps = new WriteStamps()
  /** Adaptive TTLs and the TTL report (core/adaptive-ttl.ts): decides adaptive lifetimes, told of every stored entry. */
  readonly ttls: TtlObserver
  readonly #state: EngineState
  readonly #host: WritesHost

  constructor(state: EngineState, host: WritesHost) {
    this.#state = state
    this.#host = host
    const changed = (tenant: string, qkey: string, tags: readonly string[], began: number) => state.epochs.check(tenant, qkey, tags, began) !== Verdict.Valid
    this.ttls = new TtlObserver({ now: () => state.clock.now(), changed, ...host.ttlTracking })
  }

  tagsFor(scope: Scope, policy: ResolvedPolicy, options: SetOptions | undefined): readonly string[] {
    if (options?.tags === undefined && policy.tags.length === 0 && scope.nsTag === undefined) return NO_TAGS
    const own = options?.tags === undefined ? [] : validateTags(options.tags)
    const tags = policy.tags.length === 0 ? [...own] : [...policy.tags, ...own]
    if (scope.nsTag !== undefined) tags.push(scope.nsTag)
    return tags
  }

  /**
   * The value as every tier will hold it (codec round trip; the same object for JSON data)
   * and its encoded size. Refuses what the codec cannot encode with E_INVALID_VALUE.
   */
  #encode(key: string, value: unknown): { v: unknown; text: string; bytes: number } {
    if (value === null) return NULL_ENC
    const codec = this.#host.codec
    let text: string
    try {
      text = codec.encode(value)
    } catch (err) {
      if (err instanceof LarderError && err.code === 'E_INVALID_VALUE') throw new LarderError('E_INVALID_VALUE', `value for key "${key.slice(0, 80)}": ${err.message}`, { cause: err, details: err.details })
      throw err
    }
    return { v: codec.identity ? value : codec.decode(text), text, bytes: Buffer.byteLength(text) }
  }

  /** The entry every path stores (`set`, `setMany`, `writeThrough`, a load) and its encoded size. */
  entryFor(scope: Scope, key: string, value: unknown, policy: ResolvedPolicy, options: SetOptions | undefined, began: number, now: number, overrides?: EntryOverrides): { entry: L1Entry; bytes: number } {
    const enc = this.#encode(key, value)
    const life = lifetime(policy, value, options, overrides, undefined, this.ttls.ttl(scope.tenant, policy))
    const entry = makeEntry(enc.v, overrides?.tags ?? this.tagsFor(scope, policy, options), began, now, now + life.ttl, now + life.ttl + life.grace)
    attachEncoded(entry, enc.text)
    return { entry, bytes: enc.bytes }
  }

  #entryForSet(scope: Scope, key: string, value: unknown, options: SetOptions | undefined, began: number): { entry: L1Entry; bytes: number } {
    if (value === undefined) throw new LarderError('E_VALUE_UNDEFINED', 'undefined cannot be cached; use null for "not found"')
    return this.entryFor(scope, key, value, this.#host.policy(options?.policy), options, began, this.#state.clock.now())
  }

  /**
   * Writes an entry to L2 (versioned: the store refuses a write older than an invalidation it
   * knows) and then L1 — unless an invalidation or a flush happened since the load began, or a
   * newer write of the key superseded the load (`flight`). Returns whether it was stored.
   */
  async store(scope: Scope, key: string, qkey: string, entry: L1Entry, flushGen: number, strict: boolean, flight?: Flight, bytes?: number): Promise<boolean> {
    const { l1, l2 } = this.#state
    if (this.#fenced(scope, qkey, entry, flushGen) || (flight !== undefined && this.stamps.superseded(qkey, flight.stamp))) return this.#setEvent(scope, key, 'l1', false)
    let size: number | undefined
    if (l1) {
      try {
        size = l1.measure(qkey, entry, bytes)
      } catch (err) {
        if (strict) throw err
        this.#state.onError(err, 'l1.measure')
        return false
      }
    }
    if (l2) {
      let ok = true
      try {
        ok = await l2.set(qkey, entry)
      } catch (err) {
        if (strict && err instanceof LarderError && err.code === 'E_VALUE_NOT_SERIALIZABLE') throw err
        this.#state.onError(err, 'l2.set')
      }
      this.#setEvent(scope, key, 'l2', ok)
      if (!ok) {
        // L2 knows of an invalidation this instance has not seen yet: our copy is stale too.
        l1?.delete([qkey])
        return false
      }
      // An invalidation (or a newer set) may have come while we waited for L2.
      if (this.#fenced(scope, qkey, entry, flushGen) || (flight !== undefined && this.stamps.superseded(qkey, flight.stamp))) return false
    }
    if (l1) l1.set(qkey, entry, size)
    scope.counters.sets++
    return this.#setEvent(scope, key, 'l1', true)
  }

  #fenced(scope: Scope, qkey: string, entry: StoredEntry, flushGen: number): boolean {
    const state = this.#state
    return state.closed || flushGen !== state.flushGen || state.epochs.check(scope.tenant, qkey, entry.tags, entry.began) === Verdict.Dead
  }

  #setEvent(scope: Scope, key: string, layer: 'l1' | 'l2', accepted: boolean): boolean {
    if (channels.set.hasSubscribers) channels.set.publish({ tenant: scope.tenant, key, layer, accepted })
    return accepted
  }

  async set(scope: Scope, key: string, value: unknown, options: SetOptions | undefined, began = options?.began ?? this.#state.log.lastId(scope.tenant), flushGen = this.#state.flushGen): Promise<boolean> {
    validateKey(key)
    this.#state.open()
    if (typeof began !== 'number' || !Number.isFinite(began)) throw new LarderError('E_INVALID_OPTION', 'set: began must be a log id (a finite number)')
    const { entry, bytes } = this.#entryForSet(scope, key, value, options, began)
    const qkey = scope.prefix + key
    this.#host.supersede(qkey)
    const ok = await this.store(scope, key, qkey, entry, flushGen, true, undefined, bytes)
    if (ok) this.ttls.stored(scope.tenant, this.#host.policy(options?.policy), qkey, entry, false)
    return ok
  }

  /** A load stored its result (`read`: a read asked for it; core/adaptive-ttl.ts). */
  loaded(scope: Scope, policy: ResolvedPolicy, qkey: string, entry: L1Entry): void {
    this.ttls.stored(scope.tenant, policy, qkey, entry, true)
  }

  async setMany(scope: Scope, items: readonly SetManyItem[]): Promise<boolean[]> {
    const state = this.#state
    if (!Array.isArray(items)) throw new LarderError('E_INVALID_OPTION', 'setMany expects an array of { key, value, ttl?, tags? }')
    state.open()
    const began = state.log.lastId(scope.tenant)
    const flushGen = state.flushGen
    const prepared = items.map((it) => {
      validateKey(it?.key)
      const { entry, bytes } = this.#entryForSet(scope, it.key, it.value, it, typeof it.began === 'number' ? it.began : began)
      const qkey = scope.prefix + it.key
      const size = state.l1?.measure(qkey, entry, bytes)
      this.#host.supersede(qkey)
      return { key: qkey, entry, name: it.key, size }
    })
    let l2ok: boolean[] = prepared.map(() => true)
    if (state.l2 && prepared.length > 0) {
      try {
        l2ok = await state.l2.setMany(prepared.map(({ key, entry }) => ({ key, entry })))
      } catch (err) {
        state.onError(err, 'l2.setMany')
      }
    }
    return prepared.map((p, i) => {
      if (!l2ok[i] || this.#fenced(scope, p.key, p.entry, flushGen)) {
        state.l1?.delete([p.key])
        return this.#setEvent(scope, p.name, 'l1', false)
      }
      state.l1?.set(p.key, p.entry, p.size)
      scope.counters.sets++
      this.ttls.stored(scope.tenant, this.#host.policy(items[i]?.policy), p.key, p.entry, false)
      return this.#setEvent(scope, p.name, 'l1', true)
    })
  }

  async writeThrough<V>(scope: Scope, key: string, update: () => Promise<V> | V, options: SetOptions | undefined): Promise<V> {
    validateKey(key)
    if (typeof update !== 'function') throw new LarderError('E_INVALID_OPTION', 'writeThrough needs an update function')
    const began = this.#state.log.lastId(scope.tenant)
    const flushGen = this.#state.flushGen
    const value = await update()
    if (value !== undefined) await this.set(scope, key, value, options, began, flushGen)
    return value
  }
}
