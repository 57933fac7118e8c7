import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Cache } from '../../src/core/api.ts'
import { channels, createCache } from '../../src/index.ts'
import { redisLog, redisStore } from '../../src/redis/index.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { createWarmer, type WarmItem } from '../../src/warm/index.ts'

let redis: RedisServerHandle
before(async () => {
  redis = await startRedis()
})
after(async () => {
  await redis.stop()
})

test('two instances sharing Redis warm the same plan: each key loads exactly once', async () => {
  const loads = new Map<string, number>()
  // Every key contested: a load finishes only once both instances asked for its key (each
  // publishes a miss before it takes or waits for the lease), so the other instance is
  // waiting on the lease while this one holds it — an awaited event, not a timing window.
  const misses = new Map<string, number>()
  const waiting = new Map<string, () => void>()
  const onMiss = (m: unknown) => {
    const { tenant, key } = m as { tenant: string; key: string }
    const id = `${tenant}/${key}`
    misses.set(id, (misses.get(id) ?? 0) + 1)
    if ((misses.get(id) ?? 0) >= 2) waiting.get(id)?.()
  }
  const bothAsked = (id: string) =>
    (misses.get(id) ?? 0) >= 2
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`the other instance never asked for ${id}`)), 10_000)
          waiting.set(id, () => {
            clearTimeout(t)
            resolve()
          })
        })
  channels.miss.subscribe(onMiss)
  const items = (): WarmItem[] =>
    Array.from({ length: 40 }, (_, i) => ({
      tenant: i % 2 ? 'acme' : 'globex',
      key: `product:${i}`,
      tags: [`product:${i}`],
      ttl: '1h',
      loader: async () => {
        loads.set(`${i}`, (loads.get(`${i}`) ?? 0) + 1)
        await bothAsked(`${i % 2 ? 'acme' : 'globex'}/product:${i}`)
        return { id: i }
      },
    }))
  const caches: Cache[] = ['a', 'b'].map((id) => createCache({ instanceId: id, l2: redisStore({ url: redis.url }), log: redisLog({ url: redis.url }) }))
  const warmers = caches.map((cache) => createWarmer({ cache, plans: [{ name: 'hot', items }], concurrency: 8, ratePerSec: 10_000 }))
  try {
    const [ra, rb] = await Promise.all(warmers.map((w) => w.run('hot')))
    assert.equal(loads.size, 40)
    assert.deepEqual(
      [...loads.entries()].filter(([, n]) => n !== 1),
      [],
      'no key was loaded twice across the fleet',
    )
    assert.equal(ra!.failed + rb!.failed, 0)
    assert.equal(ra!.loaded + rb!.loaded, 40, 'between them the instances loaded each key once')
    assert.equal(ra!.done + rb!.done, 80)
    // Both instances now serve every key (the one that did not load it read it from L2).
    for (const c of caches) assert.deepEqual(await c.tenant('acme').get('product:7'), { id: 7 })
  } finally {
    channels.miss.unsubscribe(onMiss)
    for (const w of warmers) await w.close()
    for (const c of caches) await c.close()
  }
})

test('control: without a shared L2 (no lease) the same two warmers load every key twice', async () => {
  let loads = 0
  const items = (): WarmItem[] => Array.from({ length: 10 }, (_, i) => ({ tenant: 'acme', key: `k${i}`, loader: () => ++loads }))
  const caches: Cache[] = ['a', 'b'].map((id) => createCache({ instanceId: id }))
  const warmers = caches.map((cache) => createWarmer({ cache, plans: [{ name: 'hot', items }], ratePerSec: 10_000 }))
  try {
    await Promise.all(warmers.map((w) => w.run('hot')))
    assert.equal(loads, 20)
  } finally {
    for (const w of warmers) await w.close()
    for (const c of caches) await c.close()
  }
})
