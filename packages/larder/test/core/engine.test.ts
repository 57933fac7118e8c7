import assert from 'node:assert/strict'
import diagnostics_channel from 'node:diagnostics_channel'
import { describe, test } from 'node:test'
import { createCache, isLarderError, type LoaderContext, parseDuration } from 'larder'
import { FakeClock, flushMicrotasks } from 'larder/testing'

function deferred<T>() {
  let resolve!: (v: T) => void
  let reject!: (e: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  return { promise, resolve, reject }
}

describe('durations', () => {
  test('accept ms numbers and unit strings', () => {
    assert.equal(parseDuration(250), 250)
    assert.equal(parseDuration('250ms'), 250)
    assert.equal(parseDuration('5m'), 300_000)
    assert.equal(parseDuration('1h'), 3_600_000)
    assert.equal(parseDuration('1.5s'), 1500)
  })
  test('reject anything else with E_INVALID_DURATION', () => {
    for (const bad of ['5 minutes', '', 'h', '-1s', -5, Number.NaN, Number.POSITIVE_INFINITY, null, {}]) {
      assert.throws(() => parseDuration(bad as never), (e) => isLarderError(e, 'E_INVALID_DURATION'))
    }
  })
  test('a bad policy duration fails createCache', () => {
    assert.throws(() => createCache({ policies: { product: { ttl: 'forever' } } }), (e) => isLarderError(e, 'E_INVALID_DURATION') && /product/.test(e.message))
  })
})

describe('tenants', () => {
  test('invalid ids get E_INVALID_TENANT', () => {
    const cache = createCache()
    for (const bad of ['', 'a'.repeat(129), 'ac\u0000me', 'x\ny', '@public', 42]) {
      assert.throws(() => cache.tenant(bad as never), (e) => isLarderError(e, 'E_INVALID_TENANT'))
    }
  })
  test('keys and tags of one tenant never touch another', async () => {
    const cache = createCache()
    const a = cache.tenant('acme')
    const b = cache.tenant('bolt')
    await a.set('product:1', 'A', { tags: ['product:1'] })
    await b.set('product:1', 'B', { tags: ['product:1'] })
    assert.equal(await a.get('product:1'), 'A')
    assert.equal(await b.get('product:1'), 'B')
    await a.invalidateTags(['product:1'])
    assert.equal(await a.get('product:1'), undefined)
    assert.equal(await b.get('product:1'), 'B')
    await a.clear()
    assert.equal(await b.get('product:1'), 'B')
    await cache.close()
  })
  test('pattern characters in keys and tags are data', async () => {
    const cache = createCache()
    const t = cache.tenant('t*')
    await t.set('product:*', 1, { tags: ['*'] })
    await t.set('product:1', 2, { tags: ['product:1'] })
    await t.invalidateTags(['*'])
    assert.equal(await t.get('product:*'), undefined)
    assert.equal(await t.get('product:1'), 2)
    assert.equal(await cache.tenant('t').get('product:1'), undefined)
    await cache.close()
  })
  test('a tenant id that contains the separator of another cannot reach it', async () => {
    const cache = createCache()
    // Neither a key nor a tenant id may hold the separator, so no tenant can alias tenant a's keys.
    await assert.rejects(cache.tenant('a').set('b\u001fc', 1), (e) => isLarderError(e, 'E_INVALID_KEY'))
    assert.throws(() => cache.tenant('a\u001fb'), (e) => isLarderError(e, 'E_INVALID_TENANT'))
    await cache.close()
  })
  test('cache.public is its own explicit scope', async () => {
    const cache = createCache()
    await cache.public.set('marketplace:fees', 3)
    assert.equal(await cache.public.get('marketplace:fees'), 3)
    assert.equal(await cache.tenant('acme').get('marketplace:fees'), undefined)
    await cache.close()
  })
})

describe('getOrSet', () => {
  test('read-through, then L1 hit without calling the loader', async () => {
    const cache = createCache({ policies: { product: { ttl: '1h' } } })
    const shop = cache.tenant('acme')
    let calls = 0
    const loader = async () => ({ id: 42, n: ++calls })
    assert.deepEqual(await shop.getOrSet('product:42', loader, { policy: 'product', tags: ['product:42', 'category:7'] }), { id: 42, n: 1 })
    assert.deepEqual(await shop.getOrSet('product:42', loader, { policy: 'product' }), { id: 42, n: 1 })
    assert.equal(calls, 1)
    const s = cache.stats()
    assert.equal(s.hits, 1)
    assert.equal(s.misses, 1)
    assert.equal(s.tenants.acme?.loads, 1)
    await cache.close()
  })

  test('an unknown policy is a clear error', async () => {
    const cache = createCache()
    await assert.rejects(cache.tenant('a').getOrSet('k', () => 1, { policy: 'nope' }), (e) => isLarderError(e, 'E_UNKNOWN_POLICY'))
    await cache.close()
  })

  test('1,000 concurrent misses cause exactly one load', async () => {
    const cache = createCache()
    const shop = cache.tenant('acme')
    let calls = 0
    const gate = deferred<void>()
    const loader = async () => {
      calls++
      await gate.promise
      return 'v'
    }
    const all = Array.from({ length: 1000 }, () => shop.getOrSet('k', loader))
    gate.resolve()
    const values = await Promise.all(all)
    assert.equal(calls, 1)
    assert.ok(values.every((v) => v === 'v'))
    await cache.close()
  })

  test('ttl expires with the clock; ttlFrom computes ttl from the value', async () => {
    const clock = new FakeClock()
    const cache = createCache({
      clock,
      policies: { sellers: { ttl: '1h', ttlFrom: (v) => ((v as { sellers: number }).sellers > 100 ? '15m' : '1h') } },
    })
    const shop = cache.tenant('acme')
    let n = 0
    await shop.getOrSet('variant:1:sellers', () => ({ sellers: 150, n: ++n }), { policy: 'sellers' })
    await shop.getOrSet('variant:2:sellers', () => ({ sellers: 5, n: ++n }), { policy: 'sellers' })
    await clock.advance(16 * 60_000)
    assert.equal(await shop.get('variant:1:sellers'), undefined, 'busy variant: 15 min ttl')
    assert.deepEqual(await shop.get('variant:2:sellers'), { sellers: 5, n: 2 }, 'quiet variant: 1 h ttl')
    await clock.advance(45 * 60_000)
    assert.equal(await shop.get('variant:2:sellers'), undefined)
    await cache.close()
  })

  test('jitter spreads ttl within [ttl, ttl*(1+jitter)]', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { p: { ttl: 1000, jitter: 0.5 } } })
    const shop = cache.tenant('a')
    for (let i = 0; i < 50; i++) await shop.getOrSet(`k${i}`, () => i, { policy: 'p' })
    await clock.advance(999)
    let alive = 0
    for (let i = 0; i < 50; i++) if ((await shop.get(`k${i}`)) !== undefined) alive++
    assert.equal(alive, 50)
    await clock.advance(1501 - 999)
    for (let i = 0; i < 50; i++) assert.equal(await shop.get(`k${i}`), undefined)
    await cache.close()
  })

  test('null is cached under the negative ttl; undefined is never cached', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { product: { ttl: '1h', negativeTtl: '10s' } } })
    const shop = cache.tenant('a')
    let calls = 0
    const missing = () => {
      calls++
      return null
    }
    assert.equal(await shop.getOrSet('product:404', missing, { policy: 'product' }), null)
    assert.equal(await shop.getOrSet('product:404', missing, { policy: 'product' }), null)
    assert.equal(calls, 1)
    await clock.advance(11_000)
    await shop.getOrSet('product:404', missing, { policy: 'product' })
    assert.equal(calls, 2)
    let u = 0
    await shop.getOrSet('u', () => {
      u++
      return undefined
    })
    await shop.getOrSet('u', () => {
      u++
      return undefined
    })
    assert.equal(u, 2)
    await assert.rejects(shop.set('u', undefined), (e) => isLarderError(e, 'E_VALUE_UNDEFINED'))
    await cache.close()
  })

  test('the loader context can change ttl, tags, or skip caching', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock })
    const shop = cache.tenant('a')
    await shop.getOrSet('a', (ctx: LoaderContext) => {
      ctx.setTtl('2s')
      ctx.setTags(['x'])
      return 1
    })
    await shop.getOrSet('b', (ctx: LoaderContext) => {
      ctx.skip()
      return 2
    })
    assert.equal(await shop.get('a'), 1)
    assert.equal(await shop.get('b'), undefined)
    await shop.invalidateTags(['x'])
    assert.equal(await shop.get('a'), undefined)
    await shop.getOrSet('a', (ctx: LoaderContext) => {
      ctx.setTtl('2s')
      return 1
    })
    await clock.advance(2001)
    assert.equal(await shop.get('a'), undefined)
    await cache.close()
  })

  test('stale-while-revalidate: serves stale once past ttl and refreshes once in the background', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { product: { ttl: '1m', grace: '1h' } } })
    const shop = cache.tenant('a')
    let n = 0
    const gate = deferred<void>()
    await shop.getOrSet('p', () => ++n, { policy: 'product' })
    await clock.advance(61_000)
    const slow = async () => {
      await gate.promise
      return ++n
    }
    assert.equal(await shop.getOrSet('p', slow, { policy: 'product' }), 1)
    assert.equal(await shop.getOrSet('p', slow, { policy: 'product' }), 1)
    assert.equal(cache.stats().staleServes, 2)
    gate.resolve()
    await flushMicrotasks()
    assert.equal(n, 2, 'exactly one background refresh')
    assert.equal(await shop.getOrSet('p', slow, { policy: 'product' }), 2)
    await cache.close()
  })

  test('past grace the stale value is gone', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { p: { ttl: '1m', grace: '1m' } } })
    const shop = cache.tenant('a')
    await shop.getOrSet('k', () => 1, { policy: 'p' })
    await clock.advance(121_000)
    assert.equal(await shop.getOrSet('k', () => 2, { policy: 'p' }), 2)
    await cache.close()
  })

  test('stale-if-error and soft timeout: wait softTimeout for a fresh value, else serve stale', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { p: { ttl: '1m', grace: '1h', softTimeout: '100ms', hardTimeout: '5s' } } })
    const shop = cache.tenant('a')
    await shop.getOrSet('k', () => 'old', { policy: 'p' })
    await clock.advance(61_000)
    // loader throws → stale within grace
    assert.equal(
      await shop.getOrSet(
        'k',
        () => {
          throw new Error('db down')
        },
        { policy: 'p' },
      ),
      'old',
    )
    // slow loader → stale after the soft timeout, and the load still completes and is stored
    const gate = deferred<string>()
    const pending = shop.getOrSet('k', () => gate.promise, { policy: 'p' })
    await clock.advance(100)
    assert.equal(await pending, 'old')
    gate.resolve('new')
    await flushMicrotasks()
    assert.equal(await shop.get('k'), 'new')
    await cache.close()
  })

  test('hard timeout without a stale value fails with E_LOADER_TIMEOUT and aborts the signal', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { p: { ttl: '1m', hardTimeout: '2s' } } })
    let aborted = false
    const p = cache.tenant('a').getOrSet(
      'k',
      (ctx) =>
        new Promise((resolve) => {
          ctx.signal.addEventListener('abort', () => {
            aborted = true
          })
          setTimeout(() => resolve('late'), 10_000).unref()
        }),
      { policy: 'p' },
    )
    const check = assert.rejects(p, (e) => isLarderError(e, 'E_LOADER_TIMEOUT'))
    await clock.advance(2000)
    await check
    assert.ok(aborted)
    await cache.close()
  })

  test('a failing loader without stale value fails with E_LOADER_FAILED and its cause', async () => {
    const cache = createCache()
    const boom = new Error('boom')
    await assert.rejects(
      cache.tenant('a').getOrSet('k', () => {
        throw boom
      }),
      (e) => isLarderError(e, 'E_LOADER_FAILED') && e.cause === boom,
    )
    assert.equal(cache.stats().loadErrors, 1)
    await cache.close()
  })

  test('refresh-ahead (XFetch) refreshes a hot key before it expires', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { hot: { ttl: 1000, refreshAhead: 10 } } })
    const shop = cache.tenant('a')
    let n = 0
    await shop.getOrSet(
      'k',
      async () => {
        await clock.advance(50) // the load takes 50 ms
        return ++n
      },
      { policy: 'hot' },
    )
    await clock.advance(900)
    for (let i = 0; i < 50 && n < 2; i++) {
      await shop.getOrSet('k', async () => ++n, { policy: 'hot' })
      await flushMicrotasks(1)
    }
    assert.ok(n >= 2, 'a read near expiry triggered an early refresh')
    await cache.close()
  })
})

