/**
 * Tenant resolution for the gateway: the configured header, else the host map, else the
 * default tenant. A tenant id is validated like every other (control characters, length,
 * the reserved `@` prefix) — an invalid one is a 400, never a silent fallback.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { validateTenant } from '../core/keys.ts'

export interface TenantResolverOptions {
  /** Request header carrying the tenant id (e.g. `x-tenant-id`). */
  header?: string
  /** Host (without port, lower-case; `*.example.com` matches one subdomain level) → tenant. */
  hosts?: Record<string, string>
  /** Tenant when neither gives one. Default `default`. */
  fallback?: string
}

export type TenantResolver = (req: IncomingMessage) => string

export function createTenantResolver(o: TenantResolverOptions = {}): TenantResolver {
  const header = o.header?.toLowerCase()
  const exact = new Map<string, string>()
  const wildcard = new Map<string, string>()
  for (const [h, t] of Object.entries(o.hosts ?? {})) {
    validateTenant(t)
    const host = h.toLowerCase()
    if (host.startsWith('*.')) wildcard.set(host.slice(2), t)
    else exact.set(host, t)
  }
  const fallback = validateTenant(o.fallback ?? 'default')
  return (req) => {
    if (header !== undefined) {
      const v = req.headers[header]
      if (v !== undefined) return validateTenant(Array.isArray(v) ? v[0] : v)
    }
    if (exact.size > 0 || wildcard.size > 0) {
      const raw = req.headers.host ?? ''
      // Strip the port; IPv6 literals keep their brackets.
      const host = raw.replace(/:\d+$/, '').toLowerCase()
      const t = exact.get(host)
      if (t !== undefined) return t
      const dot = host.indexOf('.')
      if (dot > 0) {
        const w = wildcard.get(host.slice(dot + 1))
        if (w !== undefined) return w
      }
    }
    return fallback
  }
}
