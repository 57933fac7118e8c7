// Bounded staleness (docs/invariants.md, "Log reachability and bounded staleness"), on a
// fake clock and an in-process log that reports reader health like a fleet log does.
// The same behaviour over a real redis-server (SIGSTOP, SIGKILL): test/redis/log-outage.test.ts.
import assert from 'node:assert/strict'
import diagnostics_channel from 'node:diagnostics_channel'
import { describe, test } from 'node:test'
import { createCache } from '../../src/core/cache.ts'
import { isLarderError } from '../../src/core/errors.ts'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { FakeClock } from '../../src/testing/fake-clock.ts'

/** An embedded log whose reader health the test sets. */
class HeardLog extends MemoryLog {
  heard: number
  readonly heartbeatMs = 100
  constructor(readonly clock: FakeClock) {
    super({ clock })
    this.heard = clock.now()
  }
  lastHeardAt(): number {
    return this.heard
  }
}

function setup() {
  const clock = new FakeClock()
  const log = new HeardLog(clock)
  const cache = createCache({ clock, log, defaults: { ttl: '1m', grace: '1m', maxStaleness: '1s' }, policies: { relaxed: { maxStaleness: '10s' }, forever: { maxStaleness: Number.POSITIVE_INFINITY } } })
  let version = 'v1'
  let fail = false
  const load = Object.assign(
    async () => {
      load.calls++
      if (fail) throw new Error('source down')
      return version
    },
    { calls: 0 },
  )
  return {
    clock,
    log,
    cache,
    t: cache.tenant('acme'),
    load,
    set(v: string) {
      version = v
    },
    failing(f: boolean) {
      fail = f
    },
  }
}

describe('bounded staleness while the log is not heard from', () => {
  test('maxStaleness must exceed the log heartbeat (else a reachable log would look cut off)', () => {
    const clock = new FakeClock()
    assert.throws(
      () => createCache({ clock, log: new HeardLog(clock), defaults: { maxStaleness: '100ms' } }),
      (e) => isLarderError(e, 'E_INVALID_OPTION') && /heartbeat/.test((e as Error).message),
    )
    assert.throws(
      () => createCache({ clock, log: new HeardLog(clock), policies: { tight: { maxStaleness: 50 } } }),
      (e) => isLarderError(e, 'E_INVALID_OPTION'),
    )
  })

  test('past maxStaleness, L1 is not answered without a check; the old value serves (marked) only when the loader fails; hearing the log again restores L1', async () => {
    const s = setup()
    const events: unknown[] = []
    const health: unknown[] = []
    const onU = (m: unknown) => events.push(m)
    const onH = (m: unknown) => health.push(m)
    diagnostics_channel.subscribe('larder:cache:unverified', onU)
    diagnostics_channel.subscribe('larder:log:health', onH)
    try {
      assert.equal(await s.t.getOrSet('k', s.load), 'v1')
      assert.equal(await s.t.getOrSet('r', s.load, { policy: 'relaxed' }), 'v1')
      await s.clock.advance(1000)
      assert.equal(await s.t.getOrSet('k', s.load), 'v1', 'exactly maxStaleness: still trusted')
      assert.equal(s.load.calls, 2)

      await s.clock.advance(1)
      s.set('v2')
      assert.equal(await s.t.getOrSet('k', s.load), 'v2', 'past it: the loader answers')
      assert.equal(s.load.calls, 3)
      assert.equal(await s.t.getOrSet('r', s.load, { policy: 'relaxed' }), 'v1', 'a policy with a larger bound still trusts L1')
      assert.equal(await s.t.get('k'), undefined, 'get: no unchecked L1 value')
      assert.deepEqual(await s.t.getMany(['k', 'r']), [undefined, undefined], 'getMany (default policy bound): none either')
      assert.deepEqual(await s.t.getEntry('k'), { value: 'v2', stale: true, unverified: true })
      assert.deepEqual(health, [{ reachable: false, silentMs: 1001, maxStalenessMs: 1000 }])

      s.failing(true)
      const before = s.cache.stats().staleServes
      assert.equal(await s.t.getOrSet('k', s.load), 'v2', 'loader failed: the L1 value, within grace')
      assert.equal(s.cache.stats().staleServes, before + 1)
      assert.deepEqual(events, [{ tenant: 'acme', key: 'k', layer: 'l1', silentMs: 1001 }])
      // Past the entry's grace there is nothing to fall back on.
      await s.clock.advance(2 * 60_000)
      await assert.rejects(s.t.getOrSet('k', s.load), (e) => isLarderError(e, 'E_LOADER_FAILED'))
      s.failing(false)

      // Heard again: L1 answers without asking the loader, one comparison per read.
      s.log.heard = s.clock.now()
      assert.equal(await s.t.getOrSet('k', s.load), 'v2')
      const calls = s.load.calls
      assert.equal(await s.t.getOrSet('k', s.load), 'v2')
      assert.equal(await s.t.get('k'), 'v2')
      assert.equal(s.load.calls, calls)
      assert.equal((health[health.length - 1] as { reachable: boolean }).reachable, true)
      assert.equal(await s.t.getOrSet('f', s.load, { policy: 'forever' }), 'v2')
      await s.clock.advance(30_000)
      assert.equal(await s.t.getOrSet('f', s.load, { policy: 'forever' }), 'v2', 'maxStaleness: Infinity opts out')
      assert.equal(s.load.calls, calls + 1)
    } finally {
      diagnostics_channel.unsubscribe('larder:cache:unverified', onU)
      diagnostics_channel.unsubscribe('larder:log:health', onH)
      await s.cache.close()
    }
  })

  test('an invalidation the log acknowledged has no `queued`; the embedded log never queues', async () => {
    const cache = createCache()
    try {
      const r = await cache.tenant('acme').invalidateTags(['a'])
      assert.equal(r.queued, undefined)
      assert.equal(typeof r.id, 'number')
    } finally {
      await cache.close()
    }
  })
})
