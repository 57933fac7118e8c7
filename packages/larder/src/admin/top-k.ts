/**
 * Bounded "heavy hitters" (Metwally et al., Space-Saving): at most `capacity` counters;
 * a new item replaces the smallest counter and inherits its count (+1), so frequent
 * items stay and memory never grows with the number of distinct keys (docs/invariants.md, P4).
 * @module
 */
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
