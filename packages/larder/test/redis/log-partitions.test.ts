import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { LogEntry } from '../../src/core/types.ts'
import { redisLog, redisStore } from '../../src/redis/index.ts'
import { partitionKeys, partitionOf } from '../../src/redis/log-partitions.ts'
import { slotOf } from '../../src/redis/slot.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { ofType, openStream, startHubServer } from '../realtime/helpers.ts'
import { recorder, until } from './helpers.ts'

let n = 0

const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'tyrell']

describe('partitioned redisLog', () => {
  let own: RedisServerHandle
  let url: string
  before(async () => {
    own = await startRedis()
    url = own.url
  })
  after(() => own?.stop())

  test('partition i of n sits in the i-th n-th of the slot range (one per master of an evenly split Cluster); tenants spread over all', () => {
    for (const parts of [2, 3, 5]) {
      for (let i = 0; i < parts; i++) {
        const slot = slotOf(partitionKeys('shop', i, parts).stream)
        assert.ok(slot >= Math.floor((i * 16384) / parts) && slot < Math.floor(((i + 1) * 16384) / parts), `partition ${i}/${parts} in slot ${slot}`)
      }
    }
    assert.deepEqual(partitionKeys(undefined, 0, 1), { stream: 'lr:{log}:stream', seq: 'lr:{log}:seq', since: 'lr:{log}:since', dedup: 'lr:{log}:u:' }, 'one partition is the unpartitioned log')
    assert.equal(new Set(TENANTS.map((t) => partitionOf(t, 3))).size, 3)
  })

  test('each tenant keeps its order; the fence position is per tenant; an instance with `tenants` hears only their partitions', async () => {
    const stream = `order-${++n}`
    const a = redisLog({ url, stream, partitions: 3, source: 'A' })
    const b = redisLog({ url, stream, partitions: 3, source: 'B' })
    const only = TENANTS[0] as string
    const c = redisLog({ url, stream, partitions: 3, source: 'C', tenants: [only] })
    const rb = recorder()
    const rc = recorder()
    try {
      await Promise.all([a, b, c].map((l) => l.whenInitialized()))
      b.subscribe(rb, 'now')
      c.subscribe(rc, 'now')
      const appended: LogEntry[] = []
      for (let i = 0; i < 40; i++) appended.push(...(await a.appendMany(TENANTS.map((tenant) => ({ tenant, kind: 'hard' as const, tags: [`t${i}`], data: i })))))
      await until(() => rb.got.length >= appended.length, 10_000, 'B to hear every entry')
      for (const tenant of TENANTS) {
        const mine = rb.got.filter((e) => e.tenant === tenant)
        assert.deepEqual(
          mine.map((e) => e.data),
          Array.from({ length: 40 }, (_, i) => i),
          `${tenant}: every entry once, in order`,
        )
        // The fence of a load of `tenant` is its partition's position: the last id of its partition.
        const last = appended.filter((e) => partitionOf(e.tenant, 3) === partitionOf(tenant, 3)).at(-1) as LogEntry
        assert.equal(b.lastId(tenant), last.id)
      }
      await until(() => rc.got.filter((e) => e.tenant === only).length >= 40, 10_000, 'C to hear its tenant')
      const theirs = new Set(rc.got.map((e) => partitionOf(e.tenant, 3)))
      assert.deepEqual([...theirs], [partitionOf(only, 3)], 'C read only its tenant’s partition')
      assert.ok(c.serves?.(only) === true)
      assert.ok(!TENANTS.filter((t) => partitionOf(t, 3) !== partitionOf(only, 3)).some((t) => c.serves?.(t) !== false))
    } finally {
      await Promise.all([a, b, c].map((l) => l.close()))
    }
  })

  test('readInterval: a reader that brought entries waits before reading again, so a burst arrives in few reads (each entry once, in order)', async () => {
    const stream = `interval-${++n}`
    const a = redisLog({ url, stream, partitions: 3, source: 'A' })
    const b = redisLog({ url, stream, partitions: 3, source: 'B', readInterval: '400ms' })
    let calls = 0
    const got: LogEntry[] = []
    try {
      await Promise.all([a.whenInitialized(), b.whenInitialized()])
      assert.equal(b.heartbeatMs, 250 + 400, 'heard at least every block + readInterval')
      b.subscribe(
        {
          entries(es) {
            calls++
            got.push(...es)
          },
          gap() {},
        },
        'now',
      )
      const first = await a.append({ tenant: 'acme', kind: 'hard', tags: ['0'] })
      await until(() => got.length === 1, 5000, 'the first entry')
      // The reader now waits 400 ms: a burst appended meanwhile comes back in one read.
      const burst: LogEntry[] = []
      for (let i = 1; i <= 10; i++) burst.push(await a.append({ tenant: 'acme', kind: 'hard', tags: [String(i)] }))
      await until(() => got.length === 11, 5000, 'the burst')
      assert.deepEqual(
        got.map((e) => e.id),
        [first.id, ...burst.map((e) => e.id)],
      )
      assert.ok(calls <= 3, `10 appends in a burst took ${calls - 1} reads`)
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })

  test('SSE: a hub whose log reads only some tenants refuses a stream of another tenant (421), never opens one it cannot keep fresh', async () => {
    const stream = `misdirected-${++n}`
    const served = TENANTS[0] as string
    const other = TENANTS.find((t) => partitionOf(t, 3) !== partitionOf(served, 3)) as string
    const log = redisLog({ url, stream, partitions: 3, tenants: [served] })
    await log.whenInitialized()
    const hub = await startHubServer({ log })
    try {
      const ok = await openStream(hub.port, '?topics=p', { 'x-tenant': served })
      assert.equal(ok.status, 200)
      ok.close()
      const refused = await openStream(hub.port, '?topics=p', { 'x-tenant': other })
      assert.equal(refused.status, 421)
      assert.match(refused.body, /E_MISDIRECTED/)
    } finally {
      await hub.close()
      await log.close()
    }
  })

  test('an instance started with another partition count is refused with a clear error, before it appends anything', async () => {
    const stream = `pinned-${++n}`
    const a = redisLog({ url, stream, partitions: 3 })
    await a.whenInitialized()
    const wrong = redisLog({ url, stream, partitions: 2 })
    const single = redisLog({ url, stream })
    // A store following the refused log must not crash the process (an unhandled rejection) nor vouch for anything.
    const store = redisStore({ url, log: wrong })
    try {
      await assert.rejects(wrong.whenInitialized(), /runs with partitions: 3, this instance was started with partitions: 2/)
      await assert.rejects(wrong.append({ tenant: 'acme', kind: 'hard', tags: ['x'] }), /partitions: 3/)
      await assert.rejects(single.whenInitialized(), /partitions: 1/, 'the default (1) is checked too')
      assert.equal((await a.read(0, 10)).entries.length, 0, 'nothing was appended by the refused instances')
    } finally {
      await store.close()
      await Promise.all([a.close(), wrong.close(), single.close()])
    }
  })

  test('SSE: a stream resumes exactly from its Last-Event-ID on another hub; ids, heartbeats and ready are positions in the tenant’s partition', async () => {
    const stream = `sse-${++n}`
    const la = redisLog({ url, stream, partitions: 3 })
    const lb = redisLog({ url, stream, partitions: 3 })
    await Promise.all([la.whenInitialized(), lb.whenInitialized()])
    const a = await startHubServer({ log: la, heartbeatMs: 50 })
    const b = await startHubServer({ log: lb })
    // Two tenants in two partitions, appended interleaved.
    const [t1, t2] = TENANTS.filter((t, i, all) => all.findIndex((u) => partitionOf(u, 3) === partitionOf(t, 3)) === i) as [string, string]
    try {
      const s = await openStream(a.port, '?topics=p', { 'x-tenant': t1 })
      for (let i = 0; i < 3; i++) {
        await la.appendMany([
          { tenant: t1, kind: 'hard', tags: ['p'], data: i },
          { tenant: t2, kind: 'hard', tags: ['p'], data: i },
        ])
      }
      await s.waitFor((es) => es.filter(ofType('invalidate')).length >= 3, 5000, 'three invalidations')
      // A heartbeat after the last event carries the tenant's partition position.
      await s.waitComment(s.comments.length + 1)
      assert.equal(s.lastEventId, String(la.lastId(t1)))
      const resumeFrom = s.lastEventId
      s.close()
      // Missed while disconnected: entries of both tenants; only t1's come back, in order.
      const missed = await la.appendMany([
        { tenant: t2, kind: 'hard', tags: ['p'], data: 'other' },
        { tenant: t1, kind: 'hard', tags: ['p'], data: 'm1' },
        { tenant: t1, kind: 'hard', tags: ['p'], data: 'm2' },
      ])
      const moved = await openStream(b.port, '?topics=p', { 'x-tenant': t1, 'last-event-id': resumeFrom })
      await moved.waitFor((es) => es.some(ofType('ready')), 5000, 'ready after the replay')
      const inv = moved.events.filter(ofType('invalidate'))
      assert.deepEqual(
        inv.map((e) => e.lastEventId),
        [String(missed[1]?.id), String(missed[2]?.id)],
      )
      assert.ok(!moved.events.some((e) => e.type === 'reset'))
      moved.close()
      // An id of another partition names no entry of this one: reset, never a silent skip.
      const foreign = await openStream(b.port, '?topics=p', { 'x-tenant': t1, 'last-event-id': String(missed[0]?.id) })
      await foreign.waitFor((es) => es.some((e) => e.type === 'reset'), 5000, 'reset')
      foreign.close()
    } finally {
      await a.close()
      await b.close()
      await Promise.all([la.close(), lb.close()])
    }
  })
})
