import { randomBytes } from 'node:crypto'
import { type Clock, clockOf, type TimerClock } from '../core/clock.ts'
import { parseDuration } from '../core/duration.ts'
import { LarderError } from '../core/errors.ts'
import type { Duration, InvalidationLog, LogAppend, LogEntry, LogGap, LogKind, LogSubscriber, ReadResult } from '../core/types.ts'
import { Breaker } from './breaker.ts'
import { type ConnectionOptions, connect, duplicate, quit, type RedisClient } from './connection.ts'
import { logKeys } from './keyspace.ts'
import { type AppendHost, LogAppender } from './log-appender.ts'
import { LogReader, type ReadHost } from './log-reader.ts'
import { LogStream, parseEntry, type RawEntry, tokenOf } from './log-stream.ts'
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
}

interface SubState {
  live: boolean
  buffer: LogEntry[]
}

const KINDS = new Set<LogKind>(['hard', 'soft', 'clear', 'live', 'event'])

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
  readonly #source: string | undefined
  readonly #clock: TimerClock
  readonly #stream: LogStream
  readonly #appender: LogAppender
  readonly #reader: LogReader
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
    this.#clock = clockOf(options.clock)
    const maxDisconnect = parseDuration(options.maxDisconnect ?? '5s', 'maxDisconnect')
    const queueLimit = positiveInt(options.queueLimit ?? 10_000, 'queueLimit')
    this.#source = options.source
    const timeoutMs = parseDuration(options.timeout ?? '500ms', 'timeout')
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
    const closed = () => this.#closed
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
    }
    const readHost: ReadHost = {
      clock: this.#clock,
      block: this.#block,
      maxDisconnect,
      skipOwn: (r) => this.#skipOwn(r),
      deliver: (entries) => this.#deliver(entries),
      gap: (gap) => this.#gap(gap),
      closed,
    }
    this.#stream = new LogStream(0, logKeys(options.stream))
    this.#appender = new LogAppender(appendHost, this.#stream)
    this.breaker.onChange((s) => {
      if (s === 'closed') this.#appender.scheduleReplay(0)
    })
    this.#reader = new LogReader(readHost, this.#stream, duplicate(client))
  }

  /** Resolves once the reader knows the log's current position (or gave up for now). */
  ready(): Promise<void> {
    return this.#reader.ready
  }

  /** Resolves only once the log's position was read from Redis (never on failure). */
  whenInitialized(): Promise<void> {
    return this.#reader.initialized
  }

  lastId(): number {
    return this.#stream.last
  }

  /** When the reader last confirmed it had every entry appended before then (a read that returned, even empty). */
  lastHeardAt(): number {
    return this.#reader.heardAt
  }

  /** The reader's XREAD BLOCK time: how long a reachable log goes between two confirmations. */
  get heartbeatMs(): number {
    return this.#block
  }

  /** Appends waiting for Redis (for stats and tests). */
  queued(): number {
    return this.#appender.queued
  }

  // ------------------------------------------------------------------ append

  async append(entry: LogAppend): Promise<LogEntry> {
    return (await this.appendMany([entry]))[0] as LogEntry
  }

  async appendMany(inputs: readonly LogAppend[]): Promise<LogEntry[]> {
    if (this.#closed) throw new LarderError('E_CLOSED', 'the invalidation log is closed')
    if (inputs.length === 0) return []
    const batch = inputs.map((i) => this.#validate(i))
    return this.#appender.append(batch, randomBytes(12).toString('base64url'))
  }

  #validate(i: LogAppend): LogAppend {
    if (i === null || typeof i !== 'object' || typeof i.tenant !== 'string' || i.tenant.length === 0) throw new LarderError('E_INVALID_OPTION', 'a log entry needs a tenant')
    if (!KINDS.has(i.kind)) throw new LarderError('E_INVALID_OPTION', `unknown log entry kind ${String(i.kind)}`)
    return this.#source !== undefined && i.source === undefined ? { ...i, source: this.#source } : i
  }

  // ------------------------------------------------------------------ read

  async read(afterId: number, limit: number): Promise<ReadResult> {
    if (!Number.isSafeInteger(afterId) || afterId < 0) throw new LarderError('E_INVALID_OPTION', 'afterId must be a non-negative safe integer')
    const count = Math.max(1, Math.min(Math.floor(limit), 10_000))
    const s = this.#stream
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

  async #catchUp(sub: LogSubscriber, state: SubState, fromId: number): Promise<void> {
    let after = fromId
    try {
      for (let first = true; ; first = false) {
        const { entries, gap } = await this.read(after, 1000)
        if (first && gap) sub.gap({ reason: 'trimmed' })
        if (entries.length === 0) break
        if (!this.#subs.has(sub)) return
        sub.entries(entries)
        after = (entries[entries.length - 1] as LogEntry).id
      }
    } catch {
      sub.gap({ reason: 'disconnected' })
    }
    const rest = state.buffer.filter((e) => e.id > after)
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
    this.#appender.close()
    this.#subs.clear()
    await this.#reader.close()
    if (this.#owned) await quit(this.client)
  }
}

/** Creates the fleet-wide invalidation log on a Redis Stream. */
export function redisLog(options: RedisLogOptions): RedisLog {
  return new RedisLog(options)
}
