/**
 * Counters and histograms for the read path. prom-client hashes and validates the label
 * object on every `inc()`/`observe()` (≈ 0.5 µs), which halved the throughput of an L1 hit
 * (bench/ops-overhead.ts). Here each label tuple resolves through nested Maps to a mutable
 * cell, and the Prometheus view is built only at scrape time (`get()`, the interface the
 * prom-client Registry reads).
 * @module
 */

type Tree = Map<string, Tree | object>

class Cells<C extends object> {
  readonly #root: Tree = new Map()
  readonly #depth: number
  readonly #make: () => C

  constructor(depth: number, make: () => C) {
    this.#depth = depth
    this.#make = make
  }

  /** The cell of a label tuple (as many values as label names). */
  get(a: string, b = '', c = ''): C {
    let node = this.#root
    const d = this.#depth
    if (d > 1) {
      let n = node.get(a) as Tree | undefined
      if (n === undefined) node.set(a, (n = new Map()))
      node = n
      if (d > 2) {
        let m = node.get(b) as Tree | undefined
        if (m === undefined) node.set(b, (m = new Map()))
        node = m
      }
    }
    const leaf = d === 1 ? a : d === 2 ? b : c
    let cell = node.get(leaf) as C | undefined
    if (cell === undefined) node.set(leaf, (cell = this.#make()))
    return cell
  }

  *entries(): Generator<[string[], C]> {
    const walk = function* (node: Tree, path: string[], depth: number): Generator<[string[], C]> {
      for (const [k, v] of node) {
        if (depth === 1) yield [[...path, k], v as C]
        else yield* walk(v as Tree, [...path, k], depth - 1)
      }
    }
    yield* walk(this.#root, [], this.#depth)
  }

  clear(): void {
    this.#root.clear()
  }
}

interface MetricValue {
  value: number
  labels: Record<string, string | number>
  metricName?: string
}

function labelsOf(names: readonly string[], values: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < names.length; i++) out[names[i] as string] = values[i] as string
  return out
}

export interface CounterCell {
  n: number
}

/** A labelled counter: `counter.cell(a, b, c).n += 1` on the hot path. */
export class FastCounter {
  readonly type = 'counter'
  readonly aggregator = 'sum'
  readonly #cells: Cells<CounterCell>

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (labelNames.length < 1 || labelNames.length > 3) throw new RangeError('FastCounter takes 1 to 3 labels')
    this.#cells = new Cells(labelNames.length, () => ({ n: 0 }))
  }

  cell(a: string, b?: string, c?: string): CounterCell {
    return this.#cells.get(a, b, c)
  }

  async get() {
    const values: MetricValue[] = []
    for (const [vals, cell] of this.#cells.entries()) values.push({ value: cell.n, labels: labelsOf(this.labelNames, vals) })
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset(): void {
    this.#cells.clear()
  }
}

export interface HistogramCell {
  /** Per-bucket (non-cumulative) counts; the last one is +Inf. */
  counts: Float64Array
  sum: number
  count: number
}

/** A labelled histogram in seconds: `FastHistogram.observe(h.cell(a, b), seconds)`. */
export class FastHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #cells: Cells<HistogramCell>
  readonly buckets: readonly number[]

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    buckets: readonly number[],
  ) {
    if (labelNames.length < 1 || labelNames.length > 3) throw new RangeError('FastHistogram takes 1 to 3 labels')
    this.buckets = [...buckets].sort((x, y) => x - y)
    const size = this.buckets.length + 1
    this.#cells = new Cells(labelNames.length, () => ({ counts: new Float64Array(size), sum: 0, count: 0 }))
  }

  cell(a: string, b?: string, c?: string): HistogramCell {
    return this.#cells.get(a, b, c)
  }

  observe(cell: HistogramCell, value: number): void {
    const b = this.buckets
    let i = 0
    while (i < b.length && value > (b[i] as number)) i++
    cell.counts[i]!++
    cell.sum += value
    cell.count++
  }

  async get() {
    const values: MetricValue[] = []
    for (const [vals, cell] of this.#cells.entries()) {
      const labels = labelsOf(this.labelNames, vals)
      let acc = 0
      for (let i = 0; i <= this.buckets.length; i++) {
        acc += cell.counts[i] as number
        values.push({ value: acc, labels: { ...labels, le: i < this.buckets.length ? (this.buckets[i] as number) : '+Inf' }, metricName: `${this.name}_bucket` })
      }
      values.push({ value: cell.sum, labels, metricName: `${this.name}_sum` })
      values.push({ value: cell.count, labels, metricName: `${this.name}_count` })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset(): void {
    this.#cells.clear()
  }
}
