import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createCache } from 'larder'
import { startChangeFeed, type ChangeFeed, type FeedEvent } from '../src/change-feed.ts'
import { type Db, openDb } from '../src/db/connect.ts'
import { migrateAndSeed } from '../src/db/seed.ts'
import { type Origin, createOrigin } from '../src/origin.ts'

// A small shop (same generator, fewer rows) keeps the file quick.
const TENANTS = [
  { id: 'acme', name: 'Acme Outfitters', products: 300 },
  { id: 'globex', name: 'Globex Market', products: 200 },
]

let db: Db
let origin: Origin
let base: string
let feed: ChangeFeed
const cache = createCache()
const events: FeedEvent[] = []
/** The library's triggers send key values as text in `data.ids`. */
const about = (e: FeedEvent, id: number) => (e.data.ids as string[] | undefined)?.includes(String(id)) === true
const lastOf = (productId: number) => [...events].reverse().find((e) => e.type.startsWith('product.') && about(e, productId))

async function api(path: string, init: RequestInit & { tenant?: string | null } = {}) {
  const headers = new Headers(init.headers)
  if (init.tenant !== null) headers.set('x-tenant-id', init.tenant ?? 'acme')
  if (init.body !== undefined) headers.set('content-type', 'application/json')
  const res = await fetch(base + path, { ...init, headers })
  const text = await res.text()
  return { res, status: res.status, json: text ? JSON.parse(text) : undefined, headers: res.headers }
}

before(async () => {
  db = await openDb({ url: '' })
  await migrateAndSeed(db, TENANTS)
  feed = await startChangeFeed({
    db,
    cache,
    publish: async (e) => {
      events.push(e)
    },
  })
  origin = createOrigin({ db, tenants: TENANTS.map((t) => t.id), awaitInvalidation: (t) => feed.waitFor(t) })
  base = (await origin.listen(0)).url
})

after(async () => {
  await origin.close()
  await feed.close()
  await db.close()
  await cache.close()
})

describe('reads', () => {
  test('product list: paging, sort, versions, cache headers and surrogate keys', async () => {
    const r = await api('/api/v1/products?page=2&per_page=5&sort=price')
    assert.equal(r.status, 200)
    assert.equal(r.json.items.length, 5)
    assert.equal(r.json.total, 300)
    const prices = r.json.items.map((p: { priceCents: number }) => p.priceCents)
    assert.deepEqual(prices, [...prices].sort((a, b) => a - b))
    for (const p of r.json.items) assert.ok(Number.isInteger(p.version) && p.version >= 1)
    assert.match(r.headers.get('cache-control') ?? '', /s-maxage=300\b/)
    assert.match(r.headers.get('cache-control') ?? '', /stale-while-revalidate=60/)
    const keys = (r.headers.get('surrogate-key') ?? '').split(' ')
    assert.ok(keys.includes('products:list') && keys.includes('products:by-price'))
    for (const p of r.json.items) assert.ok(keys.includes(`product:${p.id}`))
    const byId = await api('/api/v1/products?per_page=3')
    assert.ok(!(byId.headers.get('surrogate-key') ?? '').includes('by-price'), 'an id-sorted page does not depend on prices')
  })

  test('product page carries its variants and one hour of s-maxage', async () => {
    const r = await api('/api/v1/products/7')
    assert.equal(r.status, 200)
    assert.equal(r.json.product.id, 7)
    assert.ok(r.json.variants.length >= 1)
    assert.match(r.headers.get('cache-control') ?? '', /s-maxage=3600\b/)
    const keys = (r.headers.get('surrogate-key') ?? '').split(' ')
    assert.ok(keys.includes('product:7'))
    for (const v of r.json.variants) assert.ok(keys.includes(`variant:${v.id}`))
  })

  test('categories tree and category listing (a root lists its children)', async () => {
    const cats = await api('/api/v1/categories')
    assert.equal(cats.json.categories.length, 6)
    assert.match(cats.headers.get('cache-control') ?? '', /s-maxage=7200\b/)
    const root = cats.json.categories[0]
    const childIds = root.children.map((c: { id: number }) => c.id)
    const list = await api(`/api/v1/categories/${root.id}/products?per_page=50`)
    assert.equal(list.status, 200)
    assert.match(list.headers.get('cache-control') ?? '', /s-maxage=1800\b/)
    assert.ok(list.json.items.length > 0)
    for (const p of list.json.items) assert.ok(childIds.includes(p.categoryId))
    const expected = root.children.reduce((n: number, c: { products: number }) => n + c.products, 0)
    assert.equal(list.json.total, expected)
  })

  test('search treats % and _ as text, and needs q', async () => {
    const r = await api('/api/v1/search?q=mug')
    assert.equal(r.status, 200)
    assert.ok(r.json.items.length > 0)
    for (const p of r.json.items) assert.match(p.name, /mug/i)
    assert.match(r.headers.get('cache-control') ?? '', /s-maxage=900\b/)
    assert.equal((await api('/api/v1/search?q=%25')).json.items.length, 0)
    assert.equal((await api('/api/v1/search?q=_')).json.items.length, 0)
    const missing = await api('/api/v1/search')
    assert.equal(missing.status, 400)
    assert.match(missing.json.error.message, /q .*required/)
  })

  test('analytics dashboard: orders, seller status distribution, churn', async () => {
    const r = await api('/api/v1/analytics/dashboard')
    assert.equal(r.status, 200)
    assert.ok(r.json.orders30d.count > 0)
    const byStatus = r.json.sellers.byStatus
    const total = Object.values(byStatus as Record<string, number>).reduce((a, b) => a + b, 0)
    assert.equal(total, 300)
    assert.ok(byStatus.active > 0 && byStatus.permanently_banned > 0)
    assert.ok(r.json.listingsChurn.some((h: { added: number }) => h.added > 0), 'listings were added in the last 24 hours')
    assert.equal(r.headers.get('surrogate-key'), 'analytics')
  })
})

