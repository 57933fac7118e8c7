// Issue 12 items 4–6: one value model for every tier, internal names users cannot forge,
// one resolution of call options, and an embedded log that isolates a throwing subscriber.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createCache, isLarderError } from 'larder'
import { FakeClock } from 'larder/testing'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { redisLog, redisStore } from '../../src/redis/index.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'

const invalid = (path: RegExp) => (e: unknown) => isLarderError(e, 'E_INVALID_VALUE') && path.test((e as Error).message)

describe('value model: the JSON codec (default) refuses what JSON would change', () => {
  test('set and getOrSet refuse Map, Set, Date, BigInt, cycles, undefined and class instances, naming the path', async () => {
    const shop = createCache().tenant('acme')
    const cyclic: Record<string, unknown> = { a: 1 }
    cyclic.self = cyclic
    class Money {
      cents = 1
    }
    const cases: [unknown, RegExp][] = [
      [{ items: [{ createdAt: new Date() }] }, /\$\.items\[0\]\.createdAt: a Date/],
      [{ m: new Map([[1, 2]]) }, /\$\.m: a Map/],
      [new Set([1]), /\$: a Set/],
      [{ n: 10n }, /\$\.n: a BigInt/],
      [cyclic, /\$\.self: a circular reference/],
      [[1, undefined], /\$\[1\]: undefined/],
      [{ 'odd key': Number.NaN }, /\$\["odd key"\]: NaN/],
      [{ price: new Money() }, /\$\.price: a Money/],
    ]
    for (const [value, path] of cases) {
      await assert.rejects(shop.set('k', value), invalid(path))
      await assert.rejects(
        shop.getOrSet('k2', () => value),
        invalid(path),
      )
    }
    assert.equal(await shop.get('k'), undefined, 'nothing refused was stored')
    assert.equal(await shop.get('k2'), undefined)
  })

  test('the byte bound counts the encoded value: what JSON saw as tiny can no longer hide megabytes', async () => {
    const cache = createCache({ codec: 'structured', l1: { maxBytes: 1024 * 1024, maxEntryBytes: 64 * 1024 } })
    const shop = cache.tenant('acme')
    const big = new Map<number, string>()
    for (let i = 0; i < 2000; i++) big.set(i, 'x'.repeat(100))
    await assert.rejects(shop.set('map', big), (e) => isLarderError(e, 'E_VALUE_TOO_LARGE'))
    const cyclic: Record<string, unknown> = { blob: 'y'.repeat(3 * 1024 * 1024) }
    cyclic.self = cyclic
    await assert.rejects(shop.set('cyclic', cyclic), (e) => isLarderError(e, 'E_VALUE_TOO_LARGE'))
    // Many medium Maps: the L1 total stays under maxBytes.
    const medium = new Map<number, string>()
    for (let i = 0; i < 400; i++) medium.set(i, 'z'.repeat(100))
    for (let i = 0; i < 40; i++) await shop.set(`m${i}`, medium)
    assert.ok(cache.stats().bytes <= 1024 * 1024, `L1 holds ${cache.stats().bytes} bytes`)
    assert.ok(cache.stats().entries < 40, 'older maps were evicted to keep the bound')
  })

  test('an invalid codec option is refused at createCache', () => {
    assert.throws(() => createCache({ codec: 'xml' as never }), (e) => isLarderError(e, 'E_INVALID_OPTION'))
  })
})

describe('value model across instances (real Redis)', () => {
  let server: RedisServerHandle
  before(async () => {
    server = await startRedis()
  })
  after(async () => {
    await server?.stop()
  })

  async function fleet(codec: 'json' | 'structured') {
    const make = () => createCache({ codec, l2: redisStore({ url: server.url }), log: redisLog({ url: server.url }) })
    const a = make()
    const b = make()
    return { a, b, close: () => Promise.all([a.close(), b.close()]) }
  }

  test('JSON: the loading instance and another instance reading Redis return equal values', async () => {
    const { a, b, close } = await fleet('json')
    try {
      const value = { id: 42, price: 19.99, tags: ['x', 'y'], at: '2026-11-28T10:00:00.000Z', nested: { ok: true, none: null } }
      const fromLoad = await a.tenant('acme').getOrSet('p:42', () => value, { ttl: '1h' })
      const fromRedis = await b.tenant('acme').get('p:42')
      assert.deepStrictEqual(fromRedis, fromLoad)
      assert.deepStrictEqual(await a.tenant('acme').get('p:42'), fromRedis, 'L1 and L2 agree')
    } finally {
      await close()
    }
  })

  test('structured: Date, Map, Set and BigInt come back the same from L1 and from Redis', async () => {
    const { a, b, close } = await fleet('structured')
    try {
      const value = { at: new Date('2026-11-28T10:00:00Z'), stock: new Map([['w1', 3]]), skus: new Set(['a', 'b']), cents: 12345678901234567890n }
      const fromLoad = await a.tenant('acme').getOrSet('p:1', () => value, { ttl: '1h' })
      const fromRedis = await b.tenant('acme').get('p:1')
      assert.deepStrictEqual(fromRedis, value)
      assert.deepStrictEqual(fromLoad, value)
      assert.ok((fromRedis as typeof value).stock instanceof Map)
      assert.equal(typeof (fromRedis as typeof value).cents, 'bigint', 'a BigInt reaches L2 (it was silently never written before)')
    } finally {
      await close()
    }
  })
})

