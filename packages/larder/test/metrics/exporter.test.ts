import diagnostics_channel from 'node:diagnostics_channel'
import assert from 'node:assert/strict'
import { afterEach, describe, test } from 'node:test'
import { Registry } from 'prom-client'
import { createAuthorizer } from '../../src/core/auth.ts'
import { channels } from '../../src/core/diagnostics.ts'
import { createMetrics, type Metrics } from '../../src/metrics/index.ts'
import { serve } from '../admin/serve.ts'

type Json = { name: string; values: { value: number; labels: Record<string, string | number>; metricName?: string }[] }

async function metric(m: Metrics, name: string): Promise<Json['values']> {
  const all = (await m.registry.getMetricsAsJSON()) as unknown as Json[]
  const found = all.find((x) => x.name === name)
  assert.ok(found, `metric ${name} is exported`)
  return found.values
}

function value(values: Json['values'], labels: Record<string, string>): number | undefined {
  return values.find((v) => Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))?.value
}

let current: Metrics | undefined
afterEach(() => {
  current?.close()
  current = undefined
})

function make(opts: Parameters<typeof createMetrics>[0] = {}): Metrics {
  current = createMetrics({ keyGroups: [{ name: 'product', prefix: 'product:' }, { name: 'variant', prefix: 'product:variant:' }, { name: 'category', prefix: 'category:' }], ...opts })
  return current
}

