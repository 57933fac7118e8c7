import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { type Cache, createCache, isLarderError, type TenantCache } from 'larder'
import { FakeClock, mulberry32 } from 'larder/testing'

const row = (cache: Cache, group: string, tenant?: string) => cache.ttlReport?.(tenant).groups.find((g) => g.group === group)

/** Reads `key` through getOrSet; counts loads in `loads`. */
function reader(tc: TenantCache, policy: string, loads: { n: number }) {
  return (key: string, tags: string[] = []) =>
    tc.getOrSet(
      key,
      () => {
        loads.n++
        return { key }
      },
      { policy, tags },
    )
}

describe('adaptive TTLs', () => {
  test('popular, never-changing entries: the ttl grows to max; loads fall', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { catalog: { ttl: '1m', adaptive: { min: '10s', max: '30m' } } } })
    const loads = { n: 0 }
    const read = reader(cache.tenant('acme'), 'catalog', loads)
    assert.equal(row(cache, 'catalog'), undefined, 'no group before a store')
    let firstHour = 0
    for (let minute = 0; minute < 120; minute++) {
      for (let k = 0; k < 20; k++) await read(`p:${k}`)
      await clock.advance(60_000)
      if (minute === 59) firstHour = loads.n
    }
    const r = row(cache, 'catalog')
    assert.ok(r)
    assert.equal(r.adaptive, true)
    assert.equal(r.policyTtlMs, 60_000)
    assert.deepEqual(r.ttlMs, { min: 1_800_000, max: 1_800_000 }, 'read again after every expiry and never changed: max')
    assert.equal(r.invalidatedBeforeExpiry, 0)
    assert.ok(r.readAfterExpiry > 0)
    // A fixed 1m ttl would load every key every minute: 20 × 60 per hour.
    assert.ok(loads.n - firstHour < 20 * 60 * 0.2, `second hour loads ${loads.n - firstHour}`)
    await cache.close()
  })

  test('frequently changing entries: the ttl falls to about 3 change intervals, never under min', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { stock: { ttl: '10m', adaptive: { min: '20s', max: '1h' } }, floor: { ttl: '10m', adaptive: { min: '5m', max: '1h' } } } })
    const shop = cache.tenant('acme')
    const loads = { n: 0 }
    const read = reader(shop, 'stock', loads)
    const floor = reader(shop, 'floor', loads)
    for (let s = 0; s < 3600; s += 5) {
      for (let k = 0; k < 5; k++) await read(`stock:${k}`, [`stock:${k}`])
      for (let k = 0; k < 5; k++) await floor(`floor:${k}`, [`stock:${k}`])
      // Every key changes about once a minute.
      if (s % 60 === 55) await shop.invalidateTags([0, 1, 2, 3, 4].map((k) => `stock:${k}`))
      await clock.advance(5_000)
    }
    const r = row(cache, 'stock')
    assert.ok(r)
    assert.ok(r.invalidatedBeforeExpiry > 50)
    assert.ok(r.changeIntervalMs !== null && r.changeIntervalMs > 50_000 && r.changeIntervalMs < 70_000, `change interval ${r.changeIntervalMs}`)
    assert.ok(r.ttlMs.max > 150_000 && r.ttlMs.max < 220_000, `ttl ${r.ttlMs.max} should be about 3 × the 1m change interval`)
    assert.deepEqual(row(cache, 'floor')?.ttlMs, { min: 300_000, max: 300_000 }, 'never under min')
    await cache.close()
  })

  test('the ttl stays within [min, max] whatever the traffic (seeded random)', async () => {
    const seed = 20261128
    console.log(`seed ${seed}`)
    const random = mulberry32(seed)
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { mix: { ttl: '1m', adaptive: { min: '15s', max: '5m', halfLife: '10m' } } } })
    const shop = cache.tenant('acme')
    const read = reader(shop, 'mix', { n: 0 })
    for (let i = 0; i < 3000; i++) {
      const k = Math.floor(random() ** 2 * 50)
      if (random() < 0.05) await shop.invalidateTags([`k:${k}`])
      else await read(`k:${k}`, [`k:${k}`])
      await clock.advance(Math.floor(random() * 4000))
      const r = row(cache, 'mix')
      if (r) assert.ok(r.ttlMs.min >= 15_000 && r.ttlMs.max <= 300_000, `ttl ${JSON.stringify(r.ttlMs)}`)
    }
    await cache.close()
  })

  test('the chosen ttl is what getOrSet and set store (one lifetime rule)', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { catalog: { ttl: '1m', adaptive: { min: '10s', max: '10m' } } } })
    const shop = cache.tenant('acme')
    const read = reader(shop, 'catalog', { n: 0 })
    for (let minute = 0; minute < 60; minute++) {
      for (let k = 0; k < 10; k++) await read(`p:${k}`)
      await clock.advance(61_000)
    }
    assert.equal(row(cache, 'catalog')?.ttlMs.max, 600_000)
    await shop.set('direct', 1, { policy: 'catalog' })
    const loads = { n: 0 }
    await reader(shop, 'catalog', loads)('fresh')
    await clock.advance(590_000)
    assert.equal(await shop.get('direct'), 1, 'set used the adapted ttl (10m), not the policy ttl (1m)')
    assert.deepEqual(await shop.get('fresh'), { key: 'fresh' })
    await clock.advance(11_000)
    assert.equal(await shop.get('direct'), undefined)
    // A call's ttl still wins.
    await shop.set('call', 1, { policy: 'catalog', ttl: '5s' })
    await clock.advance(6_000)
    assert.equal(await shop.get('call'), undefined)
    await cache.close()
  })

  test('tenants adapt apart; cells and the ledger are bounded', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, statsTenantLimit: 2, ttlTracking: 50, policies: { p: { ttl: '1m', adaptive: { min: '10s', max: '30m' } } } })
    const calm = reader(cache.tenant('calm'), 'p', { n: 0 })
    const busyShop = cache.tenant('busy')
    const busy = reader(busyShop, 'p', { n: 0 })
    for (let s = 0; s < 3600; s += 10) {
      for (let k = 0; k < 5; k++) {
        await calm(`k:${k}`)
        await busy(`k:${k}`, [`k:${k}`])
      }
      await busyShop.invalidateTags(['k:0', 'k:1', 'k:2', 'k:3', 'k:4'])
      await clock.advance(10_000)
    }
    const calmTtl = row(cache, 'p', 'calm')?.ttlMs.max ?? 0
    const busyTtl = row(cache, 'p', 'busy')?.ttlMs.max ?? Number.POSITIVE_INFINITY
    assert.ok(calmTtl > 10 * busyTtl, `calm ${calmTtl} vs busy ${busyTtl}`)
    assert.ok(busyTtl >= 25_000 && busyTtl <= 40_000, `changes every 10 s: about 30 s, got ${busyTtl}`)
    // Many more tenants and keys than the bounds: they share `other`, the ledger stays at its capacity.
    for (let t = 0; t < 500; t++) await reader(cache.tenant(`noise-${t}`), 'p', { n: 0 })(`x:${t}`)
    const all = cache.ttlReport?.()
    assert.ok(all)
    assert.equal(all.tracked, 50, 'the ledger stops at its capacity')
    assert.ok(all.folded > 0, 'tenants past the limit were counted under other')
    assert.deepEqual(cache.ttlReport?.('noise-7').groups, [], 'a folded tenant has no rows of its own')
    assert.deepEqual(cache.ttlReport?.('other').groups, [], '`other` mixes tenants: never answered for one')
    assert.equal(row(cache, 'p', 'calm')?.ttlMs.max, calmTtl, 'noise tenants did not move calm')
    await cache.close()
  })

  test('bad adaptive options are E_INVALID_OPTION / E_INVALID_DURATION', () => {
    for (const adaptive of [{ min: '1m', max: '10s' }, { min: 0, max: '1m' }, 'fast', null]) {
      assert.throws(() => createCache({ policies: { p: { adaptive: adaptive as never } } }), (e) => isLarderError(e, 'E_INVALID_OPTION'))
    }
    assert.throws(() => createCache({ policies: { p: { adaptive: { min: 'soon', max: '1m' } } } }), (e) => isLarderError(e, 'E_INVALID_DURATION'))
    assert.throws(() => createCache({ ttlTracking: -1 }), (e) => isLarderError(e, 'E_INVALID_OPTION'))
  })
})

