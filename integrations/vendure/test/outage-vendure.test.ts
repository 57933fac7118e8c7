/**
 * A Vendure server on the Larder plugin (CacheService on LarderCacheStrategy, Redis L2 and log)
 * through a Redis outage on a real redis-server: Shop API reads and Admin API mutations end
 * within a bound while Redis hangs (SIGSTOP) or is down (SIGKILL), and after Redis comes back
 * the Shop API answers the price set during the outage.
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { startRedis, type RedisServerHandle } from 'larder/testing'
import { gql, startTestVendure, type TestVendure } from '../src/testing/index.ts'

let redis: RedisServerHandle
let v: TestVendure

before(async () => {
  redis = await startRedis()
  v = await startTestVendure({ larder: { redis: redis.url, onError: () => {} } })
})

after(async () => {
  redis?.resume()
  await v?.close()
  await redis?.stop()
})

const PRICE = gql`query ($id: ID!) { product(id: $id) { variants { id price } } }`

async function shopPrice(productId: string): Promise<number> {
  const r = await v.shop.query<{ product: { variants: { id: string; price: number }[] } }>(PRICE, { id: productId })
  return r.product.variants[0]?.price as number
}

async function timed<T>(what: string, f: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now()
  const value = await f()
  const ms = performance.now() - t0
  console.log(`# ${what}: ${ms.toFixed(0)} ms`)
  return { ms, value }
}

test('Redis hung (SIGSTOP): Shop API reads and Admin API mutations answer within a bound', async () => {
  const p = v.products[0]
  assert.ok(p)
  const variant = p.variants[0]?.id as string
  await timed('shop read, Redis up', () => shopPrice(p.id))
  await timed('admin mutation, Redis up', () => v.setPrice(variant, 1111, v.channels.default))
  redis.pause()
  try {
    const r = await timed('shop read, Redis hung', () => shopPrice(p.id))
    assert.ok(r.ms < 5000, 'a Shop API read on a hung Redis answers within 5 s')
    const m = await timed('admin mutation, Redis hung', () => v.setPrice(variant, 2222, v.channels.default))
    assert.ok(m.ms < 5000, 'an Admin API mutation on a hung Redis answers within 5 s')
    const m2 = await timed('second admin mutation, Redis hung', () => v.setPrice(variant, 2233, v.channels.default))
    assert.ok(m2.ms < 5000)
    assert.equal((await timed('shop read after the mutation, Redis hung', () => shopPrice(p.id))).value, 2233)
  } finally {
    redis.resume()
  }
})

test('Redis down (SIGKILL) then back on the same port: mutations answer, the new price is served after', async () => {
  const p = v.products[1]
  assert.ok(p)
  const variant = p.variants[0]?.id as string
  assert.equal(typeof (await shopPrice(p.id)), 'number')
  await redis.kill()
  const r = await timed('shop read, Redis down', () => shopPrice(p.id))
  assert.ok(r.ms < 5000)
  const m = await timed('admin mutation, Redis down', () => v.setPrice(variant, 3333, v.channels.default))
  assert.ok(m.ms < 5000)
  const m2 = await timed('second admin mutation, Redis down', () => v.setPrice(variant, 3344, v.channels.default))
  assert.ok(m2.ms < 5000)
  assert.equal(await shopPrice(p.id), 3344)
  await redis.restart()
  const t0 = performance.now()
  for (;;) {
    const price = await shopPrice(p.id)
    assert.equal(price, 3344, 'never the pre-outage price after the restart')
    if (performance.now() - t0 > 1500) break
    await new Promise((x) => setTimeout(x, 50))
  }
  await timed('admin mutation, Redis back', () => v.setPrice(variant, 3355, v.channels.default))
  assert.equal(await shopPrice(p.id), 3355)
})
