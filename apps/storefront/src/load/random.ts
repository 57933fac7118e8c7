/**
 * Seeded randomness for the workload: the same seed gives the same request sequence, so
 * two runs (events vs TTL-only) see the same traffic.
 * @module
 */

/** mulberry32: a small, fast 32-bit PRNG; plenty for traffic shaping. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Zipf over ranks 1..n with exponent s: P(k) ∝ 1/k^s. The CDF is precomputed once and
 * sampled by binary search (O(log n) per draw).
 */
export function zipf(n: number, s: number, random: () => number): () => number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError('zipf: n must be a positive integer')
  const cdf = new Float64Array(n)
  let sum = 0
  for (let k = 1; k <= n; k++) {
    sum += 1 / k ** s
    cdf[k - 1] = sum
  }
  for (let i = 0; i < n; i++) cdf[i] = (cdf[i] as number) / sum
  return () => {
    const u = random()
    let lo = 0
    let hi = n - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if ((cdf[mid] as number) < u) lo = mid + 1
      else hi = mid
    }
    return lo + 1
  }
}

/** Picks a key of `weights` with probability proportional to its weight. */
export function weighted<K extends string>(weights: Record<K, number>, random: () => number): () => K {
  const entries = Object.entries(weights) as [K, number][]
  const total = entries.reduce((a, [, w]) => a + w, 0)
  return () => {
    let u = random() * total
    for (const [k, w] of entries) {
      u -= w
      if (u < 0) return k
    }
    return (entries[entries.length - 1] as [K, number])[0]
  }
}
