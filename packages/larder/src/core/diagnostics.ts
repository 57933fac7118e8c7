/**
 * Diagnostics channels. The core, stores, log, HTTP layer and SSE hub publish here;
 * exporters (larder/metrics) and the dashboard only subscribe. Publishing costs almost
 * nothing when nobody listens (`channel.hasSubscribers` is checked first).
 *
 * Every channel's payload is declared once below (`ChannelPayloads`): publishers are type
 * checked against it and subscribers receive it typed, so listeners do not re-check fields
 * the library itself wrote. What a payload carries from outside (tenant ids, keys, routes,
 * event types) is still user text: bound it before using it as a label.
 * @module
 */
import diagnostics_channel from 'node:diagnostics_channel'
import type { LogEntry, LogGap } from './types.ts'

/** The payload of each channel (the key is the name in `channels`). */
export interface ChannelPayloads {
  /** A read answered from a tier (a stale serve too). */
  hit: { tenant: string; key: string; layer: 'l1' | 'l2'; stale: boolean }
  /** A read no tier could answer. */
  miss: { tenant: string; key: string }
  /** A loader finished (error: what it threw; timedOut: past its hard timeout). */
  load: { tenant: string; key: string; durationMs: number; error?: unknown; timedOut?: boolean; background: boolean }
  /** A write into a tier; accepted false when a shared store refused a versioned write. */
  set: { tenant: string; key: string; layer: 'l1' | 'l2'; accepted: boolean }
  /** A log entry applied (local: this instance appended it; purged: L1 entries it removed). */
  invalidate: { entry: LogEntry; local: boolean; purged?: number }
  /**
   * A value served without the log's confirmation: the log was not heard for longer than
   * maxStaleness and neither L2 nor the loader could answer.
   */
  unverified: { tenant: string; key: string; layer: 'l1' | 'l2'; silentMs: number }
  /** An entry dropped by L1 (key: the qualified key). */
  evict: { key: string; reason: 'evict' | 'expire' | 'size'; layer: 'l1' }
  /** The L1 was flushed or re-validated because of a log gap. */
  gap: { gap: LogGap }
  /**
   * The log's reader passed (or came back within) the smallest maxStaleness without
   * confirming it is caught up; noticed on reads.
   */
  health: { reachable: boolean; silentMs: number; maxStalenessMs: number }
  /** An L2 (Redis) call. */
  store: { op: string; durationMs: number; error?: unknown }
  /** A log append or read (lagMs: age of the newest entry read). */
  log: { op: string; durationMs: number; lagMs?: number; error?: unknown }
  /** A circuit breaker changed state. */
  breaker: { name: string; state: 'closed' | 'open' | 'half-open' }
  /** An HTTP cache response. */
  http: { tenant: string; status: 'HIT' | 'MISS' | 'STALE' | 'BYPASS' | 'REVALIDATED' | 'EXPIRED'; route?: string; durationMs: number }
  /** An SSE stream opened, closed, was dropped (reason), or `count` streams were sent an event. */
  sse: { tenant: string; event: 'open' | 'close' | 'drop' | 'send'; count?: number; reason?: string }
  /** A domain event processed. */
  event: { tenant: string; type: string; outcome: 'applied' | 'rejected' | 'duplicate' | 'parked'; durationMs: number; error?: unknown }
  /** A tenant passed the invalidation storm threshold (the processor's `StormAlert`). */
  storm: { tenant: string; count: number; threshold: number; windowMs: number; mode: 'alert' | 'generation' }
  /** Progress of a warm plan's run. */
  warm: { plan: string; done: number; total: number; loaded: number; skipped: number; failed: number; state: 'running' | 'done' }
}

/** A diagnostics channel whose payload type is declared. */
export interface TypedChannel<T> {
  readonly name: string | symbol
  readonly hasSubscribers: boolean
  publish(message: T): void
  subscribe(listener: (message: T, name: string | symbol) => void): void
  unsubscribe(listener: (message: T, name: string | symbol) => void): boolean
}

const channel = <K extends keyof ChannelPayloads>(name: string) => diagnostics_channel.channel(name) as unknown as TypedChannel<ChannelPayloads[K]>

export const channels: { readonly [K in keyof ChannelPayloads]: TypedChannel<ChannelPayloads[K]> } = {
  hit: channel<'hit'>('larder:cache:hit'),
  miss: channel<'miss'>('larder:cache:miss'),
  load: channel<'load'>('larder:cache:load'),
  set: channel<'set'>('larder:cache:set'),
  invalidate: channel<'invalidate'>('larder:cache:invalidate'),
  unverified: channel<'unverified'>('larder:cache:unverified'),
  evict: channel<'evict'>('larder:cache:evict'),
  gap: channel<'gap'>('larder:log:gap'),
  health: channel<'health'>('larder:log:health'),
  store: channel<'store'>('larder:store:op'),
  log: channel<'log'>('larder:log:op'),
  breaker: channel<'breaker'>('larder:breaker'),
  http: channel<'http'>('larder:http:response'),
  sse: channel<'sse'>('larder:sse'),
  event: channel<'event'>('larder:events:processed'),
  storm: channel<'storm'>('larder:events:storm'),
  warm: channel<'warm'>('larder:warm:progress'),
}

/**
 * Start/end events around the operations a trace span covers (node:diagnostics_channel
 * tracing channels: `tracing:larder:<name>:start|end|asyncStart|asyncEnd|error`). larder/tracing
 * turns them into OpenTelemetry spans; anything else may subscribe too. Publishers check
 * `hasSubscribers` first and call the operation directly when nobody listens, so the
 * context object is not even built then.
 */
export interface TracePayloads {
  /** A request the gateway answers (res: its status at the end; the cache status arrives on `http`). */
  request: { method: string; target: string; res: { readonly statusCode: number; readonly headersSent: boolean } }
  /** An origin load: a loader call (`loader`) or the gateway's origin fetch for the cache (`origin`). */
  load: { tenant: string; key: string; background: boolean; source: 'loader' | 'origin' }
  /** An L2 / Redis call under a breaker (name: the breaker's, e.g. `redis-store`, `redis-log`). */
  store: { op: string; name: string }
  /** An append of `count` entries to the invalidation log. */
  append: { tenant: string; kind: string; count: number }
  /** A domain event (or a batch of `count`) through the processor, until applied; result: its EventResult(s). */
  event: { tenant: string; type: string; count: number }
}

/** A tracing channel whose context type is declared (result/error are set by the channel). */
export type TypedTracingChannel<C extends object> = diagnostics_channel.TracingChannel<unknown, C & { result?: unknown; error?: unknown }>

const tracing = <K extends keyof TracePayloads>(name: string) => diagnostics_channel.tracingChannel(`larder:${name}`) as TypedTracingChannel<TracePayloads[K]>

export const traces: { readonly [K in keyof TracePayloads]: TypedTracingChannel<TracePayloads[K]> } = {
  request: tracing<'request'>('request'),
  load: tracing<'load'>('load'),
  store: tracing<'store'>('store'),
  append: tracing<'append'>('append'),
  event: tracing<'event'>('event'),
}
