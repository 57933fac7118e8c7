// Invariants while the shared invalidation log is unreachable (docs/invariants.md,
// "Log reachability and bounded staleness"): two instances on one real redis-server,
// which the test pauses (SIGSTOP) or kills (SIGKILL). Time past maxStaleness is a fake
// clock's `advance`, not a sleep: the log's reader stamps what it heard with that clock.
import assert from 'node:assert/strict'
import diagnostics_channel from 'node:diagnostics_channel'
import { describe, test } from 'node:test'
import type { Cache } from '../../src/core/api.ts'
import { createCache } from '../../src/core/cache.ts'
import { type RedisLog, redisLog, redisStore } from '../../src/redis/index.ts'
import { FakeClock } from '../../src/testing/fake-clock.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { remoteInvalidation, until } from './helpers.ts'

interface Fleet {
  clock: FakeClock
  a: Cache
  b: Cache
  logs: RedisLog[]
  close(): Promise<void>
}

async function fleet(redis: RedisServerHandle): Promise<Fleet> {
  const clock = new FakeClock(Date.now())
  const logs: RedisLog[] = []
  const make = (id: string) => {
    const log = redisLog({ url: redis.url, clock, source: id, block: '50ms', timeout: '400ms', failureThreshold: 2, cooldown: '100ms' })
    logs.push(log)
    return createCache({
      instanceId: id,
      clock,
      log,
      l2: redisStore({ url: redis.url, timeout: '400ms', failureThreshold: 2, cooldown: '100ms' }),
      defaults: { ttl: '10m', grace: '10m', maxStaleness: '500ms' },
    })
  }
  const a = make('a')
  const b = make('b')
  await Promise.all(logs.map((l) => l.whenInitialized()))
  return {
    clock,
    a,
    b,
    logs,
    async close() {
      await a.close()
      await b.close()
    },
  }
}

function counting(value: () => string) {
  const f = Object.assign(
    async () => {
      f.calls++
      return value()
    },
    { calls: 0 },
  )
  return f
}

