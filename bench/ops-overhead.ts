/**
 * Cost of observability on the hot path: an L1 hit through `getOrSet` (B1's operation)
 * with nobody listening on the diagnostics channels, with the Prometheus exporter
 * (createMetrics) subscribed, and with the exporter plus the admin API's monitor (rates,
 * top-K keys, per-tenant table) subscribed. Same process, same run, reported as ratios to
 * the unobserved run; the async floor (`await` of an async function returning `lru.get`)
 * is the anchor (docs/benchmarks.md).
 *
 * Run: node --import tsx --conditions=larder-src bench/ops-overhead.ts [seconds=2]
 */
import { LRUCache } from 'lru-cache'
import { Bench } from 'tinybench'
import { AlertEvaluator } from '../packages/larder/src/admin/alerts.ts'
import { Monitor } from '../packages/larder/src/admin/monitor.ts'
import { createCache } from '../packages/larder/src/index.ts'
import { createMetrics } from '../packages/larder/src/metrics/index.ts'

const seconds = Number(process.argv[2] ?? 2)
const KEYS = 10_000
const tenants = ['acme', 'globex', 'initech', 'umbrella']

const cache = createCache({ instanceId: 'bench' })
const value = { id: 1, name: 'product', price: 9.99, tags: ['a', 'b'] }
for (const t of tenants) for (let i = 0; i < KEYS / tenants.length; i++) await cache.tenant(t).set(`product:${i}`, value, { ttl: '1h', tags: [`product:${i}`, 'catalog'] })
const scopes = tenants.map((t) => cache.tenant(t))
const loader = () => value

const lru = new LRUCache<string, object>({ max: KEYS })
for (let i = 0; i < KEYS; i++) lru.set(`k${i}`, value)
const asyncGet = async (k: string) => lru.get(k)

let n = 0
const hit = async () => {
  n++
  await (scopes[n & 3] as (typeof scopes)[number]).getOrSet(`product:${(n >> 2) % (KEYS / 4)}`, loader, { tags: ['catalog'] })
}

async function measure(name: string): Promise<number> {
  const b = new Bench({ time: seconds * 1000, warmup: true })
  b.add(name, hit)
  await b.run()
  return (b.tasks[0]!.result as unknown as { throughput: { mean: number } }).throughput.mean
}

const floorBench = new Bench({ time: seconds * 1000, warmup: true })
floorBench.add('async floor', async () => {
  n++
  await asyncGet(`k${n % KEYS}`)
})
await floorBench.run()
const floor = (floorBench.tasks[0]!.result as unknown as { throughput: { mean: number } }).throughput.mean

const bare = await measure('getOrSet L1 hit, no listeners')
const metrics = createMetrics({ keyGroups: [{ name: 'product', prefix: 'product:' }], stats: () => cache.stats() })
const withMetrics = await measure('getOrSet L1 hit, createMetrics subscribed')
const monitor = new Monitor({ evaluator: new AlertEvaluator() })
const withAll = await measure('getOrSet L1 hit, metrics + admin monitor subscribed')
monitor.close()
metrics.close()
const bareAgain = await measure('getOrSet L1 hit, no listeners (again)')
await cache.close()

const fmt = (x: number) => `${(x / 1e6).toFixed(2)} M ops/s`
const rows = [
  ['async floor (await async lru.get)', floor],
  ['getOrSet L1 hit, no listeners', bare],
  ['getOrSet L1 hit, createMetrics subscribed', withMetrics],
  ['getOrSet L1 hit, metrics + admin monitor', withAll],
  ['getOrSet L1 hit, no listeners (again)', bareAgain],
] as const
const base = (bare + bareAgain) / 2
console.log(`| case | throughput | vs no listeners |\n|---|---|---|`)
for (const [name, v] of rows) console.log(`| ${name} | ${fmt(v)} | ${(v / base).toFixed(2)}× |`)
