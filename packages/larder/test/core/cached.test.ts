import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { cached, cachedOf, createCache, isLarderError } from 'larder'
import { FakeClock } from 'larder/testing'

function deferred<T>() {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((res) => {
    resolve = res
  })
  return { promise, resolve }
}

describe('cached(fn, options)', () => {
  test('keeps the signature, loads once per key and answers from the cache after', async () => {
    const cache = createCache({ clock: new FakeClock() })
    const shop = cache.tenant('acme')
    const calls: number[] = []
    const product = cached(
      async (id: number, locale: string) => {
        calls.push(id)
        return { id, locale }
      },
      { cache: shop, key: (id, locale) => `product:${id}:${locale}` },
    )
    assert.deepEqual(await product(1, 'en'), { id: 1, locale: 'en' })
    assert.deepEqual(await product(1, 'en'), { id: 1, locale: 'en' })
    assert.deepEqual(await product(2, 'en'), { id: 2, locale: 'en' })
    assert.deepEqual(calls, [1, 2])
    assert.deepEqual(await shop.get('product:1:en'), { id: 1, locale: 'en' })
    await cache.close()
  })

  test('concurrent calls with one key collapse into one load', async () => {
    const cache = createCache({ clock: new FakeClock() })
    const gate = deferred<void>()
    let calls = 0
    const slow = cached(
      async (id: number) => {
        calls++
        await gate.promise
        return `v${id}`
      },
      { cache: cache.tenant('acme'), key: (id) => `slow:${id}` },
    )
    const all = Array.from({ length: 25 }, () => slow(7))
    const other = slow(8)
    gate.resolve()
    assert.deepEqual(new Set(await Promise.all(all)), new Set(['v7']))
    assert.equal(await other, 'v8')
    assert.equal(calls, 2, 'one load for key 7, one for key 8')
    await cache.close()
  })

  test('invalidate(...args) drops exactly that entry; peek never loads', async () => {
    const cache = createCache({ clock: new FakeClock() })
    let version = 1
    let calls = 0
    const fn = cached(
      (id: number) => {
        calls++
        return { id, version }
      },
      { cache: cache.tenant('acme'), key: (id) => `p:${id}` },
    )
    assert.equal(await fn.peek(1), undefined)
    assert.equal(calls, 0, 'peek does not call the function')
    await fn(1)
    await fn(2)
    version = 2
    assert.deepEqual(await fn.peek(1), { id: 1, version: 1 })
    const r = await fn.invalidate(1)
    assert.ok(r.id > 0)
    assert.equal(await fn.peek(1), undefined)
    assert.deepEqual(await fn(1), { id: 1, version: 2 })
    assert.deepEqual(await fn(2), { id: 2, version: 1 }, 'the other key is untouched')
    assert.equal(calls, 3)
    await cache.close()
  })

  test('tags from the arguments: invalidateTags drops the entries that carry them', async () => {
    const cache = createCache({ clock: new FakeClock() })
    const shop = cache.tenant('acme')
    let calls = 0
    const list = cached(
      (category: number, page: number) => {
        calls++
        return [category, page]
      },
      { cache: shop, key: (c, p) => `cat:${c}:page:${p}`, tags: (c) => [`category:${c}`] },
    )
    await list(1, 1)
    await list(1, 2)
    await list(2, 1)
    await shop.invalidateTags(['category:1'])
    assert.equal(await list.peek(1, 1), undefined)
    assert.equal(await list.peek(1, 2), undefined)
    assert.deepEqual(await list.peek(2, 1), [2, 1])
    await list(1, 1)
    assert.equal(calls, 4)
    await cache.close()
  })

  test('tenants: one wrapper, a tenant per call; one tenant never answers another', async () => {
    const cache = createCache({ clock: new FakeClock() })
    const price = cached((shop: string, id: number) => `${shop}:${id}`, { cache, tenant: (shop) => shop, key: (_shop, id) => `price:${id}` })
    assert.equal(await price('acme', 1), 'acme:1')
    assert.equal(await price('globex', 1), 'globex:1', 'same key, other tenant: its own entry')
    assert.equal(await cache.tenant('acme').get('price:1'), 'acme:1')
    await price.invalidate('acme', 1)
    assert.equal(await price.peek('acme', 1), undefined)
    assert.equal(await price.peek('globex', 1), 'globex:1', 'invalidating one tenant leaves the other')
    // A tenant id from the arguments is validated like any tenant id.
    await assert.rejects(price('@public', 1), (e) => isLarderError(e, 'E_INVALID_TENANT'))
    await cache.close()
  })

  test('a fixed tenant id, the policy and ttl reach getOrSet', async () => {
    const clock = new FakeClock()
    const cache = createCache({ clock, policies: { short: { ttl: '10s' } } })
    let calls = 0
    const fn = cached(() => ++calls, { cache, tenant: 'acme', key: () => 'k', policy: 'short' })
    assert.equal(await fn(), 1)
    await clock.advance(9_000)
    assert.equal(await fn(), 1)
    await clock.advance(2_000)
    assert.equal(await fn(), 2, 'the policy ttl (10s) passed')
    const long = cached(() => ++calls, { cache, tenant: 'acme', key: () => 'k2', policy: 'short', ttl: '1m' })
    assert.equal(await long(), 3)
    await clock.advance(30_000)
    assert.equal(await long(), 3, 'the call ttl wins over the policy')
    const unknown = cached(() => 1, { cache, tenant: 'acme', key: () => 'k3', policy: 'nope' })
    await assert.rejects(unknown(), (e) => isLarderError(e, 'E_UNKNOWN_POLICY'))
    await cache.close()
  })

  test('a key function that returns a non-string is E_CACHED_KEY; key text is data, checked as a key', async () => {
    const cache = createCache({ clock: new FakeClock() })
    const shop = cache.tenant('acme')
    let calls = 0
    for (const bad of [42, undefined, null, { id: 1 }, ['a']]) {
      const fn = cached(
        () => {
          calls++
          return 1
        },
        { cache: shop, key: () => bad as unknown as string },
      )
      await assert.rejects(fn(), (e) => isLarderError(e, 'E_CACHED_KEY') && /not a string/.test(e.message))
      await assert.rejects(fn.invalidate(), (e) => isLarderError(e, 'E_CACHED_KEY'))
      await assert.rejects(fn.peek(), (e) => isLarderError(e, 'E_CACHED_KEY'))
    }
    assert.equal(calls, 0, 'the function never runs for a bad key')
    // A key built from user text holding the internal marker is refused, never interpreted.
    const echo = cached((s: string) => s, { cache: shop, key: (s) => `q:${s}` })
    await assert.rejects(echo('\u0000ns:x\u0000'), (e) => isLarderError(e, 'E_INVALID_KEY'))
    await assert.rejects(echo('x'.repeat(2000)), (e) => isLarderError(e, 'E_INVALID_KEY'))
    // Pattern characters are plain text: invalidating `q:*` drops only the entry with that exact key.
    await echo('*')
    await echo('a')
    await echo.invalidate('*')
    assert.equal(await echo.peek('*'), undefined)
    assert.equal(await echo.peek('a'), 'a')
    const badTags = cached(() => 1, { cache: shop, key: () => 't', tags: () => [7 as unknown as string] })
    await assert.rejects(badTags(), (e) => isLarderError(e, 'E_INVALID_TAG'))
    await cache.close()
  })

  test('bad options fail when the wrapper is made', () => {
    const cache = createCache()
    assert.throws(() => cached(() => 1, { cache, key: () => 'k' }), (e) => isLarderError(e, 'E_INVALID_OPTION') && /name the tenant/.test(e.message))
    assert.throws(() => cached(() => 1, { cache: cache.tenant('a'), tenant: 'b', key: () => 'k' }), (e) => isLarderError(e, 'E_INVALID_OPTION'))
    assert.throws(() => cached(() => 1, { cache: cache.tenant('a'), key: 'k' as never }), (e) => isLarderError(e, 'E_INVALID_OPTION'))
    assert.throws(() => cached(() => 1, { cache, tenant: '@x', key: () => 'k' }), (e) => isLarderError(e, 'E_INVALID_TENANT'))
    return cache.close()
  })
})

