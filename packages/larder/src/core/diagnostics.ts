/**
 * Diagnostics channels. The core, stores, log, HTTP layer and SSE hub publish here;
 * exporters (larder/metrics) and the dashboard only subscribe. Publishing costs almost
 * nothing when nobody listens (`channel.hasSubscribers` is checked first).
 * @module
 */
import diagnostics_channel from 'node:diagnostics_channel'

export const channels = {
  /** { tenant, key, layer: 'l1'|'l2', stale: boolean } */
  hit: diagnostics_channel.channel('larder:cache:hit'),
  /** { tenant, key } */
  miss: diagnostics_channel.channel('larder:cache:miss'),
  /** { tenant, key, durationMs, error?: unknown, timedOut?: boolean, background: boolean } */
  load: diagnostics_channel.channel('larder:cache:load'),
  /** { tenant, key, layer, accepted: boolean } */
  set: diagnostics_channel.channel('larder:cache:set'),
  /** { entry: LogEntry, local: boolean } */
  invalidate: diagnostics_channel.channel('larder:cache:invalidate'),
  /**
   * { tenant, key, layer, silentMs } — a value served without the log's confirmation: the log
   * was not heard for longer than maxStaleness and neither L2 nor the loader could answer
   */
  unverified: diagnostics_channel.channel('larder:cache:unverified'),
  /** { key, reason: 'evict'|'expire'|'size', layer: 'l1' } */
  evict: diagnostics_channel.channel('larder:cache:evict'),
  /** { gap: LogGap } — the L1 was flushed or re-validated because of a log gap */
  gap: diagnostics_channel.channel('larder:log:gap'),
  /**
   * { reachable: boolean, silentMs, maxStalenessMs } — the log's reader passed (or came back
   * within) the smallest maxStaleness without confirming it is caught up; noticed on reads
   */
  health: diagnostics_channel.channel('larder:log:health'),
  /** { op, durationMs, error?: unknown } — L2 (Redis) call */
  store: diagnostics_channel.channel('larder:store:op'),
  /** { op, durationMs, lagMs? } — log append/read */
  log: diagnostics_channel.channel('larder:log:op'),
  /** { name, state: 'closed'|'open'|'half-open' } */
  breaker: diagnostics_channel.channel('larder:breaker'),
  /** { tenant, status: 'HIT'|'MISS'|'STALE'|'BYPASS'|'REVALIDATED'|'EXPIRED', route?: string, durationMs } */
  http: diagnostics_channel.channel('larder:http:response'),
  /** { tenant, event: 'open'|'close'|'drop'|'send', count?: number, reason?: string } */
  sse: diagnostics_channel.channel('larder:sse'),
  /** { tenant, type, outcome: 'applied'|'rejected'|'duplicate'|'parked', durationMs, error? } */
  event: diagnostics_channel.channel('larder:events:processed'),
  /** { tenant, count, windowMs, mode } — a tenant passed the invalidation storm threshold */
  storm: diagnostics_channel.channel('larder:events:storm'),
  /** { plan, done, total, loaded, skipped, failed } */
  warm: diagnostics_channel.channel('larder:warm:progress'),
} as const

export type ChannelName = keyof typeof channels
