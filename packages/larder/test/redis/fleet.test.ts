import assert from 'node:assert/strict'
import diagnostics_channel from 'node:diagnostics_channel'
import { after, before, describe, test } from 'node:test'
import type { Cache } from '../../src/core/api.ts'
import { createCache } from '../../src/core/cache.ts'
import { type RedisLog, type RedisStore, redisLog, redisStore } from '../../src/redis/index.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { tcpProxy, until } from './helpers.ts'
import { staleSetRace } from './race.ts'

// Several createCache instances in one process, each with its own Redis connections,
// sharing one Redis: what a fleet of app servers does.
interface Instance {
  cache: Cache
  store: RedisStore
  log: RedisLog
}

async function instance(url: string, name: string, extra: { stream?: string; logUrl?: string; timeout?: string } = {}): Promise<Instance> {
  const log = redisLog({ url: extra.logUrl ?? url, source: name, ...(extra.stream ? { stream: extra.stream } : {}) })
  // With the log attached, L2 hits are plain GETs judged by the epochs heard from it.
  const store = redisStore({ url, log, ...(extra.timeout ? { timeout: extra.timeout } : {}) })
  await log.whenInitialized()
  const cache = createCache({ l2: store, log, instanceId: name, defaults: { ttl: '1m' } })
  return { cache, store, log }
}

