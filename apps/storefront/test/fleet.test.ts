import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { type RedisServerHandle, startRedis } from 'larder/testing'
import { chromium } from 'playwright-core'
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

test('in Chromium: a price saved on a page served by gateway one shows up on a page served by gateway two', async () => {
  const [one, two] = demo.instances.map((i) => i.url) as [string, string]
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  try {
    const open = async (base: string) => {
      const page = await browser.newPage()
      await page.goto(`${base}/?tenant=acme&product=8`)
      await page.waitForSelector('body[data-ready="true"]')
      await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live')
      return page
    }
    const a = await open(one)
    const b = await open(two)
    const price = 7_000 + Math.floor(Math.random() * 1000)
    await a.fill('#admin-price', String(price))
    await a.click('#admin-price-btn')
    // Gateway two's hub reads its own Redis Stream log: the invalidation crossed the fleet.
    await b.waitForFunction((text) => document.getElementById('p-price')?.textContent === text, `$${(price / 100).toFixed(2)}`)
  } finally {
    await browser.close()
  }
})

test('npm start refuses several instances without Redis, with a hint', async () => {
  await assert.rejects(startDemo({ port: 0, instances: 2 }), /needs Redis: set REDIS_URL/)
})
