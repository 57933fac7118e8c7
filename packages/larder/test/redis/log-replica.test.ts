import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { createCache } from '../../src/core/cache.ts'
import type { Redis } from 'ioredis'
import { type RedisLogOptions, redisLog } from '../../src/redis/index.ts'
import { partitionKeys } from '../../src/redis/log-partitions.ts'
import { slotOf } from '../../src/redis/slot.ts'
import { type RedisClusterHandle, startRedisCluster } from '../../src/testing/servers.ts'
import { admin, recorder, until } from './helpers.ts'
import { masterAndReplica, type Pair } from './replica-pair.ts'

let n = 0

describe('redisLog reading a replica', () => {
  let p: Pair
  before(async () => {
    p = await masterAndReplica()
  })
  after(() => p?.stop())

  test('a lagging or paused replica is a log not heard from, never a caught-up one; it catches up in order afterwards', async () => {
    const stream = `lag-${++n}`
    const a = redisLog({ url: p.master.url, stream, source: 'A' })
    const b = redisLog({ url: p.master.url, replica: p.replica.url, stream, source: 'B', block: '100ms' })
    const rb = recorder()
    try {
      await Promise.all([a.whenInitialized(), b.whenInitialized()])
      b.subscribe(rb, 'now')
      const first = await a.append({ tenant: 'shop', kind: 'hard', tags: ['p:1'] })
      await until(() => rb.got.length === 1 && b.lastHeardAt() > first.at, 5000, 'B to hear the first entry')
      // The replication link is cut: the replica keeps answering, with old data.
      p.link.cut()
      const sentAt = Date.now()
      const second = await a.append({ tenant: 'shop', kind: 'hard', tags: ['p:2'] })
      // Several heartbeats (block 100 ms) pass with the replica answering every read.
      await new Promise((r) => setTimeout(r, 800))
      assert.equal(rb.got.length, 1, 'the replica does not have it yet')
      assert.ok(b.lastHeardAt() <= sentAt, `B must not count as heard after the unseen append (heard ${b.lastHeardAt() - sentAt} ms after it)`)
      assert.ok(b.lastId('shop') < second.id, 'a load fenced on B now began before the unseen invalidation')
      p.link.heal()
      await until(() => rb.got.length === 2, 10_000, 'B to get the entry once the replica caught up')
      await until(() => b.lastHeardAt() > sentAt, 5000, 'B heard again')
      // The replica paused (SIGSTOP): reads hang, are abandoned, nothing is heard.
      p.replica.pause()
      const pausedAt = Date.now()
      const third = await a.append({ tenant: 'shop', kind: 'hard', tags: ['p:3'] })
      await new Promise((r) => setTimeout(r, 600))
      assert.ok(b.lastHeardAt() <= pausedAt)
      p.replica.resume()
      await until(() => rb.got.length === 3, 10_000, 'B to get the entry after the pause')
      assert.deepEqual(
        rb.got.map((e) => e.id),
        [first.id, second.id, third.id],
        'once each, in order',
      )
      assert.deepEqual(rb.gaps, [], 'a short lag is no gap')
    } finally {
      p.link.heal()
      p.replica.resume()
      await Promise.all([a.close(), b.close()])
    }
  })

  test('a replica reader starts from the master’s position, not its lagging replica’s', async () => {
    const stream = `start-${++n}`
    const a = redisLog({ url: p.master.url, stream, source: 'A' })
    try {
      await a.whenInitialized()
      p.link.cut()
      const unseen = await a.append({ tenant: 'shop', kind: 'hard', tags: ['p'] })
      const b = redisLog({ url: p.master.url, replica: p.replica.url, stream, source: 'B' })
      try {
        await b.whenInitialized()
        // What the plain-GET watermark and the fence start from: everything up to here was
        // appended before this instance began (the replica does not hold it yet).
        assert.equal(b.lastId('shop'), unseen.id)
      } finally {
        await b.close()
      }
    } finally {
      p.link.heal()
      await a.close()
    }
  })

  test('cache: while its replica lags, an instance stops answering from L1 after maxStaleness instead of serving what the unseen invalidation killed', async () => {
    const stream = `lag-cache-${++n}`
    const a = redisLog({ url: p.master.url, stream, source: 'A' })
    const b = redisLog({ url: p.master.url, replica: p.replica.url, stream, source: 'B', block: '100ms' })
    const cacheA = createCache({ log: a, instanceId: 'A', defaults: { ttl: '1m', maxStaleness: '400ms' } })
    const cacheB = createCache({ log: b, instanceId: 'B', defaults: { ttl: '1m', maxStaleness: '400ms' } })
    let version = 1
    let loads = 0
    const load = () => {
      loads++
      return version
    }
    try {
      await Promise.all([a.whenInitialized(), b.whenInitialized()])
      assert.equal(await cacheB.tenant('shop').getOrSet('p', load, { tags: ['p'] }), 1)
      assert.equal(await cacheB.tenant('shop').getOrSet('p', load, { tags: ['p'] }), 1)
      assert.equal(loads, 1, 'an L1 hit while the replica is in sync')
      p.link.cut()
      version = 2
      const inv = await cacheA.tenant('shop').invalidateTags(['p'])
      // Past maxStaleness of B's last confirmation, B's L1 is not trusted without a check.
      await until(() => Date.now() - b.lastHeardAt() > 500, 5000, 'B unheard for longer than maxStaleness')
      assert.ok(b.lastId('shop') < inv.id)
      assert.equal(await cacheB.tenant('shop').getOrSet('p', load, { tags: ['p'] }), 2, 'B asked the loader, not its L1 copy')
      p.link.heal()
      await until(() => b.lastId('shop') >= inv.id, 10_000, 'B to receive the invalidation')
    } finally {
      p.link.heal()
      await Promise.all([cacheA.close(), cacheB.close()])
    }
  })

  test('a master restarted empty (its replica resynced from it) is a restarted gap for a replica reader', async () => {
    const stream = `restart-${++n}`
    const b = redisLog({ url: p.master.url, replica: p.replica.url, stream, source: 'B', block: '100ms' })
    const rb = recorder()
    try {
      await b.whenInitialized()
      b.subscribe(rb, 'now')
      // An entry appended by another instance.
      const a = redisLog({ url: p.master.url, stream })
      await a.append({ tenant: 'shop', kind: 'hard', tags: ['x'] })
      await a.close()
      await until(() => rb.got.length === 1, 5000, 'B to hear the entry')
      await p.master.kill()
      await p.master.restart()
      await until(() => rb.gaps.some((g) => g.reason === 'restarted'), 15_000, 'a restarted gap')
    } finally {
      await b.close()
    }
  })
})

