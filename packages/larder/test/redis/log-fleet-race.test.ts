import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import type { Cache } from '../../src/core/api.ts'
import { createCache } from '../../src/core/cache.ts'
import { type RedisLog, type RedisLogOptions, redisLog, redisStore } from '../../src/redis/index.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { staleSetRace } from './race.ts'
import { masterAndReplica, type Pair } from './replica-pair.ts'

// The randomized stale-set race (race.ts, as in fleet.test.ts) across several tenants, on the two ways the
// log scales: a partitioned log, and an instance reading a lagging replica.
interface Instance {
  cache: Cache
  log: RedisLog
}

async function instance(url: string, name: string, log: RedisLogOptions): Promise<Instance> {
  const l = redisLog({ url, source: name, ...log })
  const store = redisStore({ url, log: l, timeout: '2s' })
  await l.whenInitialized()
  return { cache: createCache({ l2: store, log: l, instanceId: name, defaults: { ttl: '1m' } }), log: l }
}

const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark']

describe('randomized stale-set races across instances on a scaled log: 0 stale reads', () => {
  let single: RedisServerHandle | undefined
  let pair: Pair | undefined
  after(async () => {
    await single?.stop()
    await pair?.stop()
  })

  test('partitions: 3, six tenants', async () => {
    single = await startRedis()
    const a = await instance(single.url, 'A', { stream: 'race-p', partitions: 3 })
    const b = await instance(single.url, 'B', { stream: 'race-p', partitions: 3 })
    try {
      assert.equal(await staleSetRace(a, b, { trials: 200, tenants: TENANTS }), 0)
    } finally {
      await Promise.all([a.cache.close(), b.cache.close()])
    }
  })

  test('B reads a replica whose replication link is 15 ms slow', async () => {
    pair = await masterAndReplica({ delayMs: 15 })
    const a = await instance(pair.master.url, 'A', { stream: 'race-r' })
    const b = await instance(pair.master.url, 'B', { stream: 'race-r', replica: pair.replica.url })
    try {
      assert.equal(await staleSetRace(a, b, { trials: 200, tenants: TENANTS }), 0)
    } finally {
      await Promise.all([a.cache.close(), b.cache.close()])
    }
  })
})
