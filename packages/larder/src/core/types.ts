import type { ValueCodec } from './codec.ts'
/**
 * The seams of Larder: the store contract (L1 memory, L2 Redis), the invalidation
 * log contract (embedded ring, Redis Streams) and the entry shapes they carry.
 * Every pluggable part implements one of these and passes its conformance suite
 * in `larder/testing`.
 * @module
 */

/** Milliseconds as a number, or a string such as `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'7d'`. */
export type Duration = number | string

/**
 * A cached entry as stores keep it. Stores only store: they never judge freshness
 * (the core does, from the precomputed times below), except that a store may drop an
 * entry once `expireAt` has passed.
 */
export interface StoredEntry<V = unknown> {
  /** The value; `null` is a cached "not found" (negative caching). Never `undefined`. */
  v: V
  /** Tags of the entry, unqualified (inside the entry's tenant). */
  tags: readonly string[]
  /**
   * Freshness fence: the invalidation-log id that was current when the load of this
   * value *began*. An invalidation with a larger id than `began` on one of the entry's
   * tags (or its key, or its tenant) makes the entry unusable.
   */
  began: number
  /** Wall-clock ms (store/server clock) at which the entry was written. */
  at: number
  /** Wall-clock ms after which the entry is stale (ttl ran out). */
  staleAt: number
  /** Wall-clock ms after which the entry must not be served at all (staleAt + grace). */
  expireAt: number
  /** Optional approximate size in bytes (L1 accounting). */
  size?: number
  /** How long the load took, in ms (refresh-ahead uses it). */
  d?: number
}

/** Result of a conditional write into a store. */
export type SetResult = boolean

/**
 * A key/value store tier. L1 (memory) answers synchronously; L2 (Redis) with promises.
 * Keys are *qualified* keys built by {@link qualify}: `tenant + '\u001f' + key`, so a store
 * can recover the tenant (for hash slots, per-tenant clears) with {@link splitQualified}.
 */
export interface Store {
  readonly name: string
  /** True for stores shared by several processes (L2). */
  readonly shared: boolean
  get(key: string): StoredEntry | undefined | Promise<StoredEntry | undefined>
  /** Same order as `keys`; pipelined in one round trip per node for remote stores. */
  getMany(keys: readonly string[]): (StoredEntry | undefined)[] | Promise<(StoredEntry | undefined)[]>
  /**
   * Writes an entry. A shared store must refuse (resolve `false`) a write whose
   * `entry.began` is older than an invalidation it knows of for the key, one of the
   * entry's tags, or the tenant (versioned write). Memory stores always accept.
   */
  set(key: string, entry: StoredEntry): SetResult | Promise<SetResult>
  setMany(items: readonly { key: string; entry: StoredEntry }[]): SetResult[] | Promise<SetResult[]>
  /** Deletes keys; resolves how many existed. */
  delete(keys: readonly string[]): number | Promise<number>
  /** Drops every entry of one tenant (or everything when tenant is undefined); resolves how many were dropped if known. */
  clear(tenant?: string): number | Promise<number>
  /** Lists keys of a tenant starting with a literal prefix (not a pattern), bounded and paginated. */
  keys?(tenant: string, prefix: string, opts: { cursor?: string; limit: number }): { keys: string[]; cursor?: string } | Promise<{ keys: string[]; cursor?: string }>
  /** Number of entries and bytes held, when the store can tell cheaply. */
  size?(): { entries: number; bytes: number }
  /**
   * Called by the core once for every log entry it applies (including its own), so a
   * shared store can record tag/key/tenant epochs for versioned writes and drop keys.
   * Stores that record epochs atomically with the log append may ignore it.
   */
  applyInvalidation?(entry: LogEntry): void | Promise<void>
  /**
   * Follow a shared log (called by the core when its log is `shared`): a store that hears
   * every invalidation can judge its reads locally while the log was heard within
   * `maxStaleness`, instead of asking the server each time.
   */
  attachLog?(log: InvalidationLog, options: { maxStaleness?: number }): void
  /** Called once by the core with the cache's value codec (stores that encode values use it). */
  useCodec?(codec: ValueCodec): void
  close(): void | Promise<void>
}

/**
 * A distributed lease ("one loader in the fleet"). Implemented by shared stores.
 * `acquire` resolves a token when this caller should load, or `null` when another
 * holder loads; `wait` then resolves once the holder released (or the bound passed).
 */
export interface LeaseProvider {
  acquire(key: string, ttlMs: number): Promise<string | null>
  release(key: string, token: string): Promise<void>
  wait(key: string, timeoutMs: number): Promise<void>
}

/** What an invalidation does. `live` and `event` entries carry data and do not invalidate. */
export type LogKind = 'hard' | 'soft' | 'clear' | 'live' | 'event'

