/**
 * The Store conformance suite: what every tier (L1 memory, L2 Redis, Redis Cluster, …)
 * must do to be plugged into the engine. Register it from a test file:
 *
 * ```ts
 * storeConformance('redis', async () => redisStore({ url }), async () => server.stop())
 * ```
 * Fence checks (versioned writes, epochs) are registered for shared stores
 * (`{ shared: true }`). Each check uses its own tenant, so one store serves the suite.
 * @module
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { qualify } from '../core/keys.ts'
import type { LogEntry, Store, StoredEntry } from '../core/types.ts'

export interface StoreConformanceOptions {
  /** The store drops entries once `expireAt` passed (Redis does; the L1 leaves it to the engine). Default false. */
  expires?: boolean
  /** The store is shared by processes (L2): it must fence writes and record epochs. Default false. */
  shared?: boolean
  /** The store lists keys (`keys()`). Default true. */
  keys?: boolean
}

let seq = 0
function tenant(label: string): string {
  return `conf-${label}-${process.pid}-${++seq}`
}

function entry(v: unknown, over: Partial<StoredEntry> = {}): StoredEntry {
  const now = Date.now()
  return { v, tags: [], began: 1, at: now, staleAt: now + 60_000, expireAt: now + 120_000, ...over }
}

function same(got: StoredEntry | undefined, want: StoredEntry): void {
  assert.ok(got, 'expected an entry, got undefined')
  assert.deepEqual(got.v, want.v)
  assert.deepEqual([...got.tags], [...want.tags])
  assert.equal(got.began, want.began)
  assert.equal(got.at, want.at)
  assert.equal(got.staleAt, want.staleAt)
  assert.equal(got.expireAt, want.expireAt)
}

async function allKeys(store: Store, t: string, prefix: string, limit: number): Promise<string[]> {
  const out = new Set<string>()
  let cursor: string | undefined
  for (let pages = 0; pages < 1000; pages++) {
    const page = await (store.keys as NonNullable<Store['keys']>)(t, prefix, cursor === undefined ? { limit } : { cursor, limit })
    for (const k of page.keys) out.add(k)
    if (page.cursor === undefined) return [...out].sort()
    cursor = page.cursor
  }
  throw new Error('keys() never ended its pagination')
}

