/**
 * What the dashboard and GET /_larder/stats show beyond `cache.stats()`: rates over sliding
 * windows, top keys and tags, a per-tenant table, warm progress and the alerts that would
 * fire. Fed only by the diagnostics channels; every structure is bounded (docs/invariants.md, P4).
 * `tick(now)` takes one sample (the admin API calls it once a second; tests call it directly).
 * @module
 */
import { channels } from '../core/diagnostics.ts'
import { SEP } from '../core/keys.ts'
import type { Clock } from '../core/types.ts'
import { OTHER } from '../metrics/labels.ts'
import { TenantLabel } from '../metrics/tenant-label.ts'
import type { AlertEvaluator, AlertState } from './alerts.ts'
import { KeySampler, TopK } from '../core/top-k.ts'
import { displayKey, displayTag, printable } from './display.ts'

interface Totals {
  hits: number
  misses: number
  stale: number
  invalidations: number
  localInvalidations: number
  sseOpened: number
  sseDrops: number
  httpResponses: number
  events: number
}

interface Sample extends Totals {
  t: number
  /** Cumulative shared-store call counts per latency bucket. */
  store: number[]
}

export interface TenantRow {
  tenant: string
  hits: number
  misses: number
  stale: number
  invalidations: number
  hitRatio: number
}

export interface WarmProgress {
  plan: string
  done: number
  total: number
  loaded: number
  skipped: number
  failed: number
  at: number
}

export interface MonitorSnapshot {
  at: number
  requestsPerSec: number
  hitRatio: number
  hitRatio5m: number | null
  staleServesPerSec: number
  invalidationsPerMin: number
  eventsPerMin: number
  logLagMs: number | null
  storeP99Ms: number | null
  sseConnections: number
  sseDropRate5m: number | null
  totals: Totals
  /** As users know them (admin/display.ts): `key` is the URL or key, `vary` the Vary'd values. */
  topKeys: { tenant: string; key: string; vary?: string; count: number }[]
  topTags: { tenant: string; tag: string; count: number }[]
  tenants: TenantRow[]
  breakers: Record<string, string>
  warm: WarmProgress[]
  alerts: AlertState[]
  /**
   * Last minute, one point per sample: requests/s and hit ratio over the interval since the
   * previous sample (the window `requestsPerSec` reads too). `hitRatio` is null when there
   * were no reads; a long interval between points means samples are missing (a gap).
   */
  series: { t: number; rps: number; hitRatio: number | null }[]
}

export interface MonitorOptions {
  clock?: Clock
  evaluator: AlertEvaluator
  /** Tenants listed one by one in the table; the rest fold into `other`. Default 50. */
  tenantLimit?: number
  /** Counters kept for top keys/tags. Default 100. */
  topCapacity?: number
  /**
   * Count one read in N toward the top keys (counts shown are scaled back). Heavy hitters
   * survive sampling; the read path pays for 1/N of the updates. Default 8.
   */
  sampleEvery?: number
}

const BUCKETS_MS = [0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, Number.POSITIVE_INFINITY]
const WINDOW_5M = 300_000
const MAX_SAMPLES = 400

const zero = (): Totals => ({ hits: 0, misses: 0, stale: 0, invalidations: 0, localInvalidations: 0, sseOpened: 0, sseDrops: 0, httpResponses: 0, events: 0 })

function split(q: string): { tenant: string; rest: string } {
  const i = q.indexOf(SEP)
  return { tenant: q.slice(0, i), rest: q.slice(i + 1) }
}

/**
 * Top keys as shown: the URL with its Vary'd values apart. A varied HTTP response is read
 * at the URL (the Vary marker, which counts only when it misses) and then at its variant, so
 * a URL-only row whose URL also has variant rows is that marker read and is left out: each
 * URL appears once per variant.
 */