describe('tags and invalidation', () => {
  test('invalidateTags is hard: no later read returns those entries, and it counts purged L1 entries', async () => {
    const cache = createCache()
    const shop = cache.tenant('a')
    for (let i = 0; i < 10; i++) await shop.set(`product:${i}`, i, { tags: [`product:${i}`, i % 2 ? 'category:odd' : 'category:even'] })
    const r = await shop.invalidateTags(['category:odd'])
    assert.equal(r.purged, 5)
    assert.ok(r.id > 0)
    for (let i = 0; i < 10; i++) assert.equal(await shop.get(`product:${i}`), i % 2 ? undefined : i)
    await cache.close()
  })

  test('expireTags is soft: stale served once while one refresh runs', async () => {
    const cache = createCache({ policies: { p: { ttl: '1h' } } })
    const shop = cache.tenant('a')
    let n = 0
    const gate = deferred<void>()
    await shop.getOrSet('k', () => ++n, { policy: 'p', tags: ['t'] })
    await shop.expireTags(['t'])
    const slow = async () => {
      await gate.promise
      return ++n
    }
    assert.equal(await shop.getOrSet('k', slow, { policy: 'p', tags: ['t'] }), 1)
    assert.equal(await shop.getOrSet('k', slow, { policy: 'p', tags: ['t'] }), 1)
    gate.resolve()
    await flushMicrotasks()
    assert.equal(n, 2)
    assert.equal(await shop.getOrSet('k', slow, { policy: 'p', tags: ['t'] }), 2)
    assert.equal(await shop.get('k'), 2)
    await cache.close()
  })

  test('delete and tenant clear, namespace bump drops only its namespace', async () => {
    const cache = createCache()
    const shop = cache.tenant('a')
    await shop.set('x', 1)
    await shop.set('y', 2)
    await shop.delete('x')
    assert.equal(await shop.get('x'), undefined)
    assert.equal(await shop.get('y'), 2)
    const v1 = shop.namespace('catalog')
    await v1.set('list', [1, 2])
    await shop.set('list', 'outside')
    await v1.bump()
    assert.equal(await v1.get('list'), undefined)
    assert.equal(await shop.get('list'), 'outside')
    await shop.clear()
    assert.equal(await shop.get('y'), undefined)
    assert.equal(await shop.get('list'), undefined)
    await cache.close()
  })

  test('a load that began before an invalidation is never served to later readers nor written back', async () => {
    const cache = createCache()
    const shop = cache.tenant('a')
    let db = 'v1'
    const gate = deferred<void>()
    const first = shop.getOrSet(
      'product:1',
      async () => {
        const seen = db
        await gate.promise
        return seen
      },
      { tags: ['product:1'] },
    )
    await flushMicrotasks()
    db = 'v2'
    await shop.invalidateTags(['product:1'])
    // A reader arriving after the invalidation must not join the old load.
    const second = shop.getOrSet('product:1', async () => db, { tags: ['product:1'] })
    assert.equal(await second, 'v2')
    gate.resolve()
    assert.equal(await first, 'v1', 'the early caller may see what its own load read')
    assert.equal(await shop.get('product:1'), 'v2', 'the old load did not overwrite the new value')
    await cache.close()
  })

  test('invalidations go through the log with ids, tenant, kind and tags', async () => {
    const cache = createCache()
    const seen: unknown[] = []
    cache.log.subscribe({ entries: (es) => seen.push(...es), gap: () => {} })
    await cache.tenant('acme').invalidateTags(['category:7'])
    await cache.tenant('acme').expireTags(['category:8'])
    await cache.tenant('acme').delete(['product:1'])
    assert.deepEqual(
      seen.map((e) => {
        const { tenant, kind, tags, keys } = e as Record<string, unknown>
        return { tenant, kind, tags, keys }
      }),
      [
        { tenant: 'acme', kind: 'hard', tags: ['category:7'], keys: undefined },
        { tenant: 'acme', kind: 'soft', tags: ['category:8'], keys: undefined },
        { tenant: 'acme', kind: 'hard', tags: undefined, keys: ['product:1'] },
      ],
    )
    const ids = seen.map((e) => (e as { id: number }).id)
    assert.deepEqual([...ids].sort((a, b) => a - b), ids)
    await cache.close()
  })

  test('entries invalidated by another instance sharing the log are dropped (remote apply)', async () => {
    const a = createCache()
    const b = createCache({ log: a.log })
    await b.tenant('t').set('k', 1, { tags: ['x'] })
    await a.tenant('t').invalidateTags(['x'])
    assert.equal(await b.tenant('t').get('k'), undefined)
    await b.close()
    await a.close()
  })

  test('distrust flushes L1 for the named tenants and fences in-flight loads', async () => {
    const cache = createCache()
    await cache.tenant('a').set('k', 1)
    await cache.tenant('b').set('k', 2)
    const gate = deferred<void>()
    const loading = cache.tenant('a').getOrSet('late', async () => {
      await gate.promise
      return 'x'
    })
    await flushMicrotasks()
    cache.distrust(['a'])
    gate.resolve()
    await loading
    assert.equal(await cache.tenant('a').get('k'), undefined)
    assert.equal(await cache.tenant('a').get('late'), undefined)
    assert.equal(await cache.tenant('b').get('k'), 2)
    await cache.close()
  })
})

