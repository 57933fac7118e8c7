/**
 * The cache engine: options, scopes and the read path (judging an entry, the L1 hit path of
 * get/getEntry/getOrSet, L2 reads, getMany). The write path lives in writes.ts, loading in
 * loading.ts, invalidation in invalidation.ts; the state they share in state.ts
 * (docs/core.md, "Module layout"). The L1 hit path is measured by B1 and stays inline here,
 * which is why this file may pass ~450 lines: the read path is kept whole, not split by size.
 * @module
 */
import { randomUUID } from 'node:crypto'
import { MemoryLog } from '../log/memory-log.ts'
import { MemoryStore } from '../stores/memory-store.ts'
import type { TtlReport } from './adaptive-ttl.ts'
import type { Cache, CacheOptions, GetOrSetOptions, InvalidateInput, InvalidationResult, Loader, SetManyItem, SetOptions, StatsSnapshot, TenantCache } from './api.ts'
import { timersOf } from './clock.ts'
import { resolveCodec } from './codec.ts'
import { channels } from './diagnostics.ts'
import { parseDuration } from './duration.ts'
import { DEAD, FRESH, type L1Entry, type Scope, STALE, scopeOf, UNVERIFIED } from './entry.ts'
import { Epochs, epochLimits, Verdict } from './epochs.ts'
import { LarderError } from './errors.ts'
import { Invalidation } from './invalidation.ts'
import { PUBLIC_TENANT, validateKey, validateTenant } from './keys.ts'
import { Loading } from './loading.ts'
import { LogHealth } from './log-health.ts'
import { pickPolicy, type ResolvedPolicy, resolvePolicies } from './policy.ts'
import { EngineState } from './state.ts'
import { StatsBook } from './stats.ts'
import { TenantScope } from './tenant.ts'
import type { Clock, LeaseProvider, Store, StoredEntry } from './types.ts'
import { Writes } from './writes.ts'

export type { Scope } from './entry.ts'

/** A read's answer: the entry, its state and the tier that held it. */
interface Found {
  entry: L1Entry
  state: number
  layer: 'l1' | 'l2'
}

function isLeaseProvider(s: unknown): s is LeaseProvider {
  return typeof (s as LeaseProvider | undefined)?.acquire === 'function' && typeof (s as LeaseProvider).wait === 'function'
}

/**
 * The tiered cache engine. Reads go L1 → L2 → loader; every invalidation goes through
 * the log first and is applied to L1 (and recorded in L2) before it resolves.
 */
export class CacheEngine implements Cache {
  readonly instanceId: string
  readonly log: EngineState['log']
  readonly l1: MemoryStore | undefined
  readonly l2: Store | undefined
  /** Shared with loading, writes and invalidation (state.ts): flush generation, closed, tiers, log. */
  readonly #state: EngineState
  readonly #clock: Clock
  readonly #epochs: Epochs
  readonly #defaults: ResolvedPolicy
  readonly #policies: Map<string, ResolvedPolicy>
  readonly #stats: StatsBook
  readonly #onError: (err: unknown, context: string) => void
  readonly #scopes = new Map<string, TenantScope>()
  readonly #unsubscribe: () => void
  /** When the log was last heard from: past maxStaleness, L1 is not answered without a check. */
  readonly #health: LogHealth
  /** Last heard + the smallest maxStaleness, as last asked: before it, L1 needs no health check (one comparison). */
  #trustedUntil: number
  readonly #writes: Writes
  readonly #loading: Loading
  readonly #invalidation: Invalidation
  readonly public: TenantCache