describe('redisLog reading replicas of a Cluster', () => {
  let cluster: RedisClusterHandle
  before(async () => {
    cluster = await startRedisCluster({ masters: 3, replicas: 1 })
  })
  after(() => cluster?.stop())

  /**
   * A writes `total` rounds (one entry per tenant each) to a 3-partition log while `disrupt`
   * hits partition `p`'s shard (given the round, the replica's admin connection, and the
   * shard's master and replica ports); B reads replicas. Every tenant's entries must reach B
   * once each, in order.
   */
  async function underDisruption(p: number, total: number, appender: Partial<RedisLogOptions>, disrupt: (i: number, r: Redis, shard: { master: number; replica: number }) => Promise<void>): Promise<void> {
    const stream = `disrupt-${++n}`
    const a = redisLog({ cluster: cluster.urls, stream, partitions: 3, source: 'A', ...appender })
    const b = redisLog({ cluster: cluster.urls, stream, partitions: 3, replica: true, source: 'B' })
    const rb = recorder()
    const tenants = ['acme', 'globex', 'initech', 'umbrella']
    try {
      await Promise.all([a.whenInitialized(), b.whenInitialized()])
      b.subscribe(rb, 'now')
      const slot = slotOf(partitionKeys(stream, p, 3).stream)
      const replica = await replicaOf(cluster.nodes[0]?.port as number, slot)
      const master = shardOf(replica, slot).master as number
      const r = admin(replica)
      try {
        await until(async () => ((await r.call('INFO', 'replication')) as string).includes('master_link_status:up'), 10_000, 'replica in sync')
        for (let i = 0; i < total; i++) {
          await a.appendMany(tenants.map((tenant) => ({ tenant, kind: 'hard' as const, tags: [`p:${i}`], data: i })))
          await disrupt(i, r, { master, replica })
        }
      } finally {
        r.disconnect()
      }
      await until(() => rb.got.length >= total * tenants.length && a.queued() === 0, 30_000, `B to receive all (got ${rb.got.length}, queued ${a.queued()})`)
      for (const t of tenants) {
        assert.deepEqual(
          rb.got.filter((e) => e.tenant === t).map((e) => e.data),
          Array.from({ length: total }, (_, i) => i),
          `${t}: every entry once, in order`,
        )
      }
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  }

  const promoted = (r: Redis, ms: number) => until(async () => ((await r.call('ROLE')) as string[])[0] === 'master', ms, 'replica promoted')

  test('partitions: 3 with replica reads: a failover of a partition’s master loses nothing, delivers nothing twice, keeps each tenant’s order', async () => {
    await underDisruption(0, 150, {}, async (i, r) => {
      if (i === 50) await r.call('CLUSTER', 'FAILOVER')
      if (i === 149) await promoted(r, 10_000)
    })
  })

  test('partitions: 3 with replica reads: a partition’s master killed (waitReplicas: 1) loses nothing, delivers nothing twice, keeps each tenant’s order', async () => {
    await underDisruption(1, 120, { waitReplicas: 1, timeout: '500ms' }, async (i, r, shard) => {
      const victim = cluster.nodes.find((x) => x.port === shard.master)
      assert.ok(victim)
      if (i === 40) await victim.kill()
      // Let the cluster promote the replica, then bring the dead node back (as a replica).
      if (i === 80) {
        await promoted(r, 20_000)
        await victim.restart()
      }
    })
  })
})

/** The master that owns `slot` and one of its replicas (ports), from CLUSTER NODES as one live node sees it. */
function shardOf(port: number, slot: number): { master: number | undefined; replica: number | undefined } {
  const nodes = execFileSync('redis-cli', ['-p', String(port), 'cluster', 'nodes'])
    .toString()
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
  const owns = (range: string) => {
    const [lo, hi] = range.split('-').map(Number)
    return lo !== undefined && slot >= lo && slot <= (hi ?? lo)
  }
  const portOf = (f: string[] | undefined) => (f === undefined ? undefined : Number((f[1] as string).split(':')[1]?.split('@')[0]))
  const alive = (f: string[]) => !(f[2] ?? '').includes('fail')
  const master = nodes.find((f) => (f[2] ?? '').includes('master') && alive(f) && f.slice(8).some(owns))
  const replica = nodes.find((f) => master !== undefined && f[3] === master[0] && alive(f))
  return { master: portOf(master), replica: portOf(replica) }
}

/** The port of a replica of the master that owns `slot` (waits for gossip to list it). */
async function replicaOf(port: number, slot: number): Promise<number> {
  let found: number | undefined
  await until(
    () => {
      found = shardOf(port, slot).replica
      return found !== undefined
    },
    15_000,
    'a replica of the partition’s master',
  )
  return found as number
}