describe('bulk, write patterns, limits', () => {
  test('getMany / setMany', async () => {
    const cache = createCache()
    const shop = cache.tenant('a')
    const ok = await shop.setMany([
      { key: 'p1', value: 1, tags: ['t'] },
      { key: 'p2', value: 2, ttl: '10m' },
    ])
    assert.deepEqual(ok, [true, true])
    assert.deepEqual(await shop.getMany(['p1', 'p2', 'p3']), [1, 2, undefined])
    await shop.invalidateTags(['t'])
    assert.deepEqual(await shop.getMany(['p1', 'p2']), [undefined, 2])
    await cache.close()
  })

  test('writeThrough updates the source, then caches its result', async () => {
    const cache = createCache()
    const shop = cache.tenant('a')
    const db = new Map<string, number>()
    const v = await shop.writeThrough('product:1', async () => {
      db.set('product:1', 9)
      return 9
    })
    assert.equal(v, 9)
    assert.equal(await shop.get('product:1'), 9)
    await cache.close()
  })

  test('oversized values are rejected with E_VALUE_TOO_LARGE and nothing else is lost', async () => {
    const cache = createCache({ l1: { maxBytes: 64 * 1024, maxEntryBytes: 1024 } })
    const shop = cache.tenant('a')
    await shop.set('small', 'ok')
    await assert.rejects(shop.set('big', 'x'.repeat(10_000)), (e) => isLarderError(e, 'E_VALUE_TOO_LARGE'))
    assert.equal(await shop.get('small'), 'ok')
    // through a loader: the value is returned, just not cached
    let n = 0
    assert.equal((await shop.getOrSet('big', () => (n++, 'y'.repeat(10_000)))).length, 10_000)
    await shop.getOrSet('big', () => (n++, 'y'.repeat(10_000)))
    assert.equal(n, 2)
    await cache.close()
  })

  test('L1 is bounded by entries and bytes', async () => {
    const cache = createCache({ l1: { maxEntries: 100, maxBytes: 1024 * 1024 } })
    const shop = cache.tenant('a')
    for (let i = 0; i < 500; i++) await shop.set(`k${i}`, i)
    assert.equal(cache.stats().entries, 100)
    assert.ok(cache.stats().evictions >= 400)
    const small = createCache({ l1: { maxEntries: 100_000, maxBytes: 20_000, maxEntryBytes: 2000 } })
    for (let i = 0; i < 500; i++) await small.tenant('a').set(`k${i}`, 'v'.repeat(200))
    assert.ok(small.stats().bytes <= 20_000)
    assert.ok(small.stats().entries < 500)
    await cache.close()
    await small.close()
  })

  test('stats per tenant have bounded cardinality', async () => {
    const cache = createCache({ statsTenantLimit: 5 })
    for (let i = 0; i < 50; i++) await cache.tenant(`t${i}`).get('k')
    const s = cache.stats()
    assert.ok(Object.keys(s.tenants).length <= 7)
    assert.equal(s.misses, 50)
    assert.ok((s.tenants.other?.misses ?? 0) > 0)
    await cache.close()
  })

  test('diagnostics channels report hit, miss, load, invalidate', async () => {
    const events: string[] = []
    const names = ['hit', 'miss', 'load', 'invalidate'] as const
    const handlers = names.map((n) => {
      const h = () => events.push(n)
      diagnostics_channel.subscribe(`larder:cache:${n}`, h)
      return [n, h] as const
    })
    const cache = createCache()
    const shop = cache.tenant('a')
    await shop.getOrSet('k', () => 1)
    await shop.getOrSet('k', () => 1)
    await shop.invalidateTags(['x'])
    for (const [n, h] of handlers) diagnostics_channel.unsubscribe(`larder:cache:${n}`, h)
    assert.deepEqual(events, ['miss', 'load', 'hit', 'invalidate'])
    await cache.close()
  })

  test('calls after close fail with E_CLOSED', async () => {
    const cache = createCache()
    await cache.close()
    await assert.rejects(cache.tenant('a').set('k', 1), (e) => isLarderError(e, 'E_CLOSED'))
  })
})

