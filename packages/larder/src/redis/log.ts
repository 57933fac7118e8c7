import { randomBytes } from 'node:crypto'
import { type Clock, clockOf, sleep, systemClock, type TimerClock } from '../core/clock.ts'
import { parseDuration } from '../core/duration.ts'
import { LarderError } from '../core/errors.ts'
import type { Duration, InvalidationLog, LogAppend, LogEntry, LogGap, LogKind, LogSubscriber, ReadResult } from '../core/types.ts'
import { Breaker } from './breaker.ts'
import { type ConnectionOptions, connect, quit, type RedisClient } from './connection.ts'
import { type AppendHost, LogAppender } from './log-appender.ts'
import { partitionCount, partitionKeys, partitionOf, pinPartitions } from './log-partitions.ts'
import { LogReader, type ReadHost, readerConnection } from './log-reader.ts'
import { bounded, LogStream, parseEntry, type RawEntry, tokenOf } from './log-stream.ts'
import { APPEND } from './scripts.ts'
import { positiveInt } from './store.ts'

export interface RedisLogOptions extends ConnectionOptions {
  /** Log name; all its keys share the hash tag `{<name>}`. Default 'log'. */
  stream?: string
  /** Stream length bound (XADD MAXLEN ~). Default 100,000. See docs/redis.md for sizing. */
  maxLen?: number
  /** Timeout of an append (then it is queued and replayed). Default 500ms. */
  timeout?: Duration
  /**
   * XREAD BLOCK time of the reader, and so the longest a reachable log goes unheard
   * (`heartbeatMs`): keep it well under the caches' `maxStaleness`. Default 250ms.
   */
  block?: Duration
  /**
   * After a read that brought entries, the reader waits this long before the next one, so
   * one XREAD carries everything appended meanwhile: at most 1/readInterval wake-ups per
   * second per reader and partition, the main cost of a shard serving many readers (see
   * docs/scale.md), for up to readInterval more delivery latency. Default 0 (read again at once).
   */
  readInterval?: Duration
  /** A reader cut off longer than this tells subscribers to flush (gap 'disconnected'). Default 5s. */
  maxDisconnect?: Duration
  /** Appends kept while Redis is unreachable, replayed in order on recovery. Default 10,000. */
  queueLimit?: number
  /** Consecutive failures that open the append circuit. Default 3. */
  failureThreshold?: number
  /** Circuit open time before a half-open probe. Default 1s. */
  cooldown?: Duration
  /** Instance name written as `source` when an entry has none. */
  source?: string
  /**
   * Replicas that must hold an append before it is acknowledged (`WAIT`). Redis replicates
   * asynchronously: with 0 (default) a master killed right after an append may lose it on
   * failover. With 1, an append not replicated within the timeout is queued and replayed.
   */
  waitReplicas?: number
  /**
   * Clock of every time rule: `lastHeardAt()`, `maxDisconnect`, provisional ids (give the
   * cache's clock; a `FakeClock` in tests). Timeouts and retries of calls to Redis are
   * network waits and run on real time. Default: the real clock.
   */
  clock?: Clock
  /**
   * Read the log from replicas; appends stay on the master. On a Cluster `true` (each
   * reader reads a replica of its stream's shard); on a single node the replica's url.
   * The reader then counts as heard only once it holds what the master held (a probe of
   * the master's last id, at most two per `block`), so a lagging replica shows as an
   * unheard log, never as a caught-up one. See docs/scale.md.
   */
  replica?: boolean | string
  /**
   * Streams the log is spread over, by tenant (each tenant's entries stay in one stream,
   * in order). Every instance of a fleet must use the same count: it is recorded in Redis
   * and an instance started with another one is refused. Default 1. See docs/scale.md.
   */
  partitions?: number
  /**
   * Read only the partitions of these tenants (default: all). Entries of other tenants
   * are still appended, but this instance hears only its own. Route those tenants'
   * requests and SSE streams to it (docs/scale.md, "Tenant routing").
   */
  tenants?: readonly string[]
}

