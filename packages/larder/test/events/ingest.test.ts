import assert from 'node:assert/strict'
import { type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { createAuthorizer } from '../../src/core/auth.ts'
import { createCache } from '../../src/core/cache.ts'
import type { Cache, LogEntry } from '../../src/index.ts'
import { createEventIngest } from '../../src/events/ingest.ts'
import { type EventProcessor, createEventProcessor } from '../../src/events/processor.ts'
import { MemoryLog } from '../../src/log/memory-log.ts'

const catalog = new URL('../../rules/catalog.yaml', import.meta.url).pathname

describe('events: HTTP ingest POST /_larder/events', () => {
  let server: Server
  let base: string
  let cache: Cache
  let processor: EventProcessor
  const seen: LogEntry[] = []
  const auth = createAuthorizer([
    { name: 'acme-app', token: 'acme-token-123', scopes: ['events:publish', 'tenant:acme'] },
    { name: 'acme-admin', token: 'acme-purge-123', scopes: ['tenant:acme'] },
    { name: 'ops', token: 'admin-token-123', scopes: ['admin'] },
  ])

  before(async () => {
    const log = new MemoryLog()
    log.subscribe({ entries: (es) => seen.push(...es), gap: () => {} })
    cache = createCache({ log })
    processor = createEventProcessor({ cache, rules: catalog })
    const ingest = createEventIngest({ processor, auth, maxBodyBytes: 64 * 1024, maxBatch: 50 })
    server = createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (!(await ingest.route(req, res, { tenant: 'acme', url }))) {
        res.statusCode = 404
        res.end()
      }
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    await new Promise((r) => server.close(r))
    await processor.close()
    await cache.close()
  })

  async function post(body: string | unknown, token?: string, path = '/_larder/events') {
    const res = await fetch(base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
    return { status: res.status, json: (await res.json().catch(() => null)) as any }
  }

  const hardCount = () => seen.filter((e) => e.kind === 'hard' || e.kind === 'soft' || e.kind === 'clear').length

  it('applies a batch; the token fixes a missing tenant; the cached product is gone', async () => {
    const shop = cache.tenant('acme')
    await shop.set('product:1', 'p1', { tags: ['product:1'] })
    await shop.set('listing:shoes', ['1'], { tags: ['category:shoes'] })
    const r = await post(
      {
        events: [
          { id: 'h1', type: 'product.updated', data: { productId: 1, categoryIds: ['shoes'] } },
          { id: 'h2', type: 'order.status_changed', tenant: 'acme', data: { orderId: 'o-9' } },
        ],
      },
      'acme-token-123',
    )
    assert.equal(r.status, 200, JSON.stringify(r.json))
    assert.deepEqual(
      r.json.results.map((x: { id: string; outcome: string }) => [x.id, x.outcome]),
      [
        ['h1', 'applied'],
        ['h2', 'applied'],
      ],
    )
    assert.equal(await shop.get('product:1'), undefined)
    assert.equal(await shop.get('listing:shoes'), undefined)
    // Idempotent by id: the same batch again changes nothing.
    const before = hardCount()
    const again = await post([{ id: 'h1', type: 'product.updated', data: { productId: 1, categoryIds: ['shoes'] } }], 'acme-token-123')
    assert.equal(again.json.results[0].outcome, 'duplicate')
    assert.equal(hardCount(), before)
  })

  it('rejects bad input clearly and applies nothing', async () => {
    const shop = cache.tenant('acme')
    await shop.set('product:7', 'p7', { tags: ['product:7'] })
    const before = hardCount()
    const ok = { id: 'b1', type: 'product.updated', data: { productId: 7, categoryIds: [] } }
    const cases: [string, () => Promise<{ status: number; json: any }>, number, string, RegExp][] = [
      ['no token', () => post([ok]), 401, 'E_UNAUTHORIZED', /token/],
      ['unknown token', () => post([ok], 'nope-nope-nope'), 401, 'E_UNAUTHORIZED', /token/],
      ['token without events:publish', () => post([ok], 'acme-purge-123'), 403, 'E_FORBIDDEN', /events:publish/],
      ['malformed JSON', () => post('{"id": "x",', 'acme-token-123'), 400, 'E_BAD_REQUEST', /not valid JSON/],
      ['unknown event type', () => post([ok, { id: 'b2', type: 'product.teleported', data: {} }], 'acme-token-123'), 422, 'E_INVALID_EVENT', /event 1: .*no rule for event type "product\.teleported"/],
      ['missing tenant with an admin token', () => post([ok], 'admin-token-123'), 422, 'E_INVALID_EVENT', /tenant: is missing/],
      ['tenant not matching the token', () => post([ok, { ...ok, id: 'b3', tenant: 'globex' }], 'acme-token-123'), 403, 'E_FORBIDDEN', /event 1: .*"globex"/],
      ['oversized body', () => post([{ ...ok, data: { productId: 7, categoryIds: [], pad: 'x'.repeat(70_000) } }], 'acme-token-123'), 413, 'E_BODY_TOO_LARGE', /limit is 65536/],
      ['oversized batch', () => post(Array.from({ length: 51 }, (_, i) => ({ ...ok, id: `m${i}` })), 'acme-token-123'), 413, 'E_BODY_TOO_LARGE', /limit is 50/],
      ['rule field missing', () => post([{ id: 'b4', type: 'product.updated', data: { categoryIds: [] } }], 'acme-token-123'), 422, 'E_INVALID_EVENT', /data\.productId/],
      ['event not an object', () => post([ok, 42], 'acme-token-123'), 422, 'E_INVALID_EVENT', /event 1/],
      ['empty batch', () => post([], 'acme-token-123'), 400, 'E_BAD_REQUEST', /no events/],
    ]
    for (const [name, call, status, code, re] of cases) {
      const r = await call()
      assert.equal(r.status, status, `${name}: ${JSON.stringify(r.json)}`)
      assert.equal(r.json?.error?.code, code, name)
      assert.match(r.json.error.message, re, name)
    }
    assert.equal(hardCount(), before, 'no invalidation was applied')
    assert.equal(await shop.get('product:7'), 'p7')
    const field = await post([{ id: 'b5', type: 'product.updated', data: {} }], 'acme-token-123')
    assert.equal(field.json.error.field, 'data.productId')
    assert.equal(field.json.error.index, 0)
  })

  it('answers only its own path and method', async () => {
    const other = await fetch(`${base}/elsewhere`, { method: 'POST' })
    assert.equal(other.status, 404)
    await other.body?.cancel()
    const get = await fetch(`${base}/_larder/events`)
    assert.equal(get.status, 405)
    await get.body?.cancel()
  })

  it('an admin token may publish for any tenant', async () => {
    const r = await post([{ id: 'a1', type: 'tenant.settings_changed', tenant: 'globex', data: {} }], 'admin-token-123')
    assert.equal(r.status, 200)
    assert.ok(seen.some((e) => e.tenant === 'globex' && e.kind === 'hard' && e.tags?.includes('settings')))
  })
})
