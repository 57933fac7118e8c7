/**
 * Bounded "heavy hitters" (Metwally et al., Space-Saving): at most `capacity` counters;
 * a new item replaces the smallest counter and inherits its count (+1), so frequent
 * items stay and memory never grows with the number of distinct keys (docs/invariants.md, P4).
 * @module
 */
import { SEP } from './keys.ts'

export interface TopItem {
  item: string
  count: number
}

export class TopK {
  readonly #capacity: number
  readonly #counts = new Map<string, number>()

  constructor(capacity: number) {
    this.#capacity = Math.max(1, capacity)
  }

  add(item: string, by = 1): void {
    const c = this.#counts.get(item)
    if (c !== undefined) {
      this.#counts.set(item, c + by)
      return
    }
    if (this.#counts.size < this.#capacity) {
      this.#counts.set(item, by)
      return
    }
    // O(capacity) only when an untracked item arrives with the table full; hot items hit the branch above.
    let minItem = ''
    let min = Number.POSITIVE_INFINITY
    for (const [k, v] of this.#counts) {
      if (v < min) {
        min = v
        minItem = k
      }
    }
    this.#counts.delete(minItem)
    this.#counts.set(item, min + by)
  }

  top(n: number): TopItem[] {
    return [...this.#counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([item, count]) => ({ item, count }))
  }

  clear(): void {
    this.#counts.clear()
  }
}

/** One (tenant, key) with its estimated number of reads. */
export interface SampledKey {
  tenant: string
  key: string
  /** Sampled count × `every`: an estimate of the reads. */
  count: number
}

/**
 * The most-read keys, one read in `every` counted into a bounded `TopK`: heavy hitters
 * survive sampling and the read path pays 1/`every`. The admin monitor (top keys) and the
 * warmer (`top` plans) both sample reads through this.
 */
export class KeySampler {
  readonly every: number
  readonly #top: TopK
  #n = 0

  constructor(capacity: number, every = 8) {
    this.#top = new TopK(capacity)
    this.every = Math.max(1, Math.floor(every))
  }

  /** Offers one read; counted one time in `every`. Inputs that are not strings are ignored. */
  offer(tenant: unknown, key: unknown): void {
    if (++this.#n < this.every) return
    this.#n = 0
    if (typeof tenant === 'string' && typeof key === 'string') this.#top.add(tenant + SEP + key)
  }

  /** The `n` most-read keys (of one tenant when given), most-read first. */
  top(n: number, tenant?: string): SampledKey[] {
    const out: SampledKey[] = []
    for (const { item, count } of this.#top.top(Number.MAX_SAFE_INTEGER)) {
      if (out.length >= n) break
      const i = item.indexOf(SEP)
      const t = item.slice(0, i)
      if (tenant !== undefined && t !== tenant) continue
      out.push({ tenant: t, key: item.slice(i + 1), count: count * this.every })
    }
    return out
  }

  clear(): void {
    this.#top.clear()
    this.#n = 0
  }
}
