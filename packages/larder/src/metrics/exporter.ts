/**
 * The Prometheus exporter. It only subscribes to the diagnostics channels of
 * core/diagnostics.ts (docs/invariants.md, P5: the core publishes, exporters listen), so a process
 * without metrics pays nothing. Every label is bounded: tenants, routes and event types
 * fold into `other` past their limit; keys are reduced to configured literal-prefix groups.
 * @module
 */
import { Gauge, Registry } from 'prom-client'
import { type Authorizer, requireScope } from '../core/auth.ts'
import { type ChannelPayloads, channels } from '../core/diagnostics.ts'
import { LarderError } from '../core/errors.ts'
import { type LarderRoute, sendError } from '../core/route.ts'
import { FastCounter, FastHistogram } from './cells.ts'
import { BoundedLabel, type KeyGroup, keyGrouper } from './labels.ts'
import { TenantLabel } from './tenant-label.ts'

export interface MetricsOptions {
  /** Registry to register into (default: a new one). */
  registry?: Registry
  /** Literal key prefixes that become the `group` label; other keys are `other`. */
  keyGroups?: readonly KeyGroup[]
  /** How many tenants get their own `tenant` label; later ones fold into `other`. Default 20. */
  tenantLabelLimit?: number
  /** Distinct `route` (HTTP) and `type` (events) label values. Default 50. */
  otherLabelLimit?: number
  /** Metric name prefix. Default `larder_`. */
  prefix?: string
  /** Source of the entries/bytes gauges, read at scrape time (e.g. `() => cache.stats()`). */
  stats?: () => { entries: number; bytes: number; lastLogId?: number }
  /** When given, GET /metrics needs a token with `read:stats` (or `admin`). */
  auth?: Authorizer
  /** Path served by `route`. Default `/metrics`. */
  path?: string
}

export interface Metrics {
  readonly registry: Registry
  readonly route: LarderRoute
  /** Text exposition of the registry (what GET /metrics answers). */
  scrape(): Promise<string>
  /** Unsubscribes from every channel and removes the metrics from the registry. */
  close(): void
}

