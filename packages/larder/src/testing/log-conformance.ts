/**
 * The InvalidationLog conformance suite: what every log (the embedded ring, Redis Streams,
 * Redis Cluster) must do to be plugged into the engine, the SSE hub and the warmers.
 *
 * ```ts
 * logConformance('redis', async () => redisLog({ url, stream: `conf-${n++}` }), async () => server.stop())
 * ```
 * `makeLog` must return a fresh, empty log on every call (tests do not share entries).
 * With `makePair`, the suite also checks that two instances on one shared log each see
 * every entry of the other exactly once, in order.
 * @module
 */
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import type { InvalidationLog, LogEntry, LogGap } from '../core/types.ts'

export interface LogConformanceOptions {
  /** Two instances reading one shared log (fleet logs). */
  makePair?: () => Promise<[InvalidationLog, InvalidationLog]> | [InvalidationLog, InvalidationLog]
  /** How long to wait for asynchronous delivery. Default 5 s. */
  deliveryTimeoutMs?: number
}

/** Collects what a subscriber receives; `until(n)` resolves once n entries arrived. */
function collector(timeoutMs: number) {
  const entries: LogEntry[] = []
  const gaps: LogGap[] = []
  let waiting: { n: number; resolve: () => void } | undefined
  return {
    entries,
    gaps,
    sub: {
      entries(es: readonly LogEntry[]) {
        entries.push(...es)
        if (waiting && entries.length >= waiting.n) waiting.resolve()
      },
      gap(g: LogGap) {
        gaps.push(g)
      },
    },
    until(n: number): Promise<void> {
      if (entries.length >= n) return Promise.resolve()
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${entries.length} of ${n} entries delivered within ${timeoutMs} ms`)), timeoutMs)
        waiting = {
          n,
          resolve: () => {
            clearTimeout(timer)
            waiting = undefined
            resolve()
          },
        }
      })
    },
  }
}

const tagsOf = (es: readonly LogEntry[]) => es.map((e) => e.tags?.[0])

export function logConformance(name: string, makeLog: () => Promise<InvalidationLog> | InvalidationLog, cleanup?: () => Promise<void> | void, options: LogConformanceOptions = {}): void {
  const timeoutMs = options.deliveryTimeoutMs ?? 5000
  describe(`InvalidationLog conformance: ${name}`, () => {
    const opened: InvalidationLog[] = []
    const open = async () => {
      const log = await makeLog()
      opened.push(log)
      return log
    }
    after(async () => {
      await Promise.allSettled(opened.map((l) => l.close()))
      await cleanup?.()
    })

    test('append answers the stored entry: fields kept, a positive safe-integer id, a time', async () => {
      const log = await open()
      const e = await log.append({ tenant: 'acme', kind: 'hard', tags: ['product:42'], keys: ['k*'], source: 'me' })
      assert.ok(Number.isSafeInteger(e.id) && e.id > 0, `id ${e.id}`)
      assert.equal(typeof e.at, 'number')
      assert.equal(e.tenant, 'acme')
      assert.equal(e.kind, 'hard')
      assert.deepEqual(e.tags, ['product:42'])
      assert.deepEqual(e.keys, ['k*'], 'pattern characters are data')
      assert.equal(log.lastId(), e.id)
    })

    test('ids strictly increase across append and appendMany; appendMany keeps order', async () => {
      const log = await open()
      const one = await log.append({ tenant: 't', kind: 'hard', tags: ['0'] })
      const many = await log.appendMany([1, 2, 3, 4].map((i) => ({ tenant: 't', kind: 'soft' as const, tags: [String(i)] })))
      const ids = [one.id, ...many.map((e) => e.id)]
      for (let i = 1; i < ids.length; i++) assert.ok((ids[i] as number) > (ids[i - 1] as number), `ids ${ids.join(', ')}`)
      assert.deepEqual(tagsOf(many), ['1', '2', '3', '4'])
      assert.equal(log.lastId(), ids[ids.length - 1])
    })

    test('a subscriber gets every later entry once, in order, with the appended ids', async () => {
      const log = await open()
      const c = collector(timeoutMs)
      const off = log.subscribe(c.sub, 'now')
      const appended = [await log.append({ tenant: 't', kind: 'hard', tags: ['a'] }), ...(await log.appendMany([{ tenant: 'u', kind: 'clear' }, { tenant: 't', kind: 'live', tags: ['stock:1'], data: { qty: 3 } }]))]
      await c.until(3)
      assert.deepEqual(
        c.entries.map((e) => e.id),
        appended.map((e) => e.id),
      )
      assert.deepEqual((c.entries[2] as LogEntry).data, { qty: 3 }, 'data travels with the entry')
      off()
      await log.append({ tenant: 't', kind: 'hard', tags: ['after-unsubscribe'] })
      // Give an asynchronous log the time a delivery takes, then check nothing came.
      const probe = collector(timeoutMs)
      const off2 = log.subscribe(probe.sub, 'now')
      const marker = await log.append({ tenant: 't', kind: 'hard', tags: ['marker'] })
      await probe.until(1)
      off2()
      assert.ok(!c.entries.some((e) => e.tags?.[0] === 'after-unsubscribe'), 'unsubscribed: nothing more delivered')
      assert.equal((probe.entries[0] as LogEntry).id, marker.id)
    })

    test('a throwing subscriber is isolated: the others still get every entry, and append still resolves', async () => {
      const log = await open()
      const before = collector(timeoutMs)
      const after = collector(timeoutMs)
      let thrown = 0
      const offBefore = log.subscribe(before.sub, 'now')
      const offBad = log.subscribe(
        {
          entries() {
            thrown++
            throw new Error('subscriber bug')
          },
          gap() {
            throw new Error('subscriber bug')
          },
        },
        'now',
      )
      const offAfter = log.subscribe(after.sub, 'now')
      const a = await log.append({ tenant: 't', kind: 'hard', tags: ['x1'] })
      const many = await log.appendMany([{ tenant: 't', kind: 'hard', tags: ['x2'] }])
      await before.until(2)
      await after.until(2)
      offBefore()
      offBad()
      offAfter()
      assert.ok(thrown >= 1, 'the throwing subscriber was called')
      assert.deepEqual(
        after.entries.map((e) => e.id),
        [a.id, ...many.map((e) => e.id)],
      )
      assert.deepEqual(tagsOf(before.entries), ['x1', 'x2'])
    })

    test('read(afterId, limit) answers what came after the id, in order, bounded; no gap for held ids', async () => {
      const log = await open()
      const es = await log.appendMany([1, 2, 3, 4, 5].map((i) => ({ tenant: 't', kind: 'hard' as const, tags: [String(i)] })))
      const first = es[0] as LogEntry
      const r = await log.read(first.id, 2)
      assert.equal(r.gap, false)
      assert.deepEqual(tagsOf(r.entries), ['2', '3'])
      const all = await log.read(first.id, 100)
      assert.deepEqual(tagsOf(all.entries), ['2', '3', '4', '5'])
      const none = await log.read((es[4] as LogEntry).id, 100)
      assert.deepEqual(none.entries, [])
      assert.equal(none.gap, false)
    })

    test('subscribing from an id replays what came after it, then goes on live, without duplicates', async () => {
      const log = await open()
      const es = await log.appendMany([1, 2, 3].map((i) => ({ tenant: 't', kind: 'hard' as const, tags: [String(i)] })))
      const c = collector(timeoutMs)
      const off = log.subscribe(c.sub, (es[0] as LogEntry).id)
      await c.until(2)
      await log.append({ tenant: 't', kind: 'hard', tags: ['4'] })
      await c.until(3)
      off()
      assert.deepEqual(tagsOf(c.entries), ['2', '3', '4'])
      assert.deepEqual(c.gaps, [])
    })

    test('reader health: an appended entry the log took has no `queued`; a log reporting lastHeardAt (with heartbeatMs) advances it while reachable', async () => {
      const log = await open()
      const e = await log.append({ tenant: 't', kind: 'hard', tags: ['h'] })
      assert.equal(e.queued, undefined, 'queued is only for entries the log could not take')
      if (log.lastHeardAt === undefined) return
      const beat = log.heartbeatMs
      assert.ok(typeof beat === 'number' && beat > 0, 'a log that reports lastHeardAt tells its heartbeat (the engine checks maxStaleness against it)')
      await log.ready?.()
      const first = log.lastHeardAt()
      // A blocking read returns at least every heartbeat, even with nothing to deliver.
      const deadline = Date.now() + 4 * beat + 2000
      while (log.lastHeardAt() <= first) {
        assert.ok(Date.now() < deadline, `lastHeardAt did not advance within ${4 * beat + 2000} ms`)
        await new Promise((r) => setTimeout(r, Math.max(10, beat / 4)))
      }
    })

    test('append after close is refused', async () => {
      const log = await open()
      await log.close()
      await assert.rejects(log.append({ tenant: 't', kind: 'hard', tags: ['x'] }))
    })

    if (options.makePair) {
      const makePair = options.makePair
      test('two instances on one shared log: each sees every entry, its own and the other\'s, exactly once', async () => {
        const [a, b] = await makePair()
        opened.push(a, b)
        // A fleet log positions its reader asynchronously; entries of others count from then.
        await Promise.all([a, b].map((l) => l.ready?.()))
        const ca = collector(timeoutMs)
        const cb = collector(timeoutMs)
        const offA = a.subscribe(ca.sub, 'now')
        const offB = b.subscribe(cb.sub, 'now')
        await a.append({ tenant: 't', kind: 'hard', tags: ['a1'] })
        await b.append({ tenant: 't', kind: 'hard', tags: ['b1'] })
        await a.append({ tenant: 't', kind: 'soft', tags: ['a2'] })
        await ca.until(3)
        await cb.until(3)
        offA()
        offB()
        // Own appends are delivered at once, so an instance may see them ahead of an earlier
        // entry of the other one; what must hold: the same entries, once each, same ids.
        const byId = (es: readonly LogEntry[]) => [...es].sort((x, y) => x.id - y.id)
        assert.deepEqual(tagsOf(byId(ca.entries)), ['a1', 'b1', 'a2'])
        assert.deepEqual(
          byId(cb.entries).map((e) => e.id),
          byId(ca.entries).map((e) => e.id),
        )
        assert.ok(b.lastId() >= Math.max(...ca.entries.map((e) => e.id)))
      })
    }
  })
}
