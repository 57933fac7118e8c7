/**
 * Redis pub/sub compatibility source: for apps that already announce changes with `PUBLISH`
 * (a change monitor publishing JSON on `seller_changes`). Every message is one JSON event
 * envelope, or anything `toEvent` maps to one; the processor's rules turn it into
 * invalidations.
 *
 * Pub/sub is at-most-once: a message published while this source is disconnected is lost,
 * and nothing says which. So, as the PostgreSQL listener does for NOTIFY, the source tells the
 * core to distrust L1 for the tenants it serves (`cache.distrust`) as soon as the connection
 * drops, reconnects with backoff (core/backoff.ts), and distrusts once more each time it is
 * subscribed (loads that ran during the gap may have read what the lost messages changed; on
 * the first subscription, L1 may hold entries older than messages sent before it listened).
 * A connection that stays open but answers nothing (Redis hung, a half-open socket) sends no
 * close: a `PING` every `heartbeatMs` without an answer within it counts as lost too. A message that is not JSON, maps to no valid event or breaks a rule is counted
 * and reported (`stats().rejected`, `onError`, the `larder:events:processed` channel); it
 * never stops the source.
 * @module
 */
import { randomUUID } from 'node:crypto'
import type { Redis } from 'ioredis'
import type { Cache } from '../core/api.ts'
import { backoffDelay } from '../core/backoff.ts'
import { startHeartbeat } from '../core/heartbeat.ts'
import { channels as diagnostics } from '../core/diagnostics.ts'
import { LarderError } from '../core/errors.ts'
import { type ConnectionOptions, connect, isCluster, quit } from '../redis/connection.ts'
import type { EventProcessor } from './processor.ts'

export interface PubSubEventSourceOptions extends Omit<ConnectionOptions, 'cluster'> {
  /** Receives every event, in arrival order: an EventProcessor (or anything with `publish`). */
  processor: { publish(event: unknown): Promise<unknown> } | Pick<EventProcessor, 'publish'>
  cache: Pick<Cache, 'distrust'>
  /** Channel names (exact names, not patterns), e.g. `['seller_changes']`. */
  channels: readonly string[]
  /** Tenants this instance serves: distrusted after a disconnect. Default: all. */
  tenants?: readonly string[]
  /** Maps a parsed message to an event envelope (default: the message is the envelope). A throw rejects the message. */
  toEvent?: (message: unknown, channel: string) => unknown
  /** Larger messages are rejected unread. Default 256 KiB. */
  maxMessageBytes?: number
  /** Reconnect backoff: initial and maximum delay (full jitter). Defaults 100 ms, 5 s. */
  backoff?: { initialMs?: number; maxMs?: number }
  /**
   * A `PING` on this period notices a connection that stays open but silent (Redis hung, a
   * half-open socket): no answer within it counts as a lost connection (distrust, reconnect).
   * Default 10 s; 0 disables.
   */
  heartbeatMs?: number
  onError?: (err: unknown, context: string) => void
}

export interface PubSubEventSourceStats {
  connected: boolean
  received: number
  applied: number
  duplicates: number
  /** Messages that were not JSON, mapped to no valid event, or broke a rule. */
  rejected: number
  /** Valid events the processor could not take or apply (queue full, closed, cache failing): that tenant's L1 is distrusted. */
  failed: number
  reconnects: number
  distrusts: number
}

export interface PubSubEventSource {
  /** Resolves once the first SUBSCRIBE is active. */
  ready: Promise<void>
  stats(): PubSubEventSourceStats
  close(): Promise<void>
}

const NAME = /^[^\s*?[\]]{1,256}$/