describe('sellers of a variant (banned, suspended, vacation, overdue and inactive sellers left out)', () => {
  test('only active sellers active in the last 6 months are listed; ttl follows the count', async () => {
    for (const vid of [1, 4, 751]) {
      const r = await api(`/api/v1/variants/${vid}/sellers`)
      assert.equal(r.status, 200)
      const eligible = await db.query<{ id: number }>(
        `SELECT s.id FROM offers o JOIN sellers s ON s.tenant = o.tenant AND s.id = o.seller_id
         WHERE o.tenant = 'acme' AND o.variant_id = $1 AND o.removed_at IS NULL AND s.status = 'active' AND s.last_active_at > now() - interval '6 months' ORDER BY s.id`,
        [vid],
      )
      assert.deepEqual(r.json.sellers.map((s: { id: number }) => s.id).sort((a: number, b: number) => a - b), eligible.map((e) => e.id))
      const maxAge = r.json.sellerCount > 100 ? 900 : 3600
      assert.match(r.headers.get('cache-control') ?? '', new RegExp(`s-maxage=${maxAge}\\b`))
    }
    const hot = await api('/api/v1/variants/1/sellers')
    assert.ok(Object.keys(hot.json.excluded).length > 0, 'the hot variant has excluded sellers of some status')
  })

  test('banning a seller removes it from the list and emits seller.status_changed with its variants', async () => {
    const before = await api('/api/v1/variants/1/sellers')
    const seller = before.json.sellers[0]
    const ban = await api(`/api/v1/sellers/${seller.id}`, { method: 'PATCH', body: JSON.stringify({ status: 'permanently_banned' }) })
    assert.equal(ban.status, 200)
    assert.equal(ban.json.seller.version, seller.version + 1)
    assert.equal(ban.headers.get('x-invalidation'), 'applied')
    const ev = events.find((e) => e.type === 'seller.status_changed' && about(e, seller.id))
    assert.ok(ev, 'the trigger emitted the event before the write was acknowledged')
    assert.equal(ev.tenant, 'acme')
    assert.ok((ev.data.variant_ids as string[]).includes('1'))
    const afterBan = await api('/api/v1/variants/1/sellers')
    assert.ok(!afterBan.json.sellers.some((s: { id: number }) => s.id === seller.id))
    assert.equal(afterBan.json.excluded.permanently_banned, (before.json.excluded.permanently_banned ?? 0) + 1)
  })
})

