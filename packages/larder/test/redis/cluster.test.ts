import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { qualify } from '../../src/core/keys.ts'
import type { StoredEntry } from '../../src/core/types.ts'
import { redisLog, redisStore } from '../../src/redis/index.ts'
import { slotOf } from '../../src/redis/slot.ts'
import { type RedisClusterHandle, startRedisCluster } from '../../src/testing/servers.ts'
import { storeConformance } from '../../src/testing/store-conformance.ts'
import { admin, recorder, until } from './helpers.ts'

// One cluster (3 masters, 1 replica each) for the whole file: conformance first, the
// cross-slot checks, then the failover (which changes the topology) last.
let cluster: RedisClusterHandle
before(async () => {
  cluster = await startRedisCluster({ masters: 3, replicas: 1 })
})
after(() => cluster?.stop())

// Generous timeout: this checks the Store contract, not timeouts (the first calls also discover the slot map).
storeConformance('redis cluster', async () => redisStore({ cluster: cluster.urls, timeout: '2s' }), undefined, { expires: true, shared: true })

function entry(v: unknown, over: Partial<StoredEntry> = {}): StoredEntry {
  const now = Date.now()
  return { v, tags: [], began: 1, at: now, staleAt: now + 60_000, expireAt: now + 120_000, ...over }
}

