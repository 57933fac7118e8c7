/**
 * The storefront workload: a Zipf-distributed read mix over the shop API's endpoints with ~1 %
 * writes (price, stock, seller status), every read checked against the versions that
 * acknowledged writes produced (checker.ts).
 * @module
 */
import { StaleChecker, type StaleRead, versionsOf } from './checker.ts'
import { prng, weighted, zipf } from './random.ts'

export interface WorkloadTenant {
  id: string
  products: number
  sellers: number
}

export interface WorkloadOptions {
  /** Gateway base URL (http://127.0.0.1:8080); several, comma-separated, are used in turn (a fleet). */
  url: string
  tenants: readonly WorkloadTenant[]
  /** Measured requests. Default 20,000. */
  requests?: number
  /** Requests sent before measuring (fill the cache). Default: as many as `requests`. */
  warmup?: number
  /** In-flight requests. Default 16. */
  concurrency?: number
  /** Share of requests that are writes. Default 0.01. */
  writeRatio?: number
  /** Zipf exponent of item popularity. Default 1.1. */
  zipfS?: number
  seed?: number
  /** Origin read count, when known (in-process demo), to report requests saved. */
  originReads?: () => number
  onProgress?: (done: number, total: number, report: WorkloadReport) => void
  /** Called when the warm-up is over and measuring starts. */
  onMeasuring?: () => void
  checker?: StaleChecker
  /**
   * Before the warm-up, request every product page and the sellers list of each product's
   * first variant once (what a warmer does at deploy time), so the measured hit ratio is the
   * steady state's rather than a cold start's. Default false.
   */
  prewarm?: boolean
  /** Keeps only the planned requests it accepts (tests aim the traffic at one endpoint). */
  filter?: (op: { kind: 'read' | 'write'; path: string }) => boolean
}

export interface WorkloadReport {
  requests: number
  reads: number
  writes: number
  /** Writes the origin acknowledged before their invalidation was applied (X-Invalidation: pending). */
  pendingAcks: number
  errors: number
  hits: number
  hitRatio: number
  /** Reads of a URL never requested before (in warm-up or run): no cache can answer them. */
  firstReads: number
  /** Hit ratio of the other reads: what caching and invalidation decide (steady state). */
  warmHitRatio: number
  originReads: number | undefined
  /** 1 - origin reads / reads. */
  saved: number | undefined
  p50Ms: number
  p99Ms: number
  staleReads: number
  staleExamples: StaleRead[]
  checkedRows: number
  seconds: number
  rps: number
}

type Op =
  | { kind: 'read'; tenant: string; path: string }
  | { kind: 'write'; tenant: string; path: string; method: string; body: unknown; entity: (body: any) => [string, number] | undefined }

const READS = { product: 40, productList: 14, category: 14, sellers: 16, search: 8, categories: 5, analytics: 3 } as const
const WRITES = { price: 35, stock: 35, seller: 15, variantStock: 15 } as const
const TERMS = ['mug', 'jacket', 'lamp', 'nordic', 'silk', 'kettle', 'alpine', 'desk', 'watch', 'tent', 'bold', 'camera', 'scarf', 'solar', 'chair', 'red', 'classic', 'blanket']
const STATUSES = { active: 60, vacation: 15, temporarily_suspended: 10, permanently_banned: 5, payment_overdue: 10 }

/** The request sequence for a seed: the same traffic for every run that uses it. */
export function plan(options: WorkloadOptions, count: number, seed: number): Op[] {
  const r = prng(seed)
  const s = options.zipfS ?? 1.1
  const writeRatio = options.writeRatio ?? 0.01
  const tenantOf = weighted(Object.fromEntries(options.tenants.map((t, i) => [t.id, [50, 30, 20][i] ?? 10])), r)
  const readKind = weighted(READS, r)
  const writeKind = weighted(WRITES, r)
  const status = weighted(STATUSES, r)
  const product = new Map(options.tenants.map((t) => [t.id, zipf(t.products, s, r)]))
  const seller = new Map(options.tenants.map((t) => [t.id, zipf(t.sellers, s, r)]))
  const listPage = zipf(20, 1.4, r)
  const category = zipf(36, s, r)
  const term = zipf(TERMS.length, s, r)
  const ops: Op[] = []
  for (let i = 0; i < count; i++) {
    const tenant = tenantOf()
    const pid = (product.get(tenant) as () => number)()
    if (r() < writeRatio) {
      const k = writeKind()
      if (k === 'price' || k === 'stock') {
        const body = k === 'price' ? { priceCents: 500 + Math.floor(r() * 50_000) } : { stock: Math.floor(r() * 200) }
        ops.push({ kind: 'write', tenant, method: 'PATCH', path: `/api/v1/products/${pid}`, body, entity: (b) => [`${tenant}/product:${b.product.id}`, b.product.version] })
      } else if (k === 'variantStock') {
        ops.push({
          kind: 'write',
          tenant,
          method: 'PATCH',
          path: `/api/v1/variants/${(pid - 1) * 3 + 1}`,
          body: { stock: Math.floor(r() * 100) },
          entity: (b) => [`${tenant}/variant:${b.variant.id}`, b.variant.version],
        })
      } else {
        const sid = (seller.get(tenant) as () => number)()
        ops.push({ kind: 'write', tenant, method: 'PATCH', path: `/api/v1/sellers/${sid}`, body: { status: status() }, entity: (b) => [`${tenant}/seller:${b.seller.id}`, b.seller.version] })
      }
      continue
    }
    let path: string
    switch (readKind()) {
      case 'product':
        path = `/api/v1/products/${pid}`
        break
      case 'productList':
        path = `/api/v1/products?page=${listPage()}${r() < 0.3 ? '&sort=price' : ''}`
        break
      case 'category':
        path = `/api/v1/categories/${category()}/products?page=${listPage() <= 2 ? 1 : 2}`
        break
      case 'sellers':
        path = `/api/v1/variants/${(pid - 1) * 3 + 1}/sellers`
        break
      case 'search':
        path = `/api/v1/search?q=${TERMS[term() - 1]}`
        break
      case 'categories':
        path = '/api/v1/categories'
        break
      default:
        path = '/api/v1/analytics/dashboard'
    }
    ops.push({ kind: 'read', tenant, path })
  }
  return ops
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number
}

