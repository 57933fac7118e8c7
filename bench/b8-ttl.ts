/**
 * B8 (TTLs): the storefront workload's request sequence (apps/storefront/src/load/workload.ts
 * `plan`, same seed, tenants, Zipf s = 1.1, read mix and 1 % writes as `b8-storefront.ts`)
 * replayed through the core cache on a virtual clock, once per TTL setup, in this one run:
 *
 * - fixed: each endpoint's policy has the storefront's shared max-age (api/cache-policy.ts);
 * - adaptive: the same policies with `adaptive: { min, max }`;
 * - fixed at max: every policy at the adaptive bound `max` (the control: is it adaptivity,
 *   or only longer TTLs?).
 *
 * Why a replay and not the gateway: the gateway's freshness is the origin's Cache-Control
 * (RFC 9111), which a cache policy does not override, and at bench speed (thousands of
 * requests a second) no TTL of minutes ever expires. Here requests arrive at `B8_TTL_RPS`
 * a second of virtual time, so TTLs expire as they would in a shop. Reads carry the tags the
 * origin's Surrogate-Key would (a model: list, category and search pages hold 20 products,
 * a variant 3 sellers); writes invalidate what apps/storefront/rules.yaml would. Every read
 * is a `getOrSet`; origin load = loader calls.
 *
 *   npm run bench -- b8     (B8_TTL_REQUESTS=200000, B8_TTL_RPS=20, B8_TTL_MIN=1m, B8_TTL_MAX=6h)
 */
import { type Cache, createCache, parseDuration, type Policy } from 'larder'
import { FakeClock } from 'larder/testing'
import { SELLERS_PER_TENANT, TENANTS } from '../apps/storefront/src/db/seed.ts'
import { SHARED_MAX_AGE } from '../apps/storefront/src/api/cache-policy.ts'
import { plan } from '../apps/storefront/src/load/workload.ts'

const REQUESTS = Number(process.env.B8_TTL_REQUESTS ?? 200_000)
const RPS = Number(process.env.B8_TTL_RPS ?? 20)
const MIN = process.env.B8_TTL_MIN ?? '1m'
const MAX = process.env.B8_TTL_MAX ?? '6h'
const SEED = 42
const PAGE = 20

const ops = plan({ url: '', tenants: TENANTS.map((t) => ({ id: t.id, products: t.products, sellers: SELLERS_PER_TENANT })) }, REQUESTS, SEED)
const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i)
const offers = (v: number) => [0, 1, 2].map((k) => 1 + ((v * 7 + k * 37) % SELLERS_PER_TENANT))

/** The policy (group) and tags of a read, as the origin would tag its answer. */
function classify(path: string): { policy: keyof typeof SHARED_MAX_AGE; tags: string[] } {
  const url = new URL(path, 'http://shop')
  const parts = url.pathname.split('/').slice(3)
  const page = Number(url.searchParams.get('page') ?? 1)
  if (parts[0] === 'products' && parts[1] !== undefined) {
    const pid = Number(parts[1])
    return { policy: 'product', tags: [`product:${pid}`, ...range((pid - 1) * 3 + 1, 3).map((v) => `variant:${v}`)] }
  }
  if (parts[0] === 'products') {
    const byPrice = url.searchParams.get('sort') === 'price'
    return { policy: 'products', tags: ['products:list', ...(byPrice ? ['products:by-price'] : []), ...range((page - 1) * PAGE + 1, PAGE).map((p) => `product:${p}`)] }
  }
  if (parts[0] === 'categories' && parts[1] !== undefined) {
    const c = Number(parts[1])
    return { policy: 'categoryProducts', tags: [`category:${c}`, ...range((page - 1) * PAGE, PAGE).map((i) => `product:${c + i * 36}`)] }
  }
  if (parts[0] === 'categories') return { policy: 'categories', tags: ['categories'] }
  if (parts[0] === 'variants') {
    const v = Number(parts[1])
    return { policy: 'sellersFew', tags: [`variant:${v}:sellers`, `variant:${v}`, ...offers(v).map((s) => `seller:${s}`)] }
  }
  if (parts[0] === 'search') {
    const q = url.searchParams.get('q') ?? ''
    const h = [...q].reduce((a, ch) => (a * 31 + ch.charCodeAt(0)) % 997, 7)
    return { policy: 'search', tags: ['search', ...range(0, PAGE).map((i) => `product:${1 + ((h * 53 + i * 97) % 2500)}`)] }
  }
  return { policy: 'analytics', tags: ['analytics'] }
}