function topKeyRows(raw: { tenant: string; rest: string; count: number }[]): MonitorSnapshot['topKeys'] {
  const rows = new Map<string, MonitorSnapshot['topKeys'][number]>()
  for (const r of raw) {
    const d = displayKey(r.rest)
    const tenant = printable(r.tenant)
    const id = `${tenant}\u0000${d.key}\u0000${d.vary ?? ''}`
    const row = rows.get(id)
    if (row) row.count += r.count
    else rows.set(id, { tenant, key: d.key, ...(d.vary === undefined ? {} : { vary: d.vary }), count: r.count })
  }
  const varied = new Set([...rows.values()].filter((r) => r.vary !== undefined).map((r) => `${r.tenant}\u0000${r.key}`))
  return [...rows.values()].filter((r) => r.vary !== undefined || !varied.has(`${r.tenant}\u0000${r.key}`)).sort((a, b) => b.count - a.count)
}

export class Monitor {
  readonly #clock: Clock
  readonly #evaluator: AlertEvaluator
  readonly #totals = zero()
  readonly #store = new Array<number>(BUCKETS_MS.length).fill(0)
  readonly #samples: Sample[] = []
  readonly #tenantLabel: TenantLabel
  /** Misses/invalidations of tenants not admitted yet (counted under `other` meanwhile), bounded. */
  readonly #pending = new Map<string, { misses: number; invalidations: number }>()
  readonly #tenants = new Map<string, Omit<TenantRow, 'tenant' | 'hitRatio'>>()
  readonly #keys: KeySampler
  readonly #tags: TopK
  readonly #breakers = new Map<string, string>()
  readonly #warm = new Map<string, WarmProgress>()
  readonly #unsubscribe: (() => void)[] = []
  #logLagMs: number | null = null
  #sseOpen = 0
  #alerts: AlertState[] = []