describe('a fleet of createCache instances on one Redis', () => {
  let redis: RedisServerHandle
  let n = 0
  before(async () => {
    redis = await startRedis()
  })
  after(() => redis.stop())

  async function pair(): Promise<[Instance, Instance]> {
    const stream = `fleet-${++n}`
    // A generous store timeout: these tests check consistency, and on a loaded machine a
    // 250 ms timeout on a lease call would (correctly) make the instance load by itself.
    return [await instance(redis.url, 'A', { stream, timeout: '2s' }), await instance(redis.url, 'B', { stream, timeout: '2s' })]
  }
  const close = (...xs: Instance[]) => Promise.all(xs.map((x) => x.cache.close()))

  test('an invalidation on one instance is observed on the other (L1 and L2)', async () => {
    const [a, b] = await pair()
    try {
      let version = 1
      const load = () => ({ version })
      const shopA = a.cache.tenant('shop')
      const shopB = b.cache.tenant('shop')
      assert.deepEqual(await shopB.getOrSet('p1', load, { tags: ['product:1'] }), { version: 1 })
      assert.deepEqual(await shopA.getOrSet('p1', load, { tags: ['product:1'] }), { version: 1 }, 'A reads B’s value from L2')
      version = 2
      const { id } = await shopA.invalidateTags(['product:1'])
      assert.equal(await shopA.get('p1'), undefined, 'read-your-invalidation on A')
      await until(() => b.log.lastId() >= id, 5000, 'B to read the invalidation')
      assert.equal(await shopB.get('p1'), undefined, 'B dropped its L1 copy')
      assert.deepEqual(await shopB.getOrSet('p1', load, { tags: ['product:1'] }), { version: 2 })
      // Deletes and clears travel the same way.
      await shopB.delete('p1')
      await until(() => a.log.lastId() >= b.log.lastId(), 5000, 'A to read the delete')
      assert.equal(await shopA.get('p1'), undefined)
    } finally {
      await close(a, b)
    }
  })

  test('B3: 1,000 concurrent misses over 2 instances → exactly 1 load', async () => {
    const [a, b] = await pair()
    try {
      let loads = 0
      // The load finishes only once both instances asked for the lease (one holds it, the
      // other waits): an event, not a guessed delay.
      let acquires = 0
      let bothAsked!: () => void
      const asked = new Promise<void>((r) => (bothAsked = r))
      const onStore = (m: unknown) => {
        if ((m as { op: string }).op === 'lease.acquire' && ++acquires >= 2) bothAsked()
      }
      diagnostics_channel.subscribe('larder:store:op', onStore)
      const loader = async () => {
        loads++
        await asked
        return { name: 'hot product' }
      }
      const calls = Array.from({ length: 1000 }, (_, i) => (i % 2 ? a : b).cache.tenant('shop').getOrSet('hot', loader, { tags: ['product:hot'] }))
      const values = await Promise.all(calls)
      diagnostics_channel.unsubscribe('larder:store:op', onStore)
      assert.equal(loads, 1)
      assert.ok(values.every((v) => v.name === 'hot product'))
    } finally {
      await close(a, b)
    }
  })

  test('randomized stale-set races across instances: 0 stale reads (one instance hears the log late)', async () => {
    // B's log replies come 15 ms late: B finishes loads before it learns of A's
    // invalidations, so only the Redis-side fence (WRITE script) can refuse its stale writes.
    const slow = await tcpProxy(redis.port, { delayMs: 15 })
    const stream = `fleet-${++n}`
    const a = await instance(redis.url, 'A', { stream, timeout: '2s' })
    const b = await instance(redis.url, 'B', { stream, logUrl: slow.url, timeout: '2s' })
    try {
      // Seeded (race.ts): LARDER_SEED=<n> replays a failing run.
      assert.equal(await staleSetRace(a, b, { trials: 200, tenants: ['shop'] }), 0)
    } finally {
      await close(a, b)
      await slow.close()
    }
  })

  test('Redis paused (SIGSTOP): reads and invalidations still answer within bounded time; after resume the fleet converges', async () => {
    const own = await startRedis()
    const a = await instance(own.url, 'A')
    const b = await instance(own.url, 'B')
    try {
      let version = 1
      const shopA = a.cache.tenant('shop')
      const shopB = b.cache.tenant('shop')
      assert.equal(await shopB.getOrSet('p', () => version, { tags: ['p'] }), 1)
      own.pause()
      let started = Date.now()
      assert.equal(await shopA.getOrSet('fresh', () => 'from loader', { tags: ['f'] }), 'from loader')
      assert.ok(Date.now() - started < 2000, `getOrSet took ${Date.now() - started} ms with Redis paused`)
      version = 2
      started = Date.now()
      await shopA.invalidateTags(['p'])
      assert.ok(Date.now() - started < 2000, `invalidateTags took ${Date.now() - started} ms with Redis paused`)
      assert.equal(await shopA.getOrSet('p', () => version, { tags: ['p'] }), 2, 'read-your-invalidation while Redis is paused')
      own.resume()
      await until(async () => (await shopB.getOrSet('p', () => version, { tags: ['p'] })) === 2, 15_000, 'B to converge on p = 2')
    } finally {
      own.resume()
      await close(a, b)
      await own.stop()
    }
  })

  test('Redis killed mid-load: the read is answered from the loader within the timeout; after restart the fleet converges', async () => {
    const own = await startRedis()
    const a = await instance(own.url, 'A')
    const b = await instance(own.url, 'B')
    try {
      let version = 1
      const shopA = a.cache.tenant('shop')
      const shopB = b.cache.tenant('shop')
      assert.equal(await shopB.getOrSet('p', () => version, { tags: ['p'] }), 1)
      const started = Date.now()
      const v = await shopA.getOrSet(
        'q',
        async () => {
          await own.kill()
          return 'loaded while Redis died'
        },
        { tags: ['q'] },
      )
      assert.equal(v, 'loaded while Redis died')
      assert.ok(Date.now() - started < 3000, `getOrSet took ${Date.now() - started} ms`)
      // While Redis is down: reads still answer (L1 or loader), invalidations resolve.
      assert.equal(await shopA.getOrSet('r', () => 'from loader', { tags: ['r'] }), 'from loader')
      version = 2
      const inv = await shopA.invalidateTags(['p'])
      assert.ok(inv.id > 0)
      await own.restart()
      // The queued invalidation is replayed; B (which cached p = 1) must drop it.
      await until(async () => (await shopB.getOrSet('p', () => version, { tags: ['p'] })) === 2, 15_000, 'B to converge on p = 2')
      assert.equal(await shopA.getOrSet('p', () => version, { tags: ['p'] }), 2)
    } finally {
      await close(a, b)
      await own.stop()
    }
  })
})
