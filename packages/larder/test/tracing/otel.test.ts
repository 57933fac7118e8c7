import assert from 'node:assert/strict'
import { after, afterEach, before, describe, it } from 'node:test'
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import type { Cache } from '../../src/core/api.ts'
import { createCache } from '../../src/core/cache.ts'
import { traces } from '../../src/core/diagnostics.ts'
import { createEventProcessor } from '../../src/events/processor.ts'
import { createGateway, type Gateway } from '../../src/gateway/index.ts'
import { redisLog, redisStore } from '../../src/redis/index.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { enableTracing, SPAN_NAMES, type Tracing } from '../../src/tracing/index.ts'
import { get, type Origin, startOrigin } from '../gateway/helpers.ts'

const catalog = new URL('../../rules/catalog.yaml', import.meta.url).pathname

// Real redis-server (L2 + log), a real origin behind a real gateway, the SDK's in-memory exporter.
describe('tracing: OpenTelemetry spans from the diagnostics channels', () => {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const contextManager = new AsyncLocalStorageContextManager()
  let redis: RedisServerHandle
  let origin: Origin
  let cache: Cache
  let gw: Gateway
  let base: string
  let tracing: Tracing | undefined

  before(async () => {
    context.setGlobalContextManager(contextManager.enable())
    redis = await startRedis()
    origin = await startOrigin((req, res) => {
      res.writeHead(req.url?.startsWith('/broken') ? 503 : 200, { 'cache-control': 'max-age=600' })
      res.end(`body of ${req.url}`)
    })
    cache = createCache({ l2: redisStore({ url: redis.url }), log: redisLog({ url: redis.url }) })
    gw = createGateway({ origin: origin.url, cache, tenantHeader: 'x-tenant-id', headersTimeout: 2000 })
    base = `http://127.0.0.1:${(await gw.listen(0)).port}`
  })
  afterEach(() => {
    tracing?.disable()
    tracing = undefined
    exporter.reset()
  })
  after(async () => {
    await gw.close()
    await cache.close()
    await origin.close()
    await redis.stop()
    context.disable()
  })

  const spans = () => exporter.getFinishedSpans()
  const named = (name: string) => spans().filter((s) => s.name === name)
  const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId
  const isChild = (child: ReadableSpan, parent: ReadableSpan) => parentOf(child) === parent.spanContext().spanId && child.spanContext().traceId === parent.spanContext().traceId

  it('a loader call is a larder.load span; the loader runs inside it and its L2 calls are db spans', async () => {
    tracing = enableTracing({ tracerProvider: provider })
    const shop = cache.tenant('acme')
    const tracer = provider.getTracer('app')
    const v = await shop.getOrSet('product:1', async () => {
      tracer.startSpan('app.query').end()
      return { id: 1 }
    })
    assert.deepEqual(v, { id: 1 })
    const [load] = named(SPAN_NAMES.load)
    assert.ok(load, `no load span among ${spans().map((s) => s.name)}`)
    assert.equal(load.kind, SpanKind.INTERNAL)
    assert.deepEqual(load.attributes, { 'larder.tenant': 'acme', 'larder.key': 'product:1', 'larder.load.source': 'loader', 'larder.load.background': false })
    assert.equal(load.status.code, SpanStatusCode.UNSET)
    const [query] = named('app.query')
    assert.ok(query && isChild(query, load), 'the loader’s own span is a child of larder.load')
    const l2 = spans().filter((s) => s.attributes['db.system'] === 'redis')
    assert.ok(l2.length >= 2, 'the L2 lookup and the store are spans')
    for (const s of l2) {
      assert.equal(s.kind, SpanKind.CLIENT)
      assert.equal(s.attributes['db.system.name'], 'redis')
      assert.equal(s.name, `${s.attributes['db.operation.name']} ${s.attributes['db.namespace']}`)
    }
    // A failing loader: the span carries the error.
    await assert.rejects(shop.getOrSet('product:2', async () => Promise.reject(new Error('origin down'))))
    const failed = named(SPAN_NAMES.load).find((s) => s.attributes['larder.key'] === 'product:2')
    assert.equal(failed?.status.code, SpanStatusCode.ERROR)
    assert.equal(failed?.status.message, 'origin down')
    assert.equal(failed?.attributes['larder.load.timed_out'], false)
    assert.equal(failed?.events[0]?.name, 'exception')
  })

  it('keys: false leaves the key off load spans', async () => {
    tracing = enableTracing({ tracerProvider: provider, keys: false })
    await cache.tenant('acme').getOrSet('secret:1', async () => 1)
    const [load] = named(SPAN_NAMES.load)
    assert.ok(load)
    assert.equal(load.attributes['larder.key'], undefined)
  })

  it('an invalidation is a larder.log.append span holding the Redis append', async () => {
    tracing = enableTracing({ tracerProvider: provider })
    const r = await cache.invalidate('acme', { tags: ['product:1'] })
    const [append] = named(SPAN_NAMES.append)
    assert.ok(append)
    assert.deepEqual(append.attributes, { 'larder.tenant': 'acme', 'larder.log.kind': 'hard', 'larder.log.entries': 1, 'larder.log.id': r.id, 'larder.log.queued': false })
    const redisAppend = spans().find((s) => s.attributes['db.operation.name'] === 'append')
    assert.ok(redisAppend && isChild(redisAppend, append))
    assert.equal(redisAppend.attributes['db.namespace'], 'redis-log')
  })

  it('a gateway request is a SERVER span with method, status and cache status; a miss holds the origin load', async () => {
    tracing = enableTracing({ tracerProvider: provider })
    const miss = await get(`${base}/p/1?q=secret`, { 'x-tenant-id': 'acme' })
    const hit = await get(`${base}/p/1?q=secret`, { 'x-tenant-id': 'acme' })
    assert.equal(miss.status, 200)
    assert.equal(hit.headers.get('x-cache'), 'HIT')
    const requests = named('GET')
    assert.equal(requests.length, 2)
    const [first, second] = requests as [ReadableSpan, ReadableSpan]
    assert.equal(first.kind, SpanKind.SERVER)
    assert.deepEqual(
      { ...first.attributes },
      { 'http.request.method': 'GET', 'url.path': '/p/1', 'larder.cache.status': 'MISS', 'larder.tenant': 'acme', 'http.response.status_code': 200 },
    )
    assert.equal(second.attributes['larder.cache.status'], 'HIT')
    const load = named(SPAN_NAMES.load).find((s) => s.attributes['larder.load.source'] === 'origin')
    assert.ok(load && isChild(load, first), 'the origin load is a child of the request')
    assert.equal(load.attributes['larder.tenant'], 'acme')
    // The L2 write that stored the answer happened inside the load.
    assert.ok(spans().some((s) => s.attributes['db.operation.name'] !== undefined && isChild(s, load)))
    assert.equal(named(SPAN_NAMES.load).filter((s) => isChild(s, second)).length, 0, 'a hit loads nothing')
  })

  it('a 5xx answer and a refused request carry their status', async () => {
    tracing = enableTracing({ tracerProvider: provider })
    assert.equal((await get(`${base}/broken`, { 'x-tenant-id': 'acme' })).status, 503)
    assert.equal((await get(`${base}/${'a'.repeat(9000)}`, { 'x-tenant-id': 'acme' })).status, 414)
    const [broken, refused] = named('GET') as [ReadableSpan, ReadableSpan]
    assert.equal(broken.attributes['http.response.status_code'], 503)
    assert.equal(broken.status.code, SpanStatusCode.ERROR)
    assert.equal(refused.attributes['http.response.status_code'], 414)
    assert.equal(refused.attributes['larder.cache.status'], undefined)
    assert.equal(refused.status.code, SpanStatusCode.UNSET)
  })

  it('an event is a CONSUMER span with its outcome; its invalidation is appended inside it', async () => {
    tracing = enableTracing({ tracerProvider: provider })
    const processor = createEventProcessor({ cache, rules: catalog, recordEvents: false })
    const r = await processor.publish({ id: 'e1', type: 'product.updated', tenant: 'acme', data: { productId: 1, categoryIds: ['c1'] } })
    assert.equal(r.outcome, 'applied')
    await assert.rejects(processor.publish({ id: 'e2', type: 'product.updated', tenant: 'acme' }))
    await processor.close()
    const [applied, rejected] = named(SPAN_NAMES.event) as [ReadableSpan, ReadableSpan]
    assert.equal(applied.kind, SpanKind.CONSUMER)
    assert.deepEqual(applied.attributes, { 'larder.tenant': 'acme', 'larder.event.type': 'product.updated', 'messaging.operation.type': 'process', 'larder.event.outcome': 'applied' })
    const append = named(SPAN_NAMES.append)[0]
    assert.ok(append && isChild(append, applied), 'the log append is a child of the event')
    assert.equal(rejected.attributes['larder.event.outcome'], 'rejected')
    assert.equal(rejected.status.code, SpanStatusCode.ERROR)
  })

  it('disabled (never enabled, or disable()): no subscribers, no spans, no errors', async () => {
    const t = enableTracing({ tracerProvider: provider })
    t.disable()
    t.disable()
    for (const tc of Object.values(traces)) assert.equal(tc.hasSubscribers, false)
    const shop = cache.tenant('acme')
    assert.equal(await shop.getOrSet('product:off', async () => 7), 7)
    await cache.invalidate('acme', { keys: ['product:off'] })
    assert.equal((await get(`${base}/p/off`, { 'x-tenant-id': 'acme' })).status, 200)
    const processor = createEventProcessor({ cache, rules: catalog, recordEvents: false })
    await processor.publish({ id: 'e3', type: 'product.updated', tenant: 'acme', data: { productId: 1, categoryIds: ['c1'] } })
    await processor.close()
    assert.deepEqual(spans(), [])
    assert.equal(trace.getActiveSpan(), undefined)
  })

  it('a second enableTracing() while one is on is refused (it would record every span twice); after disable() it works again', () => {
    const first = enableTracing({ tracerProvider: provider })
    try {
      assert.throws(() => enableTracing({ tracerProvider: provider }), (err: Error & { code?: string }) => err.code === 'E_INVALID_OPTION' && /already on/.test(err.message))
    } finally {
      first.disable()
    }
    enableTracing({ tracerProvider: provider }).disable()
  })

  it('enabled without any SDK registered: the no-op tracer of the API, requests and loads work, nothing is recorded', async () => {
    tracing = enableTracing()
    assert.equal(await cache.tenant('acme').getOrSet('product:nosdk', async () => 3), 3)
    assert.equal((await get(`${base}/p/nosdk`, { 'x-tenant-id': 'acme' })).status, 200)
    assert.deepEqual(spans(), [])
  })
})
