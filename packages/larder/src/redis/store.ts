import { jsonCodec, type ValueCodec } from '../core/codec.ts'
import type { Cluster, Redis } from 'ioredis'
import { type Clock, clockOf, type TimerClock } from '../core/clock.ts'
import { parseDuration } from '../core/duration.ts'
import { LarderError } from '../core/errors.ts'
import { splitQualified } from '../core/keys.ts'
import type { Duration, InvalidationLog, LeaseProvider, LogEntry, Store, StoredEntry } from '../core/types.ts'
import { Breaker, type BreakerState } from './breaker.ts'
import { decodeEntry, encodeEntry } from './codec.ts'
import { type ConnectionOptions, connect, isCluster, quit, type RedisClient } from './connection.ts'
import { b64, entryKey, entryPattern, genKey, globEscape, SEG, tenantPrefix } from './keyspace.ts'
import { RedisLease } from './lease.ts'
import { LocalEpochs, Verdict } from './local-epochs.ts'
import { ReplayQueue } from './replay-queue.ts'
import { INVALIDATE, READ, RELEASE, WRITE } from './scripts.ts'
import { nodeFor } from './slot.ts'

export interface RedisStoreOptions extends ConnectionOptions {
  /** Name used in diagnostics and breaker events. Default 'redis'. */
  name?: string
  /** Timeout of every Redis call. Default 250ms. */
  timeout?: Duration
  /** Consecutive failures that open the circuit. Default 5. */
  failureThreshold?: number
  /** How long the circuit stays open before a half-open probe. Default 1s. */
  cooldown?: Duration
  /** Lifetime of tag/soft epochs, and so the longest an entry may live in Redis. Default 24h. */
  epochTtl?: Duration
  /** Lifetime of a deleted key's fence (must exceed the longest load). Default 10m. */
  keyFenceTtl?: Duration
  /** Largest stored value (Redis form) in bytes. Default 8 MiB. */
  maxValueBytes?: number
  /** Invalidations kept to replay while Redis is unreachable. Default 10,000. */
  pendingLimit?: number
  /** Longest pause between two polls while waiting on another instance's lease. Default 50ms. */
  leasePollMax?: Duration
  /**
   * The invalidation log this instance uses (the same object passed to createCache). With
   * it, L2 hits are plain GETs judged against epochs heard from the log (see
   * local-epochs.ts); without it every read runs the READ script. Default: none.
   */
  log?: InvalidationLog
  /** Most epochs kept locally for that (older ones fall back to the script). Default 100,000. */
  localEpochs?: number
  /** Time and timers (lease waits; a `FakeClock` in tests). Default: the real ones. */
  clock?: Clock
}

/**
 * The shared tier on Redis or Redis Cluster: an L2 {@link Store} with versioned
 * (fenced) writes and a fleet-wide {@link LeaseProvider}. See docs/redis.md.
 *
 * Every call runs under a timeout and a circuit breaker and fails with E_STORE_TIMEOUT or
 * E_STORE_UNAVAILABLE; the engine treats those as misses. Invalidations that cannot be
 * recorded while Redis is down are queued and replayed first on recovery; until that
 * replay succeeded no read is answered from Redis (it could be stale).
 */
export class RedisStore implements Store, LeaseProvider {
  readonly name: string
  readonly shared = true
  readonly client: RedisClient
  readonly breaker: Breaker
  readonly #owned: boolean
  readonly #cluster: boolean
  readonly #clock: TimerClock
  readonly #epochTtl: number
  readonly #keyFenceTtl: number
  readonly #maxValueBytes: number
  #codec: ValueCodec = jsonCodec
  readonly #queue: ReplayQueue
  readonly #lease: RedisLease
  #local: LocalEpochs | undefined
  readonly #localLimit: number
  #closed = false
  readonly #offBreaker: () => void

