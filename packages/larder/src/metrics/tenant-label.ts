/**
 * Which tenants get their own row (dashboard, GET /_larder/stats) and their own `tenant`
 * label (/metrics). The one rule, used by both admin/monitor.ts and metrics/exporter.ts:
 * a tenant is admitted by a cache hit or a stored entry, i.e. once the cache holds
 * something of it. Everything else (a miss, an uncacheable or error response, an
 * invalidation, an SSE connection) only *looks up* the label: for a tenant never admitted
 * it is counted under `other`. So a request naming an unknown tenant, which the origin
 * answers with an uncacheable 4xx, never mints a row or a label. At most `limit` tenants
 * are admitted (the first ones); later ones fold into `other` too.
 * @module
 */
import { OTHER } from './labels.ts'

export class TenantLabel {
  readonly #limit: number
  readonly #known = new Set<string>()
  /** Observations counted under `other` because their tenant was past the limit. */
  folded = 0

  constructor(limit: number) {
    this.#limit = limit
  }

  /** The label of a tenant the cache holds something of (a hit or a stored entry): admits it. */
  admit(tenant: unknown): string {
    if (typeof tenant !== 'string' || tenant.length === 0 || tenant === OTHER) return OTHER
    if (this.#known.has(tenant)) return tenant
    if (this.#known.size < this.#limit) {
      this.#known.add(tenant)
      return tenant
    }
    this.folded++
    return OTHER
  }

  /** The label of any other observation: the tenant if admitted, else `other` (never admits). */
  get(tenant: unknown): string {
    if (typeof tenant === 'string' && this.#known.has(tenant)) return tenant
    if (typeof tenant === 'string' && this.#known.size >= this.#limit) this.folded++
    return OTHER
  }

  get size(): number {
    return this.#known.size
  }
}
