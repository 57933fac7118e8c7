/**
 * The cache engine: options, scopes, the read path (L1, L2, getMany, getOrSet) and the write
 * path (set, setMany, writeThrough, storing with its fences). Loading lives in loading.ts,
 * invalidation in invalidation.ts (docs/core.md, "Module layout").
 *
 * Longer than the ~450 lines other core modules keep to: the L1 hit path (get/#find/getOrSet)
 * is measured by B1 and kept inline with the private fields it reads, and the write path
 * shares the same fields (flush generation, epochs, write stamps) and the store fences.
 * @module
 */
import { randomUUID } from 'node:crypto'
import { MemoryLog } from '../log/memory-log.ts'
import { MemoryStore } from '../stores/memory-store.ts'
import type { Cache, CacheOptions, GetOrSetOptions, InvalidateInput, InvalidationResult, Loader, SetManyItem, SetOptions, StatsSnapshot, TenantCache } from './api.ts'
import { channels } from './diagnostics.ts'
import { parseDuration } from './duration.ts'
import { DEAD, FRESH, type L1Entry, makeEntry, NO_TAGS, type Scope, STALE, UNVERIFIED } from './entry.ts'
import { Epochs, epochLimits, Verdict, WriteStamps } from './epochs.ts'
import { attachEncoded, resolveCodec, type ValueCodec } from './codec.ts'
import { LarderError } from './errors.ts'
import { type Timers, timersOf } from './clock.ts'
import { Invalidation } from './invalidation.ts'
import { PUBLIC_TENANT, SEP, validateKey, validateTags, validateTenant } from './keys.ts'
import { type Flight, Loading } from './loading.ts'
import { LogHealth } from './log-health.ts'
import { lifetime } from './options.ts'
import { type ResolvedPolicy, resolvePolicies } from './policy.ts'
import { StatsBook } from './stats.ts'
import { TenantScope } from './tenant.ts'
import type { Clock, InvalidationLog, LeaseProvider, Store, StoredEntry } from './types.ts'

export type { Scope } from './entry.ts'

/** The encoded form of null (shared: null needs no codec round trip). */
const NULL_ENC = { v: null, text: 'null', bytes: 4 }

function isLeaseProvider(s: unknown): s is LeaseProvider {
  return typeof (s as LeaseProvider | undefined)?.acquire === 'function' && typeof (s as LeaseProvider).wait === 'function'
}

/**
 * The tiered cache engine. Reads go L1 → L2 → loader; every invalidation goes through
 * the log first and is applied to L1 (and recorded in L2) before it resolves.
 */
export class CacheEngine implements Cache {
  readonly instanceId: string
  readonly log: InvalidationLog
  readonly l1: MemoryStore | undefined
  readonly l2: Store | undefined
  readonly #lease: LeaseProvider | undefined
  readonly #clock: Clock
  readonly #timers: Timers
  readonly #epochs: Epochs
  readonly #codec: ValueCodec
  readonly #writes = new WriteStamps()
  readonly #defaults: ResolvedPolicy
  readonly #policies: Map<string, ResolvedPolicy>
  readonly #stats: StatsBook
  readonly #leaseMs: number
  readonly #onError: (err: unknown, context: string) => void
  readonly #scopes = new Map<string, TenantScope>()
  readonly #unsubscribe: () => void
  /** When the log was last heard from: past maxStaleness, L1 is not answered without a check. */
  readonly #health: LogHealth
  /** Last heard + the smallest maxStaleness, as last asked: before it, L1 needs no health check (one comparison). */
  #trustedUntil: number
  /** Bumped when L1 must not be trusted (log gap, distrust): loads begun before it never write back. */
  #flushGen = 0
  #closed = false
  readonly #loading: Loading
  readonly #invalidation: Invalidation
  readonly public: TenantCache