describe('redis cluster', () => {
  test('tenants spread over slots; no public call raises CROSSSLOT', async () => {
    const store = redisStore({ cluster: cluster.urls, timeout: '2s' })
    try {
      const tenants = Array.from({ length: 12 }, (_, i) => `tenant-${i}`)
      assert.ok(new Set(tenants.map((t) => slotOf(`lr:{${Buffer.from(t).toString('base64url')}}:k:x`))).size > 6, 'tenants should hash to many slots')
      const keys = tenants.flatMap((t) => [qualify(t, 'a'), qualify(t, 'b{x}'), qualify(t, '{')])
      assert.deepEqual(await store.setMany(keys.map((key, i) => ({ key, entry: entry(i, { tags: ['t:1', `t:${i}`] }) }))), keys.map(() => true))
      assert.deepEqual(
        (await store.getMany(keys)).map((e) => e?.v),
        keys.map((_, i) => i),
      )
      for (const t of tenants.slice(0, 3)) await store.applyInvalidation({ id: 10, tenant: t, kind: 'hard', tags: ['t:1'], keys: ['a'], at: 0 })
      assert.equal((await store.getMany(keys)).filter((e) => e !== undefined).length, keys.length - 9)
      assert.equal(await store.delete(keys), keys.length - 3)
      await store.clear()
      // Loads that began (began: 1) before the key deletes above (id 10) are refused.
      const accepted = await store.setMany(keys.map((key, i) => ({ key, entry: entry(i) })))
      assert.equal(accepted.filter((x) => !x).length, 3)
      assert.equal(await store.clear(), keys.length - 3)
    } finally {
      await store.close()
    }
  })

  test('master failover while invalidations flow: no invalidation is lost', async () => {
    const a = redisLog({ cluster: cluster.urls, source: 'A' })
    const b = redisLog({ cluster: cluster.urls, source: 'B' })
    const rec = recorder()
    try {
      await Promise.all([a.ready(), b.ready()])
      b.subscribe(rec, 'now')
      // The replica of the master that owns the log's slot.
      const slot = slotOf('lr:{log}:stream')
      let master: string[] | undefined
      let replica: string[] | undefined
      // Replica roles spread by gossip: right after creation a node may not list them yet.
      await until(
        () => {
          const parsed = execFileSync('redis-cli', ['-p', String(cluster.nodes[0]?.port), 'cluster', 'nodes'])
            .toString()
            .trim()
            .split('\n')
            .map((l) => l.split(' '))
          master = parsed.find((f) => (f[2] ?? '').includes('master') && f.slice(8).some((r) => inRange(r, slot)))
          replica = parsed.find((f) => master !== undefined && f[3] === master[0])
          return replica !== undefined
        },
        10_000,
        'a replica of the log master',
      )
      assert.ok(replica)
      const replicaPort = Number((replica[1] as string).split(':')[1]?.split('@')[0])
      const r = admin(replicaPort)
      try {
        // A manual failover needs the replica in sync with its master.
        await until(async () => ((await r.call('INFO', 'replication')) as string).includes('master_link_status:up'), 10_000, 'replica in sync')
        const n = 300
        for (let i = 0; i < n; i++) {
          await a.append({ tenant: 'shop', kind: 'hard', tags: [`p:${i}`], data: i })
          // Fire the failover mid-stream and keep appending while it happens.
          if (i === 100) await r.call('CLUSTER', 'FAILOVER')
        }
        await until(async () => ((await r.call('ROLE')) as string[])[0] === 'master', 10_000, 'replica promoted')
      } finally {
        r.disconnect()
      }
      const n = 300
      await until(() => rec.got.length >= n && a.queued() === 0, 20_000, `B to receive all ${n} invalidations (got ${rec.got.length})`)
      assert.deepEqual(
        rec.got.map((e) => e.data),
        Array.from({ length: n }, (_, i) => i),
        'every invalidation, once, in order',
      )
    } finally {
      await a.close()
      await b.close()
    }
  })

  test('master killed (not failed over) while invalidations flow, with waitReplicas: 1: none is lost, none twice, in order', async () => {
    const a = redisLog({ cluster: cluster.urls, source: 'A', waitReplicas: 1, timeout: '500ms' })
    const b = redisLog({ cluster: cluster.urls, source: 'B' })
    const rec = recorder()
    try {
      await Promise.all([a.whenInitialized(), b.whenInitialized()])
      b.subscribe(rec, 'now')
      const { master, replica } = await logShard(cluster.nodes[0]?.port as number)
      const victim = cluster.nodes.find((n) => n.port === portOf(master))
      assert.ok(victim)
      const r = admin(portOf(replica))
      try {
        await until(async () => ((await r.call('INFO', 'replication')) as string).includes('master_link_status:up'), 10_000, 'replica in sync')
        const n = 200
        for (let i = 0; i < n; i++) {
          await a.append({ tenant: 'shop', kind: 'hard', tags: [`k:${i}`], data: i })
          if (i === 60) await victim.kill()
          // Let the cluster promote the replica, then bring the dead node back (as a replica).
          if (i === 120) {
            await until(async () => ((await r.call('ROLE')) as string[])[0] === 'master', 20_000, 'replica promoted')
            await victim.restart()
          }
        }
      } finally {
        r.disconnect()
      }
      await until(() => rec.got.length >= 200 && a.queued() === 0, 30_000, `B to receive all 200 (got ${rec.got.length}, queued ${a.queued()})`)
      assert.deepEqual(
        rec.got.map((e) => e.data),
        Array.from({ length: 200 }, (_, i) => i),
      )
    } finally {
      await a.close()
      await b.close()
    }
  })
})

/** The log's master and its replica, from CLUSTER NODES as seen by a live node. */
async function logShard(port: number): Promise<{ master: string[]; replica: string[] }> {
  const slot = slotOf('lr:{log}:stream')
  let found: { master: string[]; replica: string[] } | undefined
  await until(
    () => {
      const parsed = execFileSync('redis-cli', ['-p', String(port), 'cluster', 'nodes'])
        .toString()
        .trim()
        .split('\n')
        .map((l) => l.split(' '))
      const master = parsed.find((f) => (f[2] ?? '').includes('master') && !(f[2] ?? '').includes('fail') && f.slice(8).some((r) => inRange(r, slot)))
      const replica = parsed.find((f) => master !== undefined && f[3] === master[0] && !(f[2] ?? '').includes('fail'))
      if (master && replica) found = { master, replica }
      return found !== undefined
    },
    15_000,
    'the log shard with a replica',
  )
  return found as { master: string[]; replica: string[] }
}

const portOf = (f: string[]) => Number((f[1] as string).split(':')[1]?.split('@')[0])

function inRange(r: string, slot: number): boolean {
  const [lo, hi] = r.split('-').map(Number)
  return lo !== undefined && slot >= lo && slot <= (hi ?? lo)
}
