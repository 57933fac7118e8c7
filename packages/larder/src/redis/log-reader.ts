/**
 * The reading half of `RedisLog` for one stream: one blocking `XREAD` loop on its own
 * connection, delivering in order, and the checks that turn what it cannot vouch for into
 * gaps (trimmed past its cursor, cut off longer than maxDisconnect, a restarted Redis).
 * See log.ts.
 * @module
 */
import { sleep, systemClock, type TimerClock } from '../core/clock.ts'
import { channels } from '../core/diagnostics.ts'
import type { LogEntry, LogGap } from '../core/types.ts'
import type { RedisOptions } from 'ioredis'
import { LarderError } from '../core/errors.ts'
import { connect, duplicate, isCluster, type RedisClient } from './connection.ts'
import { bounded, type LogStream, parseEntry, type RawEntry } from './log-stream.ts'

/** Entries one XREAD asks for; a full batch means more may wait behind it. */
const BATCH = 1000

/** What every stream's reader shares with the log. */
export interface ReadHost {
  readonly clock: TimerClock
  /** XREAD BLOCK time (ms). */
  readonly block: number
  /** Pause after a read that brought entries, so the next one carries what arrived meanwhile (ms; 0: none). */
  readonly interval: number
  readonly maxDisconnect: number
  /** Gaps name their partition (a partitioned log). */
  readonly partitioned: boolean
  /**
   * Replica reads: the connection to the master. The reader's own connection then reads a
   * replica, which may lag; it counts as heard at `t` only once it holds every entry the
   * master held at `t` (a probe of the master's last id), never merely because a read returned.
   */
  readonly master: RedisClient | undefined
  /** True for an entry of a batch this instance appended (already delivered locally). */
  skipOwn(r: RawEntry): boolean
  deliver(entries: readonly LogEntry[]): void
  gap(gap: LogGap): void
  closed(): boolean
}

export class LogReader {
  readonly stream: LogStream
  readonly #host: ReadHost
  readonly #conn: RedisClient
  /** Last stream id the reader consumed. */
  #cursor = 0
  /** When the reader last confirmed it was caught up (clock ms). */
  #heardAt: number
  #downSince: number | undefined
  #initialized = false
  /** Replica reads: the master's last id at `at` (clock ms), heard once the cursor reaches it. */
  #probe: { at: number; seq: number } | undefined
  #probing = false
  #probedAt = Number.NEGATIVE_INFINITY
  readonly ready: Promise<void>
  #markReady!: () => void
  readonly initialized: Promise<void>
  #markInitialized!: () => void
  readonly #loop: Promise<void>