  constructor(options: CacheOptions = {}) {
    if (options === null || typeof options !== 'object') throw new LarderError('E_INVALID_OPTION', 'createCache options must be an object')
    this.#clock = options.clock ?? Date
    this.#timers = timersOf(this.#clock)
    this.instanceId = options.instanceId ?? randomUUID().slice(0, 8)
    this.l1 = options.l1 === false ? undefined : new MemoryStore(options.l1 ?? {})
    this.l2 = options.l2
    // One value model for every tier: L1 sizes by the encoded form, L2 stores it.
    this.#codec = resolveCodec(options.codec)
    this.l2?.useCodec?.(this.#codec)
    this.#lease = isLeaseProvider(options.l2) ? options.l2 : undefined
    this.log = options.log ?? new MemoryLog({ clock: this.#clock, source: this.instanceId })
    const { defaults, byName } = resolvePolicies(options.policies, options.defaults)
    this.#defaults = defaults
    this.#policies = byName
    this.#health = new LogHealth(this.log, [defaults.maxStaleness, ...[...byName.values()].map((p) => p.maxStaleness)])
    this.#trustedUntil = this.#health.heard + this.#health.bound
    // A shared store that follows the log can check entries against what it heard
    // instead of asking the server on every read (redisStore: one plain GET per L2 hit),
    // while it heard the log within maxStaleness.
    // Only a shared log hears every instance: with the embedded log the store keeps asking the server.
    if (this.log.shared === true) this.l2?.attachLog?.(this.log, { maxStaleness: this.#health.bound })
    const limit = options.statsTenantLimit ?? 100
    if (!Number.isInteger(limit) || limit < 0) throw new LarderError('E_INVALID_OPTION', 'statsTenantLimit must be a non-negative integer')
    this.#stats = new StatsBook(limit)
    // A tenant's epoch floor is kept while it has L1 entries (see Epochs: forgotten floors).
    this.#epochs = new Epochs({ ...epochLimits(options.epochs), resident: (tenant) => this.l1?.hasTenant(tenant) === true })
    this.#leaseMs = parseDuration(options.leaseTimeout ?? '5s', 'leaseTimeout')
    this.#onError = options.onError ?? (() => {})
    this.#loading = this.#loadingHost()
    this.#invalidation = this.#invalidationHost()
    this.#unsubscribe = this.log.subscribe({ entries: (es) => this.#invalidation.received(es), gap: (g) => this.#invalidation.gap(g) }, 'now')
    // A fleet log positions its reader asynchronously: what was cached (or began loading)
    // before that may have missed another instance's invalidation, so it is not trusted.
    // With a shared store this is not needed (its versioned writes and reads are checked
    // against the invalidations recorded in it), and it would fence the fleet's first loads.
    if (this.l2?.shared !== true) {
      this.log.ready?.().then(
        () => {
          if (!this.#closed) this.distrust()
        },
        () => {},
      )
    }
    this.public = this.#scope(PUBLIC_TENANT)
  }

  /** The view of the engine loading.ts works on (docs/core.md, "Module layout"). */
  #loadingHost(): Loading {
    const engine = this
    return new Loading({
      log: this.log,
      l2: this.l2,
      lease: this.#lease,
      leaseMs: this.#leaseMs,
      clock: this.#clock,
      timers: this.#timers,
      health: this.#health,
      epochs: this.#epochs,
      writes: this.#writes,
      get flushGen() {
        return engine.#flushGen
      },
      get closed() {
        return engine.#closed
      },
      onError: this.#onError,
      judge: (scope, qkey, e, now) => this.#judge(scope, qkey, e, now),
      readL2: (scope, qkey, now) => this.#readL2(scope, qkey, now),
      putL1: (qkey, e) => this.#putL1(qkey, e),
      hit: (scope, key, layer, stale) => this.#hit(scope, key, layer, stale),
      tagsFor: (scope, policy, options) => this.#tagsFor(scope, policy, options),
      encode: (key, value) => this.#encode(key, value),
      store: (scope, key, qkey, entry, flushGen, strict, flight, bytes) => this.#store(scope, key, qkey, entry, flushGen, strict, flight, bytes),
    })
  }

  /** The view of the engine invalidation.ts works on (docs/core.md, "Module layout"). */
  #invalidationHost(): Invalidation {
    return new Invalidation({
      instanceId: this.instanceId,
      log: this.log,
      l1: this.l1,
      l2: this.l2,
      epochs: this.#epochs,
      clock: this.#clock,
      onError: this.#onError,
      open: () => this.#open(),
      fence: () => {
        this.#flushGen++
      },
    })
  }

  // ---------------------------------------------------------------- scopes

  tenant(id: string): TenantCache {
    const cached = this.#scopes.get(id)
    if (cached && id !== PUBLIC_TENANT) return cached
    return this.#scope(validateTenant(id))
  }

  #scope(tenant: string): TenantScope {
    if (this.#scopes.size >= 10_000) this.#scopes.clear()
    const scope = new TenantScope(this, this.#makeScope(tenant, undefined))
    if (tenant !== PUBLIC_TENANT) this.#scopes.set(tenant, scope)
    return scope
  }

  /** @internal */
  makeScope(tenant: string, namespace: string | undefined): Scope {
    return this.#makeScope(tenant, namespace)
  }

  #makeScope(tenant: string, namespace: string | undefined): Scope {
    const marker = namespace === undefined ? '' : `\u0000ns:${namespace}\u0000`
    return { tenant, prefix: tenant + SEP + marker, marker, nsTag: namespace === undefined ? undefined : `\u0000ns:${namespace}`, counters: this.#stats.forTenant(tenant) }
  }

  #policy(name: string | undefined): ResolvedPolicy {
    if (name === undefined) return this.#defaults
    const p = this.#policies.get(name)
    if (p === undefined) throw new LarderError('E_UNKNOWN_POLICY', `policy "${name}" is not configured (configured: ${[...this.#policies.keys()].join(', ') || 'none'})`)
    return p
  }

  // ---------------------------------------------------------------- reads

  /** Judges an entry: FRESH, STALE (servable within grace) or DEAD. */
  #judge(scope: Scope, qkey: string, e: L1Entry, now: number, resident = false): number {
    const version = this.#epochs.version
    let c = e.c
    if (c !== version && c !== -version - 2) {
      const v = this.#epochs.check(scope.tenant, qkey, e.tags, e.began, resident)
      if (v === Verdict.Dead) return DEAD
      c = v === Verdict.Soft || (c !== undefined && c <= -2) ? -version - 2 : version
      e.c = c
    }
    if (now >= e.expireAt) return DEAD
    return c < 0 || now >= e.staleAt ? STALE : FRESH
  }

  /** Slow branch of the read path's log-health check (docs/invariants.md, R3): may L1 answer under `bound`? */
  #logTrusted(now: number, bound: number): boolean {
    const ok = this.#health.trusted(now, bound)
    this.#trustedUntil = this.#health.heard + this.#health.bound
    return ok
  }

  #hit(scope: Scope, key: string, layer: 'l1' | 'l2', stale: boolean): void {
    // Only the tenant's counters move on the hot path; totals are summed in stats().
    const c = scope.counters
    c.hits++
    if (layer === 'l1') c.l1Hits++
    else c.l2Hits++
    if (stale) c.staleServes++
    if (channels.hit.hasSubscribers) channels.hit.publish({ tenant: scope.tenant, key, layer, stale })
  }

  #miss(scope: Scope, key: string): void {
    scope.counters.misses++
    if (channels.miss.hasSubscribers) channels.miss.publish({ tenant: scope.tenant, key })
  }