/** What a write invalidates (apps/storefront/rules.yaml). */
function invalidates(path: string, body: Record<string, unknown>): string[] {
  const [, , , kind, id] = path.split('/')
  const n = Number(id)
  if (kind === 'products') return 'priceCents' in body ? [`product:${n}`, 'products:by-price'] : [`product:${n}`]
  if (kind === 'variants') return [`variant:${n}`]
  return [`seller:${n}`, 'analytics']
}

interface Result {
  name: string
  reads: number
  hits: number
  loads: number
  cache: Cache
}

async function replay(name: string, policies: Record<string, Policy>): Promise<Result> {
  const clock = new FakeClock()
  const cache = createCache({ clock, policies, l1: { maxEntries: 200_000 } })
  const step = 1000 / RPS
  const measureFrom = Math.floor(ops.length / 2)
  let reads = 0
  let hits = 0
  let loads = 0
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!
    const shop = cache.tenant(op.tenant)
    if (op.kind === 'write') {
      await shop.invalidateTags(invalidates(op.path, op.body as Record<string, unknown>))
    } else {
      const { policy, tags } = classify(op.path)
      let loaded = false
      await shop.getOrSet(
        op.path,
        () => {
          loaded = true
          return { path: op.path }
        },
        { policy, tags },
      )
      if (i >= measureFrom) {
        reads++
        if (loaded) loads++
        else hits++
      }
    }
    await clock.advance(step)
  }
  return { name, reads, hits, loads, cache }
}

const fixed: Record<string, Policy> = Object.fromEntries(Object.entries(SHARED_MAX_AGE).map(([k, s]) => [k, { ttl: s * 1000 }]))
const adaptive: Record<string, Policy> = Object.fromEntries(Object.entries(SHARED_MAX_AGE).map(([k, s]) => [k, { ttl: s * 1000, adaptive: { min: MIN, max: MAX } }]))
const atMax: Record<string, Policy> = Object.fromEntries(Object.keys(SHARED_MAX_AGE).map((k) => [k, { ttl: parseDuration(MAX) }]))

const hours = (REQUESTS / RPS / 3600).toFixed(1)
console.log(`B8 TTLs: ${REQUESTS} storefront requests (seed ${SEED}) at ${RPS}/s virtual (${hours} h), second half measured; adaptive bounds [${MIN}, ${MAX}]`)
const started = performance.now()
const runs = [await replay('fixed (storefront TTLs)', fixed), await replay(`adaptive [${MIN}, ${MAX}]`, adaptive), await replay(`fixed at ${MAX}`, atMax)]
const base = runs[0]!
const pct = (x: number | null | undefined) => (x == null ? '-' : `${(x * 100).toFixed(1)} %`)
const lines = [
  ['', ...runs.map((r) => r.name)],
  ['hit ratio', ...runs.map((r) => pct(r.hits / r.reads))],
  ['origin loads', ...runs.map((r) => String(r.loads))],
  ['origin loads ÷ fixed', ...runs.map((r) => `${(r.loads / base.loads).toFixed(2)}×`)],
]
const widths = lines[0]!.map((_, c) => Math.max(...lines.map((l) => (l[c] ?? '').length)))
console.log(lines.map((l) => l.map((cell, c) => cell.padEnd(widths[c]!)).join('   ')).join('\n'))

console.log('\nTTL report per group (all requests): expired unchanged / invalidated before expiry / read after expiry; ttl in use')
for (const r of runs.slice(0, 2)) {
  console.log(`  ${r.name}`)
  for (const g of r.cache.ttlReport?.().groups ?? []) {
    const ttl = g.adaptive ? `${(g.ttlMs.min / 60_000).toFixed(0)}-${(g.ttlMs.max / 60_000).toFixed(0)} min` : `${(g.policyTtlMs / 60_000).toFixed(0)} min`
    console.log(`    ${g.group.padEnd(17)} ${ttl.padStart(12)}   ended ${String(g.ended).padStart(6)}   ${pct(g.shares.expiredUnchanged).padStart(7)} / ${pct(g.shares.invalidatedBeforeExpiry).padStart(7)} / ${pct(g.shares.readAfterExpiry).padStart(7)}`)
  }
}
for (const r of runs) await r.cache.close()
console.log(`\n(${((performance.now() - started) / 1000).toFixed(1)} s wall)`)