describe('log consumers see a purged L1', () => {
  test('a subscriber that reads the cache when the entry arrives never gets the old value', async () => {
    const cache = createCache()
    const shop = cache.tenant('acme')
    await shop.set('product:42', 'old', { tags: ['product:42'] })
    const seenOnDelivery: Promise<unknown>[] = []
    // Subscribed after the cache, like the SSE hub: it reacts as soon as the entry arrives.
    cache.log.subscribe({
      entries: (es) => {
        // get() consults L1 synchronously, before its first await
        for (const e of es) if (e.tags?.includes('product:42')) seenOnDelivery.push(shop.get('product:42'))
      },
      gap: () => {},
    })
    const r = await shop.invalidateTags(['product:42'])
    assert.equal(r.purged, 1)
    assert.deepEqual(await Promise.all(seenOnDelivery), [undefined])
    await cache.close()
  })
})

describe('set with a began fence', () => {
  test('a value read before an invalidation is refused when written after it', async () => {
    const cache = createCache()
    const shop = cache.tenant('acme')
    const began = cache.log.lastId() // the origin fetch starts here
    await shop.invalidateTags(['product:1']) // a purge lands while it runs
    assert.equal(await shop.set('GET /p/1', 'old response', { tags: ['product:1'], began }), false)
    assert.equal(await shop.get('GET /p/1'), undefined)
    // unrelated tags are not fenced
    assert.equal(await shop.set('GET /p/2', 'ok', { tags: ['product:2'], began }), true)
    assert.deepEqual(await shop.setMany([{ key: 'GET /p/3', value: 'old', tags: ['product:1'], began }]), [false])
    await assert.rejects(shop.set('k', 1, { began: Number.NaN }), (e) => isLarderError(e, 'E_INVALID_OPTION'))
    await cache.close()
  })
})

