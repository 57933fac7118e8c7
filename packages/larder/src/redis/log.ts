import { randomBytes } from 'node:crypto'
import { type Clock, clockOf, sleep, systemClock, type TimerClock } from '../core/clock.ts'
import { channels } from '../core/diagnostics.ts'
import { parseDuration } from '../core/duration.ts'
import { LarderError } from '../core/errors.ts'
import type { Duration, InvalidationLog, LogAppend, LogEntry, LogGap, LogKind, LogSubscriber, ReadResult } from '../core/types.ts'
import { Breaker } from './breaker.ts'
import { type ConnectionOptions, connect, duplicate, isCluster, quit, type RedisClient } from './connection.ts'
import { nodeFor } from './slot.ts'
import { logKeys } from './keyspace.ts'
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

interface Queued {
  inputs: LogAppend[]
  entries: LogEntry[]
  token: string
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
 *   are skipped when read back (never twice).
 * - A trimmed last id, a disconnection longer than maxDisconnect or a restarted (emptied)
 *   Redis is reported to subscribers as a gap so they flush L1.
 * - When Redis cannot take an append within the timeout, the append resolves with a
 *   provisional local entry (delivered locally at once), queued and replayed in order
 *   with the same dedup token once Redis answers again, so every instance gets it.
 */
export class RedisLog implements InvalidationLog {
  readonly name = 'redis'
  readonly shared = true
  readonly client: RedisClient
  readonly breaker: Breaker
  readonly #owned: boolean
  readonly #reader: RedisClient
  readonly #keys: { stream: string; seq: string; since: string; dedup: string }
  readonly #maxLen: number
  readonly #block: number
  readonly #maxDisconnect: number
  readonly #queueLimit: number
  readonly #source: string | undefined
  readonly #waitReplicas: number
  readonly #waitMs: number
  readonly #clock: TimerClock
  /** When the reader last confirmed it was caught up (clock ms). */
  #heardAt: number
  readonly #subs = new Map<LogSubscriber, SubState>()
  /** Tokens of batches this instance appended (delivered locally): entries left to skip when read back. */
  readonly #own = new Map<string, number>()
  readonly #queue: Queued[] = []
  #queued = 0
  #last = 0
  /** Last stream id the reader consumed. */
  #cursor = 0
  /** First id of the current Redis run (restart detection); null: nothing appended yet. */
  #since: number | null | undefined
  #downSince: number | undefined
  #initialized = false
  #closed = false
  #replaying = false
  #replayTimer: unknown
  readonly #ready: Promise<void>
  #markReady!: () => void
  readonly #initializedP: Promise<void>
  #markInitialized!: () => void
  readonly #loop: Promise<void>

