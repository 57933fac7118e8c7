/**
 * Prometheus metrics for Larder, fed only by the diagnostics channels.
 *
 * ```ts
 * import { createMetrics } from 'larder/metrics'
 * const metrics = createMetrics({ keyGroups: [{ name: 'product', prefix: 'product:' }], stats: () => cache.stats() })
 * // mount metrics.route (GET /metrics) on the gateway or any node:http server
 * ```
 * @module
 */
export { createMetrics, type Metrics, type MetricsOptions } from './exporter.ts'
export { BoundedLabel, keyGrouper, OTHER, type KeyGroup } from './labels.ts'
