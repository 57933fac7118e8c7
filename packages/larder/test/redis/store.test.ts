import assert from 'node:assert/strict'
import diagnostics_channel from 'node:diagnostics_channel'
import { after, before, describe, test } from 'node:test'
import { isLarderError } from '../../src/core/errors.ts'
import { qualify } from '../../src/core/keys.ts'
import type { StoredEntry } from '../../src/core/types.ts'
import { redisLog, redisStore } from '../../src/redis/index.ts'
import { b64, genKey, SEG, tenantPrefix } from '../../src/redis/keyspace.ts'
import { LEASE_CHANNEL } from '../../src/redis/lease.ts'
import { FakeClock } from '../../src/testing/fake-clock.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { storeConformance } from '../../src/testing/store-conformance.ts'
import { until } from './helpers.ts'

let server: RedisServerHandle | undefined
storeConformance(
  'redis single node',
  async () => {
    server = await startRedis()
    return redisStore({ url: server.url, timeout: '2s' })
  },
  () => server?.stop(),
  { expires: true, shared: true },
)

function entry(v: unknown, over: Partial<StoredEntry> = {}): StoredEntry {
  const now = Date.now()
  return { v, tags: [], began: 1, at: now, staleAt: now + 60_000, expireAt: now + 120_000, ...over }
}

describe('redisStore specifics', () => {
  let redis: RedisServerHandle
  before(async () => {
    redis = await startRedis()
  })
  after(() => redis.stop())

  test('values JSON cannot carry fail with E_VALUE_NOT_SERIALIZABLE; oversized with E_VALUE_TOO_LARGE', async () => {
    const store = redisStore({ url: redis.url, maxValueBytes: 1024 })
    try {
      const cyclic: Record<string, unknown> = {}
      cyclic.self = cyclic
      for (const bad of [10n, () => 1, Symbol('x'), undefined, cyclic]) {
        await assert.rejects(store.set(qualify('t', 'k'), entry(bad)), (e) => isLarderError(e, 'E_VALUE_NOT_SERIALIZABLE'))
      }
      await assert.rejects(store.set(qualify('t', 'big'), entry('x'.repeat(2000))), (e) => isLarderError(e, 'E_VALUE_TOO_LARGE'))
      assert.equal(await store.get(qualify('t', 'big')), undefined)
    } finally {
      await store.close()
    }
  })

  test('stored form is compact: one string with a short header, PX set from expireAt', async () => {
    const store = redisStore({ url: redis.url })
    try {
      const e = entry({ id: 1 }, { tags: ['a'], began: 7 })
      await store.set(qualify('shop', 'p1'), e)
      const raw = (await store.client.get('lr:{c2hvcA}:k:p1')) as string
      assert.match(raw, /^\[1,7,\d+,\d+,\d+,-1,"YQ",\{"id":1\}\]$/)
      const pttl = await store.client.pttl('lr:{c2hvcA}:k:p1')
      assert.ok(pttl > 110_000 && pttl <= 120_000, `pttl ${pttl}`)
    } finally {
      await store.close()
    }
  })

  test('getMany of 100 keys over several tenants is one command on a single node', async () => {
    const store = redisStore({ url: redis.url })
    try {
      const keys = Array.from({ length: 100 }, (_, i) => qualify(`t${i % 5}`, `k${i}`))
      await store.setMany(keys.map((key, i) => ({ key, entry: entry(i) })))
      await store.get(keys[0] as string) // loads the script once (EVALSHA → NOSCRIPT → EVAL)
      const before = await commandCount(store.client, 'evalsha')
      const got = await store.getMany(keys)
      assert.deepEqual(
        got.map((e) => e?.v),
        keys.map((_, i) => i),
      )
      assert.equal((await commandCount(store.client, 'evalsha')) - before, 1)
    } finally {
      await store.close()
    }
  })

  test('the scripts write the epoch keys the keyspace layout names (one source: keyspace.ts)', async () => {
    const store = redisStore({ url: redis.url })
    try {
      const p = tenantPrefix('t-ks')
      await store.applyInvalidation({ id: 101, tenant: 't-ks', kind: 'hard', tags: ['a tag'], keys: ['k1'], at: 0 })
      await store.applyInvalidation({ id: 102, tenant: 't-ks', kind: 'soft', tags: ['a tag'], keys: ['k2'], at: 0 })
      await store.applyInvalidation({ id: 103, tenant: 't-ks', kind: 'soft', at: 0 })
      await store.applyInvalidation({ id: 104, tenant: 't-ks', kind: 'clear', at: 0 })
      const get = (k: string) => store.client.get(k)
      assert.equal(await get(p + SEG.tagEpoch + b64('a tag')), '101')
      assert.equal(await get(p + SEG.keyEpoch + 'k1'), '101')
      assert.equal(await get(p + SEG.softTag + b64('a tag')), '102')
      assert.equal(await get(p + SEG.softKey + 'k2'), '102')
      assert.equal(await get(p + SEG.softGen), '103')
      assert.equal(await get(genKey('t-ks')), '104')
    } finally {
      await store.close()
    }
  })

  test('leases: one holder at a time; wait is woken by the release message, not by a timer', async () => {
    // B's clock never moves on its own: only the release message can end its wait.
    const clock = new FakeClock()
    const a = redisStore({ url: redis.url })
    const b = redisStore({ url: redis.url, clock })
    try {
      const k = qualify('t', 'lease')
      const token = await a.acquire(k, 5000)
      assert.ok(token)
      assert.equal(await b.acquire(k, 5000), null)
      let done = false
      const waited = b.wait(k, 5000).then(() => {
        done = true
      })
      // B listens for releases once its subscriber connection is subscribed.
      await until(async () => ((await a.client.pubsub('NUMSUB', LEASE_CHANNEL)) as [string, number])[1] >= 1, 5000, 'B subscribed')
      assert.equal(done, false)
      await a.release(k, token)
      await waited
      assert.equal(clock.pending, 0, 'no poll timer left behind')
      // A wrong token never releases someone else's lease.
      const t2 = await b.acquire(k, 5000)
      assert.ok(t2)
      await a.release(k, 'not-the-token')
      assert.equal(await a.acquire(k, 5000), null)
      // A holder that never releases: the wait ends at its bound, on B's clock.
      let bounded = false
      const stuck = b.wait(k, 1000).then(() => {
        bounded = true
      })
      await clock.advance(999)
      assert.equal(bounded, false)
      await clock.advance(1)
      await stuck
    } finally {
      await a.close()
      await b.close()
    }
  })
})

