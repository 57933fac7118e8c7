/**
 * PostgreSQL change capture, the Larder side: LISTENs on the trigger's channel and hands
 * every envelope to the event processor.
 *
 * NOTIFY is not durable: a notification sent while the listener is disconnected is lost.
 * So after a disconnect the listener (1) tells the core to distrust L1 for the tenants it
 * serves (`cache.distrust`) as soon as the connection drops and again once LISTEN is back,
 * and (2) replays the trigger's outbox table for the time it was away (plus a margin for
 * transactions that committed late); replayed events carry their original ids, so the
 * processor drops the ones it already applied.
 *
 * Works with `pg` (give `connect`, a factory, so it can reconnect with backoff) and with
 * PGlite (give `client`: in-process, it never disconnects).
 * @module
 */
import type { Cache } from '../core/api.ts'
import { backoffDelay } from '../core/backoff.ts'
import { startHeartbeat } from '../core/heartbeat.ts'
import { LarderError } from '../core/errors.ts'
import type { EventProcessor } from './processor.ts'
import { DEFAULT_CHANNEL, DEFAULT_OUTBOX, type SqlClient } from './pg-trigger.ts'

/** The part of a `pg` Client the listener uses. */
export interface PgClientLike extends SqlClient {
  on(event: 'notification', fn: (msg: { channel: string; payload?: string }) => void): unknown
  on(event: 'error', fn: (err: Error) => void): unknown
  on(event: 'end', fn: () => void): unknown
  end(): Promise<void>
}

/** The part of PGlite the listener uses. */
export interface PgliteLike extends SqlClient {
  listen(channel: string, fn: (payload: string) => void): Promise<(() => Promise<void>) | (() => void)>
}

export interface PgListenerOptions {
  /**
   * Receives every envelope, called in arrival order (its result is not used): an
   * EventProcessor, or a wrapper that also reads the caller's own messages.
   */
  processor: { publish(event: unknown): Promise<unknown> } | Pick<EventProcessor, 'publish'>
  cache: Pick<Cache, 'distrust' | 'tenant'>
  /** Default `larder_events`. */
  channel?: string
  /** `pg`: opens a new connected client; called again after every disconnect. */
  connect?: () => Promise<PgClientLike>
  /** PGlite (or one pg client that the caller owns; no reconnect then). */
  client?: PgliteLike | PgClientLike
  /** Tenants this instance serves: distrusted after a disconnect. Default: all. */
  tenants?: readonly string[]
  /** Outbox table to replay after a reconnect, or false. Default `larder_outbox`. */
  outbox?: string | false
  /** Replay reaches this far before the disconnect (late commits). Default 30 s. */
  replayMarginMs?: number
  /** Outbox rows older than this are deleted (by this listener, every `pruneEveryMs`). Default 1 h. */
  outboxRetentionMs?: number
  pruneEveryMs?: number
  /** Reconnect backoff: initial and maximum delay (full jitter). Defaults 100 ms, 5 s. */
  backoff?: { initialMs?: number; maxMs?: number }
  /** A `SELECT 1` on this period notices a dead connection that sent no FIN. Default 10 s; 0 disables. */
  heartbeatMs?: number
  onError?: (err: unknown, context: string) => void
}

export interface PgListenerStats {
  connected: boolean
  received: number
  replayed: number
  rejected: number
  reconnects: number
  distrusts: number
}

