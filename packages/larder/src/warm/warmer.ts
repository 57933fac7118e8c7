/**
 * Cache warming: plans by turnover tier, the
 * most-read keys, on start-up, and right after an invalidation of a hot key. Items go
 * through `getOrSet`, so with a shared L2 the lease makes a fleet load each key once; a
 * concurrency limit and a token bucket bound the load put on the origin. Progress is
 * published on `channels.warm` (metrics, dashboard) and kept per plan.
 * @module
 */
import type { TenantCache } from '../core/api.ts'
import { clockOf } from '../core/clock.ts'
import { channels } from '../core/diagnostics.ts'
import { parseDuration } from '../core/duration.ts'
import { LarderError } from '../core/errors.ts'
import { PUBLIC_TENANT, SEP } from '../core/keys.ts'
import { KeySampler } from '../core/top-k.ts'
import type { LogEntry } from '../core/types.ts'
import { TokenBucket } from './token-bucket.ts'
import type { Tier, WarmerOptions, WarmItem, WarmPlan, WarmReport } from './types.ts'

export const TIER_INTERVALS: Record<Tier, number> = { high: 5 * 60_000, medium: 30 * 60_000, low: 4 * 3_600_000 }

export interface Warmer {
  /** Plan names. */
  readonly plans: readonly string[]
  /** Runs on-start plans and schedules periodic ones; subscribes to the log for hot plans. */
  start(): void
  /** Runs one plan now (joins the run in progress if there is one). */
  run(plan: string, trigger?: WarmReport['trigger']): Promise<WarmReport>
  /** Current or last run of each plan. */
  progress(): WarmReport[]
  close(): Promise<void>
}

