import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { type RedisServerHandle, startRedis } from 'larder/testing'
import { type Demo, startDemo } from '../src/demo.ts'

// `REDIS_URL=… npm start -- --instances 2`: two gateways, each with its own Redis
// connections (L2 + Stream log), in front of one origin.
let redis: RedisServerHandle
let demo: Demo

before(async () => {
  redis = await startRedis()
  demo = await startDemo({ port: 0, instances: 2, redisUrl: redis.url, tenants: [{ id: 'acme', name: 'Acme', products: 100 }] })
})

after(async () => {
  await demo?.close()
  await redis?.stop()
})

async function get(base: string, path: string) {
  const res = await fetch(base + path, { headers: { 'x-tenant-id': 'acme' } })
  return { cache: res.headers.get('x-cache'), body: await res.json() }
}

test('a write through one gateway invalidates the other gateway (via Redis) before it is acknowledged', async () => {
  const [one, two] = demo.instances.map((i) => i.url) as [string, string]
  assert.notEqual(one, two)
  const v1 = (await get(one, '/api/v1/products/5')).body.product.version
  await get(two, '/api/v1/products/5')
  assert.equal((await get(two, '/api/v1/products/5')).cache, 'HIT', 'gateway two holds the product')

  const w = await fetch(`${one}/api/v1/products/5`, { method: 'PATCH', headers: { 'x-tenant-id': 'acme', 'content-type': 'application/json' }, body: '{"stock":11}' })
  assert.equal(w.status, 200)
  assert.equal(w.headers.get('x-invalidation'), 'applied')
  await w.arrayBuffer()
  // Gateway two learns of it from the Redis Stream; poll on its own answers (bounded by the test timeout).
  let seen = await get(two, '/api/v1/products/5')
  while (seen.body.product.version === v1) seen = await get(two, '/api/v1/products/5')
  assert.equal(seen.body.product.version, v1 + 1)
  assert.equal(seen.body.product.stock, 11)
})

test('npm start refuses several instances without Redis, with a hint', async () => {
  await assert.rejects(startDemo({ port: 0, instances: 2 }), /needs Redis: set REDIS_URL/)
})