export interface PgListener {
  /** Resolves once the first LISTEN is active. */
  ready: Promise<void>
  stats(): PgListenerStats
  close(): Promise<void>
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

function isPglite(c: unknown): c is PgliteLike {
  return typeof (c as PgliteLike).listen === 'function'
}

export function createPgListener(options: PgListenerOptions): PgListener {
  const channel = options.channel ?? DEFAULT_CHANNEL
  if (!IDENT.test(channel)) throw new LarderError('E_INVALID_OPTION', `channel "${channel}" must be a plain SQL identifier`)
  if (!options.connect && !options.client) throw new LarderError('E_INVALID_OPTION', 'createPgListener needs connect (pg) or client (PGlite)')
  const outbox = options.outbox === undefined ? DEFAULT_OUTBOX : options.outbox
  if (outbox !== false && !outbox.split('.').every((p) => IDENT.test(p))) throw new LarderError('E_INVALID_OPTION', `outbox "${outbox}" must be table or schema.table`)
  const outboxSql = outbox === false ? undefined : outbox.split('.').map((p) => `"${p}"`).join('.')
  const margin = options.replayMarginMs ?? 30_000
  const retention = options.outboxRetentionMs ?? 3_600_000
  const initial = options.backoff?.initialMs ?? 100
  const maxDelay = options.backoff?.maxMs ?? 5_000
  const heartbeatMs = options.heartbeatMs ?? 10_000
  const onError = options.onError ?? (() => {})
  const { processor, cache } = options
  const s: PgListenerStats = { connected: false, received: 0, replayed: 0, rejected: 0, reconnects: 0, distrusts: 0 }
  let closed = false
  let client: PgClientLike | PgliteLike | undefined
  let unlisten: (() => unknown) | undefined
  let timer: NodeJS.Timeout | undefined
  let stopHeartbeat: (() => void) | undefined
  let pruner: NodeJS.Timeout | undefined
  let attempt = 0
  /** Wall-clock ms when the connection dropped (replay from here minus the margin). */
  let lostAt: number | undefined

  function distrust(): void {
    s.distrusts++
    cache.distrust(options.tenants)
  }

  async function handle(payload: string | undefined, replay: boolean): Promise<void> {
    if (replay) s.replayed++
    else s.received++
    let event: { tenant?: unknown; data?: { overflow?: unknown } }
    try {
      event = JSON.parse(payload ?? '')
    } catch (err) {
      s.rejected++
      return onError(new LarderError('E_INVALID_EVENT', `notification on ${channel} is not JSON`, { cause: err }), 'pg:payload')
    }
    try {
      await processor.publish(event)
      // A value too long to send: that tenant's change is unknown, drop all it cached.
      if (event.data?.overflow === true && typeof event.tenant === 'string') await cache.tenant(event.tenant).clear()
    } catch (err) {
      s.rejected++
      onError(err, 'pg:publish')
    }
  }

  async function replay(c: SqlClient, since: number): Promise<void> {
    if (!outboxSql) return
    const { rows } = await c.query(`SELECT payload FROM ${outboxSql} WHERE channel = $1 AND at >= to_timestamp($2::double precision / 1000) ORDER BY seq`, [channel, since - margin])
    // handle() hands each event to the processor synchronously, so outbox order is kept.
    await Promise.all((rows as { payload: string }[]).map((row) => handle(row.payload, true)))
  }

  function lost(c: PgClientLike, err?: unknown): void {
    if (client !== c) return
    client = undefined
    s.connected = false
    lostAt ??= Date.now()
    stopHeartbeat?.()
    if (err) onError(err, 'pg:connection')
    c.end().catch(() => {})
    if (closed) return
    // Whatever changed from now on may never reach us: stop trusting L1 right away.
    distrust()
    schedule()
  }

  function schedule(): void {
    if (closed || timer) return
    // The first retry is immediate; then exponential backoff with full jitter.
    const delay = attempt === 0 ? 0 : backoffDelay(attempt, { initialMs: initial, maxMs: maxDelay }, Math.random)
    attempt++
    timer = setTimeout(() => {
      timer = undefined
      connect().catch((err) => {
        onError(err, 'pg:connect')
        schedule()
      })
    }, delay)
  }

  async function connect(): Promise<void> {
    const c = await (options.connect as () => Promise<PgClientLike>)()
    if (closed) {
      await c.end().catch(() => {})
      return
    }
    c.on('error', (err) => lost(c, err))
    c.on('end', () => lost(c))
    c.on('notification', (msg) => {
      if (msg.channel === channel && client === c) void handle(msg.payload, false)
    })
    client = c
    try {
      await c.query(`LISTEN "${channel}"`)
    } catch (err) {
      lost(c, err)
      throw err
    }
    const wasLost = lostAt
    s.connected = true
    attempt = 0
    if (wasLost !== undefined) {
      s.reconnects++
      // LISTEN is active again: replay what the outbox holds for the gap, then distrust once
      // more (loads that ran during the gap may have read rows whose notifications we missed).
      await replay(c, wasLost)
      lostAt = undefined
      distrust()
    }
    if (heartbeatMs > 0) stopHeartbeat = startHeartbeat(heartbeatMs, () => c.query('SELECT 1'), (err) => lost(c, err))
  }

  async function start(): Promise<void> {
    if (options.client) {
      const c = options.client
      client = c
      if (isPglite(c)) unlisten = await c.listen(channel, (payload) => void handle(payload, false))
      else {
        c.on('notification', (msg) => {
          if (msg.channel === channel) void handle(msg.payload, false)
        })
        c.on('error', (err) => {
          s.connected = false
          onError(err, 'pg:connection')
          distrust()
        })
        await c.query(`LISTEN "${channel}"`)
      }
      s.connected = true
      return
    }
    await connect()
  }

  if (outboxSql && retention > 0) {
    pruner = setInterval(() => {
      const c = client
      if (!c || !s.connected) return
      c.query(`DELETE FROM ${outboxSql} WHERE at < now() - make_interval(secs => $1::double precision / 1000)`, [retention]).catch((err) => onError(err, 'pg:prune'))
    }, options.pruneEveryMs ?? 60_000)
    pruner.unref()
  }

  const ready = start()
  ready.catch((err) => {
    onError(err, 'pg:connect')
    if (options.connect && !closed) schedule()
  })

  return {
    ready,
    stats: () => ({ ...s }),
    async close() {
      closed = true
      if (timer) clearTimeout(timer)
      stopHeartbeat?.()
      if (pruner) clearInterval(pruner)
      timer = undefined
      await Promise.resolve(unlisten?.()).catch(() => {})
      const c = client
      client = undefined
      s.connected = false
      // A client the caller gave us stays theirs; one we opened is ours to end.
      if (c && options.connect && !isPglite(c)) await (c as PgClientLike).end().catch(() => {})
      else if (c && !isPglite(c)) await c.query(`UNLISTEN "${channel}"`).catch(() => {})
    },
  }
}