/** One entry of the invalidation log. */
export interface LogEntry {
  /**
   * Monotonic id, a safe integer. Ids are time-based (microseconds of the log's own
   * clock or the Redis server clock, bumped to stay strictly increasing), so they
   * stay increasing across restarts and can serve as SSE event ids.
   */
  id: number
  /** Tenant the entry belongs to (`@public` for the public scope). */
  tenant: string
  kind: LogKind
  /** Unqualified tags (inside the tenant). */
  tags?: string[]
  /** Unqualified keys (inside the tenant). */
  keys?: string[]
  /** For `live`: topic and value; for `event`: the event id/type and outcome. */
  data?: unknown
  /** Wall-clock ms of the log (server time for Redis). */
  at: number
  /** Instance that appended the entry. */
  source?: string
  /**
   * Only on an entry `append` resolved before the shared log took it (a fleet log that
   * could not reach its server queued it for replay): it is delivered to this process's
   * subscribers, but other processes get it only once it is replayed. Never stored or read back.
   */
  queued?: true
}

export type LogAppend = Omit<LogEntry, 'id' | 'at'>

/** Why a subscriber must stop trusting what it derived from the log. */
export interface LogGap {
  reason: 'trimmed' | 'disconnected' | 'restarted' | 'overflow'
  /** Tenants affected when known; undefined means all. */
  tenants?: string[]
  /** The partition of a partitioned log the gap is in (its tenants are affected); undefined: not partitioned, or all. */
  partition?: number
}

export interface LogSubscriber {
  /** Entries in id order, never twice, never out of order. */
  entries(entries: readonly LogEntry[]): void
  /** The subscriber missed entries it can no longer read: flush or re-validate. */
  gap(gap: LogGap): void
}

export interface ReadResult {
  entries: LogEntry[]
  /** True when entries after `afterId` were already trimmed (the caller must reset). */
  gap: boolean
}

/**
 * The ordered invalidation log: the one path every invalidation takes, and the one
 * source every consumer (L1 sync, HTTP purge, SSE hub, warmers) reads.
 */
export interface InvalidationLog {
  readonly name: string
  /** True for a log that every instance of the fleet reads (Redis); absent or false for an in-process log. */
  readonly shared?: boolean
  /**
   * Resolves once the reader knows its position in a shared log. What was cached before may
   * have missed another instance's invalidation (the core distrusts L1 then).
   */
  ready?(): Promise<void>
  /** Resolves once the log knows its last id (stores following it wait for this). */
  whenInitialized?(): Promise<void>
  /** Appends and resolves the stored entry (with id and time) once it is durable in the log. */
  append(entry: LogAppend): Promise<LogEntry>
  /** Appends several entries in order. */
  appendMany(entries: readonly LogAppend[]): Promise<LogEntry[]>
  /**
   * Reads entries with id > afterId, up to limit, for replay (SSE resume). A partitioned
   * log reads `tenant`'s partition when given (the ids of an SSE stream, which is one tenant's).
   */
  read(afterId: number, limit: number, tenant?: string): Promise<ReadResult>
  /**
   * Delivers every entry with id > fromId (or, for 'now', entries appended after the call)
   * to the subscriber, in order. Returns an unsubscribe function.
   */
  subscribe(subscriber: LogSubscriber, fromId?: number | 'now'): () => void
  /**
   * The highest id this process has seen (appended or received); 0 when none. A
   * partitioned log answers, for a `tenant`, the position of that tenant's partition: the
   * fence of a load (`began`) is taken with the tenant, since ids of two partitions come
   * from two servers' clocks. Logs with one id sequence ignore the argument.
   */
  lastId(tenant?: string): number
  /**
   * Reader health of a log shared by several processes (absent on an in-process log, which
   * is always caught up): the time, on the clock the log was given, at which this process
   * last confirmed it had received every entry appended before then (a blocking read that
   * returned, even empty). The engine stops answering from L1 without a check once this is
   * older than the policy's `maxStaleness` (docs/invariants.md).
   */
  lastHeardAt?(): number
  /** The longest a reachable log goes between two such confirmations (ms); `maxStaleness` must exceed it. */
  readonly heartbeatMs?: number
  /** Streams a partitioned log spreads tenants over (absent or 1: one id sequence). */
  readonly partitions?: number
  /** The partition of a tenant's entries (a partitioned log). */
  partitionOf?(tenant: string): number
  /**
   * Present only on a log that reads some tenants' entries and not others (redisLog with
   * `tenants`): false for a tenant whose entries this process does not read. The engine keeps
   * no L1 entry of such a tenant and a store following the log checks its reads in the store
   * (docs/invariants.md S7); the SSE hub refuses its streams.
   */
  readonly serves?: ((tenant: string) => boolean) | undefined
  close(): Promise<void>
}

/** A clock the engine reads (fake in tests). Timer methods default to the global ones. */
export interface Clock {
  now(): number
  setTimeout?(fn: () => void, ms: number): unknown
  clearTimeout?(handle: unknown): void
}