describe('@cached method decorator (TC39)', () => {
  test('caches a method per arguments, keeps this, and exposes invalidate/peek', async () => {
    const cache = createCache({ clock: new FakeClock() })
    const shop = cache.tenant('acme')

    class Catalog {
      calls = 0
      constructor(readonly prefix: string) {}

      @cached({ cache: shop, key: (id: number) => `product:${id}`, tags: (id: number) => [`product:${id}`] })
      async product(id: number): Promise<{ name: string }> {
        this.calls++
        return { name: `${this.prefix}${id}` }
      }

      @cached({ cache, tenant: (t: string) => t, key: (_t: string, q: string) => `search:${q}` })
      async search(tenant: string, q: string): Promise<string[]> {
        this.calls++
        return [tenant, q]
      }
    }

    const c = new Catalog('item-')
    assert.deepEqual(await c.product(1), { name: 'item-1' })
    assert.deepEqual(await c.product(1), { name: 'item-1' })
    assert.equal(c.calls, 1, 'the second call is a hit')
    const [a, b] = await Promise.all([c.product(2), c.product(2)])
    assert.deepEqual(a, b)
    assert.equal(c.calls, 2, 'concurrent calls collapse')
    assert.deepEqual(await cachedOf(c.product).peek(2), { name: 'item-2' })
    await cachedOf(c.product).invalidate(2)
    assert.equal(await cachedOf(c.product).peek(2), undefined)
    await shop.invalidateTags(['product:1'])
    assert.equal(await cachedOf(c.product).peek(1), undefined)
        assert.deepEqual(await c.search('globex', 'mug'), ['globex', 'mug'])
    assert.deepEqual(await cache.tenant('globex').get('search:mug'), ['globex', 'mug'])
    assert.equal(await cache.tenant('acme').get('search:mug'), undefined)
    await cache.close()
  })

  test('options are checked when the class is defined', () => {
    const cache = createCache()
    assert.throws(() => cached({ cache, key: () => 'k' }), (e) => isLarderError(e, 'E_INVALID_OPTION'))
    assert.throws(() => cachedOf(async () => 1), (e) => isLarderError(e, 'E_INVALID_OPTION'))
    return cache.close()
  })
})
