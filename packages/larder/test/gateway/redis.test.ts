import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Cache } from '../../src/core/api.ts'
import { createAuthorizer } from '../../src/core/auth.ts'
import { createCache } from '../../src/core/cache.ts'
import { createGateway, type Gateway } from '../../src/gateway/index.ts'
import { redisLog, redisStore } from '../../src/redis/index.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { ADMIN, get as rawGet, type Origin, startOrigin } from './helpers.ts'

// Both instances see the same Host, as behind one load balancer (the host is part of the key).
const get = (url: string, headers: Record<string, string> = {}, method?: string, body?: string) => rawGet(url, { host: 'shop.test', ...headers }, method, body)

// Two gateway instances sharing a real redis-server (L2 + invalidation log), then Redis dies.
describe('gateway over Redis', () => {
  let redis: RedisServerHandle
  let origin: Origin
  const caches: Cache[] = []
  const gws: Gateway[] = []
  const bases: string[] = []
  let version = 1
  before(async () => {
    redis = await startRedis()
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': 'shared' })
      res.end(`${req.url} v${version}`)
    })
    const auth = createAuthorizer([{ name: 'admin', token: ADMIN, scopes: ['admin'] }])
    for (let i = 0; i < 2; i++) {
      const cache = createCache({ l2: redisStore({ url: redis.url }), log: redisLog({ url: redis.url }) })
      const gw = createGateway({ origin: origin.url, cache, auth, headersTimeout: 2000 })
      const addr = await gw.listen(0)
      caches.push(cache)
      gws.push(gw)
      bases.push(`http://127.0.0.1:${addr.port}`)
    }
  })
  after(async () => {
    for (const gw of gws) await gw.close()
    for (const c of caches) await c.close()
    await origin.close()
    await redis.stop()
  })

  it('an entry stored by one instance is a hit on the other (L2), and a purge on one reaches both', async () => {
    version = 1
    await get(`${bases[0]}/x`)
    const other = await get(`${bases[1]}/x`)
    assert.equal(other.text, '/x v1')
    assert.equal(other.headers.get('x-cache'), 'HIT')
    assert.equal(origin.seen.filter((s) => s.url === '/x').length, 1)
    version = 2
    const p = await get(`${bases[0]}/_larder/purge`, { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ tags: ['shared'] }))
    assert.equal(p.status, 200)
    assert.equal((await get(`${bases[0]}/x`)).text, '/x v2')
    // The second instance converges within the bus delay (bounded poll).
    const deadline = Date.now() + 5000
    let t = ''
    do t = (await get(`${bases[1]}/x`)).text
    while (t !== '/x v2' && Date.now() < deadline)
    assert.equal(t, '/x v2')
  })

  it('with Redis down, requests are still answered (from L1 or the origin) within a bounded time', async () => {
    await redis.kill()
    const started = Date.now()
    const hit = await get(`${bases[0]}/x`)
    assert.equal(hit.status, 200)
    const miss = await get(`${bases[0]}/new-path`)
    assert.equal(miss.status, 200)
    assert.equal(miss.text, '/new-path v2')
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`)
    // A purge during the outage answers within a bounded time too (202: applied locally and queued, or 503), never hangs, never a 200.
    const t0 = Date.now()
    const p = await get(`${bases[0]}/_larder/purge`, { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ tags: ['shared'] }))
    assert.ok(p.status === 202 || p.status === 503, `purge answered ${p.status}: ${p.text}`)
    assert.ok(Date.now() - t0 < 5000, `purge took ${Date.now() - t0} ms`)
    await redis.restart()
  })
})