export function createWarmer(options: WarmerOptions): Warmer {
  const cache = options.cache
  const clock = clockOf(options.clock)
  const concurrency = options.concurrency ?? 4
  const rate = options.ratePerSec ?? 50
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new LarderError('E_INVALID_OPTION', 'warmer concurrency must be a positive integer')
  if (!(rate > 0)) throw new LarderError('E_INVALID_OPTION', 'warmer ratePerSec must be a positive number')
  const bucket = new TokenBucket(rate, Math.max(1, options.burst ?? rate), clock)
  const plans = new Map<string, WarmPlan>()
  for (const p of options.plans) {
    if (typeof p.name !== 'string' || p.name.length === 0 || p.name.length > 64) throw new LarderError('E_INVALID_OPTION', 'every warm plan needs a name of 1-64 characters')
    if (plans.has(p.name)) throw new LarderError('E_INVALID_OPTION', `warm plan "${p.name}" is defined twice`)
    if ((p.items === undefined) === (p.top === undefined)) throw new LarderError('E_INVALID_OPTION', `warm plan "${p.name}" needs exactly one of "items" or "top"`)
    if (p.top && (!Number.isInteger(p.top.n) || p.top.n < 1)) throw new LarderError('E_INVALID_OPTION', `warm plan "${p.name}": top.n must be a positive integer`)
    plans.set(p.name, p)
  }
  const intervals: Record<Tier, number> = { ...TIER_INTERVALS }
  for (const [k, v] of Object.entries(options.tierIntervals ?? {})) intervals[k as Tier] = parseDuration(v as string | number)
  // Parsed up front so a bad duration fails at creation, not at the first schedule.
  const everyOf = new Map<string, number | undefined>()
  for (const p of plans.values()) {
    if (p.tier !== undefined && !(p.tier in intervals)) throw new LarderError('E_INVALID_OPTION', `warm plan "${p.name}": tier must be high, medium or low`)
    everyOf.set(p.name, p.every !== undefined ? parseDuration(p.every) : p.tier ? intervals[p.tier] : undefined)
  }
  const interval = (p: WarmPlan) => everyOf.get(p.name)

  // Most-read keys: only counted when a plan asks for them.
  const reads = new KeySampler(options.trackKeys ?? 500, options.sampleEvery ?? 8)
  const countRead = (m: unknown) => {
    const x = m as { tenant?: unknown; key?: unknown } | undefined
    reads.offer(x?.tenant, x?.key)
  }
  const tracking = [...plans.values()].some((p) => p.top)

  const reports = new Map<string, WarmReport>()
  const running = new Map<string, Promise<WarmReport>>()
  const hotItems = new Map<string, WarmItem[]>()
  const timerOf = new Map<string, unknown>()
  let unsubscribeLog: (() => void) | undefined
  let closed = false
  let started = false
  const inflight = new Set<Promise<unknown>>()

  const scope = (tenant: string): TenantCache => (tenant === PUBLIC_TENANT ? cache.public : cache.tenant(tenant))

  async function resolveItems(p: WarmPlan): Promise<WarmItem[]> {
    if (p.items) return dedupe([...(await p.items())])
    const top = p.top!
    const out: WarmItem[] = []
    for (const { tenant, key } of reads.top(Number.MAX_SAFE_INTEGER, top.tenant)) {
      if (out.length >= top.n) break
      const spec = top.load(tenant, key)
      if (spec) out.push({ ...spec, tenant, key })
    }
    return out
  }

  function publish(r: WarmReport): void {
    if (channels.warm.hasSubscribers) channels.warm.publish({ plan: r.plan, done: r.done, total: r.total, loaded: r.loaded, skipped: r.skipped, failed: r.failed, state: r.state })
  }

  async function warmOne(plan: string, item: WarmItem, r: WarmReport): Promise<void> {
    try {
      const t = scope(item.tenant)
      // Already cached (here or in L2): no token, no origin call.
      if ((await t.get(item.key)) !== undefined) {
        r.skipped++
        return
      }
      await bucket.take()
      let loaded = false
      await t.getOrSet(
        item.key,
        (ctx) => {
          loaded = true
          return item.loader(ctx)
        },
        { policy: item.policy, tags: item.tags, ttl: item.ttl, grace: item.grace },
      )
      if (loaded) r.loaded++
      else r.skipped++
    } catch (err) {
      if (closed) return
      r.failed++
      options.onError?.(err, { plan, tenant: item.tenant, key: item.key })
    } finally {
      r.done++
      publish(r)
    }
  }

  async function execute(plan: string, items: WarmItem[], trigger: WarmReport['trigger']): Promise<WarmReport> {
    const r: WarmReport = { plan, state: 'running', trigger, total: items.length, done: 0, loaded: 0, skipped: 0, failed: 0, startedAt: clock.now() }
    reports.set(plan, r)
    publish(r)
    let next = 0
    const worker = async () => {
      while (!closed && next < items.length) await warmOne(plan, items[next++] as WarmItem, r)
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
    r.state = 'done'
    r.finishedAt = clock.now()
    publish(r)
    return r
  }

  function track<T>(p: Promise<T>): Promise<T> {
    inflight.add(p)
    p.finally(() => inflight.delete(p)).catch(() => {})
    return p
  }

  function run(name: string, trigger: WarmReport['trigger'] = 'manual'): Promise<WarmReport> {
    const p = plans.get(name)
    if (!p) return Promise.reject(new LarderError('E_INVALID_OPTION', `no warm plan named "${name}" (plans: ${[...plans.keys()].join(', ') || 'none'})`))
    if (closed) return Promise.reject(new LarderError('E_CLOSED', 'the warmer is closed'))
    const current = running.get(name)
    if (current) return current
    const job = track(
      (async () => {
        const items = await resolveItems(p)
        if (p.hot) hotItems.set(name, items)
        return execute(name, items, trigger)
      })().finally(() => running.delete(name)),
    )
    running.set(name, job)
    return job
  }

  function schedule(p: WarmPlan): void {
    const every = interval(p)
    if (every === undefined || closed) return
    timerOf.set(
      p.name,
      clock.setTimeout(() => {
        if (closed) return
        run(p.name, 'schedule').catch((err) => options.onError?.(err, { plan: p.name, tenant: '', key: '' }))
        schedule(p)
      }, every),
    )
  }

  // Hot keys: re-warm items touched by an invalidation, batched per turn of the timers.
  const pendingHot = new Map<string, Map<string, WarmItem>>()
  let hotTimer: unknown
  function onEntries(entries: readonly LogEntry[]): void {
    for (const e of entries) {
      if (e.kind !== 'hard' && e.kind !== 'soft' && e.kind !== 'clear') continue
      for (const p of plans.values()) {
        if (!p.hot) continue
        const items = hotItems.get(p.name)
        if (!items) continue
        for (const it of items) {
          if (it.tenant !== e.tenant) continue
          const hit = e.kind === 'clear' || e.keys?.includes(it.key) || (it.tags !== undefined && e.tags?.some((t) => it.tags!.includes(t)))
          if (!hit) continue
          let m = pendingHot.get(p.name)
          if (!m) pendingHot.set(p.name, (m = new Map()))
          m.set(it.tenant + SEP + it.key, it)
        }
      }
    }
    if (pendingHot.size > 0 && hotTimer === undefined && !closed) {
      hotTimer = clock.setTimeout(() => {
        hotTimer = undefined
        for (const [plan, m] of pendingHot) {
          pendingHot.delete(plan)
          track(execute(plan, [...m.values()], 'invalidation'))
        }
      }, 0)
    }
  }

  return {
    plans: [...plans.keys()],
    start() {
      if (started || closed) return
      started = true
      if (tracking) {
        channels.hit.subscribe(countRead)
        channels.miss.subscribe(countRead)
      }
      if ([...plans.values()].some((p) => p.hot)) {
        unsubscribeLog = cache.log.subscribe({ entries: onEntries, gap: () => {} }, 'now')
        // Hot plans need their item list before the first invalidation arrives.
        for (const p of plans.values()) if (p.hot && !p.onStart && p.items) track(Promise.resolve(p.items()).then((it) => void hotItems.set(p.name, dedupe([...it]))))
      }
      for (const p of plans.values()) {
        if (p.onStart) run(p.name, 'start').catch((err) => options.onError?.(err, { plan: p.name, tenant: '', key: '' }))
        schedule(p)
      }
    },
    run,
    progress: () => [...reports.values()].map((r) => ({ ...r })),
    async close() {
      if (closed) return
      closed = true
      for (const t of timerOf.values()) clock.clearTimeout(t)
      if (hotTimer !== undefined) clock.clearTimeout(hotTimer)
      unsubscribeLog?.()
      if (tracking) {
        channels.hit.unsubscribe(countRead)
        channels.miss.unsubscribe(countRead)
      }
      bucket.close()
      await Promise.allSettled([...inflight])
    },
  }
}

function dedupe(items: WarmItem[]): WarmItem[] {
  const seen = new Map<string, WarmItem>()
  for (const it of items) seen.set(it.tenant + SEP + it.key, it)
  return [...seen.values()]
}
