import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createCache, type Cache, type LarderRoute } from '../../src/index.ts'
import { createAuthorizer } from '../../src/core/auth.ts'
import { assembleGateway, createGateway, type Gateway, type GatewayParts } from '../../src/gateway/index.ts'

/** One origin whose answer names how many times it was asked. */
let origin: Server
let originUrl: string
let hits = 0
let cache: Cache
let gateway: Gateway
let parts: GatewayParts
let base: string
const ADMIN = { authorization: 'Bearer admin-token-assemble' }

before(async () => {
  origin = createServer((_req, res) => {
    hits++
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' })
    res.end(`answer ${hits}`)
  })
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`
  cache = createCache()
  const auth = createAuthorizer([{ name: 'admin', token: 'admin-token-assemble', scopes: ['admin'] }])
  const routes: LarderRoute[] = []
  gateway = createGateway({ origin: originUrl, cache, auth, routes })
  parts = assembleGateway({ cache, gateway, auth, routes, rules: { version: 1, events: { 'page.changed': { invalidate: ['page'] } } } })
  const addr = await gateway.listen(0, '127.0.0.1')
  base = `http://127.0.0.1:${addr.port}`
})

after(async () => {
  await gateway.close()
  await parts.close()
  await cache.close()
  await new Promise<void>((r) => origin.close(() => r()))
})

describe('assembleGateway', () => {
  it('mounts the stream, metrics (behind read:stats), event ingest and the admin API on the gateway', async () => {
    assert.equal((await fetch(`${base}/metrics`)).status, 401)
    const metrics = await fetch(`${base}/metrics`, { headers: ADMIN })
    assert.equal(metrics.status, 200)
    assert.match(await metrics.text(), /larder_/)
    const ingest = await fetch(`${base}/_larder/events`, { method: 'POST', headers: { ...ADMIN, 'content-type': 'application/json' }, body: JSON.stringify({ id: 'e1', type: 'page.changed', tenant: 'default', data: {} }) })
    assert.equal(ingest.status >= 200 && ingest.status < 300, true, await ingest.text())
    const stream = new AbortController()
    const res = await fetch(`${base}/_larder/stream?topics=page`, { signal: stream.signal })
    assert.equal(res.status, 200)
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/)
    stream.abort()
    await res.body?.cancel().catch(() => {})
    assert.ok(parts.processor)
    assert.equal((await fetch(`${base}/_larder/stats`, { headers: ADMIN })).status, 200)
  })

  it('a URL purge reaches the HTTP cache (the admin API and the gateway share one purge handler)', async () => {
    const a = await (await fetch(`${base}/page`)).text()
    assert.equal(await (await fetch(`${base}/page`)).text(), a, 'second read is a hit')
    const purge = await fetch(`${base}/_larder/purge`, { method: 'POST', headers: { ...ADMIN, 'content-type': 'application/json' }, body: JSON.stringify({ urls: ['/page'] }) })
    assert.equal(purge.status < 300, true, await purge.text())
    assert.notEqual(await (await fetch(`${base}/page`)).text(), a, 'after the purge the origin is asked again')
  })
})
