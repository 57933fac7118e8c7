import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createCache } from '../../src/core/cache.ts'
import { createHttpCache, type HttpCache } from '../../src/http/engine.ts'

/**
 * docs/core.md, "Internal keys and tags": the HTTP cache's `@url <primary key>` tags are plain
 * tags inside the tenant. A tag spelling one (purge by tag, a surrogate key from the origin)
 * can do exactly what a URL purge of the same tenant does — which the same `purge` scope
 * allows anyway — and never reaches another tenant.
 */
async function stored(http: HttpCache, tenant: string, target: string, headers: Record<string, string> = {}): Promise<void> {
  const req = { method: 'GET', host: 'example.com', target, headers: {} }
  const lk = await http.lookup(tenant, req)
  const now = Date.now()
  const out = await http.store(lk, req, {}, { status: 200, headers: { 'cache-control': 'max-age=600', ...headers }, body: Buffer.from(`body of ${target}`), requestTime: now, responseTime: now })
  assert.ok(out, `${target} stored`)
}

async function cached(http: HttpCache, tenant: string, target: string): Promise<boolean> {
  return (await http.lookup(tenant, { method: 'GET', host: 'example.com', target, headers: {} })).found !== undefined
}

describe('@url tags are tenant-scoped and give no power a URL purge does not', () => {
  test('a purge by the tag "@url <key>" drops what the URL purge drops, in its own tenant only', async () => {
    const cache = createCache()
    const http = createHttpCache({ cache })
    for (const t of ['a', 'b']) {
      await stored(http, t, '/x')
      await stored(http, t, '/y')
    }
    const primary = http.urlKey('/x', 'example.com')
    await http.purge('a', { tags: [`@url ${primary}`] })
    assert.equal(await cached(http, 'a', '/x'), false, 'same as purging the URL')
    assert.equal(await cached(http, 'a', '/y'), true, 'nothing else')
    assert.equal(await cached(http, 'b', '/x'), true, 'another tenant is out of reach')
    await http.purge('b', { urls: ['/x'] }, 'example.com')
    assert.equal(await cached(http, 'b', '/x'), false)
    await cache.close()
  })

  test('an origin surrogate key spelling another URL tag only over-invalidates its own response, in its tenant', async () => {
    const cache = createCache()
    const http = createHttpCache({ cache })
    const primaryX = http.urlKey('/x', 'example.com')
    await stored(http, 'a', '/x')
    await stored(http, 'a', '/y', { 'cache-tag': `@url ${primaryX}` })
    await stored(http, 'b', '/y')
    await http.purge('a', { urls: ['/x'] }, 'example.com')
    assert.equal(await cached(http, 'a', '/x'), false)
    assert.equal(await cached(http, 'a', '/y'), false, 'the origin tagged /y with /x: purged with it')
    assert.equal(await cached(http, 'b', '/y'), true)
    await cache.close()
  })
})
