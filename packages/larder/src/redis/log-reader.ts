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
import type { RedisClient } from './connection.ts'
import { bounded, type LogStream, parseEntry, type RawEntry } from './log-stream.ts'

/** Entries one XREAD asks for; a full batch means more may wait behind it. */
const BATCH = 1000

/** What every stream's reader shares with the log. */
export interface ReadHost {
  readonly clock: TimerClock
  /** XREAD BLOCK time (ms). */
  readonly block: number
  readonly maxDisconnect: number
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
    const [seq, since] = await bounded(Promise.all([this.#conn.get(s.keys.seq), this.#conn.get(s.keys.since)]), 2000)
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
      host.gap({ reason: 'restarted' })
      return
    }
    const trimmed = await bounded(s.trimmedAfter(this.#cursor, this.#conn), 2000)
    s.since = since
    this.#downSince = undefined
    if (trimmed) host.gap({ reason: 'trimmed' })
    else if (down !== undefined && host.clock.now() - down > host.maxDisconnect) host.gap({ reason: 'disconnected' })
  }

  async #run(): Promise<void> {
    const host = this.#host
    const s = this.stream
    let backoff = 50
    while (!host.closed()) {
      try {
        if (!this.#initialized) await this.#init()
        else if (this.#downSince !== undefined) await this.#recovered()
        const started = performance.now()
        // A paused server never answers a blocking read: bound it ourselves.
        const res = (await bounded(this.#conn.xread('COUNT', BATCH, 'BLOCK', host.block, 'STREAMS', s.keys.stream, `${this.#cursor}-0`), host.block + 1000)) as [string, RawEntry[]][] | null
        backoff = 50
        if (res === null) {
          this.#heardAt = host.clock.now()
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
        if (raw.length < BATCH) this.#heardAt = host.clock.now()
        // Learn the run id once the log has one, so a later restart is recognised.
        if (s.since === null && raw.length > 0) {
          const since = await bounded(this.#conn.get(s.keys.since), 2000)
          s.since = since === null ? null : Number(since)
        }
        // A full batch means we are behind: make sure the stream was not trimmed past us.
        if (raw.length === BATCH && (await bounded(s.trimmedAfter(this.#cursor, this.#conn), 2000))) host.gap({ reason: 'trimmed' })
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

  async close(): Promise<void> {
    this.#markReady()
    this.#conn.disconnect()
    await this.#loop.catch(() => {})
  }
}