describe('createMetrics', () => {
  test('hits, stale serves and misses by tenant, layer and literal key group', async () => {
    const m = make()
    channels.hit.publish({ tenant: 'acme', key: 'product:42', layer: 'l1', stale: false })
    channels.hit.publish({ tenant: 'acme', key: 'product:42', layer: 'l1', stale: false })
    channels.hit.publish({ tenant: 'acme', key: 'product:variant:7', layer: 'l2', stale: true })
    channels.hit.publish({ tenant: 'globex', key: 'cart:1', layer: 'l1', stale: false })
    // `*` in a key is data, never a pattern: it matches no group.
    channels.miss.publish({ tenant: 'acme', key: 'product*' })
    channels.miss.publish({ tenant: 'acme', key: 'category:shoes' })
    const hits = await metric(m, 'larder_cache_hits_total')
    assert.equal(value(hits, { tenant: 'acme', layer: 'l1', group: 'product' }), 2)
    assert.equal(value(hits, { tenant: 'acme', layer: 'l2', group: 'variant' }), 1, 'the longest literal prefix wins')
    assert.equal(value(hits, { tenant: 'globex', layer: 'l1', group: 'other' }), 1)
    const stale = await metric(m, 'larder_cache_stale_serves_total')
    assert.equal(value(stale, { tenant: 'acme', layer: 'l2', group: 'variant' }), 1)
    assert.equal(stale.length, 1)
    const misses = await metric(m, 'larder_cache_misses_total')
    assert.equal(value(misses, { tenant: 'acme', group: 'other' }), 1)
    assert.equal(value(misses, { tenant: 'acme', group: 'category' }), 1)
  })

  test('unverified serves and log reachability (docs/invariants.md: bounded staleness)', async () => {
    const m = make()
    assert.equal(value(await metric(m, 'larder_log_reachable'), {}), 1, 'reachable until a read noticed otherwise')
    channels.health.publish({ reachable: false, silentMs: 1200, maxStalenessMs: 1000 })
    // A tenant gets its own label once the cache holds something of it (a stored entry or a hit).
    channels.set.publish({ tenant: 'acme', key: 'k0', layer: 'l1', accepted: true })
    channels.unverified.publish({ tenant: 'acme', key: 'product:1', layer: 'l1', silentMs: 1200 })
    assert.equal(value(await metric(m, 'larder_log_reachable'), {}), 0)
    assert.equal(value(await metric(m, 'larder_cache_unverified_serves_total'), { tenant: 'acme' }), 1)
    channels.health.publish({ reachable: true, silentMs: 10, maxStalenessMs: 1000 })
    assert.equal(value(await metric(m, 'larder_log_reachable'), {}), 1)
  })

  test('every channel feeds its metric with the documented names and labels', async () => {
    const m = make({ stats: () => ({ entries: 12, bytes: 3400 }) })
    // A tenant gets its own label once the cache holds something of it (a stored entry or a hit).
    channels.set.publish({ tenant: 'acme', key: 'k0', layer: 'l1', accepted: true })
    channels.load.publish({ tenant: 'acme', key: 'product:1', durationMs: 30, background: false })
    channels.load.publish({ tenant: 'acme', key: 'product:1', durationMs: 5000, timedOut: true, background: true })
    channels.load.publish({ tenant: 'acme', key: 'x', durationMs: 3, error: new Error('db down'), background: false })
    channels.set.publish({ tenant: 'acme', key: 'k', layer: 'l2', accepted: false })
    channels.evict.publish({ key: 'k', reason: 'size', layer: 'l1' })
    channels.invalidate.publish({ entry: { id: 1, tenant: 'acme', kind: 'hard', tags: ['t'], at: 0 }, local: true })
    channels.invalidate.publish({ entry: { id: 2, tenant: 'acme', kind: 'soft', tags: ['t'], at: 0 }, local: false })
    channels.gap.publish({ gap: { reason: 'trimmed' } })
    channels.store.publish({ op: 'get', durationMs: 0.4 })
    channels.store.publish({ op: 'get', durationMs: 150, error: new Error('timeout') })
    channels.log.publish({ op: 'read', durationMs: 1, lagMs: 250 })
    channels.breaker.publish({ name: 'redis', state: 'open' })
    channels.http.publish({ tenant: 'acme', status: 'HIT', route: 'products', durationMs: 1 })
    channels.http.publish({ tenant: 'acme', status: 'STALE', durationMs: 2 })
    channels.sse.publish({ tenant: 'acme', event: 'open' })
    channels.sse.publish({ tenant: 'acme', event: 'open' })
    channels.sse.publish({ tenant: 'acme', event: 'close' })
    channels.sse.publish({ tenant: 'acme', event: 'drop' })
    channels.sse.publish({ tenant: 'acme', event: 'send', count: 40 })
    channels.event.publish({ tenant: 'acme', type: 'product.updated', outcome: 'applied', durationMs: 4 })
    channels.event.publish({ tenant: 'acme', type: 'product.updated', outcome: 'duplicate', durationMs: 1 })
    channels.warm.publish({ plan: 'hot', done: 3, total: 10, loaded: 2, skipped: 1, failed: 0, state: 'running' })

    const loads = await metric(m, 'larder_cache_load_duration_seconds')
    const count = (labels: Record<string, string>) => loads.find((v) => v.metricName?.endsWith('_count') && Object.entries(labels).every(([k, x]) => String(v.labels[k]) === x))?.value
    assert.equal(count({ group: 'product', outcome: 'ok', background: 'false' }), 1)
    assert.equal(count({ group: 'product', outcome: 'timeout', background: 'true' }), 1)
    assert.equal(count({ group: 'other', outcome: 'error' }), 1)
    const sum = loads.find((v) => v.metricName?.endsWith('_sum') && v.labels.outcome === 'ok')?.value
    assert.equal(sum, 0.03, 'durations are exported in seconds')
    assert.equal(value(await metric(m, 'larder_cache_sets_total'), { layer: 'l2', accepted: 'false' }), 1)
    assert.equal(value(await metric(m, 'larder_cache_evictions_total'), { layer: 'l1', reason: 'size' }), 1)
    const inv = await metric(m, 'larder_invalidations_total')
    assert.equal(value(inv, { tenant: 'acme', kind: 'hard', origin: 'local' }), 1)
    assert.equal(value(inv, { tenant: 'acme', kind: 'soft', origin: 'remote' }), 1)
    assert.equal(value(await metric(m, 'larder_log_gaps_total'), { reason: 'trimmed' }), 1)
    const store = await metric(m, 'larder_store_op_duration_seconds')
    assert.equal(store.find((v) => v.metricName?.endsWith('_count') && v.labels.outcome === 'error')?.value, 1)
    assert.equal(store.find((v) => v.metricName?.endsWith('_bucket') && v.labels.outcome === 'ok' && v.labels.le === 0.0005)?.value, 1)
    assert.equal((await metric(m, 'larder_log_lag_seconds'))[0]?.value, 0.25)
    assert.equal(value(await metric(m, 'larder_breaker_state'), { name: 'redis' }), 2)
    const http = await metric(m, 'larder_http_responses_total')
    assert.equal(value(http, { tenant: 'acme', status: 'HIT', route: 'products' }), 1)
    assert.equal(value(http, { tenant: 'acme', status: 'STALE', route: 'default' }), 1)
    assert.equal(value(await metric(m, 'larder_sse_connections'), { tenant: 'acme' }), 1)
    assert.equal(value(await metric(m, 'larder_sse_connections_opened_total'), { tenant: 'acme' }), 2)
    assert.equal(value(await metric(m, 'larder_sse_drops_total'), { tenant: 'acme' }), 1)
    assert.equal(value(await metric(m, 'larder_sse_events_sent_total'), { tenant: 'acme' }), 40)
    const ev = await metric(m, 'larder_events_processed_total')
    assert.equal(value(ev, { tenant: 'acme', type: 'product.updated', outcome: 'applied' }), 1)
    assert.equal(value(ev, { outcome: 'duplicate' }), 1)
    const warm = await metric(m, 'larder_warm_items')
    assert.equal(value(warm, { plan: 'hot', state: 'done' }), 3)
    assert.equal(value(warm, { plan: 'hot', state: 'total' }), 10)
    assert.equal((await metric(m, 'larder_cache_entries'))[0]?.value, 12)
    assert.equal((await metric(m, 'larder_cache_bytes'))[0]?.value, 3400)
  })

  test('the tenant label stays bounded with 10,000 tenants', async () => {
    const m = make({ tenantLabelLimit: 20 })
    for (let i = 0; i < 10_000; i++) {
      channels.hit.publish({ tenant: `t${i}`, key: 'product:1', layer: 'l1', stale: false })
      channels.miss.publish({ tenant: `t${i}`, key: 'product:1' })
      channels.invalidate.publish({ entry: { id: i + 1, tenant: `t${i}`, kind: 'hard', tags: ['x'], at: 0 }, local: true })
      channels.http.publish({ tenant: `t${i}`, status: 'MISS', route: `/p/${i}`, durationMs: 1 })
      channels.event.publish({ tenant: `t${i}`, type: `type-${i}`, outcome: 'applied', durationMs: 1 })
    }
    const hits = await metric(m, 'larder_cache_hits_total')
    const tenants = new Set(hits.map((v) => v.labels.tenant))
    assert.equal(tenants.size, 21, '20 named tenants plus "other"')
    assert.ok(tenants.has('t0') && tenants.has('t19') && !tenants.has('t20'), 'the first 20 tenants seen keep their label')
    assert.equal(value(hits, { tenant: 'other' }), 10_000 - 20)
    for (const name of ['larder_cache_misses_total', 'larder_invalidations_total', 'larder_http_responses_total', 'larder_events_processed_total']) {
      assert.ok((await metric(m, name)).length <= 21 * 51, `${name} series stay bounded`)
    }
    assert.ok((await metric(m, 'larder_http_responses_total')).length <= 21 * 51)
    const text = await m.scrape()
    const series = text.split('\n').filter((l) => l.startsWith('larder_')).length
    assert.ok(series < 5000, `${series} series in the exposition`)
    const folded = await metric(m, 'larder_metrics_label_folded')
    assert.ok((value(folded, { label: 'tenant' }) ?? 0) >= 10_000 - 20)
  })

  test('an unknown tenant whose responses were never cacheable gets no label: it counts under "other"', async () => {
    const m = make()
    // What one request for a tenant the origin does not know (404, no-store) publishes.
    channels.miss.publish({ tenant: 'no-such-shop', key: 'shop.test/api/v1/products/1' })
    channels.http.publish({ tenant: 'no-such-shop', status: 'MISS', route: 'products', durationMs: 3 })
    channels.set.publish({ tenant: 'no-such-shop', key: 'k', layer: 'l1', accepted: false })
    const text = await m.scrape()
    assert.doesNotMatch(text, /no-such-shop/)
    assert.equal(value(await metric(m, 'larder_cache_misses_total'), { tenant: 'other' }), 1)
    assert.equal(value(await metric(m, 'larder_http_responses_total'), { tenant: 'other', status: 'MISS' }), 1)
    // Once the cache holds something of a tenant, it has its own label.
    channels.set.publish({ tenant: 'globex', key: 'k', layer: 'l1', accepted: true })
    channels.miss.publish({ tenant: 'globex', key: 'k2' })
    assert.equal(value(await metric(m, 'larder_cache_misses_total'), { tenant: 'globex' }), 1)
    // An SSE connection opened before its tenant was admitted closes under the same label.
    channels.sse.publish({ tenant: 'initech', event: 'open' })
    channels.hit.publish({ tenant: 'initech', key: 'k', layer: 'l1', stale: false })
    channels.sse.publish({ tenant: 'initech', event: 'close' })
    const conns = await metric(m, 'larder_sse_connections')
    assert.ok(conns.every((v) => v.value === 0), JSON.stringify(conns))
  })

  test('malformed messages from another publisher on the same channel names never throw into it', async () => {
    const m = make()
    // The typed `channels` only take declared payloads; any module can still publish on
    // the channel names through node:diagnostics_channel directly.
    const raw = (name: string) => diagnostics_channel.channel(name)
    assert.doesNotThrow(() => {
      raw('larder:cache:hit').publish(null)
      raw('larder:cache:hit').publish({ tenant: 42, key: {}, layer: 'l9' })
      raw('larder:cache:invalidate').publish({ entry: null })
      raw('larder:sse').publish({ tenant: 'acme', event: 'bogus' })
      raw('larder:cache:load').publish({ durationMs: -5 })
    })
    // The exporter keeps working.
    channels.hit.publish({ tenant: 'acme', key: 'k', layer: 'l1', stale: false })
    const hits = await metric(m, 'larder_cache_hits_total')
    assert.equal(value(hits, { tenant: 'acme', layer: 'l1', group: 'other' }), 1)
  })

  test('close unsubscribes every channel and frees the registry', async () => {
    const registry = new Registry()
    const m = createMetrics({ registry })
    const before = Object.values(channels).filter((c) => c.hasSubscribers).length
    assert.equal(before, Object.keys(channels).length)
    m.close()
    assert.equal(Object.values(channels).filter((c) => c.hasSubscribers).length, 0)
    assert.equal((await registry.getMetricsAsJSON()).length, 0)
    // The same registry can take a new exporter (no duplicate-name error).
    const again = createMetrics({ registry })
    channels.hit.publish({ tenant: 'acme', key: 'a', layer: 'l1', stale: false })
    channels.miss.publish({ tenant: 'acme', key: 'a' })
    assert.equal(value(await metric(again, 'larder_cache_misses_total'), { tenant: 'acme' }), 1)
    again.close()
  })

  test('GET /metrics serves the exposition; with auth it needs read:stats', async () => {
    const auth = createAuthorizer([
      { name: 'prom', token: 'prometheus-token', scopes: ['read:stats'] },
      { name: 'shop', token: 'acme-tenant-token', scopes: ['tenant:acme'] },
    ])
    const m = make({ auth })
    // A tenant gets its own label once the cache holds something of it (a stored entry or a hit).
    channels.set.publish({ tenant: 'acme', key: 'k0', layer: 'l1', accepted: true })
    channels.miss.publish({ tenant: 'acme', key: 'product:1' })
    const s = await serve([m.route])
    try {
      assert.equal((await s.call('/metrics')).status, 401)
      assert.equal((await s.call('/metrics', { token: 'wrong-token-123' })).status, 401)
      assert.equal((await s.call('/metrics', { token: 'acme-tenant-token' })).status, 403)
      const ok = await s.call('/metrics', { token: 'prometheus-token' })
      assert.equal(ok.status, 200)
      assert.match(ok.headers.get('content-type') ?? '', /text\/plain/)
      assert.match(ok.text, /^larder_cache_misses_total\{tenant="acme",group="product"\} 1$/m)
      assert.match(ok.text, /# TYPE larder_cache_load_duration_seconds histogram/)
      assert.equal((await s.call('/metrics', { method: 'POST', token: 'prometheus-token' })).status, 405)
      assert.equal((await s.call('/other')).status, 404, 'other paths fall through')
    } finally {
      await s.close()
    }
  })

  test('rejects a bad prefix and bad key groups', () => {
    assert.throws(() => createMetrics({ prefix: 'bad prefix' }), { code: 'E_INVALID_OPTION' })
    assert.throws(() => createMetrics({ keyGroups: [{ name: 'a b', prefix: 'x' }] }), { code: 'E_INVALID_OPTION' })
    assert.throws(() => createMetrics({ tenantLabelLimit: -1 }), { code: 'E_INVALID_OPTION' })
  })
})
