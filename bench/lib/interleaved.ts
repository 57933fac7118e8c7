/**
 * Interleaved batches for noisy shared machines: subjects take turns in small batches of
 * sequential calls (rotating who goes first), so a load spike hits them all alike. Per subject
 * the total time of its batches, and per batch its ratio to the first subject (the anchor).
 * Used by B2 and the Vendure CacheService benchmark.
 */
export type Subject = (i: number) => Promise<unknown>

export interface InterleavedResult {
  names: string[]
  /** ms per subject over all batches. */
  total: Map<string, number>
  /** Per subject: anchor time ÷ its time, one per batch. */
  batchRatios: Map<string, number[]>
}

export async function runInterleaved(subjects: Record<string, Subject>, rounds: number, ops: number, warm = 300): Promise<InterleavedResult> {
  const names = Object.keys(subjects)
  const total = new Map<string, number>(names.map((n) => [n, 0]))
  const batchRatios = new Map<string, number[]>(names.map((n) => [n, []]))
  for (const fn of Object.values(subjects)) for (let i = 0; i < warm; i++) await fn(i)
  for (let b = 0; b < rounds; b++) {
    const times = new Map<string, number>()
    for (let j = 0; j < names.length; j++) {
      const name = names[(b + j) % names.length] as string
      const fn = subjects[name] as Subject
      const t0 = performance.now()
      for (let i = 0; i < ops; i++) await fn(b * ops + i)
      const dt = performance.now() - t0
      times.set(name, dt)
      total.set(name, (total.get(name) as number) + dt)
    }
    const anchorDt = times.get(names[0] as string) as number
    for (const n of names) batchRatios.get(n)?.push(anchorDt / (times.get(n) as number))
  }
  return { names, total, batchRatios }
}

/** The markdown table both benchmarks print: ops/s, ratio of totals, median batch ratio. */
export function interleavedTable(r: InterleavedResult, rounds: number, ops: number, anchorLabel = 'anchor'): string {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
  const anchorTotal = r.total.get(r.names[0] as string) as number
  const lines = [`| subject | ops/s | ratio vs ${anchorLabel} (total time) | median batch ratio |`, '|---|---|---|---|']
  for (const n of r.names) {
    const t = r.total.get(n) as number
    lines.push(`| ${n} | ${Math.round((rounds * ops) / (t / 1000)).toLocaleString('en-US')} | ${(anchorTotal / t).toFixed(2)}× | ${median(r.batchRatios.get(n) as number[]).toFixed(2)}× |`)
  }
  return lines.join('\n')
}
