import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { qualify } from '../../src/core/keys.ts'
import type { InvalidationLog, LogEntry, LogSubscriber, StoredEntry } from '../../src/core/types.ts'
import { redisLog, redisStore } from '../../src/redis/index.ts'
import { LocalEpochs, Verdict } from '../../src/redis/local-epochs.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { until, withAdmin } from './helpers.ts'

function entry(v: unknown, over: Partial<StoredEntry> = {}): StoredEntry {
  const now = Date.now()
  return { v, tags: [], began: 1, at: now, staleAt: now + 60_000, expireAt: now + 120_000, ...over }
}

/** A log we drive by hand: what LocalEpochs sees of a real one. */
function fakeLog() {
  let sub: LogSubscriber | undefined
  let last = 0
  let init!: () => void
  const initialized = new Promise<void>((r) => (init = r))
  const log = {
    name: 'fake',
    subscribe: (s: LogSubscriber) => {
      sub = s
      return () => {}
    },
    lastId: () => last,
    whenInitialized: () => initialized,
  } as unknown as InvalidationLog & { whenInitialized(): Promise<void> }
  return {
    log,
    async start(at: number) {
      last = at
      init()
      await initialized
    },
    send(e: Omit<LogEntry, 'at'>) {
      last = Math.max(last, e.id)
      sub?.entries([{ ...e, at: 0 }])
    },
    gap() {
      sub?.gap({ reason: 'trimmed' })
    },
  }
}

describe('LocalEpochs (judging plain L2 reads)', () => {
  test('vouches only once the log knows its position, and only for loads that began since', async () => {
    const f = fakeLog()
    const m = new LocalEpochs(f.log, 100)
    assert.equal(m.verdict('t', 'k', entry(1, { began: 500 })), Verdict.Unknown)
    await f.start(100)
    assert.equal(m.watermark, 100)
    assert.equal(m.verdict('t', 'k', entry(1, { began: 99 })), Verdict.Unknown)
    assert.equal(m.verdict('t', 'k', entry(1, { began: 100 })), Verdict.Fresh)
  })

  test('hard tags, deleted keys and clears kill; soft tags, soft keys and soft clears make stale; per tenant', async () => {
    const f = fakeLog()
    const m = new LocalEpochs(f.log, 100)
    await f.start(10)
    const e = (over: Partial<StoredEntry>) => entry(1, { began: 20, tags: ['a', 'b'], ...over })
    f.send({ id: 30, tenant: 't', kind: 'hard', tags: ['b'] })
    assert.equal(m.verdict('t', 'k', e({})), Verdict.Dead)
    assert.equal(m.verdict('u', 'k', e({})), Verdict.Fresh, 'another tenant’s tag of the same name')
    assert.equal(m.verdict('t', 'k', e({ began: 30 })), Verdict.Fresh)
    f.send({ id: 40, tenant: 't', kind: 'soft', tags: ['a'] })
    assert.equal(m.verdict('t', 'k', e({ began: 35 })), Verdict.Stale)
    f.send({ id: 50, tenant: 't', kind: 'soft', keys: ['k2'] })
    assert.equal(m.verdict('t', 'k2', e({ began: 45, tags: [] })), Verdict.Stale)
    f.send({ id: 60, tenant: 't', kind: 'hard', keys: ['k3'] })
    assert.equal(m.verdict('t', 'k3', e({ began: 55, tags: [] })), Verdict.Dead)
    f.send({ id: 70, tenant: 't', kind: 'soft' })
    assert.equal(m.verdict('t', 'zz', e({ began: 65, tags: [] })), Verdict.Stale)
    f.send({ id: 80, tenant: 't', kind: 'clear' })
    assert.equal(m.verdict('t', 'zz', e({ began: 75, tags: [] })), Verdict.Dead)
    assert.equal(m.verdict('u', 'zz', e({ began: 75, tags: [] })), Verdict.Fresh)
  })

  test('after a gap nothing is vouched for until the next entry; then only loads newer than it', async () => {
    const f = fakeLog()
    const m = new LocalEpochs(f.log, 100)
    await f.start(10)
    f.gap()
    assert.equal(m.verdict('t', 'k', entry(1, { began: 1_000 })), Verdict.Unknown)
    f.send({ id: 200, tenant: 'x', kind: 'hard', tags: ['q'] })
    assert.equal(m.watermark, 200)
    assert.equal(m.verdict('t', 'k', entry(1, { began: 150 })), Verdict.Unknown)
    assert.equal(m.verdict('t', 'k', entry(1, { began: 200 })), Verdict.Fresh)
  })

  test('a bounded map: evicting an epoch raises the watermark past it', async () => {
    const f = fakeLog()
    const m = new LocalEpochs(f.log, 3)
    await f.start(10)
    for (let i = 0; i < 5; i++) f.send({ id: 100 + i, tenant: 't', kind: 'hard', tags: [`tag${i}`] })
    // tag0 and tag1 were evicted: an entry with tag0 that began before 101 can no longer be judged here.
    assert.equal(m.verdict('t', 'k', entry(1, { began: 100, tags: ['tag0'] })), Verdict.Unknown)
    assert.equal(m.verdict('t', 'k', entry(1, { began: 104, tags: ['tag0'] })), Verdict.Fresh)
  })

  test('memory follows the bound, not the tenants seen: a tenant with no epoch left has no record', async () => {
    const f = fakeLog()
    const m = new LocalEpochs(f.log, 100)
    await f.start(1)
    for (let i = 0; i < 10_000; i++) f.send({ id: 10 + i, tenant: `t${i}`, kind: i % 3 === 0 ? 'clear' : 'hard', tags: [`tag${i}`], keys: [`k${i}`] })
    assert.ok(m.tenants <= 100, `${m.tenants} tenant records for a bound of 100 epochs`)
    // The newest tenants are still judged here; the evicted ones' entries are left to Redis.
    assert.equal(m.verdict('t9998', 'k9998', entry(1, { began: 9000 })), Verdict.Unknown)
    assert.equal(m.verdict('t9998', 'k9998', entry(1, { began: 10_007 })), Verdict.Dead)
    assert.equal(m.verdict('t9998', 'k9998', entry(1, { began: 10_009 })), Verdict.Fresh)
    assert.equal(m.verdict('t9998', 'other', entry(1, { began: 10_007, tags: ['tag9998'] })), Verdict.Dead)
  })
})

