import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Cache } from '../../src/core/api.ts'
import { createCache } from '../../src/core/cache.ts'
import { createForwarders, type Forwarders } from '../../src/http/cdn/index.ts'
import { type Origin, startOrigin } from '../gateway/helpers.ts'

describe('CDN purge forwarders', () => {
  let cache: Cache
  let recorder: Origin
  let fw: Forwarders
  let failFirst = 0
  const calls: { url: string; headers: Record<string, unknown>; body: string }[] = []
  before(async () => {
    recorder = await startOrigin((req, res, body) => {
      calls.push({ url: req.url as string, headers: req.headers, body: body.toString() })
      if (failFirst > 0) {
        failFirst--
        res.writeHead(503)
        return res.end()
      }
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{"success":true}')
    })
    cache = createCache()
    fw = createForwarders(
      cache.log,
      [
        { type: 'fastly', serviceId: 'svc1', token: 'fastly-secret', endpoint: recorder.url },
        { type: 'cloudflare', zoneId: 'zone1', token: 'cf-secret', endpoint: recorder.url },
        { type: 'webhook', url: `${recorder.url}/hook`, headers: { 'x-signature': 's' } },
      ],
      { intervalMs: 10_000, retryDelayMs: 1 },
    )
  })
  after(async () => {
    await fw.close()
    await cache.close()
    await recorder.close()
  })

  it('batches purges into one call per CDN with tenant-prefixed keys', async () => {
    calls.length = 0
    await cache.invalidate('acme', { tags: ['product:1', 'list'] })
    await cache.invalidate('acme', { tags: ['product:2'], soft: true })
    await cache.invalidate('globex', { tags: ['list'], keys: ['k'] })
    await fw.flush()
    const fastly = calls.filter((c) => c.url === '/service/svc1/purge')
    assert.equal(fastly.length, 2)
    const hard = fastly.find((c) => c.headers['fastly-soft-purge'] === undefined)
    const soft = fastly.find((c) => c.headers['fastly-soft-purge'] === '1')
    assert.equal(hard?.headers['surrogate-key'], 'acme:product:1 acme:list globex:list')
    assert.equal(hard?.headers['fastly-key'], 'fastly-secret')
    assert.equal(soft?.headers['surrogate-key'], 'acme:product:2')
    const cf = calls.filter((c) => c.url === '/zones/zone1/purge_cache')
    assert.equal(cf.length, 1)
    assert.deepEqual(JSON.parse(cf[0]?.body as string).tags, ['acme:product:1', 'acme:list', 'acme:product:2', 'globex:list'])
    assert.equal(cf[0]?.headers.authorization, 'Bearer cf-secret')
    const hook = calls.filter((c) => c.url === '/hook')
    assert.equal(hook.length, 1)
    const entries = JSON.parse(hook[0]?.body as string).entries
    assert.equal(entries.length, 3)
    assert.deepEqual(entries[2].keys, ['k'])
    assert.equal(hook[0]?.headers['x-signature'], 's')
  })

  it('retries a failing call until it succeeds', async () => {
    calls.length = 0
    failFirst = 2
    await cache.invalidate('acme', { tags: ['x'] })
    await fw.flush()
    const ok = calls.length
    // 3 forwarders; two of the calls failed once each (or one twice) before succeeding.
    assert.equal(ok, 5)
    assert.equal(failFirst, 0)
  })

  it('Cloudflare calls carry at most 30 tags', async () => {
    calls.length = 0
    await cache.invalidate('acme', { tags: Array.from({ length: 65 }, (_, i) => `t${i}`) })
    await fw.flush()
    const cf = calls.filter((c) => c.url === '/zones/zone1/purge_cache').map((c) => JSON.parse(c.body).tags.length)
    assert.deepEqual(cf.sort((a, b) => a - b), [5, 30, 30])
  })
})
