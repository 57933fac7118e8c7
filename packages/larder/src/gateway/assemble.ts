/**
 * One assembly of the parts a gateway serves besides the cached origin: the SSE hub
 * (GET /_larder/stream), the admin API and dashboard (/_larder/…), the Prometheus exporter
 * (GET /metrics) and, with rules, event ingest (POST /_larder/events). `larder gateway`
 * and the storefront demo both call it, so the demo runs what users run.
 *
 * The admin API purges through the gateway's purge handler (`gateway.purger`): POST
 * /_larder/purge, PURGE and the admin panel answer the same way and purge `urls` through
 * the gateway's HTTP cache.
 * @module
 */
import { createAdminApi, type AdminApi } from '../admin/index.ts'
import type { Cache } from '../core/api.ts'
import type { Authorizer } from '../core/auth.ts'
import type { LarderRoute } from '../core/route.ts'
import { createEventIngest, createEventProcessor, type EventProcessor, type RulesSpec } from '../events/index.ts'
import { createMetrics, type Metrics } from '../metrics/index.ts'
import { createSseHub, type SseHub } from '../realtime/index.ts'
import type { Gateway } from './index.ts'

export interface GatewayPartsOptions {
  cache: Cache
  gateway: Gateway
  auth: Authorizer
  /** The array given to `createGateway({ routes })`; the parts' routes are appended to it. */
  routes: LarderRoute[]
  /** Stream tokens: the secret that signs them, and whether streams without one are allowed. */
  stream?: { secret?: string | undefined; anonymous?: boolean | undefined }
  /**
   * An exporter shared by several gateways in one process (its owner closes it). Default:
   * one of its own, behind `read:stats`, whose entries/bytes gauges read `cache.stats()`.
   */
  metrics?: Metrics
  /** Event rules: with them, POST /_larder/events feeds an event processor on `cache`. */
  rules?: RulesSpec | undefined
  onEventError?: (err: unknown, context: string) => void
}

export interface GatewayParts {
  hub: SseHub
  admin: AdminApi
  metrics: Metrics
  processor: EventProcessor | undefined
  /** Closes what this call created (not a shared `metrics`). */
  close(): Promise<void>
}

/** Creates the parts and mounts their routes (hub, metrics, event ingest, then the admin API). */
export function assembleGateway(o: GatewayPartsOptions): GatewayParts {
  const { cache, auth, routes } = o
  // With refresh on invalidation, events go out after the gateway re-fetched what they invalidated.
  const hub = createSseHub({ log: o.gateway.refresher?.log ?? cache.log, tokenSecret: o.stream?.secret, anonymous: o.stream?.anonymous })
  const admin = createAdminApi({ cache, auth, hub, purger: o.gateway.purger })
  const metrics = o.metrics ?? createMetrics({ auth, stats: () => cache.stats() })
  const processor = o.rules ? createEventProcessor({ cache, rules: o.rules, ...(o.onEventError ? { onError: o.onEventError } : {}) }) : undefined
  routes.push(hub.route, metrics.route)
  if (processor) routes.push(createEventIngest({ processor, auth }).route)
  routes.push(admin.route)
  return {
    hub,
    admin,
    metrics,
    processor,
    async close() {
      await Promise.resolve(processor?.close?.()).catch(() => {})
      if (!o.metrics) metrics.close()
      await Promise.resolve(admin.close()).catch(() => {})
      await Promise.resolve(hub.close()).catch(() => {})
    },
  }
}
