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
import { BoundedLabel, OTHER } from './labels.ts'

export class TenantLabel {
  /** The admitted tenants: the first `limit` (BoundedLabel's rule), the rest fold into `other`. */
  readonly #labels: BoundedLabel

  constructor(limit: number) {
    this.#labels = new BoundedLabel(limit)
  }

  /** Observations counted under `other` because their tenant was past the limit. */
  get folded(): number {
    return this.#labels.folded
  }

  /** The label of a tenant the cache holds something of (a hit or a stored entry): admits it. */
  admit(tenant: unknown): string {
    return tenant === OTHER ? OTHER : this.#labels.get(tenant)
  }

  /** The label of any other observation: the tenant if admitted, else `other` (never admits). */
  get(tenant: unknown): string {
    if (this.#labels.has(tenant)) return tenant as string
    if (typeof tenant === 'string' && this.#labels.full) this.#labels.folded++
    return OTHER
  }

  get size(): number {
    return this.#labels.size
  }
}