describe('writes', () => {
  test('a price change bumps the version and emits product.price_changed; a stock change emits product.updated', async () => {
    const before = (await api('/api/v1/products/3')).json.product
    const w = await api('/api/v1/products/3', { method: 'PATCH', body: JSON.stringify({ priceCents: before.priceCents + 1 }) })
    assert.equal(w.status, 200)
    assert.equal(w.json.product.version, before.version + 1)
    const ev = lastOf(3)
    assert.equal(ev?.type, 'product.price_changed')
    assert.deepEqual(ev?.data.category_id, [String(before.categoryId)])
    await api('/api/v1/products/3', { method: 'PATCH', body: JSON.stringify({ stock: 5 }) })
    assert.equal(lastOf(3)?.type, 'product.updated')
    const now = (await api('/api/v1/products/3')).json.product
    assert.equal(now.version, before.version + 2)
    assert.equal(now.stock, 5)
  })

  test('a write that changes nothing is not a new version and emits nothing', async () => {
    const before = (await api('/api/v1/products/4')).json.product
    const count = events.length
    const w = await api('/api/v1/products/4', { method: 'PATCH', body: JSON.stringify({ priceCents: before.priceCents, stock: before.stock }) })
    assert.equal(w.status, 200)
    assert.equal(w.json.product.version, before.version)
    assert.equal(events.length, count)
  })

  test('an order takes stock from the variant and the product, or answers 409', async () => {
    const p = (await api('/api/v1/products/10')).json
    const v = p.variants[0]
    await api(`/api/v1/variants/${v.id}`, { method: 'PATCH', body: JSON.stringify({ stock: 2 }) })
    const o = await api('/api/v1/orders', { method: 'POST', body: JSON.stringify({ variantId: v.id, quantity: 2 }) })
    assert.equal(o.status, 201)
    assert.equal(o.json.variant.stock, 0)
    assert.ok(events.some((e) => e.type === 'order.created' && (e.data.variant_id as string[]).includes(String(v.id))))
    const again = await api('/api/v1/orders', { method: 'POST', body: JSON.stringify({ variantId: v.id, quantity: 1 }) })
    assert.equal(again.status, 409)
    assert.match(again.json.error.message, /fewer than 1 in stock/)
  })

  test('listing churn: a new listing and a removal emit seller.inventory_updated', async () => {
    const put = await api('/api/v1/variants/2/sellers/299', { method: 'PUT', body: JSON.stringify({ priceCents: 100, stock: 3 }) })
    assert.equal(put.status, 200)
    const del = await api('/api/v1/variants/2/sellers/299', { method: 'DELETE' })
    assert.equal(del.status, 200)
    const inv = events.filter((e) => e.type === 'seller.inventory_updated' && (e.data.seller_id as string[]).includes('299'))
    // The library's trigger on offers: ids are variant ids; a removal sets removed_at (an update).
    assert.deepEqual(inv.map((e) => [e.data.op, e.data.ids]), [['insert', ['2']], ['update', ['2']]])
    assert.equal((await api('/api/v1/variants/2/sellers/299', { method: 'DELETE' })).status, 404)
  })
})

describe('bad input gets a clear 4xx, never another tenant', () => {
  test('tenant header', async () => {
    const none = await api('/api/v1/products', { tenant: null })
    assert.equal(none.status, 400)
    assert.match(none.json.error.message, /X-Tenant-Id/)
    const unknown = await api('/api/v1/products', { tenant: 'acme*' })
    assert.equal(unknown.status, 404)
    assert.match(unknown.json.error.message, /unknown tenant/)
  })

  test('tenants see their own rows only', async () => {
    const a = await api('/api/v1/products/250', { tenant: 'acme' })
    assert.equal(a.status, 200)
    assert.match(a.json.product.description, /Acme/)
    assert.equal((await api('/api/v1/products/250', { tenant: 'globex' })).status, 404)
  })

  test('parameters and bodies', async () => {
    const cases: [string, RequestInit, number, RegExp][] = [
      ['/api/v1/products?page=abc', {}, 400, /page must be an integer/],
      ['/api/v1/products?per_page=1000', {}, 400, /per_page must be an integer between 1 and 100/],
      ['/api/v1/products?sort=price;drop', {}, 400, /sort must be one of/],
      ['/api/v1/products/abc', {}, 400, /product id must be a positive integer/],
      ['/api/v1/products/99999', {}, 404, /product 99999 does not exist/],
      ['/api/v1/products/1', { method: 'PATCH', body: '{"priceCents":' }, 400, /not valid JSON/],
      ['/api/v1/products/1', { method: 'PATCH', body: '{"priceCents":-5}' }, 400, /priceCents must be an integer/],
      ['/api/v1/products/1', { method: 'PATCH', body: '{"name":"x"}' }, 400, /unknown field "name"/],
      ['/api/v1/products/1', { method: 'PATCH', body: JSON.stringify({ stock: 1, pad: 'x'.repeat(20_000) }) }, 413, /larger than/],
      ['/api/v1/sellers/1', { method: 'PATCH', body: '{"status":"deleted"}' }, 400, /status must be one of/],
      ['/api/v1/orders', { method: 'POST', body: '[]' }, 400, /JSON object/],
      ['/api/v1/products', { method: 'DELETE' }, 405, /DELETE is not allowed/],
      ['/api/v1/nothing', {}, 404, /no route/],
    ]
    for (const [path, init, status, message] of cases) {
      const r = await api(path, init)
      assert.equal(r.status, status, `${init.method ?? 'GET'} ${path}`)
      assert.match(r.json.error.message, message, path)
    }
  })
})
