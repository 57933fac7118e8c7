import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { Cache } from '../../src/core/api.ts'
import { channels } from '../../src/core/diagnostics.ts'
import { createCache } from '../../src/index.ts'
import { FakeClock, flushMicrotasks } from '../../src/testing/fake-clock.ts'
import { createWarmer, type WarmItem, type WarmPlan } from '../../src/warm/index.ts'

const MIN = 60_000

function setup(plans: WarmPlan[], opts: { concurrency?: number; ratePerSec?: number; burst?: number; sampleEvery?: number } = {}) {
  const clock = new FakeClock()
  const cache = createCache({ clock, instanceId: 'warm-test' })
  const warmer = createWarmer({ cache, plans, clock, ...opts })
  return {
    clock,
    cache,
    warmer,
    async close() {
      await warmer.close()
      await cache.close()
    },
  }
}

/** Items whose loads are counted per key. */
function counted(tenant: string, ids: string[], loads: Map<string, number>, extra: Partial<WarmItem> = {}): WarmItem[] {
  return ids.map((id) => ({
    tenant,
    key: `product:${id}`,
    tags: [`product:${id}`],
    ttl: '1m',
    loader: () => {
      loads.set(id, (loads.get(id) ?? 0) + 1)
      return { id }
    },
    ...extra,
  }))
}

