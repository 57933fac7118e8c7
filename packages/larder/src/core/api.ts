import type { TtlReport } from './adaptive-ttl.ts'
import type { ValueCodec } from './codec.ts'
/**
 * The public shapes of the cache engine (`import { createCache } from 'larder'`).
 * @module
 */
import type { Clock, Duration, InvalidationLog, LogEntry, Store } from './types.ts'

/** Caching rules for one class of data (seeds: inventory 5m, product 1h, category tree 2h, settings 24h …). */
export interface Policy {
  /** How long a value is fresh. Default 1m. */
  ttl?: Duration
  /** How long past ttl a value may still be served stale (SWR, stale-if-error). Default 0. */
  grace?: Duration
  /** Random extra ttl as a fraction of ttl (0..1), to spread expiries. Default 0. */
  jitter?: number
  /** Ttl computed from the value (e.g. sellers_count > 100 → 15m, else 1h). Wins over the policy's `ttl`; a call's `ttl` wins over it (core/options.ts). */
  ttlFrom?: (value: unknown) => Duration | undefined
  /** Ttl for a cached `null` (not found). Default: min(ttl, 30s). */
  negativeTtl?: Duration
  /** After this, a loader with a stale value to fall back to serves stale and keeps loading in the background. Default: none. */
  softTimeout?: Duration
  /** After this, the caller gets stale (within grace) or an E_LOADER_TIMEOUT error. Default 10s. */
  hardTimeout?: Duration
  /** XFetch refresh-ahead: beta > 0 enables probabilistic early refresh of hot keys (1 is typical). Default 0 (off). */
  refreshAhead?: number
  /** Tags added to every entry of this policy. */
  tags?: string[]
  /**
   * How long L1 may answer without a check while the invalidation log cannot be read
   * (a fleet log's reader cut off): past it, reads go to L2 and the loader, and an L1 value
   * is served (stale, marked) only when both fail. Must exceed the log's `heartbeatMs`.
   * `get`/`getEntry`/`getMany` use the default policy's. Default 1s.
   */
  maxStaleness?: Duration
  /**
   * Adaptive ttl (docs/core.md, "Adaptive TTLs"): the policy's `ttl` is replaced, per tenant,
   * by one set from how often its entries change and are read again, within `[min, max]`
   * (`halfLife`: how fast old observations fade, default 1h). A call's `ttl`, `ttlFrom` and
   * a loader's `ctx.setTtl` still win. Off by default; not inherited from `defaults`.
   */
  adaptive?: { min: Duration; max: Duration; halfLife?: Duration } | false
}

export interface SetOptions {
  policy?: string
  ttl?: Duration
  grace?: Duration
  tags?: readonly string[]
  /**
   * Freshness fence for values read from the source before this call: the log id
   * (`cache.log.lastId(tenant)`: with the tenant, which a partitioned log needs) taken before the read began. The write is refused when the key,
   * a tag or the tenant was invalidated after it (e.g. an HTTP response fetched before a
   * purge). Default: the log id now.
   */
  began?: number
}

export interface GetOrSetOptions extends SetOptions {
  softTimeout?: Duration
  hardTimeout?: Duration
}

/** What a loader may do about its own entry. */
export interface LoaderContext<V = unknown> {
  readonly tenant: string
  readonly key: string
  /** The stale value being refreshed, when there is one. */
  readonly stale: V | undefined
  /** Aborted when the hard timeout passes or the cache closes. */
  readonly signal: AbortSignal
  setTtl(ttl: Duration): void
  setGrace(grace: Duration): void
  setTags(tags: readonly string[]): void
  addTags(tags: readonly string[]): void
  /** Do not cache what this load returns. */
  skip(): void
}

export type Loader<V> = (ctx: LoaderContext<V>) => Promise<V> | V

export interface SetManyItem<V = unknown> extends SetOptions {
  key: string
  value: V
}

export interface InvalidationResult {
  /** Log id of the invalidation (the SSE event id). */
  id: number
  /** L1 entries dropped on this instance (others drop theirs when the log reaches them). */
  purged: number
  /**
   * Set when the invalidation has not reached the shared log: it is applied on this
   * instance and queued for replay, and other instances apply it only once replayed
   * (HTTP purge APIs answer 202). Absent when the log acknowledged it.
   */
  queued?: true
}

/** Options of `TenantCache.getEntry`. */
export interface EntryReadOptions<V = unknown> {
  /** Whether a found value counts as a hit (default: every found value does). */
  counts?: (value: V) => boolean
}

export interface TenantCache {
  readonly tenant: string
  get<V = unknown>(key: string): Promise<V | undefined>
  /**
   * Like `get`, but also answers a value that may be served stale: soft-invalidated
   * (`expireTags`) or past its ttl within its grace. Never an invalidated or expired one.
   * For callers that revalidate themselves (the HTTP cache's soft purge). While the log
   * cannot be read for longer than `maxStaleness`, an L1 value L2 could not confirm comes
   * back `{ stale: true, unverified: true }`: check with the source first, serve it only if that fails.
   *
   * `options.counts(value)`: whether a found value counts as a hit (stats, `larder:cache:hit`).
   * For a read of an index entry that only says where the answer is (the HTTP cache's Vary
   * marker): the read of the answer counts, so one request counts once. A miss always counts.
   */
  getEntry<V = unknown>(key: string, options?: EntryReadOptions<V>): Promise<{ value: V; stale: boolean; unverified?: true } | undefined>
  getOrSet<V>(key: string, loader: Loader<V>, options?: GetOrSetOptions): Promise<V>
  set<V>(key: string, value: V, options?: SetOptions): Promise<boolean>
  delete(keys: string | readonly string[]): Promise<InvalidationResult>
  getMany<V = unknown>(keys: readonly string[]): Promise<(V | undefined)[]>
  setMany(items: readonly SetManyItem[]): Promise<boolean[]>
  /** Hard: once resolved, no read returns those entries. */
  invalidateTags(tags: readonly string[]): Promise<InvalidationResult>
  /** Soft: entries may be served stale (within grace) while one refresh runs. */
  expireTags(tags: readonly string[]): Promise<InvalidationResult>
  /** Drops everything of this tenant in O(1) (generation bump). */
  clear(): Promise<InvalidationResult>
  /** Updates the source first, then caches what it returned (write-through). */
  writeThrough<V>(key: string, update: () => Promise<V> | V, options?: SetOptions): Promise<V>
  /** A namespace whose entries can all be dropped in O(1) with `bump()` (cache versioning). */
  namespace(name: string): NamespaceCache
}