export function createPubSubEventSource(options: PubSubEventSourceOptions): PubSubEventSource {
  const names = options.channels
  if (!Array.isArray(names) || names.length === 0 || !names.every((c) => typeof c === 'string' && NAME.test(c))) {
    throw new LarderError('E_INVALID_OPTION', 'createPubSubEventSource: channels must be a non-empty list of channel names (no spaces, no * ? [ ])')
  }
  if ((options as { cluster?: unknown }).cluster !== undefined || (options.client && isCluster(options.client))) {
    // PUBLISH on a cluster reaches every node, so one node's url is enough.
    throw new LarderError('E_INVALID_OPTION', 'createPubSubEventSource: give the url (or a client) of one node; a cluster broadcasts PUBLISH to every node')
  }
  const { processor, cache, tenants, toEvent } = options
  const maxBytes = options.maxMessageBytes ?? 256 * 1024
  const backoff = { initialMs: options.backoff?.initialMs ?? 100, maxMs: options.backoff?.maxMs ?? 5_000 }
  const onError = options.onError ?? (() => {})
  const heartbeatMs = options.heartbeatMs ?? 10_000
  // Reconnects use the shared backoff; we subscribe ourselves after each one, then distrust.
  const retryStrategy = (attempt: number) => backoffDelay(attempt, backoff, Math.random)
  const { client } = connect({ url: options.url, client: options.client, redisOptions: { ...options.redisOptions, retryStrategy, autoResubscribe: false } }, 'createPubSubEventSource')
  // A subscribed connection can run nothing else: a client we were given is duplicated.
  const sub = (options.client ? (client as Redis).duplicate({ retryStrategy, autoResubscribe: false }) : client) as Redis
  const s: PubSubEventSourceStats = { connected: false, received: 0, applied: 0, duplicates: 0, rejected: 0, failed: 0, reconnects: 0, distrusts: 0 }
  let closed = false
  let subscribedOnce = false
  let markReady: () => void
  const ready = new Promise<void>((r) => (markReady = r))

  function distrust(which: readonly string[] | undefined = tenants): void {
    s.distrusts++
    cache.distrust(which)
  }

  function reject(channel: string, err: unknown, tenant = '', type = ''): void {
    s.rejected++
    onError(err, `pubsub:${channel}`)
    if (diagnostics.event.hasSubscribers) diagnostics.event.publish({ tenant, type, outcome: 'rejected', durationMs: 0, error: err })
  }

  function toEnvelope(channel: string, message: string): unknown {
    const bytes = Buffer.byteLength(message)
    if (bytes > maxBytes) throw new LarderError('E_INVALID_EVENT', `message on ${channel} is ${bytes} bytes; the limit is ${maxBytes}`, { details: { field: '(message)' } })
    let parsed: unknown
    try {
      parsed = JSON.parse(message)
    } catch (err) {
      throw new LarderError('E_INVALID_EVENT', `message on ${channel} is not JSON: ${(err as Error).message}`, { cause: err, details: { field: '(message)' } })
    }
    const event = toEvent ? toEvent(parsed, channel) : parsed
    // Pub/sub messages carry no id of their own; each delivery is a new event.
    if (event !== null && typeof event === 'object' && !Array.isArray(event) && (event as { id?: unknown }).id === undefined) return { ...event, id: `pubsub:${channel}:${randomUUID()}` }
    return event
  }

  function handle(channel: string, message: string): void {
    if (closed) return
    s.received++
    let event: unknown
    try {
      event = toEnvelope(channel, message)
    } catch (err) {
      reject(channel, err)
      return
    }
    // publish() queues synchronously (arrival order is kept) and validates before it applies.
    processor.publish(event).then(
      (r) => {
        if ((r as { outcome?: string } | undefined)?.outcome === 'duplicate') s.duplicates++
        else s.applied++
      },
      (err) => {
        const tenant = (event as { tenant?: unknown }).tenant
        if (err instanceof LarderError && err.code !== 'E_INVALID_EVENT' && typeof tenant === 'string') {
          // A valid event the cache could not apply: lost like a dropped message.
          s.failed++
          onError(err, `pubsub:${channel}`)
          distrust([tenant])
          return
        }
        reject(channel, err, typeof tenant === 'string' ? tenant : '')
      },
    )
  }

  async function subscribe(): Promise<void> {
    try {
      await sub.subscribe(...names)
    } catch (err) {
      if (closed) return
      onError(err, 'pubsub:subscribe')
      // Drop this connection; ioredis reconnects (with backoff) and we try again on 'ready'.
      sub.disconnect(true)
      return
    }
    if (closed) return
    s.connected = true
    if (subscribedOnce) s.reconnects++
    subscribedOnce = true
    // What was published before this subscription (the first: before we started; later: while
    // we were away, or read by loads during the gap) is unknown: L1 may hold what it changed.
    distrust()
    markReady()
  }

  function lost(): void {
    if (!s.connected) return
    s.connected = false
    // Whatever is published from now on may never reach us: stop trusting L1 right away.
    if (!closed) distrust()
  }

  // PING is allowed on a subscribed connection; an answer that does not come in time is a loss
  // (a failed PING is not: the connection's own error and close events report that).
  const stopHeartbeat =
    heartbeatMs > 0
      ? startHeartbeat(
          heartbeatMs,
          () => (closed || !s.connected ? undefined : sub.ping().catch(() => {})),
          (err) => {
            onError(new LarderError('E_STORE_TIMEOUT', `pub/sub ${err.message}`), 'pubsub:connection')
            lost()
            // Drop the silent socket; ioredis reconnects with backoff and we subscribe on 'ready'.
            sub.disconnect(true)
          },
        )
      : undefined

  sub.on('message', handle)
  sub.on('ready', () => void subscribe())
  sub.on('close', lost)
  sub.on('error', (err: unknown) => onError(err, 'pubsub:connection'))
  if (sub.status === 'ready') void subscribe()

  return {
    ready,
    stats: () => ({ ...s }),
    async close() {
      if (closed) return
      closed = true
      stopHeartbeat?.()
      markReady()
      s.connected = false
      await quit(sub)
    },
  }
}