  constructor(options: CacheOptions = {}) {
    if (options === null || typeof options !== 'object') throw new LarderError('E_INVALID_OPTION', 'createCache options must be an object')
    const clock = (this.#clock = options.clock ?? Date)
    this.instanceId = options.instanceId ?? randomUUID().slice(0, 8)
    this.l2 = options.l2
    // One value model for every tier: L1 sizes by the encoded form, L2 stores it.
    const codec = resolveCodec(options.codec)
    this.l2?.useCodec?.(codec)
    this.log = options.log ?? new MemoryLog({ clock, source: this.instanceId })
    // L1 keeps only tenants whose invalidations this process hears (invariant S7).
    this.l1 = options.l1 === false ? undefined : new MemoryStore({ ...options.l1, admits: this.log.serves })
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
    const leaseMs = parseDuration(options.leaseTimeout ?? '5s', 'leaseTimeout')
    this.#onError = options.onError ?? (() => {})
    const { instanceId, log, l1, l2 } = this
    const state = (this.#state = new EngineState({ instanceId, log, l1, l2, clock, timers: timersOf(clock), epochs: this.#epochs, health: this.#health, onError: this.#onError }))
    const ttlTracking = { tenantLimit: limit, capacity: options.ttlTracking ?? 4096 }
    this.#writes = new Writes(state, { codec, policy: (name) => this.#policy(name), supersede: (qkey) => this.#loading.supersede(qkey), ttlTracking })
    this.#loading = new Loading(state, {
      lease: isLeaseProvider(l2) ? l2 : undefined,
      leaseMs,
      writes: this.#writes,
      judge: (scope, qkey, e, now) => this.#judge(scope, qkey, e, now),
      readL2: (scope, qkey, now) => this.#readL2(scope, qkey, now),
      putL1: (qkey, e) => this.#putL1(qkey, e),
      hit: (scope, key, layer, stale) => this.#hit(scope, key, layer, stale),
    })
    this.#invalidation = new Invalidation(state)
    this.#unsubscribe = this.log.subscribe({ entries: (es) => this.#invalidation.received(es), gap: (g) => this.#invalidation.gap(g) }, 'now')
    // A fleet log positions its reader asynchronously: what was cached (or began loading)
    // before that may have missed another instance's invalidation, so it is not trusted.
    // With a shared store this is not needed (its versioned writes and reads are checked
    // against the invalidations recorded in it), and it would fence the fleet's first loads.
    if (this.l2?.shared !== true) {
      this.log.ready?.().then(
        () => {
          if (!state.closed) this.distrust()
        },
        () => {},
      )
    }
    this.public = this.#scope(PUBLIC_TENANT)
  }

  // ---------------------------------------------------------------- scopes

  tenant(id: string): TenantCache {
    const cached = this.#scopes.get(id)
    if (cached && id !== PUBLIC_TENANT) return cached
    return this.#scope(validateTenant(id))
  }

  #scope(tenant: string): TenantScope {
    if (this.#scopes.size >= 10_000) this.#scopes.clear()
    const scope = new TenantScope(this, this.makeScope(tenant, undefined))
    if (tenant !== PUBLIC_TENANT) this.#scopes.set(tenant, scope)
    return scope
  }

  /** @internal */
  makeScope(tenant: string, namespace: string | undefined): Scope {
    return scopeOf(tenant, namespace, this.#stats.forTenant(tenant))
  }

  #policy(name: string | undefined): ResolvedPolicy {
    return pickPolicy(this.#defaults, this.#policies, name)
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
    return this.#l2Get(l2, qkey).then(
      (got) => this.#judgeL2(scope, qkey, got, now),
      (err) => {
        this.#onError(err, 'l2.get')
        return undefined
      },
    )
  }

