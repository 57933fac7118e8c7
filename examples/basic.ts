/**
 * The core in one page: read-through caching, a tag invalidation, and a
 * stale-while-revalidate refresh, printing what happens. Run: npm run example
 */
import { channels, createCache } from 'larder'

const db = new Map([[42, { id: 42, name: 'Espresso cup', price: 1200, categoryId: 7 }]])
const log = (...a: unknown[]) => console.log(`[${new Date().toISOString().slice(11, 23)}]`, ...a)
channels.hit.subscribe((m) => {
  const { key, layer, stale } = m as { key: string; layer: string; stale: boolean }
  log(`  cache ${stale ? 'STALE' : 'HIT'} ${key} (${layer})`)
})
channels.miss.subscribe((m) => log(`  cache MISS ${(m as { key: string }).key}`))

const cache = createCache({
  l1: { maxEntries: 100_000, maxBytes: 256 * 2 ** 20 },
  policies: { product: { ttl: '1s', grace: '24h' }, inventory: { ttl: '5m' } },
})
const shop = cache.tenant('acme')
let loads = 0
const loadProduct = async (id: number) => {
  loads++
  log(`  loader: reading product ${id} from the database (load #${loads})`)
  await new Promise((r) => setTimeout(r, 30))
  return structuredClone(db.get(id) ?? null)
}
const getProduct = (id: number) => shop.getOrSet(`product:${id}`, () => loadProduct(id), { policy: 'product', tags: [`product:${id}`, 'category:7'] })

log('1. read-through: the first read loads, the second is served from L1')
log('  →', await getProduct(42))
log('  →', await getProduct(42))

log('2. the price changes; invalidating tag category:7 drops every entry carrying it')
;(db.get(42) as { price: number }).price = 990
const r = await shop.invalidateTags(['category:7'])
log(`  invalidation #${r.id} purged ${r.purged} entry`)
log('  →', await getProduct(42), '(fresh price, loaded again)')

log('3. stale-while-revalidate: past its 1 s ttl the entry is served stale while one refresh runs')
;(db.get(42) as { name: string }).name = 'Espresso cup (new glaze)'
await new Promise((r) => setTimeout(r, 1100))
log('  →', await getProduct(42), '(stale, a background refresh started)')
await new Promise((r) => setTimeout(r, 100))
log('  →', await getProduct(42), '(refreshed)')

const s = cache.stats()
log(`stats: ${s.hits} hits, ${s.misses} misses, ${s.staleServes} stale serves, ${s.loads} loads, hit ratio ${(s.hitRatio * 100).toFixed(0)} %`)
await cache.close()