describe('createWarmer', () => {
  test('turnover tiers run every 5 min / 30 min / 4 h on a fake clock; `every` overrides', async () => {
    const runs = { high: 0, medium: 0, low: 0, custom: 0 }
    const loads = new Map<string, number>()
    const plan = (name: keyof typeof runs, p: Partial<WarmPlan>): WarmPlan => ({
      name,
      ...p,
      items: () => {
        runs[name]++
        return counted('acme', [name], loads)
      },
    })
    const w = setup([plan('high', { tier: 'high' }), plan('medium', { tier: 'medium' }), plan('low', { tier: 'low' }), plan('custom', { tier: 'low', every: '10m' })])
    try {
      w.warmer.start()
      await w.clock.advance(4 * MIN)
      assert.deepEqual(runs, { high: 0, medium: 0, low: 0, custom: 0 }, 'nothing runs before its interval')
      await w.clock.advance(1 * MIN)
      assert.equal(runs.high, 1)
      await w.clock.advance(25 * MIN)
      assert.deepEqual(runs, { high: 6, medium: 1, low: 0, custom: 3 })
      await w.clock.advance(4 * 60 * MIN - 30 * MIN)
      assert.deepEqual(runs, { high: 48, medium: 8, low: 1, custom: 24 })
      // ttl 1m < 5m: every high run found the entry expired and loaded it again.
      assert.equal(loads.get('high'), 48)
      const high = w.warmer.progress().find((r) => r.plan === 'high')!
      assert.equal(high.state, 'done')
      assert.equal(high.trigger, 'schedule')
      assert.equal(high.loaded, 1)
    } finally {
      await w.close()
    }
    assert.equal(w.clock.pending, 0, 'close clears every timer')
  })

  test('on-start plans run at once; a second run of a cached plan loads nothing', async () => {
    const loads = new Map<string, number>()
    const w = setup([{ name: 'boot', onStart: true, items: () => counted('acme', ['1', '2', '3'], loads, { ttl: '1h' }) }])
    try {
      w.warmer.start()
      await w.clock.advance(0)
      assert.deepEqual([...loads.values()], [1, 1, 1])
      assert.deepEqual(await w.cache.tenant('acme').get('product:2'), { id: '2' })
      const r = await w.warmer.run('boot')
      assert.equal(r.skipped, 3)
      assert.equal(r.loaded, 0)
      assert.deepEqual([...loads.values()], [1, 1, 1])
    } finally {
      await w.close()
    }
  })

  test('never runs more loaders at once than the concurrency limit', async () => {
    let active = 0
    let peak = 0
    const release: (() => void)[] = []
    const items: WarmItem[] = Array.from({ length: 12 }, (_, i) => ({
      tenant: 'acme',
      key: `k${i}`,
      loader: () =>
        new Promise<number>((resolve) => {
          active++
          peak = Math.max(peak, active)
          release.push(() => {
            active--
            resolve(i)
          })
        }),
    }))
    const w = setup([{ name: 'many', items: () => items }], { concurrency: 3, ratePerSec: 1000 })
    try {
      const job = w.warmer.run('many')
      for (let done = 0; done < 12; ) {
        await flushMicrotasks()
        assert.ok(active <= 3, `${active} loaders at once`)
        const batch = release.splice(0)
        if (batch.length === 0) continue
        for (const r of batch) r()
        done += batch.length
      }
      const r = await job
      assert.equal(r.loaded, 12)
      assert.equal(peak, 3)
    } finally {
      await w.close()
    }
  })

  test('the token bucket bounds loads per second toward the origin', async () => {
    const loads = new Map<string, number>()
    const ids = Array.from({ length: 10 }, (_, i) => String(i))
    const w = setup([{ name: 'rated', items: () => counted('acme', ids, loads) }], { ratePerSec: 2, burst: 2, concurrency: 10 })
    const total = () => [...loads.values()].reduce((a, b) => a + b, 0)
    try {
      const job = w.warmer.run('rated')
      await w.clock.advance(0)
      assert.equal(total(), 2, 'the burst goes first')
      await w.clock.advance(1000)
      assert.equal(total(), 4)
      await w.clock.advance(2000)
      assert.equal(total(), 8)
      await w.clock.advance(1000)
      assert.equal(total(), 10)
      assert.equal((await job).loaded, 10)
    } finally {
      await w.close()
    }
  })

  test('hot plans re-warm exactly the items an invalidation touched', async () => {
    const loads = new Map<string, number>()
    const w = setup([{ name: 'hot', hot: true, items: () => counted('acme', ['1', '2', '3'], loads, { ttl: '1h' }) }])
    try {
      w.warmer.start()
      await w.warmer.run('hot')
      assert.deepEqual(Object.fromEntries(loads), { 1: 1, 2: 1, 3: 1 })
      await w.cache.tenant('acme').invalidateTags(['product:2'])
      await w.cache.tenant('globex').invalidateTags(['product:3']) // another tenant: not ours
      await w.clock.advance(0)
      assert.deepEqual(Object.fromEntries(loads), { 1: 1, 2: 2, 3: 1 })
      assert.deepEqual(await w.cache.tenant('acme').get('product:2'), { id: '2' }, 'the hot key is back in the cache')
      await w.cache.tenant('acme').delete('product:1')
      await w.clock.advance(0)
      assert.equal(loads.get('1'), 2)
      await w.cache.tenant('acme').clear()
      await w.clock.advance(0)
      assert.deepEqual(Object.fromEntries(loads), { 1: 3, 2: 3, 3: 2 }, 'a tenant clear re-warms all its hot items')
      assert.equal(w.warmer.progress()[0]?.trigger, 'invalidation')
    } finally {
      await w.close()
    }
  })

  test('top-N plans warm the most-read keys, skipping keys the plan cannot load', async () => {
    const loaded: string[] = []
    const w = setup([
      {
        name: 'popular',
        top: {
          n: 2,
          tenant: 'acme',
          load: (_tenant, key) => (key.startsWith('product:') ? { ttl: '1h', loader: () => loaded.push(key) } : undefined),
        },
      },
    ], { sampleEvery: 1 })
    try {
      w.warmer.start()
      const t = w.cache.tenant('acme')
      for (let i = 0; i < 9; i++) await t.get('product:hot')
      for (let i = 0; i < 6; i++) await t.get('session:x') // most read but not loadable by the plan
      for (let i = 0; i < 4; i++) await t.get('product:warm')
      for (let i = 0; i < 20; i++) await w.cache.tenant('globex').get('product:other') // other tenant
      await t.get('product:cold')
      const r = await w.warmer.run('popular')
      assert.deepEqual(loaded.sort(), ['product:hot', 'product:warm'])
      assert.equal(r.total, 2)
    } finally {
      await w.close()
    }
  })

  test('a failing item is counted and reported; the run goes on; progress is published', async () => {
    const events: any[] = []
    const listener = (m: unknown) => events.push(m)
    channels.warm.subscribe(listener)
    const errors: unknown[] = []
    const clock = new FakeClock()
    const cache: Cache = createCache({ clock })
    const warmer = createWarmer({
      cache,
      clock,
      onError: (err) => errors.push(err),
      plans: [
        {
          name: 'mixed',
          items: () => [
            { tenant: 'acme', key: 'ok', loader: () => 1 },
            {
              tenant: 'acme',
              key: 'bad',
              loader: () => {
                throw new Error('origin down')
              },
            },
            { tenant: '@public', key: 'shared', loader: () => 3 },
          ],
        },
      ],
    })
    try {
      const r = await warmer.run('mixed')
      assert.equal(r.loaded, 2)
      assert.equal(r.failed, 1)
      assert.equal(r.done, 3)
      assert.equal(errors.length, 1)
      assert.equal(await cache.public.get('shared'), 3)
      const last = events.filter((e) => e.plan === 'mixed').at(-1)
      assert.deepEqual({ ...last }, { plan: 'mixed', done: 3, total: 3, loaded: 2, skipped: 0, failed: 1, state: 'done' })
      await assert.rejects(warmer.run('nope'), /no warm plan named "nope"/)
    } finally {
      channels.warm.unsubscribe(listener)
      await warmer.close()
      await cache.close()
    }
  })

  test('bad plans are refused at creation', () => {
    const cache = createCache()
    try {
      assert.throws(() => createWarmer({ cache, plans: [{ name: 'x' }] }), /exactly one of "items" or "top"/)
      assert.throws(() => createWarmer({ cache, plans: [{ name: 'x', items: () => [] }, { name: 'x', items: () => [] }] }), /defined twice/)
      assert.throws(() => createWarmer({ cache, plans: [], concurrency: 0 }), /concurrency/)
      assert.throws(() => createWarmer({ cache, plans: [{ name: 'x', every: 'soon', items: () => [] }] }), { code: 'E_INVALID_DURATION' })
      assert.throws(() => createWarmer({ cache, plans: [{ name: 'x', tier: 'hourly' as never, items: () => [] }] }), /tier must be/)
    } finally {
      void cache.close()
    }
  })
})
