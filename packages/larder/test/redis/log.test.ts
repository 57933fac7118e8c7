import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { isLarderError } from '../../src/core/errors.ts'
import { redisLog } from '../../src/redis/index.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { type TcpProxy, recorder, tcpProxy, until, withAdmin } from './helpers.ts'

describe('redisLog', () => {
  let redis: RedisServerHandle
  before(async () => {
    redis = await startRedis()
  })
  after(() => redis.stop())

  // Each test uses its own stream name, so tests do not see each other's entries.
  let n = 0
  const stream = () => `t${++n}`

  test('ids are numeric, strictly increasing, server-time µs; entries reach the other instance in order, never twice', async () => {
    const s = stream()
    const a = redisLog({ url: redis.url, stream: s, source: 'A', timeout: '2s' })
    const b = redisLog({ url: redis.url, stream: s, source: 'B', timeout: '2s' })
    const ra = recorder()
    const rb = recorder()
    try {
      await Promise.all([a.ready(), b.ready()])
      a.subscribe(ra)
      b.subscribe(rb)
      const [sec] = (await withAdmin(redis.port, (r) => r.call('TIME'))) as [string, string]
      const out = await a.appendMany(Array.from({ length: 50 }, (_, i) => ({ tenant: 'shop', kind: 'hard' as const, tags: [`p:${i}`] })))
      for (let i = 1; i < out.length; i++) assert.ok((out[i] as { id: number }).id > (out[i - 1] as { id: number }).id)
      const first = (out[0] as { id: number }).id
      assert.ok(Number.isSafeInteger(first))
      assert.ok(Math.abs(first / 1e6 - Number(sec)) < 5, 'ids are µs of the Redis server clock')
      assert.equal(a.lastId(), (out[49] as { id: number }).id)
      // A's subscriber got its own entries at once, before append resolved.
      assert.equal(ra.got.length, 50)
      await until(() => rb.got.length === 50, 5000, 'B to read 50 entries')
      assert.deepEqual(
        rb.got.map((e) => e.id),
        out.map((e) => e.id),
      )
      assert.deepEqual(rb.got[3]?.tags, ['p:3'])
      assert.equal(rb.got[0]?.source, 'A')
      // B appends a marker: once A reads it, A's reader has passed all of A's own entries.
      const marker = await b.append({ tenant: 'shop', kind: 'soft', tags: ['m'] })
      await until(() => ra.got.some((e) => e.id === marker.id), 5000, 'A to read the marker')
      assert.equal(ra.got.length, 51, 'A never got its own entries twice')
      assert.equal(rb.got.length, 51)
      assert.ok(b.lastId() >= marker.id)
    } finally {
      await a.close()
      await b.close()
    }
  })

  test('read(afterId, limit) pages through the stream; subscribe(fromId) replays then goes live', async () => {
    const s = stream()
    const a = redisLog({ url: redis.url, stream: s, timeout: '2s' })
    try {
      await a.ready()
      const all = await a.appendMany(Array.from({ length: 25 }, (_, i) => ({ tenant: 't', kind: 'live' as const, data: { i } })))
      const page1 = await a.read(0, 10)
      assert.equal(page1.gap, false)
      assert.deepEqual(
        page1.entries.map((e) => (e.data as { i: number }).i),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      )
      const page2 = await a.read((page1.entries[9] as { id: number }).id, 100)
      assert.equal(page2.entries.length, 15)
      assert.equal((await a.read((all[24] as { id: number }).id, 10)).entries.length, 0)
      const rec = recorder()
      a.subscribe(rec, (all[19] as { id: number }).id)
      await until(() => rec.got.length === 5, 5000, 'replay of 5 entries')
      const live = await a.append({ tenant: 't', kind: 'live', data: { i: 25 } })
      await until(() => rec.got.length === 6, 5000, 'the live entry')
      assert.deepEqual(
        rec.got.map((e) => e.id),
        [...all.slice(20).map((e) => e.id), live.id],
      )
      await assert.rejects(a.read(-1, 10), (e) => isLarderError(e, 'E_INVALID_OPTION'))
    } finally {
      await a.close()
    }
  })

  test('the stream is bounded by maxLen', async () => {
    const s = stream()
    const a = redisLog({ url: redis.url, stream: s, maxLen: 100, timeout: '2s' })
    try {
      await a.ready()
      for (let i = 0; i < 10; i++) await a.appendMany(Array.from({ length: 100 }, () => ({ tenant: 't', kind: 'hard' as const, tags: ['x'] })))
      const len = await withAdmin(redis.port, (r) => r.xlen(`lr:{${Buffer.from(s).toString('base64url')}}:stream`))
      // MAXLEN ~ trims whole radix-tree nodes (100 entries each by default): at most one extra node.
      assert.ok(len >= 100 && len <= 200, `stream length ${len}`)
      const old = await a.read(1, 10)
      assert.equal(old.gap, true, 'reading from a trimmed id reports a gap')
    } finally {
      await a.close()
    }
  })

  describe('partitions', () => {
    let proxy: TcpProxy
    before(async () => {
      proxy = await tcpProxy(redis.port)
    })
    after(() => proxy.close())

    test('an instance cut off while the stream is trimmed past it gets a trimmed gap', async () => {
      const s = stream()
      const a = redisLog({ url: redis.url, stream: s, timeout: '2s' })
      const b = redisLog({ url: proxy.url, stream: s, block: '200ms', timeout: '2s' })
      const rb = recorder()
      try {
        await Promise.all([a.ready(), b.ready()])
        b.subscribe(rb)
        await a.append({ tenant: 't', kind: 'hard', tags: ['before'] })
        await until(() => rb.got.length === 1, 5000, 'B to read the first entry')
        proxy.cut()
        for (let i = 0; i < 20; i++) await a.append({ tenant: 't', kind: 'hard', tags: [`during-${i}`] })
        await withAdmin(redis.port, (r) => r.xtrim(`lr:{${Buffer.from(s).toString('base64url')}}:stream`, 'MAXLEN', 5))
        proxy.heal()
        await until(() => rb.gaps.length > 0, 10_000, 'a gap on B')
        assert.equal(rb.gaps[0]?.reason, 'trimmed')
        // It goes on reading what is left.
        await until(() => rb.got.some((e) => e.tags?.[0] === 'during-19'), 5000, 'B to resume')
      } finally {
        proxy.heal()
        await a.close()
        await b.close()
      }
    })

    test('an instance cut off longer than maxDisconnect gets a disconnected gap, then resumes from its last id', async () => {
      const s = stream()
      const a = redisLog({ url: redis.url, stream: s, timeout: '2s' })
      const b = redisLog({ url: proxy.url, stream: s, block: '100ms', maxDisconnect: '150ms', timeout: '2s' })
      const rb = recorder()
      try {
        await Promise.all([a.ready(), b.ready()])
        b.subscribe(rb)
        proxy.cut()
        const cutAt = Date.now()
        const missed = await a.append({ tenant: 't', kind: 'hard', tags: ['while-cut'] })
        // The bound is a duration: let it pass (the point of this test), then heal.
        await until(() => Date.now() - cutAt > 400, 2000)
        proxy.heal()
        await until(() => rb.gaps.length > 0 && rb.got.length > 0, 10_000, 'gap and resume')
        assert.equal(rb.gaps[0]?.reason, 'disconnected')
        assert.equal(rb.got[0]?.id, missed.id, 'entries appended while cut off are still delivered')
      } finally {
        proxy.heal()
        await a.close()
        await b.close()
      }
    })

    test('appends while Redis is unreachable resolve at once with provisional ids, reach local subscribers, and are replayed in order on recovery', async () => {
      const s = stream()
      const a = redisLog({ url: proxy.url, stream: s, timeout: '150ms', block: '200ms' })
      const b = redisLog({ url: redis.url, stream: s, timeout: '2s' })
      const ra = recorder()
      const rb = recorder()
      try {
        await Promise.all([a.ready(), b.ready()])
        a.subscribe(ra)
        b.subscribe(rb)
        const before = await a.append({ tenant: 't', kind: 'hard', tags: ['before'] })
        proxy.cut()
        const started = Date.now()
        const queued = []
        for (let i = 0; i < 5; i++) queued.push(await a.append({ tenant: 't', kind: 'hard', tags: [`q${i}`] }))
        assert.ok(Date.now() - started < 2000, 'no append hangs past its timeout')
        assert.equal(a.queued(), 5)
        for (let i = 1; i < queued.length; i++) assert.ok((queued[i] as { id: number }).id > (queued[i - 1] as { id: number }).id)
        assert.ok((queued[0] as { id: number }).id > before.id)
        assert.deepEqual(
          ra.got.map((e) => e.tags?.[0]),
          ['before', 'q0', 'q1', 'q2', 'q3', 'q4'],
          'local subscribers get provisional entries immediately',
        )
        await until(() => rb.got.length === 1, 5000, 'B to have the first entry')
        proxy.heal()
        await until(() => rb.got.length === 6 && a.queued() === 0, 10_000, 'replay to reach B')
        assert.deepEqual(
          rb.got.map((e) => e.tags?.[0]),
          ['before', 'q0', 'q1', 'q2', 'q3', 'q4'],
        )
        // Replayed ids are at least the provisional ones (nothing goes backwards).
        for (let i = 0; i < 5; i++) assert.ok((rb.got[i + 1] as { id: number }).id >= (queued[i] as { id: number }).id)
        const marker = await b.append({ tenant: 't', kind: 'soft', tags: ['m'] })
        await until(() => ra.got.some((e) => e.id === marker.id), 5000, 'A to read the marker')
        assert.equal(ra.got.length, 7, 'A does not get its replayed entries a second time')
      } finally {
        proxy.heal()
        await a.close()
        await b.close()
      }
    })

    test('the outage queue is bounded: E_QUEUE_FULL past queueLimit', async () => {
      const s = stream()
      const a = redisLog({ url: proxy.url, stream: s, timeout: '100ms', queueLimit: 2, failureThreshold: 1, cooldown: '10s' })
      try {
        await a.ready()
        proxy.cut()
        await a.append({ tenant: 't', kind: 'hard', tags: ['1'] })
        await a.append({ tenant: 't', kind: 'hard', tags: ['2'] })
        await assert.rejects(a.append({ tenant: 't', kind: 'hard', tags: ['3'] }), (e) => isLarderError(e, 'E_QUEUE_FULL'))
      } finally {
        proxy.heal()
        await a.close()
      }
    })
  })

  test('a restarted (emptied) Redis is reported as a restarted gap; ids keep increasing', async () => {
    const own = await startRedis()
    const a = redisLog({ url: own.url, block: '200ms', timeout: '2s' })
    const rec = recorder()
    try {
      await a.ready()
      a.subscribe(rec)
      const first = await a.append({ tenant: 't', kind: 'hard', tags: ['x'] })
      await own.kill()
      await own.restart()
      await until(() => rec.gaps.length > 0, 10_000, 'restart gap')
      assert.equal(rec.gaps[0]?.reason, 'restarted')
      const next = await a.append({ tenant: 't', kind: 'hard', tags: ['y'] })
      assert.ok(next.id > first.id)
      assert.equal((await a.read(first.id - 1, 10)).gap, true, 'replay from before the restart is impossible')
    } finally {
      await a.close()
      await own.stop()
    }
  })
})