export interface NamespaceCache extends Omit<TenantCache, 'namespace' | 'clear'> {
  readonly name: string
  /** Drops every entry of the namespace (O(1)). */
  bump(): Promise<InvalidationResult>
}

export interface L1Options {
  /** Default 100,000. */
  maxEntries?: number
  /** Default 256 MiB. */
  maxBytes?: number
  /** Largest single value; larger values fail with E_VALUE_TOO_LARGE. Default maxBytes / 16, at most 8 MiB. */
  maxEntryBytes?: number
}

export interface EpochLimits {
  /** Most epochs (tags, soft tags, keys) one tenant keeps; past it, its oldest become its floor. Default 100,000. */
  maxPerTenant?: number
  /** Most epochs kept in all tenants' tables; past it, least recently invalidating tenants' tables become floors. Default 200,000. */
  maxTracked?: number
  /** Most tenants with an epoch table, and most floors of tenants without L1 entries. Default 10,000. */
  maxTenants?: number
}

export interface CacheOptions {
  l1?: L1Options | false
  /** Shared tier (e.g. `redisStore(...)`). */
  l2?: Store
  /** Invalidation log (default: embedded `memoryLog()`). */
  log?: InvalidationLog
  policies?: Record<string, Policy>
  /** Policy used when none is named. */
  defaults?: Policy
  clock?: Clock
  /** Name of this instance (log `source`, metrics). Default: random. */
  instanceId?: string
  /**
   * The value model of every tier (docs/core.md, "Values"): `'json'` (default: plain JSON
   * data, anything else refused with E_INVALID_VALUE), `'structured'` (Date, Map, Set, BigInt,
   * cycles through node's structured serialization) or your own codec. Every instance of a
   * fleet must use the same one.
   */
  codec?: 'json' | 'structured' | ValueCodec
  /** How many tenants `stats()` lists one by one; the rest fold into `other`. Default 100. */
  statsTenantLimit?: number
  /**
   * Entries the TTL report and adaptive policies follow at most (core/adaptive-ttl.ts);
   * 0 turns both off. Default 4096.
   */
  ttlTracking?: number
  /**
   * Bounds of the invalidation epochs kept in memory (docs/invariants.md, "Per-tenant bounds").
   * What a bound forgets becomes a floor of the tenant it belonged to: only that tenant misses.
   */
  epochs?: EpochLimits
  /** How long a shared-store lease may be held and waited for. Default 5s. */
  leaseTimeout?: Duration
  /** Called for errors swallowed on purpose (background refresh, L2 write failures). */
  onError?: (err: unknown, context: string) => void
}

export interface StatsCounters {
  hits: number
  l1Hits: number
  l2Hits: number
  misses: number
  staleServes: number
  loads: number
  loadErrors: number
  sets: number
  invalidations: number
  hitRatio: number
}

export interface StatsSnapshot extends StatsCounters {
  entries: number
  bytes: number
  evictions: number
  lastLogId: number
  tenants: Record<string, StatsCounters>
}

export interface InvalidateInput {
  tags?: readonly string[]
  keys?: readonly string[]
  soft?: boolean
}

export interface Cache {
  tenant(id: string): TenantCache
  /** The explicit cross-tenant scope. */
  readonly public: TenantCache
  readonly log: InvalidationLog
  readonly instanceId: string
  /** The in-process tier, when enabled (tools that list keys read it; never write through it). */
  readonly l1?: Store | undefined
  /** The shared tier, when configured. */
  readonly l2?: Store | undefined
  /** Invalidate by tags and/or keys for one tenant in one log entry (purge APIs, rules). */
  invalidate(tenant: string, input: InvalidateInput): Promise<InvalidationResult>
  /** Stop trusting L1 for these tenants (or all): used after a change-capture disconnect. */
  distrust(tenants?: readonly string[]): void
  /**
   * Counts and times a load made outside `getOrSet` that filled the cache (the HTTP layer's
   * origin fetch): `loads` in stats, the `larder:cache:load` channel, the load histogram.
   */
  recordLoad(tenant: string, key: string, durationMs: number): void
  stats(): StatsSnapshot
  /**
   * TTL effectiveness per group (policy): shares of entries that expired unchanged, were
   * invalidated before expiry, were read after expiry; the ttls adaptive policies use.
   * With `tenant`, only that tenant's own figures.
   */
  ttlReport?(tenant?: string): TtlReport
  close(): Promise<void>
}

export type { LogEntry, TtlReport }
export type { TtlGroupReport } from './adaptive-ttl.ts'
