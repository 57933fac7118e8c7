import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { createCache } from '../../src/core/cache.ts'
import { createEventProcessor } from '../../src/events/processor.ts'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { createMetrics, type Metrics } from '../../src/metrics/index.ts'
import { createSseHub } from '../../src/realtime/index.ts'
import { type Served, serve } from '../admin/serve.ts'
import { metricNames } from './promql.ts'

const FILE = new URL('../../../../ops/grafana/larder.json', import.meta.url).pathname
const catalog = new URL('../../rules/catalog.yaml', import.meta.url).pathname
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template
const DS_VAR = '${datasource}'
const PANEL_TYPES = new Set(['timeseries', 'stat', 'gauge', 'bargauge', 'table', 'heatmap', 'text'])

interface Target {
  refId: string
  expr: string
  datasource?: { type: string; uid: string }
}
interface Panel {
  id: number
  type: string
  title: string
  gridPos: { x: number; y: number; w: number; h: number }
  datasource?: { type: string; uid: string }
  targets?: Target[]
}
interface Variable {
  name: string
  type: string
  query: string | { query: string }
  datasource?: { type: string; uid: string }
}
const board = JSON.parse(readFileSync(FILE, 'utf8')) as { title: string; uid: string; schemaVersion: number; panels: Panel[]; templating: { list: Variable[] } }
const queries = board.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })))
const variableQueries = board.templating.list.filter((v) => v.type === 'query').map((v) => ({ panel: `variable $${v.name}`, expr: typeof v.query === 'string' ? v.query : v.query.query }))

/** Metric names a text exposition declares (# TYPE; histograms with _bucket/_sum/_count) or has samples of. */
function exposedNames(text: string): { declared: Set<string>; sampled: Set<string> } {
  const declared = new Set<string>()
  const sampled = new Set<string>()
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line)
    if (type) {
      declared.add(type[1] as string)
      if (type[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) declared.add(type[1] + s)
    } else if (line !== '' && !line.startsWith('#')) sampled.add(/^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] as string)
  }
  return { declared, sampled }
}

