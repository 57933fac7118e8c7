/**
 * A real Vendure server (two channels, the test catalog) with the Larder plugin on a real
 * redis-server, and the Larder gateway in front of its Shop API, sharing one Larder cache:
 * - an Admin API price change reaches the SSE clients of that product in that channel only;
 * - Shop API queries through the gateway are cached, and answer the new price on the next read
 *   (0 stale reads over a seeded random sequence of 200 mutations and reads).
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { type Cache, createCache } from 'larder'
import { signStreamToken } from 'larder/realtime'
import { redisLog, redisStore } from 'larder/redis'
import { mulberry32, type RedisServerHandle, startRedis } from 'larder/testing'
import { openStream, payload } from '../../../packages/larder/test/realtime/helpers.ts'
import { startTestVendure, type TestVendure } from '../src/testing/index.ts'

let redis: RedisServerHandle
let cache: Cache
let v: TestVendure
let gwUrl: string
const OPS_TOKEN = 'ops-token-for-tests'
const STREAM_SECRET = 'stream-secret-for-tests'

before(async () => {
  redis = await startRedis()
  cache = createCache({ l2: redisStore({ url: redis.url }), log: redisLog({ url: redis.url, stream: 'vendure-test' }) })
  v = await startTestVendure({ larder: { cache, shopApiCache: true, tokens: [{ name: 'ops', token: OPS_TOKEN, scopes: ['purge@second-channel'] }], streamSecret: STREAM_SECRET, anonymousStreams: true }, gateway: true })
  gwUrl = v.gatewayUrl as string
})

after(async () => {
  await v?.close()
  await cache?.close()
  await redis?.stop()
})

const PRODUCT_QUERY = (id: string) => `{ product(id: "${id}") { __typename id variants { __typename id price } } }`

async function shopRead(productId: string, channel: string): Promise<{ prices: Map<string, number>; cache: string }> {
  const r = await fetch(`${gwUrl}/shop-api?query=${encodeURIComponent(PRODUCT_QUERY(productId))}`, { headers: { 'vendure-token': channel } })
  assert.equal(r.status, 200)
  const body = (await r.json()) as { data: { product: { variants: { id: string; price: number }[] } } }
  return { prices: new Map(body.data.product.variants.map((x) => [x.id, x.price])), cache: r.headers.get('x-cache') ?? r.headers.get('cache-status') ?? '' }
}

describe('Vendure catalog events → Larder, per channel', () => {
  test('a price change in one channel reaches that channel’s SSE client of the product, not the other channel’s', async () => {
    const [laptop, , kettle] = v.products
    const variant = laptop.variants[0].id
    const sentinel = kettle.variants[0].id
    const topics = `?topics=Product:${laptop.id},ProductVariant:${variant},Product:${kettle.id}`
    const inSecond = await openStream(v.port, topics, { 'vendure-token': v.channels.second })
    const inDefault = await openStream(v.port, topics, { 'vendure-token': v.channels.default })
    try {
      assert.equal(inSecond.status, 200)
      assert.equal(inDefault.status, 200)
      await v.setPrice(variant, 111_00, v.channels.second)
      const hit = (m: Parameters<typeof payload>[0], tag: string) => m.type === 'invalidate' && (payload(m).tags as string[]).includes(tag)
      await inSecond.waitFor((es) => es.some((m) => hit(m, `ProductVariant:${variant}`)), 5000, 'the second channel’s invalidate')
      // Then a change in the default channel: the log is ordered, so once the default channel's
      // client has this one it would already have had the first, had it been sent to it.
      await v.setPrice(sentinel, 42_00, v.channels.default)
      await inDefault.waitFor((es) => es.some((m) => hit(m, `Product:${kettle.id}`)), 5000, 'the default channel’s sentinel')
      assert.ok(!inDefault.events.some((m) => hit(m, `ProductVariant:${variant}`)), 'the default channel’s client never got the second channel’s price change')
      assert.ok(!inSecond.events.some((m) => hit(m, `Product:${kettle.id}`)), 'and the second channel’s client never got the default channel’s')
    } finally {
      inSecond.close()
      inDefault.close()
    }
  })

  test('an unknown vendure-token gets a 400, not a stream', async () => {
    const s = await openStream(v.port, '?topics=Product:1', { 'vendure-token': 'no-such-channel' })
    assert.equal(s.status, 400)
    assert.match(s.body, /tenant/)
  })

  test('a signed stream token names its channel, whatever the vendure-token header says', async () => {
    const [laptop] = v.products
    const token = signStreamToken(STREAM_SECRET, { tenant: v.channels.second, topics: [`Product:${laptop.id}`] })
    const s = await openStream(v.port, `?topics=Product:${laptop.id}&token=${encodeURIComponent(token)}`, { 'vendure-token': v.channels.default })
    try {
      assert.equal(s.status, 200)
      await v.setPrice(laptop.variants[1].id, 222_00, v.channels.second)
      await s.waitFor((es) => es.some((m) => m.type === 'invalidate' && (payload(m).tags as string[]).includes(`Product:${laptop.id}`)), 5000, 'the second channel’s change')
    } finally {
      s.close()
    }
    const bad = await openStream(v.port, `?topics=Product:${laptop.id}&token=${encodeURIComponent(`${token}x`)}`)
    assert.equal(bad.status, 401)
    const wider = await openStream(v.port, `?topics=Product:999&token=${encodeURIComponent(token)}`)
    assert.equal(wider.status, 403, 'topics beyond the grant are refused')
  })

  test('the gateway serves the plugin’s stream too (EventSource: ?vendure-token=)', async () => {
    const port = Number(new URL(gwUrl).port)
    const s = await openStream(port, `?topics=Product:1&vendure-token=${v.channels.second}`)
    try {
      assert.equal(s.status, 200)
      await s.waitFor((es) => es.some((m) => m.type === 'ready'), 5000, 'ready')
    } finally {
      s.close()
    }
  })

  test('purge and admin routes on Vendure’s server want a Larder token', async () => {
    const r = await fetch(`${v.url}/_larder/purge`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: v.channels.default, tags: ['Product:1'] }) })
    assert.equal(r.status, 401)
  })

  test('a purge on Vendure’s server with a scoped token drops that channel’s cached queries only', async () => {
    const [, , , teapot] = v.products
    for (const c of [v.channels.default, v.channels.second]) {
      await shopRead(teapot.id, c)
      assert.match((await shopRead(teapot.id, c)).cache, /HIT/i)
    }
    const purge = (tenant: string) =>
      fetch(`${v.url}/_larder/purge`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${OPS_TOKEN}` }, body: JSON.stringify({ tenant, tags: [`Product:${teapot.id}`] }) })
    assert.equal((await purge(v.channels.default)).status, 403, 'the token may purge the second channel only')
    const before = v.refresher?.stats()
    assert.equal((await purge(v.channels.second)).status, 200)
    // The gateway re-fetches the purged, recently read query at once (refresh on invalidation):
    // the purged channel's entry was loaded again; the other channel's was not touched.
    await v.refresher?.idle()
    const after = v.refresher?.stats()
    assert.equal((after?.refreshed ?? 0) - (before?.refreshed ?? 0), 1, 'one refresh: the second channel’s teapot query')
    assert.match((await shopRead(teapot.id, v.channels.second)).cache, /HIT/i)
    assert.match((await shopRead(teapot.id, v.channels.default)).cache, /HIT/i)
  })
})

describe('Shop API through the gateway', () => {
  test('queries are cached per channel; customer-specific ones and mutations never are', async () => {
    const [, headphones] = v.products
    const first = await shopRead(headphones.id, v.channels.default)
    const second = await shopRead(headphones.id, v.channels.default)
    assert.match(first.cache, /MISS/i)
    assert.match(second.cache, /HIT/i)
    assert.match((await shopRead(headphones.id, v.channels.second)).cache, /MISS/i, 'the other channel is another tenant')
    const q = encodeURIComponent('{ activeOrder { id } }')
    for (let i = 0; i < 2; i++) {
      const r = await fetch(`${gwUrl}/shop-api?query=${q}`, { headers: { 'vendure-token': v.channels.default } })
      assert.equal(r.status, 200)
      assert.doesNotMatch(r.headers.get('x-cache') ?? '', /HIT/i, 'activeOrder is never cached')
      assert.equal(r.headers.get('cache-control'), 'private, no-store')
    }
  })

  test('a channel named in the query string (?vendure-token=) is never cached: the gateway keys by the header, Vendure prefers the query', async () => {
    const [laptop] = v.products
    // Header says the default channel, the query the second one: Vendure answers the second
    // channel; stored, the entry would sit in the default channel's tenant, where purges of the
    // second channel never reach it.
    const url = `${gwUrl}/shop-api?vendure-token=${v.channels.second}&query=${encodeURIComponent(PRODUCT_QUERY(laptop.id))}`
    const read = async () => {
      const r = await fetch(url, { headers: { 'vendure-token': v.channels.default } })
      assert.equal(r.status, 200)
      const body = (await r.json()) as { data: { product: { variants: { id: string; price: number }[] } } }
      return { cc: r.headers.get('cache-control'), xc: r.headers.get('x-cache') ?? '', price: body.data.product.variants[0]?.price }
    }
    await read()
    const variant = laptop.variants[0].id
    await v.setPrice(variant, 333_00, v.channels.second)
    const got = await read()
    assert.equal(got.price, 333_00, 'the second channel’s new price, not a stale copy')
    assert.doesNotMatch(got.xc, /HIT/i)
    assert.equal(got.cc, 'private, no-store')
  })

  test('0 stale reads over 200 seeded random price mutations and reads in two channels', async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000)
    console.log(`# seed ${seed} (SEED=${seed} to replay)`)
    const rand = mulberry32(seed)
    const channels = [v.channels.default, v.channels.second]
    // The model: what each channel's Shop API must answer, from the current prices.
    const expected = new Map<string, Map<string, number>>()
    for (const c of channels) {
      const m = new Map<string, number>()
      for (const p of v.products) for (const [id, price] of (await shopRead(p.id, c)).prices) m.set(id, price)
      expected.set(c, m)
    }
    let stale = 0
    let hits = 0
    let reads = 0
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T
    for (let i = 0; i < 200; i++) {
      const channel = pick(channels)
      const product = pick(v.products)
      if (rand() < 0.35) {
        const variant = pick(product.variants).id
        const price = 100 + Math.floor(rand() * 100_000)
        await v.setPrice(variant, price, channel)
        expected.get(channel)?.set(variant, price)
      } else {
        const got = await shopRead(product.id, channel)
        reads++
        if (/HIT/i.test(got.cache)) hits++
        for (const [id, price] of got.prices) if (expected.get(channel)?.get(id) !== price) stale++
      }
    }
    console.log(`# ${reads} reads, ${hits} served from the gateway cache, ${stale} stale`)
    assert.equal(stale, 0)
    assert.ok(hits > reads / 4, `the cache answered (${hits} of ${reads} reads)`)
  })
})
