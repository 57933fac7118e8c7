import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, test } from 'node:test'
import { AlertEvaluator } from '../../src/admin/alerts.ts'
import { Monitor } from '../../src/admin/monitor.ts'
import { TopK } from '../../src/core/top-k.ts'
import { channels } from '../../src/core/diagnostics.ts'
import { FakeClock } from '../../src/testing/fake-clock.ts'
import { createGateway } from '../../src/gateway/index.ts'
import { createCache } from '../../src/index.ts'

let monitor: Monitor | undefined
afterEach(() => monitor?.close())

function make(clock: FakeClock, overrides = {}) {
  monitor = new Monitor({ clock, evaluator: new AlertEvaluator(undefined, overrides), topCapacity: 50, tenantLimit: 5, sampleEvery: 1 })
  return monitor
}

/** One second of traffic: `hits` hits and `misses` misses on tenant acme. */
function traffic(hits: number, misses: number, tenant = 'acme') {
  for (let i = 0; i < hits; i++) channels.hit.publish({ tenant, key: `product:${i % 3}`, layer: 'l1', stale: i % 10 === 0 })
  for (let i = 0; i < misses; i++) channels.miss.publish({ tenant, key: `product:m${i}` })
}

describe('admin monitor', () => {
  test('rates over sliding windows from channel events', async () => {
    const clock = new FakeClock()
    const m = make(clock)
    m.tick()
    for (let s = 0; s < 10; s++) {
      traffic(90, 10)
      await clock.advance(1000)
      m.tick()
    }
    const snap = m.snapshot()
    assert.equal(snap.requestsPerSec, 100)
    assert.equal(snap.hitRatio, 0.9)
    assert.equal(snap.staleServesPerSec, 9)
    assert.equal(snap.totals.hits, 900)
    assert.equal(snap.series.length, 10)
    assert.ok(snap.series.every((p) => p.rps === 100 && p.hitRatio === 0.9))
    assert.deepEqual(
      snap.topKeys.slice(0, 3).map((k) => k.key),
      ['product:0', 'product:1', 'product:2'],
    )
    assert.equal(snap.tenants[0]?.tenant, 'acme')
    assert.equal(snap.tenants[0]?.hits, 900)
  })

  test('the requests/s tile reads the same window as the chart: 0 as soon as traffic stops', async () => {
    const clock = new FakeClock()
    const m = make(clock)
    m.tick()
    for (let s = 0; s < 10; s++) {
      traffic(700, 38)
      await clock.advance(1000)
      m.tick()
    }
    assert.equal(m.snapshot().requestsPerSec, 738)
    for (let s = 0; s < 3; s++) {
      await clock.advance(1000)
      m.tick()
      const snap = m.snapshot()
      assert.equal(snap.requestsPerSec, snap.series[snap.series.length - 1]?.rps, 'the tile is the chart\'s last point')
      assert.equal(snap.requestsPerSec, 0)
      assert.equal(snap.staleServesPerSec, 0)
    }
  })

  test('the hit-ratio alert is pending, then fires after 5 minutes, then resolves', async () => {
    const clock = new FakeClock()
    const m = make(clock)
    m.tick()
    const alertState = () => m.snapshot().alerts.find((a) => a.alert === 'LarderLowCacheHitRatio')?.state
    for (let s = 0; s < 60; s++) {
      traffic(5, 5) // 50 %
      await clock.advance(1000)
      m.tick()
    }
    assert.equal(alertState(), 'pending')
    for (let s = 0; s < 250; s++) {
      traffic(5, 5)
      await clock.advance(1000)
      m.tick()
    }
    assert.equal(alertState(), 'firing')
    const a = m.snapshot().alerts.find((x) => x.alert === 'LarderLowCacheHitRatio')!
    assert.equal(a.severity, 'warning')
    assert.equal(a.value, 0.5)
    // Healthy traffic for 5 minutes: the 5-minute ratio climbs back above 70 %.
    for (let s = 0; s < 300; s++) {
      traffic(10, 0)
      await clock.advance(1000)
      m.tick()
    }
    assert.equal(alertState(), undefined)
  })

  test('invalidation storm, SSE drop rate, log lag, open breaker and L2 latency alerts', async () => {
    const clock = new FakeClock()
    const m = make(clock, { LarderInvalidationStorm: { forMs: 0 }, LarderSseDropRateHigh: { forMs: 0 }, LarderLogLagHigh: { forMs: 0 }, LarderCircuitOpen: { forMs: 0 }, LarderCacheOpLatencyHigh: { forMs: 0 } })
    m.tick()
    for (let i = 0; i < 1200; i++) channels.invalidate.publish({ entry: { id: i + 1, tenant: 'acme', kind: 'hard', tags: [`product:${i % 4}`], at: 0 }, local: true })
    for (let i = 0; i < 10; i++) channels.sse.publish({ tenant: 'acme', event: 'open' })
    channels.sse.publish({ tenant: 'acme', event: 'drop', count: 2 })
    channels.log.publish({ op: 'read', durationMs: 1, lagMs: 7000 })
    channels.breaker.publish({ name: 'redis', state: 'open' })
    for (let i = 0; i < 100; i++) channels.store.publish({ op: 'get', durationMs: 300 })
    await clock.advance(60_000)
    m.tick()
    const snap = m.snapshot()
    const firing = new Set(snap.alerts.filter((a) => a.state === 'firing').map((a) => a.alert))
    assert.deepEqual([...firing].sort(), ['LarderCacheOpLatencyHigh', 'LarderCircuitOpen', 'LarderInvalidationStorm', 'LarderLogLagHigh', 'LarderSseDropRateHigh'])
    assert.equal(snap.invalidationsPerMin, 1200)
    assert.equal(snap.sseConnections, 10)
    assert.equal(snap.sseDropRate5m, 0.2)
    assert.equal(snap.storeP99Ms, 500, 'p99 is the upper bound of its bucket')
    assert.equal(snap.topTags[0]?.count, 300)
    assert.equal(snap.breakers.redis, 'open')
  })

  test('tenant table and top keys stay bounded; a tenant view shows only that tenant', async () => {
    const clock = new FakeClock()
    const m = make(clock)
    for (let t = 0; t < 1000; t++) channels.hit.publish({ tenant: `t${t}`, key: `k${t}`, layer: 'l1', stale: false })
    for (let i = 0; i < 5; i++) channels.hit.publish({ tenant: 't1', key: 'hot', layer: 'l1', stale: false })
    m.tick()
    const snap = m.snapshot({ top: 100 })
    assert.equal(snap.tenants.length, 6, '5 tenants and "other"')
    assert.ok(snap.topKeys.length <= 50)
    assert.deepEqual(snap.topKeys[0], { tenant: 't1', key: 'hot', count: snap.topKeys[0]!.count })
    const own = m.snapshot({ tenant: 't1' })
    assert.ok(own.topKeys.length > 0 && own.topKeys.every((k) => k.tenant === 't1'))
    assert.deepEqual(
      own.tenants.map((t) => t.tenant),
      ['t1'],
    )
  })

  test('an unknown tenant with only uncacheable traffic gets no row: it counts under "other" until the cache holds something of it', () => {
    const m = make(new FakeClock())
    channels.hit.publish({ tenant: 'acme', key: 'k', layer: 'l1', stale: false })
    channels.miss.publish({ tenant: 'no-such-shop', key: 'shop.test/p/1' })
    channels.set.publish({ tenant: 'no-such-shop', key: 'k', layer: 'l1', accepted: false })
    m.tick()
    assert.deepEqual(
      m.snapshot().tenants.map((t) => [t.tenant, t.misses]),
      [
        ['acme', 0],
        ['other', 1],
      ],
    )
    // A stored entry admits the tenant; the miss before it moves to its own row.
    channels.miss.publish({ tenant: 'globex', key: 'k' })
    channels.set.publish({ tenant: 'globex', key: 'k', layer: 'l1', accepted: true })
    const rows = Object.fromEntries(m.snapshot().tenants.map((t) => [t.tenant, t.misses]))
    assert.deepEqual(rows, { acme: 0, globex: 1, other: 1 })
  })

  test('TopK keeps heavy hitters in bounded space', () => {
    const top = new TopK(10)
    for (let i = 0; i < 10_000; i++) {
      top.add(`cold${i}`)
      if (i % 4 === 0) top.add('hot')
      if (i % 8 === 0) top.add('warm')
    }
    const t = top.top(2)
    assert.deepEqual(
      t.map((x) => x.item),
      ['hot', 'warm'],
    )
    assert.ok(top.top(100).length <= 10)
  })
})

