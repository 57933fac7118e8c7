/**
 * The gateway's purge: the one purge handler (admin/purge.ts: auth, validation, audit)
 * carried out by the gateway's HTTP cache, so `urls` and the `PURGE <url>` method work.
 * The same handler answers `POST /_larder/purge` and the admin API mounted on the gateway
 * gets it too (`createAdminApi({ purger: gateway.purger })`).
 *
 * Paths in a POST's `urls` resolve against the body's `host`, else the one exact host the
 * gateway's host map gives the tenant (`hosts: { 'shop.example': 'acme' }`), else the
 * request's own Host (which `larder purge` refuses: it is the gateway's address).
 * @module
 */
import type { Logger } from 'pino'
import { createPurger, type Purger } from '../admin/purge.ts'
import type { Authorizer } from '../core/auth.ts'
import type { HttpCache } from '../http/engine.ts'

export interface GatewayPurgerOptions {
  http: HttpCache
  auth: Authorizer | undefined
  logger: Logger
  /** The gateway's host → tenant map; a tenant with exactly one exact host gets it for paths. */
  hosts?: Record<string, string>
  /** The configured host of cache keys (GatewayOptions.keyHost): paths resolve against it first. */
  keyHost?: (tenant: string) => string | undefined
}

/** Tenant → its one exact host in the map (tenants with several, or only wildcards, get none). */
export function hostsByTenant(hosts: Record<string, string> = {}): Map<string, string> {
  const count = new Map<string, number>()
  const out = new Map<string, string>()
  for (const [h, t] of Object.entries(hosts)) {
    if (h.startsWith('*.')) continue
    count.set(t, (count.get(t) ?? 0) + 1)
    out.set(t, h.toLowerCase())
  }
  for (const [t, n] of count) if (n > 1) out.delete(t)
  return out
}

export function createGatewayPurger(o: GatewayPurgerOptions): Purger {
  const byTenant = hostsByTenant(o.hosts)
  return createPurger({
    auth: o.auth,
    logger: o.logger,
    hostFor: (tenant) => o.keyHost?.(tenant) ?? byTenant.get(tenant),
    run: (tenant, work, host) => o.http.purge(tenant, work, host ?? ''),
  })
}