for (const fault of ['SIGSTOP', 'SIGKILL'] as const) {
  describe(`two instances, Redis ${fault === 'SIGSTOP' ? 'paused (SIGSTOP)' : 'killed (SIGKILL)'}`, () => {
    test('a purge that cannot reach the log says queued; the other instance stops trusting L1 after maxStaleness, serves stale (marked) only when the loader fails, and converges on recovery', async () => {
      const redis = await startRedis()
      const f = await fleet(redis)
      const unverified: unknown[] = []
      const health: { reachable: boolean }[] = []
      const onUnverified = (m: unknown) => unverified.push(m)
      const onHealth = (m: unknown) => health.push(m as { reachable: boolean })
      diagnostics_channel.subscribe('larder:cache:unverified', onUnverified)
      diagnostics_channel.subscribe('larder:log:health', onHealth)
      try {
        let version = 'v1'
        const load = counting(() => version)
        const A = f.a.tenant('acme')
        const B = f.b.tenant('acme')
        assert.equal(await B.getOrSet('x', load, { tags: ['p'] }), 'v1')
        assert.equal(await B.getOrSet('y', load, { tags: ['p'] }), 'v1')
        assert.equal(await A.getOrSet('x', load, { tags: ['p'] }), 'v1', 'A: an L2 hit')
        assert.equal(load.calls, 2)
        // While the log is reachable, the purge is acknowledged: in the log, no `queued`.
        const ok = await A.invalidateTags(['unrelated'])
        assert.equal(ok.queued, undefined)

        if (fault === 'SIGSTOP') redis.pause()
        else await redis.kill()
        version = 'v2'
        const purge = await A.invalidateTags(['p'])
        assert.equal(purge.queued, true, 'not reported as acknowledged: the invalidation only waits for replay')
        assert.equal(await A.getOrSet('x', load, { tags: ['p'] }), 'v2', 'applied on the instance that took it')
        const before = load.calls

        // Within maxStaleness of the last time B heard the log, B may still answer from L1.
        assert.equal(await B.getOrSet('x', load, { tags: ['p'] }), 'v1')
        assert.equal(load.calls, before)

        // Past it, B checks: L2 is down too, so the loader answers.
        await f.clock.advance(600)
        assert.equal(await B.getOrSet('x', load, { tags: ['p'] }), 'v2')
        assert.equal(load.calls, before + 1)
        assert.equal(await B.get('y'), undefined, 'get: an unchecked L1 value is not a hit')
        const e = await B.getEntry('y')
        assert.deepEqual(e, { value: 'v1', stale: true, unverified: true }, 'getEntry: offered to a caller that revalidates, flagged')
        assert.ok(health.some((h) => h.reachable === false), 'a larder:log:health event says the log is unreachable')

        // When the loader fails too, the old value is served within grace, marked stale.
        const staleBefore = f.b.stats().staleServes
        const failing = async (): Promise<string> => {
          throw new Error('origin down')
        }
        assert.equal(await B.getOrSet('y', failing, { tags: ['p'] }), 'v1')
        assert.equal(f.b.stats().staleServes, staleBefore + 1)
        assert.equal(unverified.length, 1, 'a larder:cache:unverified event for the unchecked serve')
        assert.deepEqual(unverified[0], { tenant: 'acme', key: 'y', layer: 'l1', silentMs: (unverified[0] as { silentMs: number }).silentMs })

        // Recovery: A replays its queued purge, B applies it; nothing stale is left behind.
        const replayed = remoteInvalidation('a')
        if (fault === 'SIGSTOP') redis.resume()
        else await redis.restart()
        const entry = await replayed
        assert.deepEqual(entry.tags, ['p'])
        await until(() => f.logs.every((l) => f.clock.now() - (l.lastHeardAt() as number) <= 500), 5000, 'readers caught up')
        assert.equal(await B.getOrSet('y', failing, { tags: ['p'] }).catch(() => 'failed'), 'failed', 'the stale fallback is gone')
        const calls = load.calls
        assert.equal(await B.getOrSet('y', load, { tags: ['p'] }), 'v2')
        assert.equal(await B.getOrSet('y', load, { tags: ['p'] }), 'v2')
        assert.equal(load.calls, calls + 1, 'and L1 is trusted again (one load, then hits)')
        assert.ok(health.some((h) => h.reachable === true), 'a larder:log:health event says the log is back')
      } finally {
        diagnostics_channel.unsubscribe('larder:cache:unverified', onUnverified)
        diagnostics_channel.unsubscribe('larder:log:health', onHealth)
        redis.resume()
        await f.close()
        await redis.stop()
      }
    })
  })
}

describe('log on its own Redis, cut off while L2 answers', () => {
  test('L2 hits are judged by Redis, not by what the silent reader heard: the other instance sees the queued purge A recorded in L2', async () => {
    const logServer = await startRedis()
    const l2Server = await startRedis()
    const clock = new FakeClock(Date.now())
    const logs: RedisLog[] = []
    const make = (id: string) => {
      const log = redisLog({ url: logServer.url, clock, source: id, block: '50ms', timeout: '400ms', failureThreshold: 2, cooldown: '100ms' })
      logs.push(log)
      return createCache({ instanceId: id, clock, log, l2: redisStore({ url: l2Server.url, clock }), defaults: { ttl: '10m', maxStaleness: '500ms' } })
    }
    const a = make('a')
    const b = make('b')
    try {
      await Promise.all(logs.map((l) => l.whenInitialized()))
      let version = 'v1'
      const load = counting(() => version)
      assert.equal(await b.tenant('acme').getOrSet('x', load, { tags: ['p'] }), 'v1')
      logServer.pause()
      version = 'v2'
      const r = await a.tenant('acme').invalidateTags(['p'])
      assert.equal(r.queued, true)
      await clock.advance(600)
      // B's L1 is unchecked, and L2 (reachable) knows of A's invalidation: B loads.
      assert.equal(await b.tenant('acme').getOrSet('x', load, { tags: ['p'] }), 'v2')
      assert.equal(load.calls, 2)
    } finally {
      logServer.resume()
      await a.close()
      await b.close()
      await logServer.stop()
      await l2Server.stop()
    }
  })
})
