import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import type { Cache } from '../../src/core/api.ts'
import { createCache } from '../../src/core/cache.ts'
import { type RedisLog, type RedisLogOptions, redisLog, redisStore } from '../../src/redis/index.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { seededRandom, until } from './helpers.ts'
import { masterAndReplica, type Pair } from './replica-pair.ts'

// The randomized stale-set race of fleet.test.ts across several tenants, on the two ways the
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

async function race(a: Instance, b: Instance, trials: number): Promise<number> {
  const db = new Map<string, number>()
  let stale = 0
  const { seed, rnd } = seededRandom()
  const pause = async (turns: number) => {
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r))
  }
  try {
    const trial = async (i: number) => {
      const tenant = TENANTS[rnd(TENANTS.length)] as string
      const key = `race-${i}`
      const tag = `t-${i}`
      db.set(key, 1)
      const [loader, writer] = [
        [b, a],
        [a, b],
        [a, a],
        [b, b],
      ][rnd(4)] as [Instance, Instance]
      let release!: () => void
      const gate = new Promise<void>((r) => (release = r))
      const loading = loader.cache.tenant(tenant).getOrSet(
        key,
        async () => {
          const v = db.get(key)
          await gate
          return v
        },
        { tags: [tag] },
      )
      await pause(rnd(5))
      db.set(key, 2)
      const inv = rnd(2) ? await writer.cache.tenant(tenant).invalidateTags([tag]) : await writer.cache.tenant(tenant).delete(key)
      release()
      await loading.catch(() => {})
      const read = (x: Instance) => x.cache.tenant(tenant).getOrSet(key, async () => db.get(key), { tags: [tag] })
      if ((await read(writer)) !== 2) stale++
      // The other instance: once its log brought the invalidation (the tenant's partition position).
      await until(() => loader.log.lastId(tenant) >= inv.id, 5000, 'convergence')
      if ((await read(loader)) !== 2) stale++
    }
    for (let round = 0; round < trials / 20; round++) await Promise.all(Array.from({ length: 20 }, (_, j) => trial(round * 20 + j)))
    return stale
  } catch (err) {
    console.error(`fleet race failed with LARDER_SEED=${seed}`)
    throw err
  }
}

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
      assert.equal(await race(a, b, 200), 0)
    } finally {
      await Promise.all([a.cache.close(), b.cache.close()])
    }
  })

  test('B reads a replica whose replication link is 15 ms slow', async () => {
    pair = await masterAndReplica({ delayMs: 15 })
    const a = await instance(pair.master.url, 'A', { stream: 'race-r' })
    const b = await instance(pair.master.url, 'B', { stream: 'race-r', replica: pair.replica.url })
    try {
      assert.equal(await race(a, b, 200), 0)
    } finally {
      await Promise.all([a.cache.close(), b.cache.close()])
    }
  })
})