describe('admin monitor: HTTP traffic', () => {
  test("a Vary'd response counts one read per request (the Vary marker read is bookkeeping, not a request)", async () => {
    const origin = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300', vary: 'x-lang' })
      res.end('hello')
    })
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
    const cache = createCache()
    const gateway = createGateway({ origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`, cache })
    const clock = new FakeClock()
    const m = make(clock)
    try {
      const { port } = await gateway.listen(0, '127.0.0.1')
      m.tick()
      // One miss (the first request of each language), then hits: 12 requests.
      for (const lang of ['en', 'de']) {
        for (let i = 0; i < 6; i++) {
          const res = await fetch(`http://127.0.0.1:${port}/page`, { headers: { 'x-lang': lang } })
          assert.equal(res.headers.get('x-cache'), i === 0 ? 'MISS' : 'HIT')
          await res.arrayBuffer()
        }
      }
      await clock.advance(1000)
      m.tick()
      const snap = m.snapshot()
      assert.equal(snap.requestsPerSec, 12)
      assert.deepEqual([snap.totals.hits, snap.totals.misses], [10, 2])
      assert.equal(snap.hitRatio, 10 / 12)
      // The core's own counters agree (cache.stats(): one hit or miss per request).
      const st = cache.stats()
      assert.deepEqual([st.hits, st.misses], [10, 2])
    } finally {
      await gateway.close()
      await cache.close()
      await new Promise<void>((r) => origin.close(() => r()))
    }
  })
})