test('every store call and log append is a diagnostics event (larder:store:op, larder:log:op)', async () => {
  const own = await startRedis()
  const events: { ch: string; m: { op: string; durationMs: number; error?: unknown } }[] = []
  const onStore = (m: unknown) => events.push({ ch: 'store', m: m as never })
  const onLog = (m: unknown) => events.push({ ch: 'log', m: m as never })
  diagnostics_channel.subscribe('larder:store:op', onStore)
  diagnostics_channel.subscribe('larder:log:op', onLog)
  const log = redisLog({ url: own.url })
  const store = redisStore({ url: own.url, log, timeout: '100ms' })
  try {
    await log.whenInitialized()
    await store.set(qualify('t', 'k'), entry('v'))
    await store.get(qualify('t', 'k'))
    await log.append({ tenant: 't', kind: 'hard', tags: ['x'] })
    own.pause()
    await store.get(qualify('t', 'k')).catch(() => {})
    own.resume()
    const ops = events.filter((e) => e.ch === 'store').map((e) => e.m.op)
    assert.ok(ops.includes('set') && ops.includes('get'), ops.join(','))
    assert.ok(events.some((e) => e.ch === 'log' && e.m.op === 'append' && typeof e.m.durationMs === 'number'))
    const failed = events.find((e) => e.ch === 'store' && e.m.error !== undefined)
    assert.ok(failed && isLarderError(failed.m.error, 'E_STORE_TIMEOUT'), 'a timed-out call is published with its error')
  } finally {
    own.resume()
    diagnostics_channel.unsubscribe('larder:store:op', onStore)
    diagnostics_channel.unsubscribe('larder:log:op', onLog)
    await store.close()
    await log.close()
    await own.stop()
  }
})

async function commandCount(client: { call(...args: string[]): Promise<unknown> }, cmd: string): Promise<number> {
  const info = (await client.call('INFO', 'commandstats')) as string
  const m = new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)
  return m ? Number(m[1]) : 0
}