  constructor(host: ReadHost, stream: LogStream, conn: RedisClient) {
    this.#host = host
    this.stream = stream
    this.#conn = conn
    // A new reader has delivered nothing anyone could have cached against: heard as of now.
    this.#heardAt = host.clock.now()
    conn.on('error', () => {})
    // A connection lost between two reads surfaces as no error (the next XREAD is queued
    // and sent after the reconnect): note it, so recovery checks run before trusting more.
    conn.on('close', () => {
      if (!host.closed() && this.#initialized) this.#downSince ??= host.clock.now()
    })
    this.ready = new Promise((r) => (this.#markReady = r))
    this.initialized = new Promise((r) => (this.#markInitialized = r))
    this.#loop = this.#run()
  }

  /** When the reader last confirmed it had every entry appended before then. */
  get heardAt(): number {
    return this.#heardAt
  }

  async #init(): Promise<void> {
    const s = this.stream
    // The starting position comes from the master even when reading a replica: the plain-GET
    // watermark (local-epochs) starts there, and a lagging replica's position would vouch for
    // entries that invalidations appended before this start (not yet replicated) killed.
    const at = this.#host.master ?? this.#conn
    const [seq, since] = await bounded(Promise.all([at.get(s.keys.seq), at.get(s.keys.since)]), 2000)
    this.#cursor = seq === null ? 0 : Number(seq)
    s.saw(this.#cursor)
    s.since = since === null ? null : Number(since)
    this.#initialized = true
    this.#heardAt = this.#host.clock.now()
    this.#markReady()
    this.#markInitialized()
  }

  /** After the reader was cut off: decide whether subscribers can still trust what they derived. */
  async #recovered(): Promise<void> {
    const host = this.#host
    const s = this.stream
    // downSince is cleared only once recovery succeeded: a failed attempt keeps the
    // original disconnect time (maxDisconnect is measured from there).
    const down = this.#downSince
    const sinceRaw = await bounded(this.#conn.get(s.keys.since), 2000)
    const since = sinceRaw === null ? null : Number(sinceRaw)
    if (s.since !== undefined && s.since !== null && since !== s.since) {
      s.since = since
      this.#downSince = undefined
      host.gap(this.#gapOf('restarted'))
      return
    }
    const trimmed = await bounded(s.trimmedAfter(this.#cursor, this.#conn), 2000)
    s.since = since
    this.#downSince = undefined
    if (trimmed) host.gap(this.#gapOf('trimmed'))
    else if (down !== undefined && host.clock.now() - down > host.maxDisconnect) host.gap(this.#gapOf('disconnected'))
  }

  async #run(): Promise<void> {
    const host = this.#host
    const s = this.stream
    let backoff = 50
    while (!host.closed()) {
      try {
        if (!this.#initialized) await this.#init()
        else if (this.#downSince !== undefined) await this.#recovered()
        if (host.master !== undefined) this.#probeMaster(host.master)
        const started = performance.now()
        // A paused server never answers a blocking read: bound it ourselves.
        const res = (await bounded(this.#conn.xread('COUNT', BATCH, 'BLOCK', host.block, 'STREAMS', s.keys.stream, `${this.#cursor}-0`), host.block + 1000)) as [string, RawEntry[]][] | null
        backoff = 50
        if (res === null) {
          this.#caughtUp()
          continue
        }
        const raw = (res[0] as [string, RawEntry[]])[1]
        const fresh: LogEntry[] = []
        for (const r of raw) {
          const e = parseEntry(r)
          if (e === undefined) continue
          if (e.id <= this.#cursor) continue
          this.#cursor = e.id
          s.saw(e.id)
          if (host.skipOwn(r)) continue
          fresh.push(e)
        }
        if (channels.log.hasSubscribers) channels.log.publish({ op: 'read', durationMs: performance.now() - started, lagMs: fresh.length > 0 ? host.clock.now() - (fresh[fresh.length - 1] as LogEntry).at : 0 })
        host.deliver(fresh)
        // Caught up unless the batch was full (more may be waiting behind it).
        if (raw.length < BATCH) this.#caughtUp()
        // Learn the run id once the log has one, so a later restart is recognised.
        if (s.since === null && raw.length > 0) {
          const since = await bounded(this.#conn.get(s.keys.since), 2000)
          s.since = since === null ? null : Number(since)
        }
        // A full batch means we are behind: make sure the stream was not trimmed past us.
        if (raw.length === BATCH && (await bounded(s.trimmedAfter(this.#cursor, this.#conn), 2000))) host.gap(this.#gapOf('trimmed'))
        // Fewer, fuller reads: every XREAD that returns costs the server a wake-up (docs/scale.md).
        else if (host.interval > 0 && raw.length > 0) await sleep(systemClock, host.interval)
      } catch {
        if (host.closed()) break
        this.#downSince ??= host.clock.now()
        // Drop a possibly stuck socket (SIGSTOPped server) and reconnect.
        this.#conn.disconnect(true)
        await sleep(systemClock, backoff)
        backoff = Math.min(backoff * 2, 1000)
        if (!this.#initialized && backoff >= 1000) this.#markReady()
      }
    }
  }

  #gapOf(reason: LogGap['reason']): LogGap {
    return this.#host.partitioned ? { reason, partition: this.stream.index } : { reason }
  }

  /** The last read returned with nothing left behind it. */
  #caughtUp(): void {
    if (this.#host.master === undefined) this.#heardAt = this.#host.clock.now()
    else this.#heardFromProbe()
  }

  #heardFromProbe(): void {
    const p = this.#probe
    if (p !== undefined && this.#cursor >= p.seq && p.at > this.#heardAt) this.#heardAt = p.at
  }

  /**
   * Replica reads: asks the master for the stream's last id (at most one probe in flight,
   * at most two per `block`). Everything appended before the probe was sent has an id at
   * most that one, so once the cursor reaches it the reader is heard as of the sending
   * time. A master whose last id is below what the reader already read has lost entries
   * (a failover to a replica that lacked them): its next ids may reuse ours, so the
   * reader goes back to the master's position and subscribers get a `restarted` gap.
   */
  #probeMaster(master: RedisClient): void {
    const host = this.#host
    // Paced on real time (a network call); stamped on the log's clock (what heard means).
    const sentAt = performance.now()
    if (this.#probing || sentAt - this.#probedAt < host.block / 2) return
    const at = host.clock.now()
    this.#probing = true
    this.#probedAt = sentAt
    const before = this.#cursor
    const s = this.stream
    bounded(master.mget(s.keys.seq, s.keys.since), host.block + 1000)
      .then(([raw, sinceRaw]) => {
        if (host.closed()) return
        // A master that restarted empty (its replicas resynced from it) has a new run id:
        // what it held but never replicated is gone, as after a restart of a lone server.
        const since = sinceRaw === null ? null : Number(sinceRaw)
        if (typeof s.since === 'number' && since !== s.since) {
          s.since = since
          this.#probe = undefined
          host.gap(this.#gapOf('restarted'))
          return
        }
        const seq = raw === null ? 0 : Number(raw)
        if (seq < before) {
          this.#cursor = seq
          s.last = seq
          this.#probe = undefined
          host.gap(this.#gapOf('restarted'))
          return
        }
        this.#probe = { at, seq }
        this.#heardFromProbe()
      })
      .catch(() => {})
      .finally(() => {
        this.#probing = false
      })
  }

  async close(): Promise<void> {
    this.#markReady()
    this.#conn.disconnect()
    await this.#loop.catch(() => {})
  }
}

/**
 * Makes the connections of a log's readers: to the master's server(s), or with `replica`
 * to a replica (`true` on a Cluster: a replica of each slot's shard; a url on a single node).
 */
export function readerConnection(client: RedisClient, replica: boolean | string | undefined, redisOptions: RedisOptions | undefined): () => RedisClient {
  if (replica === undefined || replica === false) return () => duplicate(client)
  if (replica === true) {
    if (!isCluster(client)) throw new LarderError('E_INVALID_OPTION', 'redisLog: replica: true needs a Cluster (cluster: […]); on a single node give the replica\'s url (replica: "redis://…")')
    // Reads (XREAD, XINFO, GET) go to a replica of each slot's shard (ioredis sends READONLY).
    return () => client.duplicate([], { scaleReads: 'slave' })
  }
  if (isCluster(client)) throw new LarderError('E_INVALID_OPTION', 'redisLog: on a Cluster give replica: true (replicas are found from the slot map), not a url')
  return () => connect({ url: replica, redisOptions }, 'redisLog replica').client
}