  /** The store's promise for one key (a synchronous throw becomes a rejection). */
  #l2Get(l2: Store, qkey: string): Promise<StoredEntry | undefined> {
    try {
      return Promise.resolve(l2.get(qkey))
    } catch (err) {
      return Promise.reject(err)
    }
  }

  /** What L2 answered, judged: the entry and its state, never a dead one. */
  #judgeL2(scope: Scope, qkey: string, got: StoredEntry | undefined, now: number): { entry: L1Entry; state: number } | undefined {
    const e = got as L1Entry | undefined
    if (!e) return undefined
    const state = this.#judge(scope, qkey, e, now)
    return state === DEAD ? undefined : { entry: e, state }
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
   * L1, then L2: the entry and its state (undefined: a miss), never a dead one, handed to
   * `done`, whose answer the promise resolves with. A stale L1 entry is answered only with
   * `allowStale`; otherwise L2 is asked for a fresher copy. What L2 answers is kept in L1.
   * The L2 path is one `.then` on the store's promise (judging, L1 admission and `done` in
   * the same step): a cold read costs the round trip and one promise hop here.
   */
  #find<T>(scope: Scope, key: string, allowStale: boolean, done: (r: Found | undefined) => T): Promise<T> {
    try {
      validateKey(key)
      this.#state.open()
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
      else if (state === FRESH || (state === STALE && allowStale)) {
        try {
          return Promise.resolve(done({ entry: e, state, layer: 'l1' }))
        } catch (err) {
          return Promise.reject(err)
        }
      }
      if (state === DEAD) this.l1?.delete([qkey])
    }
    const fallback = (): T => done(allowStale && unverified !== undefined ? { entry: unverified, state: UNVERIFIED, layer: 'l1' } : undefined)
    const l2 = this.l2
    if (!l2) {
      try {
        return Promise.resolve(fallback())
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return this.#l2Get(l2, qkey).then(
      (got) => {
        const r = this.#judgeL2(scope, qkey, got, now)
        if (r === undefined || (r.state === STALE && !allowStale)) return fallback()
        this.#putL1(qkey, r.entry)
        return done({ entry: r.entry, state: r.state, layer: 'l2' })
      },
      (err) => {
        // A failing L2 is a miss (never a rejected read).
        this.#onError(err, 'l2.get')
        return fallback()
      },
    )
  }

  get<V>(scope: Scope, key: string): Promise<V | undefined> {
    return this.#find(scope, key, false, (r) => {
      if (r === undefined) {
        this.#miss(scope, key)
        return undefined
      }
      this.#hit(scope, key, r.layer, false)
      return r.entry.v as V
    })
  }

  getEntry<V>(scope: Scope, key: string, counts?: (value: V) => boolean): Promise<{ value: V; stale: boolean; unverified?: true } | undefined> {
    return this.#find(scope, key, true, (r) => {
      if (r === undefined) {
        this.#miss(scope, key)
        return undefined
      }
      const stale = r.state !== FRESH
      if (counts === undefined || counts(r.entry.v as V)) this.#hit(scope, key, r.layer, stale)
      return r.state === UNVERIFIED ? { value: r.entry.v as V, stale, unverified: true as const } : { value: r.entry.v as V, stale }
    })
  }

  async getMany<V>(scope: Scope, keys: readonly string[]): Promise<(V | undefined)[]> {
    if (!Array.isArray(keys)) throw new LarderError('E_INVALID_KEY', 'getMany expects an array of keys')
    for (const k of keys) validateKey(k)
    this.#state.open()
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
    this.#state.open()
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

  // ---------------------------------------------------------------- writes (writes.ts)

  set(scope: Scope, key: string, value: unknown, options: SetOptions | undefined): Promise<boolean> {
    return this.#writes.set(scope, key, value, options)
  }

  setMany(scope: Scope, items: readonly SetManyItem[]): Promise<boolean[]> {
    return this.#writes.setMany(scope, items)
  }

  writeThrough<V>(scope: Scope, key: string, update: () => Promise<V> | V, options: SetOptions | undefined): Promise<V> {
    return this.#writes.writeThrough(scope, key, update, options)
  }

  // ---------------------------------------------------------------- invalidation

  async invalidate(tenant: string, input: InvalidateInput): Promise<InvalidationResult> {
    if (tenant !== PUBLIC_TENANT) validateTenant(tenant)
    return this.invalidateIn(this.makeScope(tenant, undefined), input, undefined)
  }

  /** Drops a namespace's entries: its internal tag, which no user tag can name (keys.ts). @internal */
  bumpNamespace(tenant: string, nsTag: string): Promise<InvalidationResult> {
    return this.invalidateIn(this.makeScope(tenant, undefined), { tags: [nsTag] }, 'internal')
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

  ttlReport(tenant?: string): TtlReport {
    return this.#writes.ttls.report(tenant)
  }

  stats(): StatsSnapshot {
    const size = this.l1?.size() ?? { entries: 0, bytes: 0 }
    return this.#stats.snapshot({ entries: size.entries, bytes: size.bytes, evictions: this.l1?.evictions ?? 0, lastLogId: this.log.lastId() })
  }

  async close(): Promise<void> {
    if (this.#state.closed) return
    this.#state.closed = true
    this.#unsubscribe()
    this.l1?.close()
    await Promise.allSettled([this.l2?.close(), this.log.close()])
  }
}

/** Creates a tiered cache. See docs/core.md for every option and its default. */
export function createCache(options?: CacheOptions): Cache {
  return new CacheEngine(options)
}