interface SubState {
  live: boolean
  buffer: LogEntry[]
}

const KINDS = new Set<LogKind>(['hard', 'soft', 'clear', 'live', 'event'])

const token = () => randomBytes(12).toString('base64url')

/**
 * The fleet-wide invalidation log on a Redis Stream. See docs/redis.md.
 *
 * - Ids are server-time µs, bumped to stay strictly increasing (APPEND script), written
 *   as explicit stream ids `<id>-0`, so they survive restarts and serve as SSE ids.
 * - One reader per instance blocks on XREAD from its last id on its own connection and
 *   delivers in order; entries this instance appended were delivered when appended and
 *   are skipped when read back (never twice). (log-reader.ts)
 * - A trimmed last id, a disconnection longer than maxDisconnect or a restarted (emptied)
 *   Redis is reported to subscribers as a gap so they flush L1.
 * - When Redis cannot take an append within the timeout, the append resolves with a
 *   provisional local entry (delivered locally at once), queued and replayed in order
 *   with the same dedup token once Redis answers again, so every instance gets it. (log-appender.ts)
 */
export class RedisLog implements InvalidationLog {
  readonly name = 'redis'
  readonly shared = true
  readonly client: RedisClient
  readonly breaker: Breaker
  readonly #owned: boolean
  readonly #block: number
  readonly #interval: number
  readonly #source: string | undefined
  readonly #clock: TimerClock
  /** The partition count (1: one stream). */
  readonly partitions: number
  readonly #streams: LogStream[]
  readonly #appenders: LogAppender[]
  /** One per partition this instance reads (all without `tenants`). */
  readonly #readers: LogReader[]
  readonly #timeoutMs: number
  /** Settles once the partition count is checked against the one recorded in Redis. */
  readonly #pinned: Promise<void>
  #pinnedOk = false
  #refused: LarderError | undefined
  readonly #subs = new Map<LogSubscriber, SubState>()
  /** Tokens of batches this instance appended (delivered locally): entries left to skip when read back. */
  readonly #own = new Map<string, number>()
  #closed = false