describe('redisStore with a log attached', () => {
  let redis: RedisServerHandle
  before(async () => {
    redis = await startRedis()
  })
  after(() => redis.stop())

  async function calls(cmd: string): Promise<number> {
    const info = (await withAdmin(redis.port, (r) => r.call('INFO', 'commandstats'))) as string
    return Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(info)?.[1] ?? 0)
  }

  test('hits are plain GETs; invalidations heard from the log are applied; older entries fall back to the script and its Redis epochs', async () => {
    const log = redisLog({ url: redis.url, stream: 'attached' })
    const store = redisStore({ url: redis.url, log })
    const other = redisStore({ url: redis.url }) // records epochs in Redis without telling our log
    try {
      await log.whenInitialized()
      const first = await log.append({ tenant: 'shop', kind: 'hard', tags: ['warmup'] })
      // The watermark is the log position when it initialized (0 here: an empty log).
      const fresh = entry('fresh', { tags: ['p:1'], began: first.id })
      await store.set(qualify('shop', 'a'), fresh)
      const getsBefore = await calls('get')
      const evalsBefore = await calls('evalsha')
      assert.equal((await store.get(qualify('shop', 'a')))?.v, 'fresh')
      assert.equal((await calls('get')) - getsBefore, 1)
      assert.equal((await calls('evalsha')) - evalsBefore, 0)
      // Heard from the log: hidden at once, without asking Redis for epochs.
      const inv = await log.append({ tenant: 'shop', kind: 'hard', tags: ['p:1'] })
      assert.equal(await store.get(qualify('shop', 'a')), undefined)
      assert.deepEqual(
        (await store.getMany([qualify('shop', 'a'), qualify('shop', 'b')])).map((e) => e?.v),
        [undefined, undefined],
      )
      // A soft invalidation heard from the log: still served, as stale.
      await store.set(qualify('shop', 's'), entry('s', { tags: ['c:1'], began: inv.id }))
      await log.append({ tenant: 'shop', kind: 'soft', tags: ['c:1'] })
      const s = await store.get(qualify('shop', 's'))
      assert.equal(s?.v, 's')
      assert.equal(s?.staleAt, 0)
      // After a restart of this instance: a fresh log position; entries that began
      // before it are judged by the script against the epochs in Redis.
      const log2 = redisLog({ url: redis.url, stream: 'attached' })
      const store2 = redisStore({ url: redis.url, log: log2 })
      try {
        await log2.whenInitialized()
        await until(() => log2.lastId() > 0, 2000, 'position')
        await other.set(qualify('shop', 'old'), entry('old', { tags: ['p:9'], began: 5 }))
        await other.set(qualify('shop', 'old-ok'), entry('old-ok', { tags: ['p:8'], began: 5 }))
        await other.applyInvalidation({ id: 6, tenant: 'shop', kind: 'hard', tags: ['p:9'], at: 0 })
        const scripts = async () => (await calls('evalsha')) + (await calls('eval'))
        const e0 = await scripts()
        assert.equal(await store2.get(qualify('shop', 'old')), undefined, 'the Redis epoch decides for an old entry')
        assert.equal((await store2.get(qualify('shop', 'old-ok')))?.v, 'old-ok')
        assert.deepEqual(
          (await store2.getMany([qualify('shop', 'old'), qualify('shop', 'old-ok')])).map((e) => e?.v),
          [undefined, 'old-ok'],
        )
        assert.ok((await scripts()) - e0 >= 3, 'old entries went through the READ script')
      } finally {
        await store2.close()
        await log2.close()
      }
    } finally {
      await store.close()
      await other.close()
      await log.close()
    }
  })
})