describe('TTL-effectiveness report', () => {
  async function scenario() {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { fixed: { ttl: '1m' } } })
    const shop = cache.tenant('acme')
    const loads = { n: 0 }
    const read = reader(shop, 'fixed', loads)
    for (const k of ['a', 'b', 'c', 'd']) await read(k, [k])
    await clock.advance(10_000)
    await shop.invalidateTags(['a'])
    await read('a', ['a']) // a: invalidated before expiry (reloaded)
    await clock.advance(55_000)
    await read('b', ['b']) // b: read after expiry
    await clock.advance(59_000)
    // c and d expire and are not read again within one more ttl: stores of other keys sweep them.
    for (const k of ['e', 'f', 'g', 'h', 'i', 'j']) await read(k)
    return { cache, loads }
  }

  test('counts entries that expired unchanged, were invalidated before expiry, were read after expiry', async () => {
    const { cache, loads } = await scenario()
    assert.equal(loads.n, 12)
    const r = row(cache, 'fixed')
    assert.ok(r)
    assert.equal(r.adaptive, false)
    assert.deepEqual(r.ttlMs, { min: 60_000, max: 60_000 })
    // a (invalidated), b (read after expiry), c, d (expired unread); the reloaded a and b are still within their horizon.
    assert.equal(r.invalidatedBeforeExpiry, 1)
    assert.equal(r.readAfterExpiry, 1)
    assert.equal(r.expiredUnchanged, 3)
    assert.equal(r.ended, 4)
    assert.deepEqual(r.shares, { expiredUnchanged: 3 / 4, invalidatedBeforeExpiry: 1 / 4, readAfterExpiry: 1 / 4 })
    assert.deepEqual(row(cache, 'fixed', 'acme'), r, "the tenant's own rows")
    assert.deepEqual(cache.ttlReport?.('globex').groups, [])
    await cache.close()
  })

  test('is deterministic under the injected clock', async () => {
    const a = await scenario()
    const b = await scenario()
    assert.deepEqual(a.cache.ttlReport?.(), b.cache.ttlReport?.())
    await a.cache.close()
    await b.cache.close()
  })

  test('ttlTracking: 0 turns tracking off', async () => {
    const cache = createCache({ ttlTracking: 0 })
    await cache.tenant('acme').set('k', 1)
    assert.deepEqual(cache.ttlReport?.(), { tracked: 0, capacity: 0, folded: 0, groups: [] })
    await cache.close()
  })
})