  constructor(options: RedisLogOptions) {
    const { client, owned } = connect(options, 'redisLog')
    this.client = client
    this.#owned = owned
    const maxLen = positiveInt(options.maxLen ?? 100_000, 'maxLen')
    this.#block = parseDuration(options.block ?? '250ms', 'block')
    this.#interval = parseDuration(options.readInterval ?? 0, 'readInterval')
    this.#clock = clockOf(options.clock)
    const maxDisconnect = parseDuration(options.maxDisconnect ?? '5s', 'maxDisconnect')
    const queueLimit = positiveInt(options.queueLimit ?? 10_000, 'queueLimit')
    this.#source = options.source
    const timeoutMs = parseDuration(options.timeout ?? '500ms', 'timeout')
    this.#timeoutMs = timeoutMs
    this.partitions = partitionCount(options.partitions)
    const readSet = this.#readSet(options.tenants)
    const waitReplicas = options.waitReplicas ?? 0
    if (!Number.isInteger(waitReplicas) || waitReplicas < 0) throw new LarderError('E_INVALID_OPTION', 'waitReplicas must be a non-negative integer')
    this.breaker = new Breaker({
      name: 'redis-log',
      timeoutMs,
      failureThreshold: positiveInt(options.failureThreshold ?? 3, 'failureThreshold'),
      cooldownMs: parseDuration(options.cooldown ?? '1s', 'cooldown'),
    })
    client.defineCommand('larderAppend', { lua: APPEND })
    client.on('error', () => {})
    const closed = () => this.#closed || this.#refused !== undefined
    const appendHost: AppendHost = {
      client,
      breaker: this.breaker,
      clock: this.#clock,
      maxLen,
      queueLimit,
      waitReplicas,
      waitMs: Math.max(1, Math.floor(timeoutMs / 2)),
      queued: () => this.queued(),
      remember: (token, count) => this.#remember(token, count),
      deliver: (entries) => this.#deliver(entries),
      closed,
      pinned: () => this.#pinnedOk,
    }
    const readHost: ReadHost = {
      clock: this.#clock,
      block: this.#block,
      interval: this.#interval,
      maxDisconnect,
      skipOwn: (r) => this.#skipOwn(r),
      deliver: (entries) => this.#deliver(entries),
      gap: (gap) => this.#gap(gap),
      closed,
      partitioned: this.partitions > 1,
      master: options.replica === undefined || options.replica === false ? undefined : client,
    }
    this.#streams = Array.from({ length: this.partitions }, (_, i) => new LogStream(i, partitionKeys(options.stream, i, this.partitions)))
    this.#appenders = this.#streams.map((s) => new LogAppender(appendHost, s))
    this.breaker.onChange((state) => {
      if (state === 'closed') for (const a of this.#appenders) a.scheduleReplay(0)
    })
    const readerConn = readerConnection(client, options.replica, options.redisOptions)
    this.#readers = this.#streams.filter((s) => readSet.has(s.index)).map((s) => new LogReader(readHost, s, readerConn()))
    this.serves = readSet.size < this.partitions ? (tenant: string) => readSet.has(this.partitionOf(tenant)) : undefined
    this.#pinned = this.#pin(options.stream)
  }

  /** Partitions this instance reads. */
  #readSet(tenants: readonly string[] | undefined): Set<number> {
    if (tenants === undefined) return new Set(Array.from({ length: this.partitions }, (_, i) => i))
    if (!Array.isArray(tenants) || tenants.length === 0 || tenants.some((t) => typeof t !== 'string' || t === '')) throw new LarderError('E_INVALID_OPTION', 'redisLog: tenants must be a non-empty array of tenant ids')
    return new Set(tenants.map((t) => partitionOf(t, this.partitions)))
  }

  /** Pins the partition count in Redis (retried until Redis answers); refuses the log on a mismatch. */
  async #pin(name: string | undefined): Promise<void> {
    for (let backoff = 50; !this.#closed; backoff = Math.min(backoff * 2, 1000)) {
      try {
        const refused = await bounded(pinPartitions(this.client, name, this.partitions), 2000)
        if (refused === undefined) {
          this.#pinnedOk = true
          for (const a of this.#appenders) a.scheduleReplay(0)
          return
        }
        this.#refused = refused
        // Nothing more is read or appended: stop the readers (ready() resolves, whenInitialized() rejects).
        await Promise.all(this.#readers.map((r) => r.close()))
        return
      } catch {
        await sleep(systemClock, backoff)
      }
    }
  }

  #stream(tenant: string): LogStream {
    return this.#streams[partitionOf(tenant, this.partitions)] as LogStream
  }

