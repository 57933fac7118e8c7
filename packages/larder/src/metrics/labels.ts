/**
 * Bounded label values. Tenant ids, routes and event types come from untrusted input, so
 * each label gets at most `limit` distinct values (the first ones seen); later values
 * fold into `other`. Key groups are literal prefixes from config, never patterns.
 * @module
 */
import { LarderError } from '../core/errors.ts'

export const OTHER = 'other'

/** Hands out at most `limit` distinct label values; the rest become `other`. */
export class BoundedLabel {
  readonly #limit: number
  readonly #seen = new Set<string>()
  /** How many observations were folded into `other` (a sign the limit is too low). */
  folded = 0

  constructor(limit: number) {
    this.#limit = limit
  }

  get(value: unknown): string {
    if (typeof value !== 'string' || value.length === 0) return OTHER
    if (this.#seen.has(value)) return value
    if (this.#seen.size < this.#limit && value !== OTHER) {
      this.#seen.add(value)
      return value
    }
    this.folded++
    return OTHER
  }

  /** True when `value` already has its own label (looking never admits). */
  has(value: unknown): boolean {
    return typeof value === 'string' && this.#seen.has(value)
  }

  /** True when no new value can get its own label any more. */
  get full(): boolean {
    return this.#seen.size >= this.#limit
  }

  get size(): number {
    return this.#seen.size
  }
}

export interface KeyGroup {
  /** Label value (e.g. `product`). */
  name: string
  /** Literal key prefix (e.g. `product:`); the longest matching prefix wins. */
  prefix: string
}

const GROUP_NAME = /^[A-Za-z0-9_.:-]{1,64}$/

/** Maps keys to the configured group whose literal prefix is the longest match. */
export function keyGrouper(groups: readonly KeyGroup[]): (key: unknown) => string {
  for (const g of groups) {
    if (typeof g.name !== 'string' || !GROUP_NAME.test(g.name)) throw new LarderError('E_INVALID_OPTION', `key group name ${JSON.stringify(g.name)} must be 1-64 of [A-Za-z0-9_.:-]`)
    if (typeof g.prefix !== 'string') throw new LarderError('E_INVALID_OPTION', `key group "${g.name}" needs a string prefix`)
  }
  // Longest prefix first, so `product:variant:` beats `product:`.
  const sorted = [...groups].sort((a, b) => b.prefix.length - a.prefix.length)
  return (key) => {
    if (typeof key !== 'string') return OTHER
    for (const g of sorted) if (key.startsWith(g.prefix)) return g.name
    return OTHER
  }
}