/** Runs `ops` with `concurrency` workers; `measure` false = warm-up (checked, not counted). */
async function drive(
  options: WorkloadOptions,
  ops: Op[],
  checker: StaleChecker,
  seen: Set<string>,
  measure: boolean,
  progress?: (done: number, r: WorkloadReport) => void,
): Promise<WorkloadReport> {
  const concurrency = options.concurrency ?? 16
  const urls = options.url.split(',').map((u) => u.trim().replace(/\/$/, ''))
  let turn = 0
  const latencies: number[] = []
  let next = 0
  let hits = 0
  let reads = 0
  let firstReads = 0
  let warmHits = 0
  let writes = 0
  let pendingAcks = 0
  let errors = 0
  const staleBefore = checker.stale.length
  const checkedBefore = checker.checked
  const originBefore = options.originReads?.()
  const started = performance.now()

  const snapshot = (): WorkloadReport => {
    const seconds = (performance.now() - started) / 1000
    const sorted = Float64Array.from(latencies).sort()
    const originReads = originBefore === undefined ? undefined : (options.originReads?.() ?? 0) - originBefore
    return {
      requests: reads + writes,
      reads,
      writes,
      pendingAcks,
      errors,
      hits,
      hitRatio: reads ? hits / reads : 0,
      firstReads,
      warmHitRatio: reads > firstReads ? warmHits / (reads - firstReads) : 0,
      originReads,
      saved: originReads === undefined || reads === 0 ? undefined : 1 - originReads / reads,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
      staleReads: checker.stale.length - staleBefore,
      staleExamples: checker.stale.slice(staleBefore, staleBefore + 5),
      checkedRows: checker.checked - checkedBefore,
      seconds,
      rps: seconds ? (reads + writes) / seconds : 0,
    }
  }

  async function worker(): Promise<void> {
    while (next < ops.length) {
      const op = ops[next++] as Op
      const base = urls[turn++ % urls.length] as string
      const t0 = performance.now()
      const startedAt = checker.tick()
      try {
        if (op.kind === 'read') {
          const res = await fetch(base + op.path, { headers: { 'x-tenant-id': op.tenant } })
          const body = await res.json()
          const ms = performance.now() - t0
          if (res.status !== 200) {
            errors++
            continue
          }
          const stale = checker.read(startedAt, op.path, versionsOf(op.tenant, body))
          for (const s of stale) s.detail = `x-cache ${res.headers.get('x-cache')}, age ${res.headers.get('age')}, ${res.headers.get('cache-status')}`
          const url = `${base} ${op.tenant} ${op.path}`
          const first = !seen.has(url)
          seen.add(url)
          if (measure) {
            reads++
            latencies.push(ms)
            const x = res.headers.get('x-cache') ?? ''
            const hit = x.startsWith('HIT') || x.startsWith('STALE')
            if (hit) hits++
            if (first) firstReads++
            else if (hit) warmHits++
          }
        } else {
          const res = await fetch(base + op.path, { method: op.method, headers: { 'x-tenant-id': op.tenant, 'content-type': 'application/json' }, body: JSON.stringify(op.body) })
          const body = await res.json()
          if (res.status !== 200) {
            errors++
            continue
          }
          const e = op.entity(body)
          if (e) checker.acknowledged(e[0], e[1])
          if (measure) {
            writes++
            if (res.headers.get('x-invalidation') === 'pending') pendingAcks++
            latencies.push(performance.now() - t0)
          }
        }
      } catch {
        errors++
      }
      if (progress && (reads + writes) % 250 === 0) progress(reads + writes, snapshot())
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker))
  return snapshot()
}

/** Warm-up, then the measured run. */
export async function runWorkload(options: WorkloadOptions): Promise<WorkloadReport> {
  const requests = options.requests ?? 20_000
  const warmup = options.warmup ?? requests
  const seed = options.seed ?? 42
  const checker = options.checker ?? new StaleChecker()
  const seen = new Set<string>()
  if (options.prewarm) {
    const all: Op[] = []
    for (const t of options.tenants) {
      for (let id = 1; id <= t.products; id++) {
        all.push({ kind: 'read', tenant: t.id, path: `/api/v1/products/${id}` }, { kind: 'read', tenant: t.id, path: `/api/v1/variants/${(id - 1) * 3 + 1}/sellers` })
      }
    }
    // Each gateway of a fleet keys its entries by the Host it was asked for: warm each one.
    for (const url of options.url.split(',')) await drive({ ...options, url, concurrency: Math.max(options.concurrency ?? 16, 32) }, all, checker, seen, false)
  }
  const ops = (n: number, s: number) => (options.filter ? plan(options, n, s).filter(options.filter) : plan(options, n, s))
  if (warmup > 0) await drive(options, ops(warmup, seed + 1), checker, seen, false)
  const measured = ops(requests, seed)
  options.onMeasuring?.()
  return drive(options, measured, checker, seen, true, (done, r) => options.onProgress?.(done, measured.length, r))
}