describe('internal names cannot be forged', () => {
  test("a root key or tag holding the namespace marker is refused, and the namespace's entries stay", async () => {
    const cache = createCache()
    const shop = cache.tenant('acme')
    const ns = shop.namespace('shop')
    await ns.set('price', 10)
    await assert.rejects(shop.set('\u0000ns:shop\u0000price', 99), (e) => isLarderError(e, 'E_INVALID_KEY'))
    await assert.rejects(shop.invalidateTags(['\u0000ns:shop']), (e) => isLarderError(e, 'E_INVALID_TAG'))
    await assert.rejects(shop.set('k', 1, { tags: ['a\u001fb'] }), (e) => isLarderError(e, 'E_INVALID_TAG'))
    assert.equal(await ns.get('price'), 10, 'neither a forged key nor a forged tag reached the namespace')
    await ns.bump()
    assert.equal(await ns.get('price'), undefined, 'the namespace itself still bumps')
  })
})

describe('one resolution of call options for every path that stores', () => {
  async function lifetimeOf(store: (shop: ReturnType<ReturnType<typeof createCache>['tenant']>, clock: FakeClock) => Promise<unknown>, policies: NonNullable<Parameters<typeof createCache>[0]>['policies']) {
    const clock = new FakeClock(1_000_000)
    const cache = createCache({ clock, policies, defaults: { grace: 0 } })
    const shop = cache.tenant('acme')
    await store(shop, clock)
    let lived = 0
    const step = 10_000
    while ((await shop.getEntry('k')) !== undefined && lived < 10 * 3_600_000) {
      await clock.advance(step)
      lived += step
    }
    await cache.close()
    return lived
  }

  test('policy ttl 1h, ttlFrom 10s, call ttl 5m: getOrSet, set, setMany and writeThrough keep the value equally long', async () => {
    const policies = { p: { ttl: '1h', ttlFrom: () => '10s', grace: 0 } }
    const o = { policy: 'p', ttl: '5m' }
    const viaGetOrSet = await lifetimeOf((s) => s.getOrSet('k', () => ({ v: 1 }), o), policies)
    const viaSet = await lifetimeOf((s) => s.set('k', { v: 1 }, o), policies)
    const viaSetMany = await lifetimeOf((s) => s.setMany([{ key: 'k', value: { v: 1 }, ...o }]), policies)
    const viaWriteThrough = await lifetimeOf((s) => s.writeThrough('k', () => ({ v: 1 }), o), policies)
    assert.equal(viaGetOrSet, 300_000)
    assert.deepEqual([viaSet, viaSetMany, viaWriteThrough], [viaGetOrSet, viaGetOrSet, viaGetOrSet])
  })

  test('a cached null gets negativeTtl through every path, whatever ttl the call names', async () => {
    const policies = { p: { ttl: '1h', negativeTtl: '30s', grace: 0 } }
    const o = { policy: 'p', ttl: '5m' }
    const viaGetOrSet = await lifetimeOf((s) => s.getOrSet('k', () => null, o), policies)
    const viaSet = await lifetimeOf((s) => s.set('k', null, o), policies)
    const viaSetMany = await lifetimeOf((s) => s.setMany([{ key: 'k', value: null, ...o }]), policies)
    assert.equal(viaGetOrSet, 30_000)
    assert.deepEqual([viaSet, viaSetMany], [30_000, 30_000])
  })

  test("the loader's own ctx.setTtl wins over the call's ttl", async () => {
    const lived = await lifetimeOf(
      (s) =>
        s.getOrSet(
          'k',
          (ctx) => {
            ctx.setTtl('20s')
            return 1
          },
          { ttl: '5m' },
        ),
      {},
    )
    assert.equal(lived, 20_000)
  })
})

describe('the embedded log isolates a throwing subscriber', () => {
  test('the others still get the entry and the append resolves', async () => {
    const log = new MemoryLog()
    const got: number[] = []
    log.subscribe({
      entries: () => {
        throw new Error('subscriber bug')
      },
      gap: () => {},
    })
    log.subscribe({ entries: (es) => got.push(...es.map((e) => e.id)), gap: () => {} })
    const e = await log.append({ tenant: 'acme', kind: 'hard', tags: ['t'], source: 'test' })
    assert.deepEqual(got, [e.id])
  })
})