export function storeConformance(name: string, makeStore: () => Promise<Store> | Store, cleanup?: () => Promise<void> | void, options: StoreConformanceOptions = {}): void {
  describe(`Store conformance: ${name}`, () => {
    let store: Store
    before(async () => {
      store = await makeStore()
    })
    after(async () => {
      await store?.close()
      await cleanup?.()
    })

    test('get of a missing key resolves undefined', async () => {
      assert.equal(await store.get(qualify(tenant('miss'), 'nope')), undefined)
    })

    test('set then get returns the entry with all its metadata', async () => {
      const t = tenant('rt')
      const e = entry({ name: 'Ünïcode ✓', n: 1.5, list: [1, 'a', null], nested: { ok: true } }, { tags: ['product:1', 'seller:{9}*', 'ü', 'a,b', 'q"uote', 'pipe|nl\n', ''.padEnd(300, 'x')], began: 1_795_000_000_000_123 })
      assert.equal(await store.set(qualify(t, 'k'), e), true)
      same(await store.get(qualify(t, 'k')), e)
    })

    test('null (a cached "not found") round-trips and differs from a miss', async () => {
      const t = tenant('null')
      await store.set(qualify(t, 'k'), entry(null))
      const got = await store.get(qualify(t, 'k'))
      assert.ok(got)
      assert.equal(got.v, null)
    })

    test('set overwrites', async () => {
      const t = tenant('ow')
      await store.set(qualify(t, 'k'), entry('one'))
      await store.set(qualify(t, 'k'), entry('two'))
      assert.equal((await store.get(qualify(t, 'k')))?.v, 'two')
    })

    test('keys and tenants are data: look-alike keys and tenants never collide', async () => {
      const a = tenant('iso')
      const pairs: [string, string][] = [
        [a, 'x:y'],
        [`${a}:x`, 'y'],
        [`${a}*`, 'x:y'],
        [`${a}}`, '{x:y'],
        [a, '*'],
        [a, 'x:y*'],
      ]
      for (const [t, k] of pairs) await store.set(qualify(t, k), entry(`${t}|${k}`))
      for (const [t, k] of pairs) assert.equal((await store.get(qualify(t, k)))?.v, `${t}|${k}`)
    })

    test('getMany answers in order, with misses, across tenants', async () => {
      const t1 = tenant('gm1')
      const t2 = tenant('gm2')
      await store.setMany([
        { key: qualify(t1, 'a'), entry: entry('1a') },
        { key: qualify(t2, 'a'), entry: entry('2a') },
        { key: qualify(t1, 'c'), entry: entry('1c') },
      ])
      const got = await store.getMany([qualify(t1, 'a'), qualify(t1, 'b'), qualify(t2, 'a'), qualify(t1, 'c'), qualify(t2, 'zz')])
      assert.deepEqual(
        got.map((e) => e?.v),
        ['1a', undefined, '2a', '1c', undefined],
      )
      assert.deepEqual(await store.getMany([]), [])
    })

    test('setMany resolves one boolean per item and stores each', async () => {
      const t = tenant('sm')
      const items = Array.from({ length: 50 }, (_, i) => ({ key: qualify(i % 2 ? t : `${t}-b`, `k${i}`), entry: entry(i) }))
      const res = await store.setMany(items)
      assert.equal(res.length, 50)
      assert.ok(res.every((r) => r === true))
      const got = await store.getMany(items.map((i) => i.key))
      assert.deepEqual(
        got.map((e) => e?.v),
        items.map((_, i) => i),
      )
    })

    test('delete removes keys and counts those that existed', async () => {
      const t = tenant('del')
      await store.set(qualify(t, 'a'), entry(1))
      await store.set(qualify(t, 'b'), entry(2))
      assert.equal(await store.delete([qualify(t, 'a'), qualify(t, 'b'), qualify(t, 'never')]), 2)
      assert.equal(await store.get(qualify(t, 'a')), undefined)
      assert.equal(await store.delete([qualify(t, 'a')]), 0)
    })

    test('clear(tenant) drops that tenant only', async () => {
      const t = tenant('clr')
      const other = tenant('clr-other')
      for (let i = 0; i < 30; i++) await store.set(qualify(t, `k${i}`), entry(i))
      await store.set(qualify(other, 'k0'), entry('keep'))
      await store.set(qualify(`${t}x`, 'k0'), entry('keep too'))
      const n = await store.clear(t)
      assert.equal(n, 30)
      assert.equal(await store.get(qualify(t, 'k3')), undefined)
      assert.equal((await store.get(qualify(other, 'k0')))?.v, 'keep')
      assert.equal((await store.get(qualify(`${t}x`, 'k0')))?.v, 'keep too')
    })

    test('store.shared says what the store is', () => {
      assert.equal(store.shared, options.shared === true)
    })

    if (options.keys !== false) {
      test('keys lists one tenant by literal prefix, paginated', async () => {
        assert.equal(typeof store.keys, 'function')
        const a = tenant('keys')
        const names = ['p:1', 'p:2', 'p:3', 'p:*', 'p:[a]', 'p?x', 'q:1']
        for (const k of names) await store.set(qualify(a, k), entry(k))
        await store.set(qualify(`${a}-other`, 'p:9'), entry('other tenant'))
        assert.deepEqual(await allKeys(store, a, 'p:', 2), ['p:*', 'p:1', 'p:2', 'p:3', 'p:[a]'])
        assert.deepEqual(await allKeys(store, a, 'p:*', 2), ['p:*'], 'a * in the prefix is a literal character')
        assert.deepEqual(await allKeys(store, a, 'p:[', 10), ['p:[a]'])
        assert.deepEqual(await allKeys(store, a, '', 3), [...names].sort())
      })
    }

    test('an entry past its expireAt is never returned as if it were live', async () => {
      const t = tenant('exp')
      const now = Date.now()
      const e = entry('old', { staleAt: now - 2000, expireAt: now - 1000 })
      await store.set(qualify(t, 'k'), e)
      const got = await store.get(qualify(t, 'k'))
      // A store may drop it, or keep it with its expireAt so the engine refuses it.
      if (got !== undefined) assert.equal(got.expireAt, e.expireAt)
      if (options.expires) assert.equal(got, undefined)
    })

    if (options.expires) {
      test('an entry disappears once its expireAt passes', async () => {
        const t = tenant('exp2')
        await store.set(qualify(t, 'k'), entry('short', { staleAt: Date.now() + 30, expireAt: Date.now() + 60 }))
        assert.equal((await store.get(qualify(t, 'k')))?.v, 'short')
        // Redis expires on its own clock: poll (bounded) instead of guessing a sleep.
        const deadline = Date.now() + 3000
        while ((await store.get(qualify(t, 'k'))) !== undefined) {
          assert.ok(Date.now() < deadline, 'entry still there 3 s after its expireAt')
          await new Promise((r) => setTimeout(r, 20))
        }
      })
    }

    if (!options.shared) return
    const inv = (s: Store, e: Omit<LogEntry, 'at'>) => (s.applyInvalidation as NonNullable<Store['applyInvalidation']>)({ ...e, at: Date.now() })

    describe('fence (shared stores)', () => {
      test('a hard tag invalidation hides older entries and refuses older writes', async () => {
        const a = tenant('fence-tag')
        await store.set(qualify(a, 'old'), entry('old', { tags: ['p:1'], began: 100 }))
        await store.set(qualify(a, 'untagged'), entry('u', { tags: ['p:2'], began: 100 }))
        await inv(store, { id: 200, tenant: a, kind: 'hard', tags: ['p:1'] })
        assert.equal(await store.get(qualify(a, 'old')), undefined)
        assert.equal((await store.get(qualify(a, 'untagged')))?.v, 'u')
        assert.equal(await store.set(qualify(a, 'late'), entry('stale load', { tags: ['p:1'], began: 150 })), false)
        assert.equal(await store.get(qualify(a, 'late')), undefined)
        assert.equal(await store.set(qualify(a, 'new'), entry('fresh', { tags: ['p:1'], began: 200 })), true)
        assert.equal((await store.get(qualify(a, 'new')))?.v, 'fresh')
        // Another tenant's tag of the same name is untouched.
        const b = tenant('fence-tag-b')
        assert.equal(await store.set(qualify(b, 'x'), entry('b', { tags: ['p:1'], began: 150 })), true)
      })

      test('a deleted key refuses writes from loads that began before the delete', async () => {
        const a = tenant('fence-key')
        await store.set(qualify(a, 'k'), entry('v1', { began: 10 }))
        await inv(store, { id: 50, tenant: a, kind: 'hard', keys: ['k'] })
        assert.equal(await store.get(qualify(a, 'k')), undefined)
        assert.equal(await store.set(qualify(a, 'k'), entry('v1 again', { began: 40 })), false)
        assert.equal(await store.set(qualify(a, 'k'), entry('v2', { began: 50 })), true)
        assert.equal((await store.get(qualify(a, 'k')))?.v, 'v2')
      })

      test('a tenant clear hides every older entry of the tenant only', async () => {
        const a = tenant('fence-clear')
        const b = tenant('fence-clear-b')
        await store.set(qualify(a, 'k'), entry('a', { began: 10 }))
        await store.set(qualify(b, 'k'), entry('b', { began: 10 }))
        await inv(store, { id: 20, tenant: a, kind: 'clear' })
        assert.equal(await store.get(qualify(a, 'k')), undefined)
        assert.equal(await store.set(qualify(a, 'k2'), entry('late', { began: 15 })), false)
        assert.equal((await store.get(qualify(b, 'k')))?.v, 'b')
      })

      test('a soft invalidation keeps entries readable but stale, and does not refuse writes', async () => {
        const a = tenant('fence-soft')
        const e = entry('s', { tags: ['cat:1'], began: 10 })
        await store.set(qualify(a, 'k'), e)
        await inv(store, { id: 30, tenant: a, kind: 'soft', tags: ['cat:1'] })
        const got = await store.get(qualify(a, 'k'))
        assert.ok(got)
        assert.equal(got.v, 's')
        assert.ok(got.staleAt <= Date.now(), 'entry should be stale after a soft invalidation')
        assert.equal(got.expireAt, e.expireAt)
        assert.equal(await store.set(qualify(a, 'k2'), entry('s2', { tags: ['cat:1'], began: 20 })), true)
        const fresh = entry('fresh', { tags: ['cat:1'], began: 30 })
        await store.set(qualify(a, 'k3'), fresh)
        same(await store.get(qualify(a, 'k3')), fresh)
      })

      test('epochs never go backwards (replayed or late invalidations are harmless)', async () => {
        const a = tenant('fence-max')
        await inv(store, { id: 300, tenant: a, kind: 'hard', tags: ['x'] })
        await inv(store, { id: 100, tenant: a, kind: 'hard', tags: ['x'] })
        await inv(store, { id: 300, tenant: a, kind: 'hard', tags: ['x'] })
        assert.equal(await store.set(qualify(a, 'k'), entry('v', { tags: ['x'], began: 200 })), false)
        assert.equal(await store.set(qualify(a, 'k'), entry('v', { tags: ['x'], began: 300 })), true)
      })
    })
  })
}
