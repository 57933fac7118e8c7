/**
 * Cache warming: plans by turnover tier, most-read keys, on start-up and after
 * invalidations of hot keys; bounded by a concurrency limit and a token bucket.
 *
 * ```ts
 * import { createWarmer } from 'larder/warm'
 * const warmer = createWarmer({ cache, plans: [{ name: 'hot', tier: 'high', onStart: true, hot: true,
 *   items: async () => (await db.hotProducts()).map((p) => ({ tenant: p.shop, key: `product:${p.id}`, tags: [`product:${p.id}`], loader: () => db.product(p.id) })) }] })
 * warmer.start()
 * ```
 * @module
 */
export { createWarmer, TIER_INTERVALS, type Warmer } from './warmer.ts'
export { TokenBucket } from './token-bucket.ts'
export type { Timers } from '../core/clock.ts'
export type { Tier, WarmItem, WarmPlan, WarmReport, WarmerOptions } from './types.ts'