  /** Resolves once the reader knows the log's current position (or gave up for now). */
  ready(): Promise<void> {
    return Promise.all(this.#readers.map((r) => r.ready)).then(() => {})
  }

  /**
   * Resolves only once the log's position was read from Redis (never on failure); rejects
   * when the instance was refused (its partition count is not the fleet's).
   */
  whenInitialized(): Promise<void> {
    const refusal = this.#pinned.then(() => {
      if (this.#refused) throw this.#refused
      return new Promise<never>(() => {})
    })
    return Promise.race([Promise.all(this.#readers.map((r) => r.initialized)).then(() => this.#pinned), refusal]).then(() => {
      if (this.#refused) throw this.#refused
    })
  }

  /**
   * The highest id this process saw. With a `tenant`: in that tenant's partition — the
   * position a load of that tenant fences against (the engine passes it; ids of two
   * partitions come from two servers' clocks and are not comparable). Without: the
   * highest over all partitions (stats; the only position of an unpartitioned log).
   */
  lastId(tenant?: string): number {
    if (tenant !== undefined || this.partitions === 1) return this.#stream(tenant ?? '').last
    let max = 0
    for (const s of this.#streams) if (s.last > max) max = s.last
    return max
  }

  /** The tenant's partition (0 for an unpartitioned log). */
  partitionOf(tenant: string): number {
    return partitionOf(tenant, this.partitions)
  }

  /**
   * With a `tenants` option that leaves partitions unread: true when this instance reads the
   * tenant's partition. Undefined when it reads every partition (every tenant is served), so
   * callers pay nothing on the common path.
   */
  readonly serves: ((tenant: string) => boolean) | undefined

  /** When every reader last confirmed it had every entry appended before then (a read that returned, even empty; with replica reads, a probe of the master). */
  lastHeardAt(): number {
    let min = Number.POSITIVE_INFINITY
    for (const r of this.#readers) if (r.heardAt < min) min = r.heardAt
    return min
  }

  /** The reader's XREAD BLOCK time plus its readInterval: how long a reachable log goes between two confirmations. */
  get heartbeatMs(): number {
    return this.#block + this.#interval
  }

  /** Appends waiting for Redis (for stats and tests). */
  queued(): number {
    let n = 0
    for (const a of this.#appenders) n += a.queued
    return n
  }

  // ------------------------------------------------------------------ append

  async append(entry: LogAppend): Promise<LogEntry> {
    return (await this.appendMany([entry]))[0] as LogEntry
  }

  async appendMany(inputs: readonly LogAppend[]): Promise<LogEntry[]> {
    if (this.#closed) throw new LarderError('E_CLOSED', 'the invalidation log is closed')
    if (this.#refused) throw this.#refused
    if (inputs.length === 0) return []
    const batch = inputs.map((i) => this.#validate(i))
    // Nothing goes into a stream before the partition count is known to be the fleet's;
    // past the append timeout the entries queue (replayed once it is).
    let pinned = this.#pinnedOk
    if (!pinned) pinned = await bounded(this.#pinned, this.#timeoutMs).then(() => this.#pinnedOk, () => false)
    if (this.#refused) throw this.#refused
    if (this.partitions === 1) return this.#appenders[0]?.append(batch, token(), pinned) as Promise<LogEntry[]>
    // One batch per partition, each in order; the answer in the caller's order.
    const groups = new Map<number, number[]>()
    batch.forEach((e, i) => {
      const p = partitionOf(e.tenant, this.partitions)
      const g = groups.get(p)
      if (g) g.push(i)
      else groups.set(p, [i])
    })
    const out: LogEntry[] = new Array(batch.length)
    await Promise.all(
      [...groups].map(async ([p, idx]) => {
        const entries = await (this.#appenders[p] as LogAppender).append(
          idx.map((i) => batch[i] as LogAppend),
          token(),
          pinned,
        )
        idx.forEach((i, j) => {
          out[i] = entries[j] as LogEntry
        })
      }),
    )
    return out
  }

  #validate(i: LogAppend): LogAppend {
    if (i === null || typeof i !== 'object' || typeof i.tenant !== 'string' || i.tenant.length === 0) throw new LarderError('E_INVALID_OPTION', 'a log entry needs a tenant')
    if (!KINDS.has(i.kind)) throw new LarderError('E_INVALID_OPTION', `unknown log entry kind ${String(i.kind)}`)
    return this.#source !== undefined && i.source === undefined ? { ...i, source: this.#source } : i
  }

  // ------------------------------------------------------------------ read

  /**
   * Entries after `afterId`, in order. With a `tenant`: from that tenant's partition (an
   * SSE resume of the tenant's stream). Without, on a partitioned log: every partition's
   * entries merged by id (ids of two partitions are not causally ordered).
   */
  async read(afterId: number, limit: number, tenant?: string): Promise<ReadResult> {
    if (!Number.isSafeInteger(afterId) || afterId < 0) throw new LarderError('E_INVALID_OPTION', 'afterId must be a non-negative safe integer')
    const count = Math.max(1, Math.min(Math.floor(limit), 10_000))
    if (tenant !== undefined || this.partitions === 1) return this.#readStream(this.#stream(tenant ?? ''), afterId, count)
    const pages = await Promise.all(this.#streams.map((s) => this.#readStream(s, afterId, count)))
    const entries = pages.flatMap((p) => p.entries).sort((a, b) => a.id - b.id)
    return { entries: entries.slice(0, count), gap: pages.some((p) => p.gap) }
  }

  async #readStream(s: LogStream, afterId: number, count: number): Promise<ReadResult> {
    const [raw, gap] = await this.breaker.run('read', () => Promise.all([this.client.xrange(s.keys.stream, `(${afterId}-0`, '+', 'COUNT', count), s.trimmedAfter(afterId, this.client)]))
    return { entries: raw.map(parseEntry).filter((e): e is LogEntry => e !== undefined), gap }
  }

  subscribe(subscriber: LogSubscriber, fromId: number | 'now' = 'now'): () => void {
    const state: SubState = { live: fromId === 'now', buffer: [] }
    this.#subs.set(subscriber, state)
    if (fromId !== 'now') void this.#catchUp(subscriber, state, fromId)
    return () => {
      this.#subs.delete(subscriber)
    }
  }

  /** Replays each partition this instance reads from `fromId`, then hands over to live delivery. */
  async #catchUp(sub: LogSubscriber, state: SubState, fromId: number): Promise<void> {
    const after = new Map<number, number>()
    try {
      for (const { stream } of this.#readers) {
        let at = fromId
        for (let first = true; ; first = false) {
          const { entries, gap } = await this.#readStream(stream, at, 1000)
          if (first && gap) sub.gap({ reason: 'trimmed' })
          if (entries.length === 0) break
          if (!this.#subs.has(sub)) return
          sub.entries(entries)
          at = (entries[entries.length - 1] as LogEntry).id
        }
        after.set(stream.index, at)
      }
    } catch {
      sub.gap({ reason: 'disconnected' })
    }
    const rest = state.buffer.filter((e) => e.id > (after.get(this.partitionOf(e.tenant)) ?? fromId))
    state.buffer = []
    state.live = true
    if (rest.length > 0 && this.#subs.has(sub)) sub.entries(rest)
  }

  #deliver(entries: readonly LogEntry[]): void {
    if (entries.length === 0) return
    for (const [sub, state] of this.#subs) {
      if (!state.live) {
        state.buffer.push(...entries)
        continue
      }
      try {
        sub.entries(entries)
      } catch {
        // A throwing subscriber must not stop delivery to the others.
      }
    }
  }

  // No `larder:log:gap` event here: subscribers (the engine) publish it when they flush,
  // once per flush; publishing here too would count every gap twice.
  #gap(gap: LogGap): void {
    for (const sub of this.#subs.keys()) {
      try {
        sub.gap(gap)
      } catch {}
    }
  }

  /**
   * Bounded: a batch whose entries were trimmed before our reader reached them never
   * comes back. Forgetting the oldest token costs at most one duplicate delivery of an
   * invalidation, which subscribers apply idempotently.
   */
  #remember(token: string, count: number): void {
    this.#own.set(token, count)
    if (this.#own.size > 100_000) this.#own.delete(this.#own.keys().next().value as string)
  }

  /** True for an entry of a batch this instance appended (already delivered locally). */
  #skipOwn(r: RawEntry): boolean {
    const token = tokenOf(r)
    if (token === undefined) return false
    const left = this.#own.get(token)
    if (left === undefined) return false
    if (left <= 1) this.#own.delete(token)
    else this.#own.set(token, left - 1)
    return true
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#subs.clear()
    for (const a of this.#appenders) a.close()
    await Promise.all(this.#readers.map((r) => r.close()))
    if (this.#owned) await quit(this.client)
  }
}

/** Creates the fleet-wide invalidation log on a Redis Stream. */
export function redisLog(options: RedisLogOptions): RedisLog {
  return new RedisLog(options)
}