  constructor(options: MonitorOptions) {
    this.#clock = options.clock ?? Date
    this.#evaluator = options.evaluator
    this.#tenantLabel = new TenantLabel(options.tenantLimit ?? 50)
    this.#keys = new KeySampler(options.topCapacity ?? 100, options.sampleEvery ?? 8)
    this.#tags = new TopK(options.topCapacity ?? 100)
    const on = (name: keyof typeof channels, fn: (m: Record<string, any>) => void) => {
      // Listeners run inside the publisher (the read path): never let one throw there.
      const l = (m: unknown) => {
        try {
          if (m !== null && typeof m === 'object') fn(m as Record<string, any>)
        } catch {}
      }
      channels[name].subscribe(l)
      this.#unsubscribe.push(() => channels[name].unsubscribe(l))
    }
    on('hit', (m) => {
      this.#totals.hits++
      const row = this.#row(m.tenant, true)
      row.hits++
      if (m.stale === true) {
        this.#totals.stale++
        row.stale++
      }
      this.#keys.offer(m.tenant, m.key)
    })
    on('miss', (m) => {
      this.#totals.misses++
      this.#row(m.tenant).misses++
      this.#note(m.tenant, 'misses')
      this.#keys.offer(m.tenant, m.key)
    })
    on('set', (m) => {
      if (m.accepted !== false) this.#row(m.tenant, true)
    })
    on('invalidate', (m) => {
      const e = m.entry
      if (!e || (e.kind !== 'hard' && e.kind !== 'soft' && e.kind !== 'clear')) return
      this.#totals.invalidations++
      if (m.local === true) this.#totals.localInvalidations++
      this.#row(e.tenant).invalidations++
      this.#note(e.tenant, 'invalidations')
      if (Array.isArray(e.tags) && typeof e.tenant === 'string') for (const t of e.tags.slice(0, 100)) if (typeof t === 'string') this.#tags.add(e.tenant + SEP + t)
    })
    on('store', (m) => {
      const ms = typeof m.durationMs === 'number' ? m.durationMs : 0
      let i = 0
      while (ms > (BUCKETS_MS[i] as number)) i++
      this.#store[i]!++
    })
    on('log', (m) => {
      if (typeof m.lagMs === 'number' && Number.isFinite(m.lagMs)) this.#logLagMs = Math.max(0, m.lagMs)
    })
    on('breaker', (m) => {
      if (typeof m.name === 'string' && (this.#breakers.has(m.name) || this.#breakers.size < 20)) this.#breakers.set(m.name, String(m.state))
    })
    on('sse', (m) => {
      if (m.event === 'open') {
        this.#sseOpen++
        this.#totals.sseOpened++
      } else if (m.event === 'close') this.#sseOpen = Math.max(0, this.#sseOpen - 1)
      else if (m.event === 'drop') this.#totals.sseDrops += typeof m.count === 'number' && m.count > 0 ? m.count : 1
    })
    on('http', () => {
      this.#totals.httpResponses++
    })
    on('event', () => {
      this.#totals.events++
    })
    on('warm', (m) => {
      if (typeof m.plan !== 'string' || (!this.#warm.has(m.plan) && this.#warm.size >= 50)) return
      const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
      this.#warm.set(m.plan, { plan: m.plan, done: n(m.done), total: n(m.total), loaded: n(m.loaded), skipped: n(m.skipped), failed: n(m.failed), at: this.#clock.now() })
    })
  }

  /**
   * The tenant's row. Only a hit or a stored entry (`admit`) creates one (metrics/tenant-label.ts);
   * anything else for a tenant not admitted is counted in the `other` row, and moved to the
   * tenant's own row if it is admitted later.
   */
  #row(tenant: unknown, admit = false): Omit<TenantRow, 'tenant' | 'hitRatio'> {
    const t = admit ? this.#tenantLabel.admit(tenant) : this.#tenantLabel.get(tenant)
    let r = this.#tenants.get(t)
    if (r === undefined) {
      this.#tenants.set(t, (r = { hits: 0, misses: 0, stale: 0, invalidations: 0 }))
      const p = typeof tenant === 'string' && t !== OTHER ? this.#pending.get(tenant) : undefined
      const other = this.#tenants.get(OTHER)
      if (p && other) {
        this.#pending.delete(tenant as string)
        r.misses += p.misses
        r.invalidations += p.invalidations
        other.misses -= p.misses
        other.invalidations -= p.invalidations
      }
    }
    return r
  }

  /** Remembers what an unadmitted tenant did (at most 1000 tenants), so admitting it moves it over. */
  #note(tenant: unknown, what: 'misses' | 'invalidations'): void {
    if (typeof tenant !== 'string' || this.#tenantLabel.get(tenant) !== OTHER) return
    let p = this.#pending.get(tenant)
    if (p === undefined) {
      if (this.#pending.size >= 1000) return
      this.#pending.set(tenant, (p = { misses: 0, invalidations: 0 }))
    }
    p[what]++
  }

  /** Takes one sample and re-evaluates the alerts. */
  tick(now = this.#clock.now()): void {
    this.#samples.push({ t: now, ...this.#totals, store: [...this.#store] })
    while (this.#samples.length > MAX_SAMPLES || (this.#samples.length > 2 && (this.#samples[1] as Sample).t <= now - WINDOW_5M)) this.#samples.shift()
    const s = this.#rates(now)
    this.#alerts = this.#evaluator.evaluate(
      {
        hitRatio5m: s.hitRatio5m ?? undefined,
        invalidationsPerMin: s.localInvalidationsPerMin,
        storeP99Ms: s.storeP99Ms ?? undefined,
        logLagMs: this.#logLagMs ?? undefined,
        sseDropRate5m: s.sseDropRate5m ?? undefined,
        openBreakers: [...this.#breakers.values()].filter((v) => v === 'open').length,
      },
      now,
    )
  }

  /** The oldest sample at or after `since` (the window's start), or the oldest one. */
  #at(since: number): Sample | undefined {
    for (const s of this.#samples) if (s.t >= since) return s
    return undefined
  }

  #rates(now: number) {
    const last = this.#samples[this.#samples.length - 1]
    const base = (ms: number) => this.#at(now - ms) ?? last
    const diff = (a: Sample | undefined, k: keyof Totals) => (last && a ? last[k] - a[k] : 0)
    const secs = (a: Sample | undefined) => (last && a ? (last.t - a.t) / 1000 : 0)
    const b60 = base(60_000)
    const b5m = base(WINDOW_5M)
    const rate = (a: Sample | undefined, k: keyof Totals) => (secs(a) > 0 ? diff(a, k) / secs(a) : 0)
    const perMin = (a: Sample | undefined, k: keyof Totals) => (secs(a) > 0 ? (diff(a, k) * 60) / Math.max(60, secs(a)) : 0)
    const ratio = (a: Sample | undefined) => {
      const h = diff(a, 'hits')
      const m = diff(a, 'misses')
      return h + m > 0 ? h / (h + m) : null
    }
    let storeP99Ms: number | null = null
    if (last && b5m && b5m !== last) {
      const counts = last.store.map((c, i) => c - (b5m.store[i] as number))
      const total = counts.reduce((a, b) => a + b, 0)
      if (total > 0) {
        let acc = 0
        for (let i = 0; i < counts.length; i++) {
          acc += counts[i] as number
          if (acc >= total * 0.99) {
            storeP99Ms = BUCKETS_MS[i] === Number.POSITIVE_INFINITY ? (BUCKETS_MS[i - 1] as number) : (BUCKETS_MS[i] as number)
            break
          }
        }
      }
    }
    const opened = diff(b5m, 'sseOpened')
    // Requests/s and stale serves/s read the last sample interval: the same window as each
    // point of `series`, so the tiles always equal the charts' last point (one source).
    const prev = this.#samples.length >= 2 ? this.#samples[this.#samples.length - 2] : undefined
    return {
      requestsPerSec: rate(prev, 'hits') + rate(prev, 'misses'),
      staleServesPerSec: rate(prev, 'stale'),
      hitRatio1m: ratio(b60),
      hitRatio5m: ratio(b5m),
      invalidationsPerMin: perMin(b60, 'invalidations'),
      localInvalidationsPerMin: perMin(b60, 'localInvalidations'),
      eventsPerMin: perMin(b60, 'events'),
      storeP99Ms,
      sseDropRate5m: opened > 0 ? diff(b5m, 'sseDrops') / opened : null,
    }
  }

  snapshot(opts: { tenant?: string; top?: number } = {}): MonitorSnapshot {
    const now = this.#clock.now()
    const r = this.#rates(now)
    const top = opts.top ?? 10
    const only = opts.tenant
    const keys = topKeyRows(this.#keys.top(top * 2, only).map(({ tenant, key, count }) => ({ tenant, rest: key, count }))).slice(0, top)
    const tags = this.#tags
      .top(only === undefined ? top : 200)
      .map(({ item, count }) => ({ ...split(item), count }))
      .filter((x) => only === undefined || x.tenant === only)
      .slice(0, top)
      .map((x) => ({ tenant: printable(x.tenant), tag: displayTag(x.rest), count: x.count }))
    const tenants = [...this.#tenants]
      .filter(([t, v]) => (only === undefined || t === only) && v.hits + v.misses + v.invalidations > 0)
      .map(([tenant, v]) => ({ tenant, ...v, hitRatio: v.hits + v.misses > 0 ? v.hits / (v.hits + v.misses) : 0 }))
      .sort((a, b) => b.hits + b.misses - (a.hits + a.misses))
    const series: MonitorSnapshot['series'] = []
    const recent = this.#samples.filter((s) => s.t >= now - 60_000)
    for (let i = 1; i < recent.length; i++) {
      const a = recent[i - 1] as Sample
      const b = recent[i] as Sample
      const dt = (b.t - a.t) / 1000
      const h = b.hits - a.hits
      const m = b.misses - a.misses
      series.push({ t: b.t, rps: dt > 0 ? (h + m) / dt : 0, hitRatio: h + m > 0 ? h / (h + m) : null })
    }
    return {
      at: now,
      requestsPerSec: r.requestsPerSec,
      hitRatio: r.hitRatio1m ?? 0,
      hitRatio5m: r.hitRatio5m,
      staleServesPerSec: r.staleServesPerSec,
      invalidationsPerMin: r.invalidationsPerMin,
      eventsPerMin: r.eventsPerMin,
      logLagMs: this.#logLagMs,
      storeP99Ms: r.storeP99Ms,
      sseConnections: this.#sseOpen,
      sseDropRate5m: r.sseDropRate5m,
      totals: { ...this.#totals },
      topKeys: keys,
      topTags: tags,
      tenants: only === undefined || only !== OTHER ? tenants : [],
      breakers: Object.fromEntries(this.#breakers),
      warm: [...this.#warm.values()],
      alerts: this.#alerts,
      series,
    }
  }

  close(): void {
    for (const u of this.#unsubscribe.splice(0)) u()
  }
}