/** Seconds buckets from 0.5 ms to 10 s: cache hits sit at the bottom, origin loads at the top. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const BREAKER_STATE: Record<ChannelPayloads['breaker']['state'], number> = { closed: 0, 'half-open': 1, open: 2 }
const PREFIX = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/

function seconds(ms: number): number {
  return ms >= 0 ? ms / 1000 : 0
}

export function createMetrics(options: MetricsOptions = {}): Metrics {
  const prefix = options.prefix ?? 'larder_'
  if (!PREFIX.test(prefix)) throw new LarderError('E_INVALID_OPTION', `metrics prefix "${prefix}" is not a valid Prometheus name prefix`)
  const tenantLimit = options.tenantLabelLimit ?? 20
  const otherLimit = options.otherLabelLimit ?? 50
  for (const [name, v] of [
    ['tenantLabelLimit', tenantLimit],
    ['otherLabelLimit', otherLimit],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) throw new LarderError('E_INVALID_OPTION', `${name} must be a non-negative integer`)
  }
  const registry = options.registry ?? new Registry()
  const registers = [registry]
  const group = keyGrouper(options.keyGroups ?? [])
  // A tenant gets its label on a hit or a stored entry only (metrics/tenant-label.ts).
  const tenants = new TenantLabel(tenantLimit)
  const routes = new BoundedLabel(otherLimit)
  const eventTypes = new BoundedLabel(otherLimit)
  const names = new BoundedLabel(otherLimit)
  const n = (s: string) => prefix + s
  const owned: string[] = []
  const counter = (name: string, help: string, labelNames: readonly string[]) => {
    const c = new FastCounter(n(name), help, labelNames)
    registry.registerMetric(c as never)
    owned.push(c.name)
    return c
  }
  const histogram = (name: string, help: string, labelNames: readonly string[]) => {
    const h = new FastHistogram(n(name), help, labelNames, BUCKETS)
    registry.registerMetric(h as never)
    owned.push(h.name)
    return h
  }
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], collect?: (this: Gauge<L>) => void) => {
    owned.push(n(name))
    return new Gauge<L>({ name: n(name), help, labelNames, registers, ...(collect ? { collect } : {}) })
  }

  const hits = counter('cache_hits_total', 'Reads answered from a cache tier (stale serves included).', ['tenant', 'layer', 'group'])
  const stale = counter('cache_stale_serves_total', 'Reads answered with a stale value (grace, stale-while-revalidate, stale-if-error).', ['tenant', 'layer', 'group'])
  const unverified = counter('cache_unverified_serves_total', 'Values served without the invalidation log\'s confirmation: the log was unreachable past maxStaleness and neither L2 nor the loader answered (also counted as stale serves).', ['tenant'])
  const misses = counter('cache_misses_total', 'Reads no tier could answer.', ['tenant', 'group'])
  const loads = histogram('cache_load_duration_seconds', 'Loader (origin) durations.', ['group', 'outcome', 'background'])
  const sets = counter('cache_sets_total', 'Writes into a tier; accepted="false" for versioned writes a shared store refused.', ['layer', 'accepted'])
  const evictions = counter('cache_evictions_total', 'Entries dropped by L1 for room or expiry.', ['layer', 'reason'])
  const invalidations = counter('invalidations_total', 'Invalidation-log entries applied, by kind; origin="local" when this instance appended them.', [
    'tenant',
    'kind',
    'origin',
  ])
  const gaps = counter('log_gaps_total', 'Times L1 was flushed or re-validated because the invalidation log had a gap.', ['reason'])
  const storeOps = histogram('store_op_duration_seconds', 'L2 (shared store) call durations.', ['op', 'outcome'])
  const logOps = histogram('log_op_duration_seconds', 'Invalidation-log call durations.', ['op', 'outcome'])
  const logLag = gauge('log_lag_seconds', 'Delay between an invalidation being appended and this instance applying it (last seen).', [])
  const logReachable = gauge('log_reachable', 'Whether this instance heard its invalidation log within the smallest maxStaleness (1) or not (0), as last noticed by a read.', [])
  logReachable.set(1)
  const breaker = gauge('breaker_state', 'Circuit breaker state: 0 closed, 1 half-open, 2 open.', ['name'])
  const http = counter('http_responses_total', 'HTTP cache responses by cache status (HIT, MISS, STALE, BYPASS, REVALIDATED, EXPIRED).', ['tenant', 'status', 'route'])
  const httpTime = histogram('http_response_duration_seconds', 'HTTP cache response times by cache status.', ['status'])
  const sseConns = gauge('sse_connections', 'Open SSE connections.', ['tenant'])
  const sseOpened = counter('sse_connections_opened_total', 'SSE connections opened.', ['tenant'])
  const sseDrops = counter('sse_drops_total', 'SSE clients dropped for being too slow (buffer full) or erroring.', ['tenant'])
  const sseSent = counter('sse_events_sent_total', 'SSE events written to clients.', ['tenant'])
  const events = counter('events_processed_total', 'Domain events processed by outcome (applied, rejected, duplicate, parked).', ['tenant', 'type', 'outcome'])
  const eventTime = histogram('event_processing_duration_seconds', 'Domain event processing time.', ['outcome'])
  const storms = counter('invalidation_storms_total', 'Times a tenant passed the invalidation storm threshold (by default more than 1000 invalidations in a minute).', ['tenant', 'mode'])
  const warm = gauge('warm_items', 'Items of the current (or last) run of each warm plan, by state.', ['plan', 'state'])
  gauge('metrics_label_folded', 'Observations whose label value was folded into "other" (raise the limit if this grows).', ['label'], function () {
    this.set({ label: 'tenant' }, tenants.folded)
    this.set({ label: 'route' }, routes.folded)
    this.set({ label: 'type' }, eventTypes.folded)
  })
  const stats = options.stats
  if (stats) {
    gauge('cache_entries', 'Entries held by the in-process cache (L1).', [], function () {
      this.set(stats().entries)
    })
    gauge('cache_bytes', 'Approximate bytes held by the in-process cache (L1).', [], function () {
      this.set(stats().bytes)
    })
  }

  // Payloads are typed by core/diagnostics.ts (the library publishes them); only the user
  // text in them (tenants, keys, routes, event types, names) is bounded here.
  /** Open SSE connections per tenant id and the label they were opened under (bounded by the hub's connection limit). */
  const sseOpenLabels = new Map<string, { label: string; n: number }>()
  const handlers: { [K in keyof ChannelPayloads]: (m: ChannelPayloads[K]) => void } = {
    hit(m) {
      const t = tenants.admit(m.tenant)
      const g = group(m.key)
      hits.cell(t, m.layer, g).n++
      if (m.stale) stale.cell(t, m.layer, g).n++
    },
    miss: (m) => void misses.cell(tenants.get(m.tenant), group(m.key)).n++,
    unverified: (m) => void unverified.cell(tenants.get(m.tenant)).n++,
    health: (m) => logReachable.set(m.reachable ? 1 : 0),
    load(m) {
      const outcome = m.timedOut === true ? 'timeout' : m.error !== undefined ? 'error' : 'ok'
      loads.observe(loads.cell(group(m.key), outcome, m.background ? 'true' : 'false'), seconds(m.durationMs))
    },
    set(m) {
      if (m.accepted) tenants.admit(m.tenant)
      sets.cell(m.layer, m.accepted ? 'true' : 'false').n++
    },
    evict: (m) => void evictions.cell(m.layer, m.reason).n++,
    invalidate(m) {
      const kind = m.entry.kind === 'hard' || m.entry.kind === 'soft' || m.entry.kind === 'clear' ? m.entry.kind : 'other'
      invalidations.cell(tenants.get(m.entry.tenant), kind, m.local ? 'local' : 'remote').n++
    },
    gap: (m) => void gaps.cell(m.gap.reason).n++,
    store: (m) => storeOps.observe(storeOps.cell(names.get(m.op), m.error === undefined ? 'ok' : 'error'), seconds(m.durationMs)),
    log(m) {
      logOps.observe(logOps.cell(names.get(m.op), m.error === undefined ? 'ok' : 'error'), seconds(m.durationMs))
      if (m.lagMs !== undefined) logLag.set(Math.max(0, m.lagMs) / 1000)
    },
    breaker: (m) => breaker.set({ name: names.get(m.name) }, BREAKER_STATE[m.state]),
    http(m) {
      http.cell(tenants.get(m.tenant), m.status, routes.get(m.route ?? 'default')).n++
      httpTime.observe(httpTime.cell(m.status), seconds(m.durationMs))
    },
    sse(m) {
      const t = tenants.get(m.tenant)
      const count = m.count !== undefined && m.count > 0 ? m.count : 1
      switch (m.event) {
        case 'open': {
          // A connection is closed under the label it was opened with, even if its tenant was
          // admitted in between (tenant-label.ts): the gauge never goes negative.
          const o = sseOpenLabels.get(m.tenant)
          const label = o ? o.label : t
          sseOpenLabels.set(m.tenant, { label, n: (o?.n ?? 0) + 1 })
          sseConns.inc({ tenant: label })
          sseOpened.cell(t).n++
          break
        }
        case 'close': {
          const o = sseOpenLabels.get(m.tenant)
          sseConns.dec({ tenant: o ? o.label : t })
          if (o && --o.n <= 0) sseOpenLabels.delete(m.tenant)
          break
        }
        case 'drop':
          sseDrops.cell(t).n += count
          break
        case 'send':
          sseSent.cell(t).n += count
          break
      }
    },
    event(m) {
      events.cell(tenants.get(m.tenant), eventTypes.get(m.type), m.outcome).n++
      eventTime.observe(eventTime.cell(m.outcome), seconds(m.durationMs))
    },
    storm: (m) => void storms.cell(tenants.get(m.tenant), m.mode).n++,
    warm(m) {
      const plan = names.get(m.plan)
      for (const state of ['total', 'done', 'loaded', 'skipped', 'failed'] as const) warm.set({ plan, state }, m[state])
    },
  }
  const subscribed: (() => void)[] = []
  const subscribe = <K extends keyof ChannelPayloads>(name: K) => {
    const fn = handlers[name]
    // Another module may publish on the same channel name: whatever it sends must never
    // throw into the publisher (the read path), so a listener swallows on purpose.
    const listener = (m: ChannelPayloads[K]) => {
      try {
        fn(m)
      } catch {}
    }
    channels[name].subscribe(listener)
    subscribed.push(() => channels[name].unsubscribe(listener))
  }
  for (const name of Object.keys(handlers) as (keyof ChannelPayloads)[]) subscribe(name)

  const path = options.path ?? '/metrics'
  const auth = options.auth
  const route: LarderRoute = async (req, res, { url }) => {
    if (url.pathname !== path) return false
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      sendError(res, 'E_METHOD_NOT_ALLOWED', `${path} answers GET only`)
      return true
    }
    // Metrics cover every tenant: the token needs global read:stats (or admin).
    if (auth && !requireScope(req, res, auth, 'stats')) return true
    const body = await registry.metrics()
    res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' })
    res.end(req.method === 'HEAD' ? undefined : body)
    return true
  }

  let closed = false
  return {
    registry,
    route,
    scrape: () => registry.metrics(),
    close() {
      if (closed) return
      closed = true
      for (const off of subscribed) off()
      for (const m of owned) registry.removeSingleMetric(m)
    },
  }
}
