import type { Cache, Loader } from '../core/api.ts'
import type { Clock, Duration } from '../core/types.ts'

/** One entry to warm: loaded through `getOrSet`, so a fleet sharing L2 loads it once (lease). */
export interface WarmItem<V = unknown> {
  tenant: string
  key: string
  loader: Loader<V>
  policy?: string
  tags?: string[]
  ttl?: Duration
  grace?: Duration
}

/** Turnover tiers of SmartCacheWarmer. */
export type Tier = 'high' | 'medium' | 'low'

export interface WarmPlan {
  name: string
  /** How often the plan runs: high 5m, medium 30m, low 4h (see `tierIntervals`). */
  tier?: Tier
  /** Interval overriding the tier. */
  every?: Duration
  /** Run once when the warmer starts. */
  onStart?: boolean
  /** Re-warm an item right after an invalidation of its key, one of its tags, or its tenant. */
  hot?: boolean
  /** The items (re-read on every run). Either this or `top`. */
  items?: () => Iterable<WarmItem> | Promise<Iterable<WarmItem>>
  /** The N most-read keys recorded by this warmer. */
  top?: {
    n: number
    /** Only keys of this tenant. */
    tenant?: string
    /** Builds the item for a recorded key, or undefined to skip it (e.g. a key the plan does not know how to load). */
    load(tenant: string, key: string): Omit<WarmItem, 'tenant' | 'key'> | undefined
  }
}

export interface WarmReport {
  plan: string
  state: 'running' | 'done'
  /** What started the run. */
  trigger: 'start' | 'schedule' | 'manual' | 'invalidation'
  total: number
  done: number
  /** Loader ran (the entry was missing here and in the fleet). */
  loaded: number
  /** Already cached: nothing loaded. */
  skipped: number
  failed: number
  startedAt: number
  finishedAt?: number
}

export interface WarmerOptions {
  cache: Cache
  plans: readonly WarmPlan[]
  /** Time and timers (a `FakeClock` in tests). Default: `Date.now()` and the global timers, unref'd. */
  clock?: Clock
  /** Items warmed at the same time. Default 4. */
  concurrency?: number
  /** Loads per second toward the origin (token bucket). Default 50. */
  ratePerSec?: number
  /** Bucket size (burst). Default: ratePerSec, at least 1. */
  burst?: number
  /** Override the tier intervals. */
  tierIntervals?: Partial<Record<Tier, Duration>>
  /** Counters kept to find the most-read keys. Default 500. */
  trackKeys?: number
  /** Count one read in N when finding the most-read keys. Default 8. */
  sampleEvery?: number
  /** Called for item failures (the run goes on). */
  onError?: (err: unknown, item: { plan: string; tenant: string; key: string }) => void
}
