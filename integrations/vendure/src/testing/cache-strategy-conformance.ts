/**
 * What every Vendure `CacheStrategy` must do for `CacheService`, as a test suite (node:test).
 * Run against Vendure's own `InMemoryCacheStrategy` as the reference, and against
 * `LarderCacheStrategy` on the embedded and the Redis cache.
 * @module
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { CacheStrategy } from '@vendure/core/dist/config/system/cache-strategy.js'

export interface CacheStrategyUnderTest {
  strategy: CacheStrategy
  /** Moves the strategy's clock (every strategy under test must have one: ttl cases use it). */
  advance: (ms: number) => Promise<void>
  /** Returned values are copies, not the stored object (Redis-only strategies; in-process tiers, Vendure's and Larder's L1, share them). */
  copies?: boolean
  close?: () => Promise<void>
}

export function cacheStrategyConformance(name: string, make: () => Promise<CacheStrategyUnderTest>): void {
  describe(`CacheStrategy conformance: ${name}`, () => {
    let u: CacheStrategyUnderTest
    let s: CacheStrategy
    let n = 0
    // Fresh keys per case: the cases share one strategy (as one Vendure app does).
    const k = (x: string) => `case${++n}:${x}`
    before(async () => {
      u = await make()
      s = u.strategy
    })
    after(async () => {
      await u?.close?.()
    })

    test('a missing key reads undefined', async () => {
      assert.equal(await s.get(k('missing')), undefined)
    })

    test('JSON values come back equal', async () => {
      const values: unknown[] = ['text', 0, 42.5, -1, true, false, [], [1, 'two', { three: 3 }], {}, { nested: { list: [1, 2], flag: null } }, 'ünïcødé ✓']
      const keys = values.map((_, i) => k(`v${i}`))
      for (const [i, v] of values.entries()) await s.set(keys[i] as string, v as never)
      for (const [i, v] of values.entries()) assert.deepEqual(await s.get(keys[i] as string), v, `value ${i}`)
    })

    test('a second set replaces the value', async () => {
      const key = k('over')
      await s.set(key, 'one')
      await s.set(key, 'two')
      assert.equal(await s.get(key), 'two')
    })

    test('delete drops one key; deleting a missing key is fine', async () => {
      const a = k('a')
      const b = k('b')
      await s.set(a, 1)
      await s.set(b, 2)
      await s.delete(a)
      await s.delete(k('never-set'))
      assert.equal(await s.get(a), undefined)
      assert.equal(await s.get(b), 2)
    })

    test('invalidateTags drops every entry with any of the tags and keeps the others', async () => {
      const [a, b, c, d] = [k('a'), k('b'), k('c'), k('d')]
      await s.set(a, 'a', { tags: ['t1'] })
      await s.set(b, 'b', { tags: ['t2', 'other'] })
      await s.set(c, 'c', { tags: ['other'] })
      await s.set(d, 'd')
      await s.invalidateTags([`t1`, 't2'])
      assert.equal(await s.get(a), undefined)
      assert.equal(await s.get(b), undefined)
      assert.equal(await s.get(c), 'c')
      assert.equal(await s.get(d), 'd')
      await s.invalidateTags([])
      assert.equal(await s.get(c), 'c')
    })

    test('an entry set after its tag was invalidated is kept', async () => {
      const key = k('later')
      await s.set(key, 'old', { tags: ['later-tag'] })
      await s.invalidateTags(['later-tag'])
      await s.set(key, 'new', { tags: ['later-tag'] })
      assert.equal(await s.get(key), 'new')
    })

    test('keys are data: separators, globs and spaces name distinct entries', async () => {
      const keys = [k('x:y'), k('x*'), k('x y'), k('x?'), k('x[1]'), k('x/y')]
      for (const [i, key] of keys.entries()) await s.set(key, i)
      for (const [i, key] of keys.entries()) assert.equal(await s.get(key), i)
    })

    test('a value read back is a copy (Redis-only) or the one shared stored object (in-process tiers)', async () => {
      const key = k('copy')
      await s.set(key, { n: 1 })
      const got = (await s.get(key)) as { n: number }
      assert.deepEqual(got, { n: 1 })
      if (u.copies) {
        got.n = 2
        assert.deepEqual(await s.get(key), { n: 1 })
      } else {
        // Shared, never re-decoded per read: callers must treat values as immutable (docs/vendure.md).
        assert.equal(await s.get(key), got)
      }
    })

    test('an entry lives for its ttl (ms), then reads undefined', async () => {
      const key = k('ttl')
      await s.set(key, 'v', { ttl: 1000 })
      await u.advance(999)
      assert.equal(await s.get(key), 'v')
      await u.advance(2)
      assert.equal(await s.get(key), undefined)
    })
  })
}
