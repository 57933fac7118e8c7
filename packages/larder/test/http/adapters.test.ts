import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Cache } from '../../src/core/api.ts'
import { createCache } from '../../src/core/cache.ts'
import { larderHttpCache } from '../../src/http/fastify/index.ts'
import { httpCache } from '../../src/http/node/index.ts'
import { get } from '../gateway/helpers.ts'

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}
async function stop(server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((r) => server.close(() => r()))
}

describe('node:http adapter', () => {
  let cache: Cache
  let server: Server
  let base: string
  let calls = 0
  before(async () => {
    cache = createCache()
    const mw = httpCache({ cache, tenant: (req) => req.headers['x-tenant-id'] as string | undefined })
    server = createServer(
      mw.wrap((req, res) => {
        calls++
        if (req.method === 'POST') {
          res.writeHead(204)
          return res.end()
        }
        if (req.url === '/private') {
          res.writeHead(200, { 'cache-control': 'private, max-age=60' })
          return res.end(`p${calls}`)
        }
        res.setHeader('surrogate-key', 'list product:*')
        res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'text/plain' })
        res.write('call ')
        res.end(String(calls))
      }),
    )
    base = await listen(server)
  })
  after(async () => {
    await stop(server)
    await cache.close()
  })

  it('answers a repeat from the cache without running the handler', async () => {
    const a = await get(`${base}/a`)
    assert.equal(a.headers.get('x-cache'), 'MISS')
    assert.equal(a.headers.get('surrogate-key'), null)
    const b = await get(`${base}/a`)
    assert.equal(b.text, a.text)
    assert.equal(b.headers.get('x-cache'), 'HIT')
    assert.equal(b.headers.get('content-type'), 'text/plain')
    assert.equal(b.headers.get('surrogate-key'), null)
    assert.equal(calls, 1)
  })

  it('304 for a matching If-None-Match on a hit', async () => {
    const b = await get(`${base}/a`)
    const c = await get(`${base}/a`, { 'if-none-match': b.headers.get('etag') as string })
    assert.equal(c.status, 304)
  })

  it('keeps tenants apart and purges by surrogate key per tenant', async () => {
    const other = await get(`${base}/a`, { 'x-tenant-id': 'globex' })
    assert.equal(other.headers.get('x-cache'), 'MISS')
    await cache.invalidate('default', { tags: ['product:*'] })
    assert.equal((await get(`${base}/a`)).headers.get('x-cache'), 'MISS')
    assert.equal((await get(`${base}/a`, { 'x-tenant-id': 'globex' })).headers.get('x-cache'), 'HIT')
  })

  it('invalidates after an unsafe method and never stores private answers', async () => {
    await get(`${base}/b`)
    assert.equal((await get(`${base}/b`)).headers.get('x-cache'), 'HIT')
    await get(`${base}/b`, {}, 'POST')
    assert.equal((await get(`${base}/b`)).headers.get('x-cache'), 'MISS')
    const p1 = await get(`${base}/private`)
    const p2 = await get(`${base}/private`)
    assert.notEqual(p1.text, p2.text)
  })

  it('a bad tenant id is a 400', async () => {
    assert.equal((await get(`${base}/a`, { 'x-tenant-id': '@public' })).status, 400)
  })
})

describe('Express middleware', () => {
  let cache: Cache
  let server: Server
  let base: string
  let calls = 0
  before(async () => {
    cache = createCache()
    const app = express()
    app.use(httpCache({ cache, routes: { '/api/v1/products': { ttl: '5m', query: ['page'] } } }))
    app.get('/api/v1/products', (_req, res) => {
      calls++
      res.set('cache-tag', 'products').json({ calls })
    })
    server = createServer(app)
    base = await listen(server)
  })
  after(async () => {
    await stop(server)
    await cache.close()
  })

  it('caches by route policy (ttl, kept query params) and tags entries with route:<path>', async () => {
    const a = await get(`${base}/api/v1/products?page=1&utm=x`)
    const b = await get(`${base}/api/v1/products?page=1&utm=y`)
    assert.equal(b.headers.get('x-cache'), 'HIT')
    assert.equal(b.text, a.text)
    assert.equal(b.headers.get('content-type'), 'application/json; charset=utf-8')
    await get(`${base}/api/v1/products?page=2`)
    assert.equal(calls, 2)
    await cache.invalidate('default', { tags: ['route:/api/v1/products'] })
    assert.equal((await get(`${base}/api/v1/products?page=1`)).headers.get('x-cache'), 'MISS')
  })
})

describe('Fastify plugin', () => {
  let cache: Cache
  let app: FastifyInstance
  let calls = 0
  before(async () => {
    cache = createCache()
    app = Fastify()
    await app.register(larderHttpCache, { cache })
    app.get('/p/:id', async (req, reply) => {
      calls++
      reply.header('cache-control', 'public, max-age=30').header('surrogate-key', `product:${(req.params as { id: string }).id}`)
      return { id: (req.params as { id: string }).id, calls }
    })
  })
  after(async () => {
    await app.close()
    await cache.close()
  })

  it('serves hits without running the route, strips surrogate keys, purges by them', async () => {
    const a = await app.inject({ method: 'GET', url: '/p/1' })
    assert.equal(a.headers['x-cache'], 'MISS')
    assert.equal(a.headers['surrogate-key'], undefined)
    const b = await app.inject({ method: 'GET', url: '/p/1' })
    assert.equal(b.headers['x-cache'], 'HIT')
    assert.equal(b.body, a.body)
    assert.equal(calls, 1)
    await cache.invalidate('default', { tags: ['product:1'] })
    const c = await app.inject({ method: 'GET', url: '/p/1' })
    assert.equal(c.headers['x-cache'], 'MISS')
    assert.equal(calls, 2)
  })
})
