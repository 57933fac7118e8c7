/**
 * B1: an L1 hit through getOrSet on an entry with 2 tags, beside BentoCache 1.6 (memory
 * driver), cache-manager 7 (memory Keyv), raw lru-cache `get` and the async floor
 * (`await` of an async function returning lru.get), all in this one process.
 * Then memory per 100k small entries: Larder's L1 beside lru-cache holding the same entries.
 * Run: npm run bench -- b1
 * Tracing mode (LARDER_BENCH_TRACING=1 npm run bench -- b1): before the memory part, the
 * same L1 hit and a load (a miss with a sync loader: one span each) with no OpenTelemetry
 * SDK registered and with an SDK (BasicTracerProvider, batch processor, dropping exporter)
 * registered and larder/tracing enabled, alternating rounds in this one process (support/tracing-rounds.ts).
 */
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { createCache as createCacheManager } from 'cache-manager'
import { createCache } from 'larder'
import { LRUCache } from 'lru-cache'
import { Bench } from 'tinybench'

const KEYS = 10_000
const keys = Array.from({ length: KEYS }, (_, i) => `product:${i}`)
const value = (i: number) => ({ id: i, name: `Product ${i}`, price: 1999, stock: 3 })

const larder = createCache({ l1: { maxEntries: 100_000 }, policies: { product: { ttl: '1h', grace: '24h' } } })
const shop = larder.tenant('acme')
const lru = new LRUCache<string, object>({ max: 100_000 })
const bento = new BentoCache({ default: 'memory', stores: { memory: bentostore().useL1Layer(memoryDriver({ maxItems: 100_000 })) } })
const cm = createCacheManager()
for (let i = 0; i < KEYS; i++) {
  const k = keys[i] as string
  await shop.getOrSet(k, () => value(i), { policy: 'product', tags: [k, `category:${i % 50}`] })
  lru.set(k, value(i))
  await bento.getOrSet({ key: k, factory: () => value(i), ttl: '1h', tags: [k, `category:${i % 50}`] })
  await cm.set(k, value(i), 3_600_000)
}

let n = 0
const next = () => keys[n++ % KEYS] as string
const loader = () => ({ never: true })
const asyncGet = async (k: string) => lru.get(k)
const bench = new Bench({ time: 1500, warmup: true, warmupTime: 300 })
bench
  .add('larder getOrSet (L1 hit, 2 tags)', async () => {
    await shop.getOrSet(next(), loader, { policy: 'product', tags: ['x', 'y'] })
  })
  .add('async floor (await async lru.get)', async () => {
    await asyncGet(next())
  })
  .add('lru-cache get (sync)', () => {
    lru.get(next())
  })
  .add('cache-manager 7 get', async () => {
    await cm.get(next())
  })
  .add('bentocache 1.6 getOrSet (memory)', async () => {
    await bento.getOrSet({ key: next(), factory: loader, ttl: '1h' })
  })
await bench.run()

const hz = new Map(bench.tasks.map((t) => [t.name, (t.result as { throughput?: { mean: number }; hz?: number } | undefined)?.throughput?.mean ?? (t.result as { hz?: number } | undefined)?.hz ?? 0]))
const ours = hz.get('larder getOrSet (L1 hit, 2 tags)') ?? 0
const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(0)} k`)
console.log('\nB1 — L1 hit through getOrSet (same process, same run)')
console.log('| subject | ops/s | larder ÷ subject |')
console.log('|---|---|---|')
for (const [name, v] of hz) console.log(`| ${name} | ${fmt(v)} | ${name.startsWith('larder') ? '1.00×' : `${(ours / v).toFixed(2)}×`} |`)
const bentoHz = hz.get('bentocache 1.6 getOrSet (memory)') ?? 1
const floor = hz.get('async floor (await async lru.get)') ?? 1
console.log(`\ntargets: ≥ 1 M ops/s → ${fmt(ours)} ${ours >= 1e6 ? 'met' : 'NOT met'}; ≥ 6× BentoCache → ${(ours / bentoHz).toFixed(1)}× ${ours / bentoHz >= 6 ? 'met' : 'NOT met'}; ≥ 0.5× async floor → ${(ours / floor).toFixed(2)}× ${ours / floor >= 0.5 ? 'met' : 'NOT met'}`)

await bento.disconnect()
await larder.close()

if (process.env.LARDER_BENCH_TRACING === '1') {
  const { tracingRounds } = await import('./support/tracing-rounds.ts')
  await tracingRounds()
}

// ---- memory per 100k small entries
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) {
  console.log('\n(memory comparison needs --expose-gc; npm run bench passes it)')
} else {
  const settle = () => {
    for (let i = 0; i < 4; i++) gc()
    return process.memoryUsage().heapUsed
  }
  const N = 100_000
  const small = (i: number) => ({ id: i, qty: i % 7 })
  let base = settle()
  const l = new LRUCache<string, object>({ max: N })
  for (let i = 0; i < N; i++) l.set(`product:${i}`, small(i))
  const lruBytes = settle() - base
  l.clear()
  base = settle()
  const c = createCache({ l1: { maxEntries: N } })
  const t = c.tenant('acme')
  for (let i = 0; i < N; i++) await t.set(`product:${i}`, small(i))
  const larderBytes = settle() - base
  const c2 = createCache({ l1: { maxEntries: N } })
  const t2 = c2.tenant('acme')
  base = settle()
  for (let i = 0; i < N; i++) await t2.set(`product:${i}`, small(i), { tags: [`product:${i}`, `category:${i % 50}`] })
  const taggedBytes = settle() - base
  console.log('\nMemory for 100k small entries (heap delta after GC)')
  console.log('| holder | bytes/entry | ÷ lru-cache |')
  console.log('|---|---|---|')
  console.log(`| lru-cache 11 | ${(lruBytes / N).toFixed(0)} | 1.00× |`)
  console.log(`| larder L1, no tags | ${(larderBytes / N).toFixed(0)} | ${(larderBytes / lruBytes).toFixed(2)}× |`)
  console.log(`| larder L1, 2 tags each | ${(taggedBytes / N).toFixed(0)} | ${(taggedBytes / lruBytes).toFixed(2)}× |`)
  console.log(`target ≤ 2× lru-cache (no tags): ${larderBytes / lruBytes <= 2 ? 'met' : 'NOT met'}`)
  await c.close()
  await c2.close()
}