  constructor(options: RedisStoreOptions) {
    const timeoutMs = parseDuration(options.timeout ?? '250ms', 'timeout')
    const { client, owned, timed } = connect(options, 'redisStore', timeoutMs)
    this.client = client
    this.#owned = owned
    this.#cluster = isCluster(client)
    this.name = options.name ?? 'redis'
    this.#clock = clockOf(options.clock)
    this.#epochTtl = parseDuration(options.epochTtl ?? '24h', 'epochTtl')
    this.#keyFenceTtl = parseDuration(options.keyFenceTtl ?? '10m', 'keyFenceTtl')
    this.#maxValueBytes = positiveInt(options.maxValueBytes ?? 8 * 1024 * 1024, 'maxValueBytes')
    this.#localLimit = positiveInt(options.localEpochs ?? 100_000, 'localEpochs')
    if (options.log) this.attachLog(options.log)
    this.breaker = new Breaker({
      name: `${this.name}-store`,
      timeoutMs,
      failureThreshold: positiveInt(options.failureThreshold ?? 5, 'failureThreshold'),
      cooldownMs: parseDuration(options.cooldown ?? '1s', 'cooldown'),
      clientTimeouts: timed,
    })
    this.#queue = new ReplayQueue({
      limit: positiveInt(options.pendingLimit ?? 10_000, 'pendingLimit'),
      name: this.name,
      record: (entry) => this.breaker.run('invalidate', () => this.#record(entry)),
    })
    this.#lease = new RedisLease({
      client,
      breaker: this.breaker,
      clock: this.#clock,
      pollMaxMs: parseDuration(options.leasePollMax ?? '50ms', 'leasePollMax'),
      release: (lk, token, channel) => this.#cmd.larderRelease(1, lk, token, channel),
    })
    client.defineCommand('larderRead', { lua: READ })
    client.defineCommand('larderWrite', { lua: WRITE })
    client.defineCommand('larderInvalidate', { lua: INVALIDATE })
    client.defineCommand('larderRelease', { lua: RELEASE })
    // Errors surface through the breaker; an unhandled 'error' event would crash the process.
    client.on('error', () => {})
    this.#offBreaker = this.breaker.onChange((s: BreakerState) => {
      if (s === 'closed' && this.#queue.hasPending) void this.#queue.flush().catch(() => {})
    })
  }

  get #cmd(): Commands {
    return this.client as unknown as Commands
  }

  // ------------------------------------------------------------------ reads

  /**
   * Lets L2 hits be plain GETs judged against the epochs this instance hears from `log`
   * (entries too old for that still go through the READ script). Idempotent per store.
   * While the log's reader is not heard from for longer than `maxStaleness` (ms, default 1s:
   * the engine passes its smallest), every read goes through the script again.
   */
  /** The cache's value codec (createCache calls this): the stored form of every value. */
  useCodec(codec: ValueCodec): void {
    this.#codec = codec
  }

  attachLog(log: InvalidationLog, options: { maxStaleness?: number } = {}): void {
    this.#local?.close()
    this.#local = new LocalEpochs(log, this.#localLimit, { clock: this.#clock, maxSilentMs: options.maxStaleness })
  }

  get(qkey: string): Promise<StoredEntry | undefined> {
    const { tenant, key } = splitQualified(qkey)
    const pending = this.#reconciled()
    // Not an async function: the hot path is one GET and one promise chain.
    return pending ? pending.then(() => this.#get(tenant, key)) : this.#get(tenant, key)
  }

  #get(tenant: string, key: string): Promise<StoredEntry | undefined> {
    const rk = entryKey(tenant, key)
    const local = this.#local
    if (local === undefined || local.watermark === Number.MAX_SAFE_INTEGER) return this.#readScript(rk)
    return this.breaker.run('get', () => this.client.get(rk), undefined, (raw) => {
      if (raw === null) return undefined
      const e = decodeEntry(raw, this.#codec)
      if (e === undefined) return undefined
      const v = local.verdict(tenant, key, e)
      if (v === Verdict.Fresh) return e
      if (v === Verdict.Dead) return undefined
      if (v === Verdict.Stale) {
        e.staleAt = 0
        return e
      }
      // Began before what the local epochs vouch for: the server-side check decides.
      return this.#readScript(rk)
    })
  }

  #readScript(rk: string): Promise<StoredEntry | undefined> {
    return this.breaker.run('get', () => this.#cmd.larderRead(1, rk), undefined, (res) => {
      const raw = res[0]
      return raw == null ? undefined : decodeEntry(raw, this.#codec)
    })
  }

  async getMany(qkeys: readonly string[]): Promise<(StoredEntry | undefined)[]> {
    const out: (StoredEntry | undefined)[] = new Array(qkeys.length).fill(undefined)
    if (qkeys.length === 0) return out
    const pending = this.#reconciled()
    if (pending) await pending
    const groups = this.#group(qkeys)
    const local = this.#local
    let scripted = groups
    if (local !== undefined && local.watermark !== Number.MAX_SAFE_INTEGER) {
      // Plain MGETs (one per slot; one in all on a single node), judged locally; the few
      // entries too old for the local epochs are re-read through the script below.
      const unknown: number[] = []
      await this.breaker.run('getMany', () =>
        Promise.all(
          groups.map(async (g) => {
            const res = await this.client.mget(...g.keys)
            for (let i = 0; i < g.idx.length; i++) {
              const raw = res[i]
              const at = g.idx[i] as number
              if (raw == null) continue
              const e = decodeEntry(raw, this.#codec)
              if (e === undefined) continue
              const { tenant, key } = splitQualified(qkeys[at] as string)
              const v = local.verdict(tenant, key, e)
              if (v === Verdict.Fresh) out[at] = e
              else if (v === Verdict.Stale) out[at] = { ...e, staleAt: 0 }
              else if (v === Verdict.Unknown) unknown.push(at)
            }
          }),
        ),
      )
      if (unknown.length === 0) return out
      scripted = this.#group(unknown.map((i) => qkeys[i] as string)).map((g) => ({ keys: g.keys, idx: g.idx.map((j) => unknown[j] as number) }))
    }
    await this.breaker.run('getMany', () =>
      // All groups are sent in the same tick: ioredis writes them to each node's socket
      // together, so the whole call costs one round trip per node.
      Promise.all(
        scripted.map(async (g) => {
          const res = await this.#cmd.larderRead(g.keys.length, ...g.keys)
          for (let i = 0; i < g.idx.length; i++) {
            const raw = res[i]
            if (raw != null) out[g.idx[i] as number] = decodeEntry(raw, this.#codec)
          }
        }),
      ),
    )
    return out
  }

  // ------------------------------------------------------------------ writes

  async set(qkey: string, entry: StoredEntry): Promise<boolean> {
    return (await this.setMany([{ key: qkey, entry }]))[0] as boolean
  }

  async setMany(items: readonly { key: string; entry: StoredEntry }[]): Promise<boolean[]> {
    const out: boolean[] = new Array(items.length).fill(true)
    const now = this.#clock.now()
    const live: { key: string; payload: string; px: number; i: number }[] = []
    for (let i = 0; i < items.length; i++) {
      const it = items[i] as { key: string; entry: StoredEntry }
      const { tenant, key } = splitQualified(it.key)
      const payload = encodeEntry(it.entry, this.#maxValueBytes, this.#codec)
      // Redis keeps an entry no longer than the epochs that fence it live (epochTtl).
      const px = Math.min(Math.ceil(it.entry.expireAt - now), this.#epochTtl)
      if (px > 0) live.push({ key: entryKey(tenant, key), payload, px, i })
    }
    if (live.length === 0) return out
    const pending = this.#reconciled()
    if (pending) await pending
    const groups = this.#groupBy(live, (x) => x.key)
    await this.breaker.run(items.length === 1 ? 'set' : 'setMany', () =>
      Promise.all(
        groups.map(async (g) => {
          const args: (string | number)[] = []
          for (const x of g) args.push(x.payload, x.px)
          const res = await this.#cmd.larderWrite(g.length, ...g.map((x) => x.key), ...args)
          for (let j = 0; j < g.length; j++) out[(g[j] as { i: number }).i] = res[j] === 1
        }),
      ),
    )
    return out
  }

  async delete(qkeys: readonly string[]): Promise<number> {
    if (qkeys.length === 0) return 0
    const groups = this.#group(qkeys)
    const counts = await this.breaker.run('delete', () => Promise.all(groups.map((g) => this.client.unlink(...g.keys))))
    return counts.reduce((a, b) => a + b, 0)
  }

  async clear(tenant?: string): Promise<number> {
    const pattern = entryPattern(tenant)
    const nodes: Redis[] = this.#cluster ? (tenant === undefined ? (this.client as Cluster).nodes('master') : [this.#node(pattern)]) : [this.client as Redis]
    let n = 0
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, keys] = await this.breaker.run('clear', () => node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000))
        cursor = next
        // In a Cluster even one node refuses multi-key commands across slots: group by hash tag.
        for (const group of this.#groupBy(keys, (k) => k)) n += await this.breaker.run('clear', () => node.unlink(...group))
      } while (cursor !== '0')
    }
    return n
  }

  async keys(tenant: string, prefix: string, opts: { cursor?: string; limit: number }): Promise<{ keys: string[]; cursor?: string }> {
    const base = tenantPrefix(tenant) + SEG.entry
    const pattern = base + globEscape(prefix) + '*'
    const node: Redis = this.#cluster ? this.#node(base) : (this.client as Redis)
    if (!Number.isInteger(opts.limit) || opts.limit < 1) throw new LarderError('E_INVALID_OPTION', `keys limit must be a positive integer, got ${String(opts.limit)}`)
    const limit = Math.min(opts.limit, 10_000)
    const seen = new Set<string>()
    let cursor = opts.cursor ?? '0'
    if (!/^\d+$/.test(cursor)) throw new LarderError('E_INVALID_OPTION', 'keys cursor must be the opaque cursor returned by a previous call')
    // SCAN may answer fewer keys than COUNT; keep scanning until the page has something
    // or the scan is complete. A page holds at most about 2 × limit keys.
    do {
      const c = cursor
      const [next, keys] = await this.breaker.run('keys', () => node.scan(c, 'MATCH', pattern, 'COUNT', limit))
      cursor = next
      for (const k of keys) seen.add(k.slice(base.length))
    } while (cursor !== '0' && seen.size < limit)
    return cursor === '0' ? { keys: [...seen] } : { keys: [...seen], cursor }
  }

  // ------------------------------------------------------------- invalidation

  /**
   * Records the epochs of one log entry (and deletes hard-invalidated keys). Idempotent:
   * epochs only ever grow. When Redis cannot be reached the entry is queued (bounded)
   * and replayed before this store answers another read.
   */
  async applyInvalidation(entry: LogEntry): Promise<void> {
    if (entry.kind !== 'hard' && entry.kind !== 'soft' && entry.kind !== 'clear') return
    if (this.#queue.hasPending) {
      // Keep the order: this one goes behind the queued ones.
      this.#queue.push(entry)
      await this.#queue.flush()
      return
    }
    try {
      await this.breaker.run('invalidate', () => this.#record(entry))
    } catch (err) {
      this.#queue.push(entry)
      throw err
    }
  }

  #record(entry: LogEntry): Promise<unknown> {
    const tags = entry.tags ?? []
    const keys = entry.keys ?? []
    return this.#cmd.larderInvalidate(1, genKey(entry.tenant), entry.kind, String(entry.id), this.#epochTtl, this.#keyFenceTtl, tags.length, ...tags.map(b64), ...keys)
  }

  /** Reads are answered only once every queued invalidation reached Redis (docs/invariants.md, P3). */
  #reconciled(): Promise<void> | undefined {
    if (this.#closed) throw new LarderError('E_CLOSED', 'the Redis store is closed')
    // No promise on the hot path (an await costs a microtask turn even for undefined).
    return this.#queue.hasPending ? this.#queue.replayFirst() : undefined
  }

  /** Invalidations waiting to be replayed (for stats and tests). */
  pendingInvalidations(): number {
    return this.#queue.size
  }

  // ------------------------------------------------------------------ leases (lease.ts)

  acquire(qkey: string, ttlMs: number): Promise<string | null> {
    return this.#lease.acquire(qkey, ttlMs)
  }

  release(qkey: string, token: string): Promise<void> {
    return this.#lease.release(qkey, token)
  }

  /** Waits until the lease is gone, for at most timeoutMs (see RedisLease.wait). */
  wait(qkey: string, timeoutMs: number): Promise<void> {
    return this.#lease.wait(qkey, timeoutMs)
  }

  // ------------------------------------------------------------------ helpers

  /** The master that owns a key's slot; a store error (not a crash) while the slot map is unknown. */
  #node(key: string): Redis {
    try {
      return nodeFor(this.client as Cluster, key)
    } catch (cause) {
      throw new LarderError('E_STORE_UNAVAILABLE', `${this.name}: ${(cause as Error).message} (Cluster slot map not loaded yet?)`, { cause })
    }
  }

  /** Groups qualified keys into Redis keys per hash slot (per tenant); one group on a single node. */
  #group(qkeys: readonly string[]): { keys: string[]; idx: number[] }[] {
    if (!this.#cluster) return [{ keys: qkeys.map((q) => toRedisKey(q)), idx: qkeys.map((_, i) => i) }]
    const byTenant = new Map<string, { keys: string[]; idx: number[] }>()
    for (let i = 0; i < qkeys.length; i++) {
      const { tenant, key } = splitQualified(qkeys[i] as string)
      let g = byTenant.get(tenant)
      if (!g) byTenant.set(tenant, (g = { keys: [], idx: [] }))
      g.keys.push(entryKey(tenant, key))
      g.idx.push(i)
    }
    return [...byTenant.values()]
  }

  #groupBy<T>(items: readonly T[], redisKey: (x: T) => string): T[][] {
    if (!this.#cluster) return items.length === 0 ? [] : [items as T[]]
    const by = new Map<string, T[]>()
    for (const x of items) {
      const k = redisKey(x)
      const tag = k.slice(k.indexOf('{'), k.indexOf('}') + 1)
      let g = by.get(tag)
      if (!g) by.set(tag, (g = []))
      g.push(x)
    }
    return [...by.values()]
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#offBreaker()
    this.#local?.close()
    this.#lease.close()
    if (this.#owned) await quit(this.client)
  }
}

function toRedisKey(qkey: string): string {
  const { tenant, key } = splitQualified(qkey)
  return entryKey(tenant, key)
}

function positiveInt(n: unknown, what: string): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) throw new LarderError('E_INVALID_OPTION', `${what} must be a positive integer, got ${String(n)}`)
  return n
}

/** The scripts defined on the client (ioredis defineCommand: numkeys first). */
interface Commands {
  larderRead(n: number, ...keys: string[]): Promise<(string | null)[]>
  larderWrite(n: number, ...args: (string | number)[]): Promise<number[]>
  larderInvalidate(n: number, ...args: (string | number)[]): Promise<number>
  larderRelease(n: number, key: string, token: string, channel: string): Promise<number>
}

/** Creates the Redis / Redis Cluster shared tier. */
export function redisStore(options: RedisStoreOptions): RedisStore {
  return new RedisStore(options)
}
export { positiveInt }
