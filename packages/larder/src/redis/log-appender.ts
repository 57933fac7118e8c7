/**
 * The appending half of `RedisLog` for one stream: the APPEND script (ids from the server
 * clock, dedup token), the optional `WAIT` for replicas, and the queue of appends made
 * while Redis could not take them (provisional local ids, replayed in order with the same
 * token once it answers again). See log.ts.
 * @module
 */
import { type TimerClock, systemClock } from '../core/clock.ts'
import { channels } from '../core/diagnostics.ts'
import { LarderError } from '../core/errors.ts'
import type { LogAppend, LogEntry } from '../core/types.ts'
import type { Breaker } from './breaker.ts'
import { isCluster, type RedisClient } from './connection.ts'
import type { LogStream } from './log-stream.ts'
import { nodeFor } from './slot.ts'

/** What every stream's appender shares with the log. */
export interface AppendHost {
  readonly client: RedisClient
  readonly breaker: Breaker
  readonly clock: TimerClock
  readonly maxLen: number
  readonly queueLimit: number
  readonly waitReplicas: number
  readonly waitMs: number
  /** Appends waiting for replay in all streams. */
  queued(): number
  /** Notes a batch this instance appended (its reader skips it when read back). */
  remember(token: string, count: number): void
  /** Delivers entries to this process's subscribers. */
  deliver(entries: readonly LogEntry[]): void
  closed(): boolean
  /** False until the partition count is known to be the fleet's: nothing is sent before. */
  pinned(): boolean
}

interface Queued {
  inputs: LogAppend[]
  entries: LogEntry[]
  token: string
}

interface AppendCommand {
  larderAppend(n: number, ...args: (string | number)[]): Promise<string>
}

export class LogAppender {
  readonly #host: AppendHost
  readonly #stream: LogStream
  readonly #queue: Queued[] = []
  #queued = 0
  #replaying = false
  #replayTimer: unknown

  constructor(host: AppendHost, stream: LogStream) {
    this.#host = host
    this.#stream = stream
  }

  /** Appends waiting for Redis in this stream. */
  get queued(): number {
    return this.#queued
  }

  /** Appends a batch (sent when `send`, else queued with provisional ids). */
  async append(batch: LogAppend[], token: string, send = true): Promise<LogEntry[]> {
    const host = this.#host
    // While older appends wait for replay, newer ones queue behind them (order).
    if (send && this.#queue.length === 0 && host.breaker.available()) {
      const started = performance.now()
      try {
        // Registered before sending: our reader may see the entries before this reply.
        host.remember(token, batch.length)
        const entries = await host.breaker.run('append', () => this.#send(batch, token, batch.map(() => 0)))
        if (channels.log.hasSubscribers) channels.log.publish({ op: 'append', durationMs: performance.now() - started })
        host.deliver(entries)
        return entries
      } catch {
        // Fall through: queue with a provisional id. The command may still land later;
        // the replay reuses its dedup token, so it is never appended twice.
      }
    }
    return this.#provisional(batch, token)
  }

  async #send(batch: readonly LogAppend[], token: string, mins: readonly number[]): Promise<LogEntry[]> {
    const host = this.#host
    const s = this.#stream
    const args: string[] = []
    for (let i = 0; i < batch.length; i++) args.push(String(mins[i]), JSON.stringify(batch[i]))
    const k = s.keys
    const res: string = await (host.client as unknown as AppendCommand).larderAppend(4, k.stream, k.seq, k.since, k.dedup + token, host.maxLen, 600_000, token, ...args)
    if (host.waitReplicas > 0) {
      // WAIT counts the replicas that acknowledged this connection's writes. In a Cluster
      // it must go to the connection of the node that owns the stream's slot.
      const conn = isCluster(host.client) ? nodeFor(host.client, k.stream) : host.client
      const acked = (await conn.call('WAIT', host.waitReplicas, host.waitMs)) as number
      if (acked < host.waitReplicas) throw new LarderError('E_LOG_UNAVAILABLE', `append reached ${acked} of ${host.waitReplicas} replicas within ${host.waitMs} ms`)
    }
    const [idText, atText, sinceText] = res.split('|') as [string, string, string]
    const at = Number(atText)
    const ids = idText.split(',').map(Number)
    // The appender learns the run id too: a restart right after our first append is still seen.
    if (s.since === null || s.since === undefined) s.since = Number(sinceText)
    return batch.map((input, i) => {
      const id = ids[i] as number
      s.saw(id)
      return { ...input, id, at }
    })
  }

  #provisional(batch: LogAppend[], token: string): LogEntry[] {
    const host = this.#host
    if (host.queued() + batch.length > host.queueLimit) {
      throw new LarderError('E_QUEUE_FULL', `Redis log unreachable and ${host.queued()} appends already wait for replay (queueLimit ${host.queueLimit})`)
    }
    const now = host.clock.now()
    const s = this.#stream
    const entries = batch.map((input) => {
      const id = Math.max(s.last + 1, now * 1000)
      s.last = id
      return { ...input, id, at: now }
    })
    host.remember(token, batch.length)
    this.#queue.push({ inputs: batch, entries, token })
    this.#queued += batch.length
    host.deliver(entries)
    this.scheduleReplay(host.breaker.available() ? 0 : 250)
    // The caller learns the entry is not in the shared log yet (only what append returns says so).
    return entries.map((e) => ({ ...e, queued: true as const }))
  }

  scheduleReplay(ms: number): void {
    if (this.#host.closed() || this.#queue.length === 0 || this.#replaying || this.#replayTimer) return
    if (!this.#host.pinned()) ms = Math.max(ms, 250)
    // A retry of a network call: real time (see the clock option).
    this.#replayTimer = systemClock.setTimeout(() => {
      this.#replayTimer = undefined
      void this.#replay()
    }, ms)
  }

  /** Sends queued appends in order; the replayed ids are at least the provisional ones. */
  async #replay(): Promise<void> {
    if (this.#replaying || this.#host.closed()) return
    this.#replaying = true
    try {
      while (this.#queue.length > 0 && !this.#host.closed()) {
        if (!this.#host.pinned()) throw new LarderError('E_LOG_UNAVAILABLE', 'partition count not checked yet')
        const q = this.#queue[0] as Queued
        await this.#host.breaker.run('replay', () =>
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
      this.scheduleReplay(250)
      return
    }
    this.#replaying = false
  }

  close(): void {
    systemClock.clearTimeout(this.#replayTimer)
  }
}