  constructor(options: RedisLogOptions) {
    const { client, owned } = connect(options, 'redisLog')
    this.client = client
    this.#owned = owned
    this.#reader = duplicate(client)
    this.#keys = logKeys(options.stream)
    this.#maxLen = positiveInt(options.maxLen ?? 100_000, 'maxLen')
    this.#block = parseDuration(options.block ?? '250ms', 'block')
    this.#clock = clockOf(options.clock)
    // A new reader has delivered nothing anyone could have cached against: heard as of now.
    this.#heardAt = this.#clock.now()
    this.#maxDisconnect = parseDuration(options.maxDisconnect ?? '5s', 'maxDisconnect')
    this.#queueLimit = positiveInt(options.queueLimit ?? 10_000, 'queueLimit')
    this.#source = options.source
    const timeoutMs = parseDuration(options.timeout ?? '500ms', 'timeout')
    this.#waitReplicas = options.waitReplicas ?? 0
    if (!Number.isInteger(this.#waitReplicas) || this.#waitReplicas < 0) throw new LarderError('E_INVALID_OPTION', 'waitReplicas must be a non-negative integer')
    this.#waitMs = Math.max(1, Math.floor(timeoutMs / 2))
    this.breaker = new Breaker({
      name: 'redis-log',
      timeoutMs,
      failureThreshold: positiveInt(options.failureThreshold ?? 3, 'failureThreshold'),
      cooldownMs: parseDuration(options.cooldown ?? '1s', 'cooldown'),
    })
    client.defineCommand('larderAppend', { lua: APPEND })
    client.on('error', () => {})
    this.#reader.on('error', () => {})
    // A connection lost between two reads surfaces as no error (the next XREAD is queued
    // and sent after the reconnect): note it, so recovery checks run before trusting more.
    this.#reader.on('close', () => {
      if (!this.#closed && this.#initialized) this.#downSince ??= this.#clock.now()
    })
    this.breaker.onChange((s) => {
      if (s === 'closed') this.#scheduleReplay(0)
    })
    this.#ready = new Promise((r) => (this.#markReady = r))
    this.#initializedP = new Promise((r) => (this.#markInitialized = r))
    this.#loop = this.#readLoop()
  }

  /** Resolves once the reader knows the log's current position (or gave up for now). */
  ready(): Promise<void> {
    return this.#ready
  }

  /** Resolves only once the log's position was read from Redis (never on failure). */
  whenInitialized(): Promise<void> {
    return this.#initializedP
  }

  lastId(): number {
    return this.#last
  }

  /** When the reader last confirmed it had every entry appended before then (a read that returned, even empty). */
  lastHeardAt(): number {
    return this.#heardAt
  }

  /** The reader's XREAD BLOCK time: how long a reachable log goes between two confirmations. */
  get heartbeatMs(): number {
    return this.#block
  }

  /** Appends waiting for Redis (for stats and tests). */
  queued(): number {
    return this.#queued
  }

  // ------------------------------------------------------------------ append

  async append(entry: LogAppend): Promise<LogEntry> {
    return (await this.appendMany([entry]))[0] as LogEntry
  }

  async appendMany(inputs: readonly LogAppend[]): Promise<LogEntry[]> {
    if (this.#closed) throw new LarderError('E_CLOSED', 'the invalidation log is closed')
    if (inputs.length === 0) return []
    const batch = inputs.map((i) => this.#validate(i))
    const token = randomBytes(12).toString('base64url')
    // While older appends wait for replay, newer ones queue behind them (order).
    if (this.#queue.length === 0 && this.breaker.available()) {
      const started = performance.now()
      try {
        // Registered before sending: our reader may see the entries before this reply.
        this.#remember(token, batch.length)
        const entries = await this.breaker.run('append', () => this.#send(batch, token, batch.map(() => 0)))
        if (channels.log.hasSubscribers) channels.log.publish({ op: 'append', durationMs: performance.now() - started })
        this.#deliver(entries)
        return entries
      } catch {
        // Fall through: queue with a provisional id. The command may still land later;
        // the replay reuses its dedup token, so it is never appended twice.
      }
    }
    return this.#provisional(batch, token)
  }

  #validate(i: LogAppend): LogAppend {
    if (i === null || typeof i !== 'object' || typeof i.tenant !== 'string' || i.tenant.length === 0) throw new LarderError('E_INVALID_OPTION', 'a log entry needs a tenant')
    if (!KINDS.has(i.kind)) throw new LarderError('E_INVALID_OPTION', `unknown log entry kind ${String(i.kind)}`)
    return this.#source !== undefined && i.source === undefined ? { ...i, source: this.#source } : i
  }

  async #send(batch: readonly LogAppend[], token: string, mins: readonly number[]): Promise<LogEntry[]> {
    const args: string[] = []
    for (let i = 0; i < batch.length; i++) args.push(String(mins[i]), JSON.stringify(batch[i]))
    const k = this.#keys
    const res: string = await (this.client as unknown as AppendCommand).larderAppend(4, k.stream, k.seq, k.since, k.dedup + token, this.#maxLen, 600_000, token, ...args)
    if (this.#waitReplicas > 0) {
      // WAIT counts the replicas that acknowledged this connection's writes. In a Cluster
      // it must go to the connection of the node that owns the log's slot.
      const conn = isCluster(this.client) ? nodeFor(this.client, k.stream) : this.client
      const acked = (await conn.call('WAIT', this.#waitReplicas, this.#waitMs)) as number
      if (acked < this.#waitReplicas) throw new LarderError('E_LOG_UNAVAILABLE', `append reached ${acked} of ${this.#waitReplicas} replicas within ${this.#waitMs} ms`)
    }
    const [idText, atText, sinceText] = res.split('|') as [string, string, string]
    const at = Number(atText)
    const ids = idText.split(',').map(Number)
    // The appender learns the run id too: a restart right after our first append is still seen.
    if (this.#since === null || this.#since === undefined) this.#since = Number(sinceText)
    return batch.map((input, i) => {
      const id = ids[i] as number
      if (id > this.#last) this.#last = id
      return { ...input, id, at }
    })
  }

  #provisional(batch: LogAppend[], token: string): LogEntry[] {
    if (this.#queued + batch.length > this.#queueLimit) {
      throw new LarderError('E_QUEUE_FULL', `Redis log unreachable and ${this.#queued} appends already wait for replay (queueLimit ${this.#queueLimit})`)
    }
    const now = this.#clock.now()
    const entries = batch.map((input) => {
      const id = Math.max(this.#last + 1, now * 1000)
      this.#last = id
      return { ...input, id, at: now }
    })
    this.#remember(token, batch.length)
    this.#queue.push({ inputs: batch, entries, token })
    this.#queued += batch.length
    this.#deliver(entries)
    this.#scheduleReplay(this.breaker.available() ? 0 : 250)
    // The caller learns the entry is not in the shared log yet (only what append returns says so).
    return entries.map((e) => ({ ...e, queued: true as const }))
  }

  #scheduleReplay(ms: number): void {
    if (this.#closed || this.#queue.length === 0 || this.#replaying || this.#replayTimer) return
    // A retry of a network call: real time (see the clock option).
    this.#replayTimer = systemClock.setTimeout(() => {
      this.#replayTimer = undefined
      void this.#replay()
    }, ms)
  }

  /** Sends queued appends in order; the replayed ids are at least the provisional ones. */
  async #replay(): Promise<void> {
    if (this.#replaying || this.#closed) return
    this.#replaying = true
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const q = this.#queue[0] as Queued
        await this.breaker.run('replay', () =>
          this.#send(
            q.inputs,
            q.token,
            q.entries.map((e) => e.id),
          ),
        )
        this.#queue.shift()
        this.#queued -= q.inputs.length
      }
    } catch {
      this.#replaying = false
      this.#scheduleReplay(250)
      return
    }
    this.#replaying = false
  }

  // ------------------------------------------------------------------ read

  async read(afterId: number, limit: number): Promise<ReadResult> {
    if (!Number.isSafeInteger(afterId) || afterId < 0) throw new LarderError('E_INVALID_OPTION', 'afterId must be a non-negative safe integer')
    const count = Math.max(1, Math.min(Math.floor(limit), 10_000))
    const k = this.#keys
    const [raw, gap] = await this.breaker.run('read', () => Promise.all([this.client.xrange(k.stream, `(${afterId}-0`, '+', 'COUNT', count), this.#trimmedAfter(afterId, this.client)]))
    return { entries: raw.map(parseEntry).filter((e): e is LogEntry => e !== undefined), gap }
  }

  /**
   * True when entries after `afterId` may be lost: trimmed, or from before a restart.
   * Trimming (MAXLEN) does not move XINFO's max-deleted-entry-id, so: something was
   * trimmed (entries-added > length) and the oldest entry left is newer than afterId.
   * It can over-report by one entry (the successor of afterId may be the oldest left);
   * a false gap costs an L1 flush, a missed one a stale read, so we err this way.
   */
  async #trimmedAfter(afterId: number, c: RedisClient): Promise<boolean> {
    const k = this.#keys
    const [info, since] = await Promise.all([c.call('XINFO', 'STREAM', k.stream).catch(() => null) as Promise<unknown[] | null>, c.get(k.since)])
    if (afterId > 0 && since !== null && afterId < Number(since)) return true
    if (!Array.isArray(info)) return false
    const field = (name: string): unknown => {
      const at = info.indexOf(name)
      return at >= 0 ? info[at + 1] : undefined
    }
    const added = Number(field('entries-added') ?? 0)
    const length = Number(field('length') ?? 0)
    if (added <= length) return false
    const first = field('first-entry') as [string, string[]] | null | undefined
    // Empty after trimming: everything up to the last generated id is gone.
    const oldest = first ? first[0] : String(field('last-generated-id') ?? '0-0')
    return Number(oldest.slice(0, oldest.indexOf('-'))) > afterId
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

  // ------------------------------------------------------------------ reader

  async #init(): Promise<void> {
    const [seq, since] = await this.#bounded(Promise.all([this.#reader.get(this.#keys.seq), this.#reader.get(this.#keys.since)]), 2000)
    this.#cursor = seq === null ? 0 : Number(seq)
    if (this.#cursor > this.#last) this.#last = this.#cursor
    this.#since = since === null ? null : Number(since)
    this.#initialized = true
    this.#heardAt = this.#clock.now()
    this.#markReady()
    this.#markInitialized()
  }

  /** After the reader was cut off: decide whether subscribers can still trust what they derived. */
  async #recovered(): Promise<void> {
    // downSince is cleared only once recovery succeeded: a failed attempt keeps the
    // original disconnect time (maxDisconnect is measured from there).
    const down = this.#downSince
    const sinceRaw = await this.#bounded(this.#reader.get(this.#keys.since), 2000)
    const since = sinceRaw === null ? null : Number(sinceRaw)
    if (this.#since !== undefined && this.#since !== null && since !== this.#since) {
      this.#since = since
      this.#downSince = undefined
      this.#gap({ reason: 'restarted' })
      return
    }
    const trimmed = await this.#bounded(this.#trimmedAfter(this.#cursor, this.#reader), 2000)
    this.#since = since
    this.#downSince = undefined
    if (trimmed) this.#gap({ reason: 'trimmed' })
    else if (down !== undefined && this.#clock.now() - down > this.#maxDisconnect) this.#gap({ reason: 'disconnected' })
  }

  async #readLoop(): Promise<void> {
    let backoff = 50
    while (!this.#closed) {
      try {
        if (!this.#initialized) await this.#init()
        else if (this.#downSince !== undefined) await this.#recovered()
        const started = performance.now()
        // A paused server never answers a blocking read: bound it ourselves.
        const res = (await this.#bounded(this.#reader.xread('COUNT', 1000, 'BLOCK', this.#block, 'STREAMS', this.#keys.stream, `${this.#cursor}-0`), this.#block + 1000)) as [string, [string, string[]][]][] | null
        backoff = 50
        if (res === null) {
          this.#heardAt = this.#clock.now()
          continue
        }
        const raw = (res[0] as [string, [string, string[]][]])[1]
        const fresh: LogEntry[] = []
        for (const r of raw) {
          const e = parseEntry(r)
          if (e === undefined) continue
          if (e.id <= this.#cursor) continue
          this.#cursor = e.id
          if (e.id > this.#last) this.#last = e.id
          if (this.#skipOwn(r)) continue
          fresh.push(e)
        }
        if (channels.log.hasSubscribers) channels.log.publish({ op: 'read', durationMs: performance.now() - started, lagMs: fresh.length > 0 ? this.#clock.now() - (fresh[fresh.length - 1] as LogEntry).at : 0 })
        this.#deliver(fresh)
        // Caught up unless the batch was full (more may be waiting behind it).
        if (raw.length < 1000) this.#heardAt = this.#clock.now()
        // Learn the run id once the log has one, so a later restart is recognised.
        if (this.#since === null && raw.length > 0) {
          const since = await this.#bounded(this.#reader.get(this.#keys.since), 2000)
          this.#since = since === null ? null : Number(since)
        }
        // A full batch means we are behind: make sure the stream was not trimmed past us.
        if (raw.length === 1000 && (await this.#bounded(this.#trimmedAfter(this.#cursor, this.#reader), 2000))) this.#gap({ reason: 'trimmed' })
      } catch {
        if (this.#closed) break
        this.#downSince ??= this.#clock.now()
        // Drop a possibly stuck socket (SIGSTOPped server) and reconnect.
        this.#reader.disconnect(true)
        await sleep(systemClock, backoff)
        backoff = Math.min(backoff * 2, 1000)
        if (!this.#initialized && backoff >= 1000) this.#markReady()
      }
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
  #skipOwn(r: [string, string[]]): boolean {
    const fields = r[1]
    const i = fields.indexOf('u')
    const token = i >= 0 && i % 2 === 0 ? fields[i + 1] : undefined
    if (token === undefined) return false
    const left = this.#own.get(token)
    if (left === undefined) return false
    if (left <= 1) this.#own.delete(token)
    else this.#own.set(token, left - 1)
    return true
  }

  #bounded<T>(p: Promise<T>, ms: number): Promise<T> {
    let timer: unknown
    return Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = systemClock.setTimeout(() => reject(new LarderError('E_LOG_UNAVAILABLE', `Redis log did not answer within ${ms} ms`)), ms)
      }),
    ]).finally(() => systemClock.clearTimeout(timer))
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    systemClock.clearTimeout(this.#replayTimer)
    this.#subs.clear()
    this.#markReady()
    this.#reader.disconnect()
    await this.#loop.catch(() => {})
    if (this.#owned) await quit(this.client)
  }
}

interface AppendCommand {
  larderAppend(n: number, ...args: (string | number)[]): Promise<string>
}

function parseEntry(r: [string, string[]]): LogEntry | undefined {
  const [sid, fields] = r
  const id = Number(sid.slice(0, sid.indexOf('-')))
  let a = 0
  let e: string | undefined
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'a') a = Number(fields[i + 1])
    else if (fields[i] === 'e') e = fields[i + 1]
  }
  if (e === undefined || !Number.isSafeInteger(id)) return undefined
  try {
    const body = JSON.parse(e) as LogAppend
    return { ...body, id, at: a }
  } catch {
    return undefined
  }
}

/** Creates the fleet-wide invalidation log on a Redis Stream. */
export function redisLog(options: RedisLogOptions): RedisLog {
  return new RedisLog(options)
}
