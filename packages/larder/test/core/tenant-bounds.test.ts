/**
 * Per-tenant bounds (issue 12 items 2 and 3): one tenant's invalidation bookkeeping can only
 * cost that tenant, and the bookkeeping of tenants that come and go is freed.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { createCache } from 'larder'

test('a tenant invalidating 300,000 distinct tags keeps other tenants in L1 and stays correct itself', async () => {
  const cache = createCache()
  const acme = cache.tenant('acme')
  const globex = cache.tenant('globex')
  await globex.set('home', 'G', { tags: ['page:home'] })
  // Globex has its own (small) epoch table too: it must survive acme's flood.
  await globex.set('other', 'O', { tags: ['page:other'] })
  await globex.invalidateTags(['page:other'])
  await acme.set('early', 'stale-if-served', { tags: ['product:0'] })
  await acme.set('untouched', 'U', { tags: ['never-invalidated'] })
  const batch = 1000
  for (let i = 0; i < 300_000; i += batch) {
    await acme.invalidateTags(Array.from({ length: batch }, (_, j) => `product:${i + j}`))
  }
  const before = cache.stats().tenants.globex?.l1Hits ?? 0
  let loads = 0
  assert.equal(await globex.getOrSet('home', () => {
    loads++
    return 'reloaded'
  }), 'G')
  assert.equal(await globex.get('home'), 'G')
  assert.equal(loads, 0, "globex's entry must not be reloaded")
  assert.equal((cache.stats().tenants.globex?.l1Hits ?? 0) - before, 2, "globex's reads are L1 hits")
  // product:0 was acme's first (so most surely forgotten) invalidation: never served stale.
  assert.equal(await acme.get('early'), undefined)
  // An acme entry loaded after the flood is cached normally, and a new invalidation still works.
  await acme.set('late', 'L', { tags: ['product:5'] })
  assert.equal(await acme.get('late'), 'L')
  await acme.invalidateTags(['product:5'])
  assert.equal(await acme.get('late'), undefined)
  await cache.close()
})

test('an acme overflow is not a floor for another tenant that loads from before it', async () => {
  // Globex's load begins, acme floods its table, globex's load finishes: it is stored and served.
  const cache = createCache()
  const acme = cache.tenant('acme')
  const globex = cache.tenant('globex')
  let release!: () => void
  const gate = new Promise<void>((r) => {
    release = r
  })
  const pending = globex.getOrSet('slow', async () => {
    await gate
    return 'S'
  })
  for (let i = 0; i < 300_000; i += 1000) await acme.invalidateTags(Array.from({ length: 1000 }, (_, j) => `t:${i + j}`))
  release()
  assert.equal(await pending, 'S')
  let loads = 0
  assert.equal(await globex.getOrSet('slow', () => {
    loads++
    return 'again'
  }), 'S')
  assert.equal(loads, 0)
  await cache.close()
})

test('bookkeeping of 300,000 tenants is bounded (heap, in a child with --expose-gc)', { timeout: 120_000 }, () => {
  const script = fileURLToPath(new URL('./fixtures/tenant-churn.ts', import.meta.url))
  const res = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--conditions=larder-src', script, '300000'], { encoding: 'utf8', timeout: 110_000 })
  assert.equal(res.status, 0, res.stderr)
  const out = JSON.parse(res.stdout.trim().split('\n').pop() as string) as { growthMiB: number; ms: number }
  // 1,000 L1 entries and the configured bounds: a few MiB. Today's code grew ~166 MiB.
  assert.ok(out.growthMiB < 24, `heap grew ${out.growthMiB.toFixed(1)} MiB for 300,000 tenants`)
})