describe('ops/grafana/larder.json', () => {
  test('is a Grafana dashboard: unique panel ids, panels on the 24-column grid, every query on the datasource variable', () => {
    assert.equal(typeof board.title, 'string')
    assert.match(board.uid, /^[a-z0-9-]{1,40}$/)
    assert.ok(Number.isInteger(board.schemaVersion) && board.schemaVersion >= 30)
    const ds = board.templating.list.find((v) => v.name === 'datasource')
    assert.ok(ds, 'a datasource variable')
    assert.equal(ds.type, 'datasource')
    assert.equal(ds.query, 'prometheus')
    assert.ok(board.panels.length >= 8)
    assert.equal(new Set(board.panels.map((p) => p.id)).size, board.panels.length, 'panel ids are unique')
    const cells = new Set<string>()
    for (const p of board.panels) {
      assert.ok(PANEL_TYPES.has(p.type), `${p.title}: panel type ${p.type}`)
      assert.ok(p.title.length > 0)
      const g = p.gridPos
      assert.ok(g.w > 0 && g.h > 0 && g.x >= 0 && g.y >= 0 && g.x + g.w <= 24, `${p.title}: gridPos inside 24 columns`)
      for (let x = g.x; x < g.x + g.w; x++) {
        for (let y = g.y; y < g.y + g.h; y++) {
          assert.ok(!cells.has(`${x},${y}`), `${p.title} overlaps another panel at ${x},${y}`)
          cells.add(`${x},${y}`)
        }
      }
      assert.ok((p.targets ?? []).length > 0, `${p.title}: has queries`)
      assert.equal(p.datasource?.uid, DS_VAR, `${p.title}: panel datasource is the variable`)
      for (const t of p.targets ?? []) {
        assert.match(t.refId, /^[A-Z]$/)
        assert.equal(t.datasource?.uid ?? DS_VAR, DS_VAR)
        // Balanced parentheses and brackets: a cheap syntax check without a PromQL parser.
        for (const [open, close] of ['()', '[]', '{}']) assert.equal(t.expr.split(open).length, t.expr.split(close).length, `${p.title}: ${open}${close} balanced in ${t.expr}`)
      }
    }
  })

  test('it covers what the issue asks: hit ratio per group, stale share, load latency, invalidations, log lag, SSE, events', () => {
    const read = new Set(queries.flatMap((q) => metricNames(q.expr)))
    for (const m of [
      'larder_cache_hits_total',
      'larder_cache_misses_total',
      'larder_cache_stale_serves_total',
      'larder_cache_load_duration_seconds_bucket',
      'larder_invalidations_total',
      'larder_log_lag_seconds',
      'larder_sse_connections',
      'larder_sse_drops_total',
      'larder_events_processed_total',
    ]) {
      assert.ok(read.has(m), `a panel reads ${m}`)
    }
    assert.ok(queries.some((q) => /sum by \(group\)/.test(q.expr) && q.expr.includes('larder_cache_hits_total')), 'hit ratio per group')
  })

  describe('every query names only metrics a real exporter exports', () => {
    let metrics: Metrics
    let server: Served
    let scraped = ''
    before(async () => {
      // Real traffic through a cache, an event processor and an SSE stream, observed by createMetrics.
      metrics = createMetrics({ keyGroups: [{ name: 'product', prefix: 'product:' }] })
      const log = new MemoryLog()
      const cache = createCache({ log })
      const hub = createSseHub({ log })
      server = await serve([hub.route, metrics.route])
      const shop = cache.tenant('acme')
      await shop.getOrSet('product:1', async () => ({ id: 1 }), { ttl: '1h', grace: '1h', tags: ['product:1'] })
      await shop.getOrSet('product:1', async () => ({ id: 1 }))
      // Soft expiry: the next read is served stale while one refresh runs.
      await shop.expireTags(['product:1'])
      await shop.getOrSet('product:1', async () => ({ id: 1 }))
      await cache.invalidate('acme', { tags: ['product:1'] })
      const processor = createEventProcessor({ cache, rules: catalog })
      await processor.publish({ id: 'e1', type: 'product.updated', tenant: 'acme', data: { productId: 1, categoryIds: ['c1'] } })
      await processor.close()
      const stream = await fetch(`${server.url}/_larder/stream?topics=product:1`)
      const reader = (stream.body as ReadableStream<Uint8Array>).getReader()
      await reader.read()
      scraped = (await server.call('/metrics')).text
      await reader.cancel()
      await hub.close()
      await cache.close()
    })
    after(async () => {
      await server.close()
      metrics.close()
    })

    test('the exporter saw the traffic (samples, not only declarations)', () => {
      const { sampled } = exposedNames(scraped)
      for (const m of ['larder_cache_hits_total', 'larder_cache_misses_total', 'larder_cache_stale_serves_total', 'larder_cache_load_duration_seconds_bucket', 'larder_invalidations_total', 'larder_events_processed_total', 'larder_sse_connections', 'larder_log_lag_seconds']) {
        assert.ok(sampled.has(m), `${m} has samples after traffic`)
      }
    })

    test('each panel and variable query', () => {
      const { declared, sampled } = exposedNames(scraped)
      // The extractor and the check catch a misspelt name.
      assert.deepEqual(metricNames('sum by (group) (rate(larder_cache_hitz_total{tenant=~"$tenant"}[$__rate_interval]))'), ['larder_cache_hitz_total'])
      assert.ok(!declared.has('larder_cache_hitz_total') && !sampled.has('larder_cache_hitz_total'))
      for (const q of [...queries, ...variableQueries]) {
        const names = q.expr.startsWith('label_values(') ? [/label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)/.exec(q.expr)?.[1] as string] : metricNames(q.expr)
        assert.ok(names.length > 0, `${q.panel}: reads a metric`)
        for (const n of names) assert.ok(declared.has(n) || sampled.has(n), `${q.panel}: "${n}" is not exported by createMetrics`)
      }
    })
  })
})