  /**
   * Reads L2 and judges the entry; never rejects (a failing L2 is a miss). A promise chain on
   * the store's own promise, not an async function: this is B2's path (one round trip).
   */
  #readL2(scope: Scope, qkey: string, now: number): Promise<{ entry: L1Entry; state: number } | undefined> {
    const l2 = this.l2
    if (!l2) return Promise.resolve(undefined)
    let pending: Promise<StoredEntry | undefined>
    try {
      pending = Promise.resolve(l2.get(qkey))
    } catch (err) {
      pending = Promise.reject(err)
    }
    return pending.then(
      (got) => {
        const e = got as L1Entry | undefined
        if (!e) return undefined
        const state = this.#judge(scope, qkey, e, now)
        return state === DEAD ? undefined : { entry: e, state }
      },
      (err) => {
        this.#onError(err, 'l2.get')
        return undefined
      },
    )
  }

  #putL1(qkey: string, e: L1Entry): void {
    if (!this.l1) return
    // Only an entry judged at the current version enters L1: L1 entries are judged as resident
    // afterwards, which trusts that the tenant's floors were checked when they came in.
    const version = this.#epochs.version
    if (e.c !== version && e.c !== -version - 2) return
    try {
      // The L1 copies the entry into its own record (keeping the judged mark `c`).
      this.l1.set(qkey, e)
    } catch (err) {
      this.#onError(err, 'l1.set')
    }
  }

  /**
   * L1, then L2: the entry and its state, never a dead one. A stale L1 entry is answered only
   * with `allowStale`; otherwise L2 is asked for a fresher copy. What L2 answers is kept in L1.
   */
  #find(scope: Scope, key: string, allowStale: boolean): Promise<{ entry: L1Entry; state: number; layer: 'l1' | 'l2' } | undefined> {
    try {
      validateKey(key)
      this.#open()
    } catch (err) {
      return Promise.reject(err)
    }
    const qkey = scope.prefix + key
    const now = this.#clock.now()
    const e = this.l1?.getIn(scope.tenant, scope.marker + key) as L1Entry | undefined
    let unverified: L1Entry | undefined
    if (e !== undefined) {
      const state = this.#judge(scope, qkey, e, now, true)
      if (now > this.#trustedUntil && state !== DEAD && !this.#logTrusted(now, this.#defaults.maxStaleness)) unverified = e
      else if (state === FRESH || (state === STALE && allowStale)) return Promise.resolve({ entry: e, state, layer: 'l1' as const })
      if (state === DEAD) this.l1?.delete([qkey])
    }
    return this.#readL2(scope, qkey, now).then((r) => {
      if (r === undefined || (r.state === STALE && !allowStale)) return allowStale && unverified !== undefined ? { entry: unverified, state: UNVERIFIED, layer: 'l1' as const } : undefined
      this.#putL1(qkey, r.entry)
      return { entry: r.entry, state: r.state, layer: 'l2' as const }
    })
  }

  get<V>(scope: Scope, key: string): Promise<V | undefined> {
    return this.#find(scope, key, false).then((r) => {
      if (r === undefined) {
        this.#miss(scope, key)
        return undefined
      }
      this.#hit(scope, key, r.layer, false)
      return r.entry.v as V
    })
  }

  getEntry<V>(scope: Scope, key: string): Promise<{ value: V; stale: boolean; unverified?: true } | undefined> {
    return this.#find(scope, key, true).then((r) => {
      if (r === undefined) {
        this.#miss(scope, key)
        return undefined
      }
      const stale = r.state !== FRESH
      this.#hit(scope, key, r.layer, stale)
      return r.state === UNVERIFIED ? { value: r.entry.v as V, stale, unverified: true as const } : { value: r.entry.v as V, stale }
    })
  }

  async getMany<V>(scope: Scope, keys: readonly string[]): Promise<(V | undefined)[]> {
    if (!Array.isArray(keys)) throw new LarderError('E_INVALID_KEY', 'getMany expects an array of keys')
    for (const k of keys) validateKey(k)
    this.#open()
    const now = this.#clock.now()
    const out: (V | undefined)[] = Array.from({ length: keys.length }, () => undefined)
    const missing: number[] = []
    const trusted = now <= this.#trustedUntil || this.#logTrusted(now, this.#defaults.maxStaleness)
    for (let i = 0; i < keys.length; i++) {
      const qkey = scope.prefix + keys[i]
      const e = this.l1?.getIn(scope.tenant, scope.marker + keys[i]) as L1Entry | undefined
      if (e !== undefined && trusted && this.#judge(scope, qkey, e, now, true) === FRESH) {
        this.#hit(scope, keys[i] as string, 'l1', false)
        out[i] = e.v as V
      } else missing.push(i)
    }
    if (missing.length > 0 && this.l2) {
      let got: (StoredEntry | undefined)[] = []
      try {
        got = await this.l2.getMany(missing.map((i) => scope.prefix + keys[i]))
      } catch (err) {
        this.#onError(err, 'l2.getMany')
      }
      for (let j = 0; j < missing.length; j++) {
        const i = missing[j] as number
        const e = got[j] as L1Entry | undefined
        const qkey = scope.prefix + keys[i]
        if (e && this.#judge(scope, qkey, e, now) === FRESH) {
          this.#putL1(qkey, e)
          this.#hit(scope, keys[i] as string, 'l2', false)
          out[i] = e.v as V
          missing[j] = -1
        }
      }
    }
    for (const i of missing) if (i >= 0) this.#miss(scope, keys[i] as string)
    return out
  }

  async getOrSet<V>(scope: Scope, key: string, loader: Loader<V>, options: GetOrSetOptions | undefined): Promise<V> {
    const policy = options?.policy === undefined ? this.#defaults : this.#policy(options.policy)
    const now = this.#clock.now()
    const l1 = this.l1
    let stale: L1Entry | undefined
    let unverified: L1Entry | undefined
    let staleLayer: 'l1' | 'l2' = 'l1'
    let qkey: string | undefined
    if (l1 !== undefined) {
      const e = l1.getIn(scope.tenant, scope.marker === '' ? key : scope.marker + key) as L1Entry | undefined
      if (e !== undefined) {
        // The qualified key is only built when the entry needs re-validation (rare).
        const s = e.c === this.#epochs.version && now < e.staleAt && now < e.expireAt ? FRESH : this.#judge(scope, (qkey = scope.prefix + key), e, now, true)
        if (now > this.#trustedUntil && s !== DEAD && !this.#logTrusted(now, policy.maxStaleness)) unverified = e
        else if (s === FRESH) {
          // XFetch (Vattani et al.): refresh early with a probability that grows as expiry nears.
          if (policy.refreshAhead > 0 && e.d !== undefined && now - e.d * policy.refreshAhead * Math.log(Math.random()) >= e.staleAt) {
            this.#loading.background(scope, key, scope.prefix + key, loader, policy, options, e)
          }
          this.#hit(scope, key, 'l1', false)
          return e.v as V
        }
        else if (s === STALE) stale = e
        else l1.delete([(qkey ??= scope.prefix + key)])
      }
    }
    if (typeof loader !== 'function') throw new LarderError('E_INVALID_OPTION', 'getOrSet needs a loader function')
    validateKey(key)
    this.#open()
    qkey ??= scope.prefix + key
    if (unverified !== undefined) return this.#unverified(scope, key, qkey, loader, policy, options, unverified, now)
    if (stale === undefined) {
      const r = await this.#readL2(scope, qkey, now)
      if (r) {
        if (r.state === FRESH) {
          this.#putL1(qkey, r.entry)
          this.#hit(scope, key, 'l2', false)
          return r.entry.v as V
        }
        stale = r.entry
        staleLayer = 'l2'
      }
    }
    if (stale !== undefined) {
      // With a soft timeout, wait that long for a fresh value before falling back to stale
      // (and serve stale if the loader fails: stale-if-error).
      const soft = options?.softTimeout === undefined ? policy.softTimeout : parseDuration(options.softTimeout, 'softTimeout')
      if (soft !== undefined && soft > 0) return this.#loading.load(scope, key, qkey, loader, policy, options, stale)
      // Stale-while-revalidate: serve the stale value, refresh once in the background.
      this.#loading.background(scope, key, qkey, loader, policy, options, stale)
      this.#hit(scope, key, staleLayer, true)
      return stale.v as V
    }
    this.#miss(scope, key)
    return this.#loading.load(scope, key, qkey, loader, policy, options, undefined)
  }

  /**
   * The log was not heard from for longer than maxStaleness, so the L1 value may have missed
   * invalidations: ask L2, then the loader; the L1 value answers (stale, marked) only when
   * both fail or the soft timeout passes, within its grace.
   */
  async #unverified<V>(scope: Scope, key: string, qkey: string, loader: Loader<V>, policy: ResolvedPolicy, options: GetOrSetOptions | undefined, fallback: L1Entry, now: number): Promise<V> {
    const r = await this.#readL2(scope, qkey, now)
    if (r?.state === FRESH) {
      this.#putL1(qkey, r.entry)
      this.#hit(scope, key, 'l2', false)
      return r.entry.v as V
    }
    this.#miss(scope, key)
    return this.#loading.load(scope, key, qkey, loader, policy, options, fallback)
  }

  #tagsFor(scope: Scope, policy: ResolvedPolicy, options: SetOptions | undefined): readonly string[] {
    if (options?.tags === undefined && policy.tags.length === 0 && scope.nsTag === undefined) return NO_TAGS
    const own = options?.tags === undefined ? [] : validateTags(options.tags)
    const tags = policy.tags.length === 0 ? [...own] : [...policy.tags, ...own]
    if (scope.nsTag !== undefined) tags.push(scope.nsTag)
    return tags
  }

  /**
   * Writes an entry to L2 (versioned: the store refuses a write older than an invalidation it
   * knows) and then L1 — unless an invalidation or a flush happened since the load began.
   * Returns whether it was stored.
   */
  /**
   * The value as every tier will hold it (codec round trip; the same object for JSON data)
   * and its encoded size. Refuses what the codec cannot encode with E_INVALID_VALUE.
   */
  #encode(key: string, value: unknown): { v: unknown; text: string; bytes: number } {
    if (value === null) return NULL_ENC
    let text: string
    try {
      text = this.#codec.encode(value)
    } catch (err) {
      if (err instanceof LarderError && err.code === 'E_INVALID_VALUE') throw new LarderError('E_INVALID_VALUE', `value for key "${key.slice(0, 80)}": ${err.message}`, { cause: err, details: err.details })
      throw err
    }
    return { v: this.#codec.identity ? value : this.#codec.decode(text), text, bytes: Buffer.byteLength(text) }
  }

  async #store(scope: Scope, key: string, qkey: string, entry: L1Entry, flushGen: number, strict: boolean, flight?: Flight, bytes?: number): Promise<boolean> {
    if (this.#fenced(scope, qkey, entry, flushGen) || (flight !== undefined && this.#writes.superseded(qkey, flight.stamp))) return this.#setEvent(scope, key, 'l1', false)
    let size: number | undefined
    if (this.l1) {
      try {
        size = this.l1.measure(qkey, entry, bytes)
      } catch (err) {
        if (strict) throw err
        this.#onError(err, 'l1.measure')
        return false
      }
    }
    if (this.l2) {
      let ok = true
      try {
        ok = await this.l2.set(qkey, entry)
      } catch (err) {
        if (strict && err instanceof LarderError && err.code === 'E_VALUE_NOT_SERIALIZABLE') throw err
        this.#onError(err, 'l2.set')
      }
      this.#setEvent(scope, key, 'l2', ok)
      if (!ok) {
        // L2 knows of an invalidation this instance has not seen yet: our copy is stale too.
        this.l1?.delete([qkey])
        return false
      }
      // An invalidation (or a newer set) may have come while we waited for L2.
      if (this.#fenced(scope, qkey, entry, flushGen) || (flight !== undefined && this.#writes.superseded(qkey, flight.stamp))) return false
    }
    if (this.l1) this.l1.set(qkey, entry, size)
    scope.counters.sets++
    return this.#setEvent(scope, key, 'l1', true)
  }

  #fenced(scope: Scope, qkey: string, entry: StoredEntry, flushGen: number): boolean {
    return this.#closed || flushGen !== this.#flushGen || this.#epochs.check(scope.tenant, qkey, entry.tags, entry.began) === Verdict.Dead
  }

  #setEvent(scope: Scope, key: string, layer: 'l1' | 'l2', accepted: boolean): boolean {
    if (channels.set.hasSubscribers) channels.set.publish({ tenant: scope.tenant, key, layer, accepted })
    return accepted
  }

  // ---------------------------------------------------------------- writes

  #entryFor(scope: Scope, key: string, value: unknown, options: SetOptions | undefined, began: number): { entry: L1Entry; bytes: number } {
    if (value === undefined) throw new LarderError('E_VALUE_UNDEFINED', 'undefined cannot be cached; use null for "not found"')
    const policy = this.#policy(options?.policy)
    const enc = this.#encode(key, value)
    const now = this.#clock.now()
    const life = lifetime(policy, value, options)
    const entry = makeEntry(enc.v, this.#tagsFor(scope, policy, options), began, now, now + life.ttl, now + life.ttl + life.grace)
    attachEncoded(entry, enc.text)
    return { entry, bytes: enc.bytes }
  }

  async set(scope: Scope, key: string, value: unknown, options: SetOptions | undefined, began = options?.began ?? this.log.lastId(scope.tenant), flushGen = this.#flushGen): Promise<boolean> {
    validateKey(key)
    this.#open()
    if (typeof began !== 'number' || !Number.isFinite(began)) throw new LarderError('E_INVALID_OPTION', 'set: began must be a log id (a finite number)')
    const { entry, bytes } = this.#entryFor(scope, key, value, options, began)
    const qkey = scope.prefix + key
    this.#loading.supersede(qkey)
    return this.#store(scope, key, qkey, entry, flushGen, true, undefined, bytes)
  }

  async setMany(scope: Scope, items: readonly SetManyItem[]): Promise<boolean[]> {
    if (!Array.isArray(items)) throw new LarderError('E_INVALID_OPTION', 'setMany expects an array of { key, value, ttl?, tags? }')
    this.#open()
    const began = this.log.lastId(scope.tenant)
    const flushGen = this.#flushGen
    const prepared = items.map((it) => {
      validateKey(it?.key)
      const { entry, bytes } = this.#entryFor(scope, it.key, it.value, it, typeof it.began === 'number' ? it.began : began)
      const qkey = scope.prefix + it.key
      const size = this.l1?.measure(qkey, entry, bytes)
      this.#loading.supersede(qkey)
      return { key: qkey, entry, name: it.key, size }
    })
    let l2ok: boolean[] = prepared.map(() => true)
    if (this.l2 && prepared.length > 0) {
      try {
        l2ok = await this.l2.setMany(prepared.map(({ key, entry }) => ({ key, entry })))
      } catch (err) {
        this.#onError(err, 'l2.setMany')
      }
    }
    return prepared.map((p, i) => {
      if (!l2ok[i] || this.#fenced(scope, p.key, p.entry, flushGen)) {
        this.l1?.delete([p.key])
        return this.#setEvent(scope, p.name, 'l1', false)
      }
      this.l1?.set(p.key, p.entry, p.size)
      scope.counters.sets++
      return this.#setEvent(scope, p.name, 'l1', true)
    })
  }

  async writeThrough<V>(scope: Scope, key: string, update: () => Promise<V> | V, options: SetOptions | undefined): Promise<V> {
    validateKey(key)
    if (typeof update !== 'function') throw new LarderError('E_INVALID_OPTION', 'writeThrough needs an update function')
    const began = this.log.lastId(scope.tenant)
    const flushGen = this.#flushGen
    const value = await update()
    if (value !== undefined) await this.set(scope, key, value, options, began, flushGen)
    return value
  }

  // ---------------------------------------------------------------- invalidation

  async invalidate(tenant: string, input: InvalidateInput): Promise<InvalidationResult> {
    if (tenant !== PUBLIC_TENANT) validateTenant(tenant)
    return this.invalidateIn(this.#makeScope(tenant, undefined), input, undefined)
  }

  /** Drops a namespace's entries: its internal tag, which no user tag can name (keys.ts). @internal */
  bumpNamespace(tenant: string, nsTag: string): Promise<InvalidationResult> {
    return this.invalidateIn(this.#makeScope(tenant, undefined), { tags: [nsTag] }, 'internal')
  }

  /** @internal `internal`: tags built by the engine itself (not validated as user tags). */
  invalidateIn(scope: Scope, input: InvalidateInput, kind: 'clear' | 'internal' | undefined): Promise<InvalidationResult> {
    return this.#invalidation.invalidateIn(scope, input, kind)
  }

  recordLoad(tenant: string, key: string, durationMs: number): void {
    if (tenant !== PUBLIC_TENANT) validateTenant(tenant)
    this.#stats.forTenant(tenant).loads++
    if (channels.load.hasSubscribers) channels.load.publish({ tenant, key, durationMs: Math.max(0, durationMs), background: false })
  }

  /** Drops L1 (of `tenants`, or all) and fences running loads from writing back. */
  distrust(tenants?: readonly string[]): void {
    this.#invalidation.distrust(tenants)
  }

  // ---------------------------------------------------------------- lifecycle

  stats(): StatsSnapshot {
    const size = this.l1?.size() ?? { entries: 0, bytes: 0 }
    return this.#stats.snapshot({ entries: size.entries, bytes: size.bytes, evictions: this.l1?.evictions ?? 0, lastLogId: this.log.lastId() })
  }

  #open(): void {
    if (this.#closed) throw new LarderError('E_CLOSED', 'the cache is closed')
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#unsubscribe()
    this.l1?.close()
    await Promise.allSettled([this.l2?.close(), this.log.close()])
  }
}

/** Creates a tiered cache. See docs/core.md for every option and its default. */
export function createCache(options?: CacheOptions): Cache {
  return new CacheEngine(options)
}
