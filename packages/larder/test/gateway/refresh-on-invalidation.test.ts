import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import type { Cache } from '../../src/core/api.ts'
import { createCache } from '../../src/core/cache.ts'
import type { LogEntry } from '../../src/core/types.ts'
import { createGateway, createInvalidationRefresher, type Gateway, type InvalidationRefresher } from '../../src/gateway/index.ts'
import { get, type Origin, startOrigin } from './helpers.ts'

describe('gateway refresh on invalidation', () => {
  let origin: Origin
  let cache: Cache
  let refresher: InvalidationRefresher
  let gw: Gateway
  let base: string
  // The origin's current version per tenant + path; /slow answers only when released.
  const version = new Map<string, number>()
  let releaseSlow: (() => void) | undefined

  before(async () => {
    origin = await startOrigin((req, res) => {
      const tenant = String(req.headers['x-tenant-id'])
      const path = new URL(req.url as string, 'http://x').pathname
      const v = version.get(`${tenant} ${path}`) ?? 1
      const send = () => {
        res.writeHead(200, { 'cache-control': 'max-age=300', 'surrogate-key': `item:${path.slice(1)}`, 'content-type': 'text/plain' })
        res.end(`${path} v${v}`)
      }
      if (path === '/slow' && v > 1)
        releaseSlow = () => {
          releaseSlow = undefined
          send()
        }
      else send()
    })
    cache = createCache()
    refresher = createInvalidationRefresher({ cache, maxWaitMs: 100 })
    gw = createGateway({ origin: origin.url, cache, tenantHeader: 'x-tenant-id', logger: pino({ level: 'silent' }), refresher })
    base = `http://127.0.0.1:${(await gw.listen(0)).port}`
  })

  after(async () => {
    releaseSlow?.()
    await gw.close()
    refresher.close()
    await cache.close()
    await origin.close()
  })

  const seen = (tenant: string, path: string) => origin.seen.filter((s) => s.headers['x-tenant-id'] === tenant && s.url === path).length
  /** The next invalidation entry as the view's subscribers get it, with the origin's request counts at that moment. */
  function nextEntry(): Promise<{ entry: LogEntry; counts: Record<string, number> }> {
    return new Promise((resolve) => {
      const off = refresher.log.subscribe(
        {
          entries(es) {
            const entry = es.find((e) => e.kind === 'hard')
            if (!entry) return
            off()
            const counts: Record<string, number> = {}
            for (const k of ['acme /a', 'acme /b', 'beta /a', 'acme /private']) counts[k] = seen(k.split(' ')[0] as string, k.split(' ')[1] as string)
            resolve({ entry, counts })
          },
          gap() {},
        },
        'now',
      )
    })
  }

  it('re-fetches once, before the entry reaches the view, exactly the recent reads the invalidation removed, in that tenant only', async () => {
    for (const [tenant, path] of [['acme', '/a'], ['acme', '/b'], ['beta', '/a']] as const) {
      assert.equal((await get(`${base}${path}`, { 'x-tenant-id': tenant })).text, `${path} v1`)
      assert.equal((await get(`${base}${path}`, { 'x-tenant-id': tenant })).headers.get('x-cache'), 'HIT')
    }
    // A read with credentials is never recorded (it is not replayed with them in the background).
    await get(`${base}/private`, { 'x-tenant-id': 'acme', authorization: 'Bearer x' })
    const before = refresher.stats()
    version.set('acme /a', 2)
    version.set('beta /a', 2)
    const heard = nextEntry()
    await cache.tenant('acme').invalidateTags(['item:a'])
    const { counts } = await heard
    // When the view delivered the entry, acme /a had been fetched again (once); nothing else had.
    assert.deepEqual(counts, { 'acme /a': 2, 'acme /b': 1, 'beta /a': 1, 'acme /private': 1 })
    const after = refresher.stats()
    assert.equal(after.refreshed - before.refreshed, 1)
    assert.equal(after.skipped - before.skipped, 1, 'acme /b was still cached: looked up, not fetched')
    // The next read is a hit with the new value; beta keeps its own (older) cached answer.
    const a = await get(`${base}/a`, { 'x-tenant-id': 'acme' })
    assert.equal(a.text, '/a v2')
    assert.equal(a.headers.get('x-cache'), 'HIT')
    assert.equal((await get(`${base}/a`, { 'x-tenant-id': 'beta' })).text, '/a v1')
    assert.equal(seen('acme', '/a'), 2)
  })

  it('a read arriving while the refresh runs joins it (one origin fetch) and never gets the old value', async () => {
    version.set('acme /a', 3)
    const heard = nextEntry()
    await cache.tenant('acme').invalidateTags(['item:a'])
    const before = seen('acme', '/a')
    const [r1, r2] = await Promise.all([get(`${base}/a`, { 'x-tenant-id': 'acme' }), get(`${base}/a`, { 'x-tenant-id': 'acme' })])
    await heard
    assert.equal(r1.text, '/a v3')
    assert.equal(r2.text, '/a v3')
    assert.equal(seen('acme', '/a') - before, 1, 'one origin fetch for the refresh and both reads')
  })

  it('holds an entry back at most maxWaitMs when the origin is slow', async () => {
    await get(`${base}/slow`, { 'x-tenant-id': 'acme' })
    version.set('acme /slow', 2)
    const t = performance.now()
    const heard = nextEntry()
    await cache.tenant('acme').invalidateTags(['item:slow'])
    await heard
    const waited = performance.now() - t
    assert.ok(waited >= 90 && waited < 1000, `held ${waited.toFixed(1)} ms`)
    releaseSlow?.()
  })

  it('a client’s request directives (Cache-Control: no-cache, Pragma) are not replayed: an invalidation elsewhere in the tenant re-fetches nothing', async () => {
    // Replayed as sent, each of a client's no-cache reads would be fetched from the origin on
    // every invalidation of the tenant, whatever it touched (one client, up to maxReads fetches each time).
    assert.equal((await get(`${base}/c`, { 'x-tenant-id': 'gamma', 'cache-control': 'no-cache', pragma: 'no-cache' })).text, '/c v1')
    const before = refresher.stats()
    const heard = nextEntry()
    await cache.tenant('gamma').invalidateTags(['item:unrelated'])
    await heard
    await refresher.idle()
    assert.equal(seen('gamma', '/c'), 1, 'the untouched entry was not fetched again')
    assert.equal(refresher.stats().refreshed - before.refreshed, 0)
  })

  it('one tenant reading many URLs cannot push another tenant’s reads out of the record', async () => {
    await get(`${base}/d`, { 'x-tenant-id': 'delta' })
    for (let i = 0; i < 300; i++) await get(`${base}/flood${i}`, { 'x-tenant-id': 'flood' })
    version.set('delta /d', 2)
    const heard = nextEntry()
    await cache.tenant('delta').invalidateTags(['item:d'])
    await heard
    await refresher.idle()
    assert.equal(seen('delta', '/d'), 2, 'delta’s recent read was still recorded and refreshed')
  })
})

describe('refresher concurrency', () => {
  it('a tenant-wide invalidation never runs more refresh loads at once than `concurrency`; every read is still refreshed', async () => {
    const cache = createCache()
    const refresher = createInvalidationRefresher({ cache, concurrency: 3, maxWaitMs: 10_000 })
    let running = 0
    let most = 0
    const held: (() => void)[] = []
    refresher.attach(async () => {
      running++
      most = Math.max(most, running)
      await new Promise<void>((r) => held.push(r))
      running--
      return true
    })
    try {
      for (let i = 0; i < 20; i++) refresher.record('acme', { method: 'GET', host: 'shop', target: `/p/${i}`, headers: {} })
      await cache.tenant('acme').clear()
      // Release the held loads one by one as they arrive until all 20 have run.
      let released = 0
      while (released < 20) {
        await new Promise((r) => setImmediate(r))
        assert.ok(running <= 3, `running ${running}`)
        const next = held.shift()
        if (next) {
          next()
          released++
        }
      }
      await refresher.idle()
      assert.equal(most, 3)
      assert.equal(refresher.stats().refreshed, 20)
    } finally {
      refresher.close()
      await cache.close()
    }
  })
})