describe('getEntry', () => {
  test('answers fresh, soft-invalidated (stale) and in-grace values, never hard-invalidated or expired ones', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { p: { ttl: '1m', grace: '1m' } } })
    const shop = cache.tenant('a')
    await shop.set('k', 1, { policy: 'p', tags: ['t'] })
    assert.deepEqual(await shop.getEntry('k'), { value: 1, stale: false })
    await shop.expireTags(['t'])
    assert.deepEqual(await shop.getEntry('k'), { value: 1, stale: true })
    assert.equal(await shop.get('k'), undefined, 'get never answers stale')
    await shop.set('k2', 2, { policy: 'p' })
    await clock.advance(61_000)
    assert.deepEqual(await shop.getEntry('k2'), { value: 2, stale: true })
    await clock.advance(60_000)
    assert.equal(await shop.getEntry('k2'), undefined)
    await shop.set('k3', 3, { policy: 'p', tags: ['h'] })
    await shop.invalidateTags(['h'])
    assert.equal(await shop.getEntry('k3'), undefined)
    await cache.close()
  })
})

describe('a log that becomes ready later', () => {
  test('what was cached before the log reader was positioned is not trusted afterwards', async () => {
    const { MemoryLog } = await import('larder')
    let markReady!: () => void
    const ready = new Promise<void>((r) => {
      markReady = r
    })
    // A fleet log (redisLog) exposes ready(): until then it may miss other instances' entries.
    class FleetLikeLog extends MemoryLog {
      ready(): Promise<void> {
        return ready
      }
    }
    const cache = createCache({ log: new FleetLikeLog() })
    const shop = cache.tenant('acme')
    await shop.set('early', 1)
    assert.equal(await shop.get('early'), 1)
    markReady()
    await ready
    await flushMicrotasks()
    assert.equal(await shop.get('early'), undefined)
    await shop.set('late', 2)
    assert.equal(await shop.get('late'), 2)
    await cache.close()
  })
})
