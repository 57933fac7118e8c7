import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { isLarderError, type LogEntry, type LogGap, memoryLog } from 'larder'
import { FakeClock, logConformance } from 'larder/testing'

function collector() {
  const entries: LogEntry[] = []
  const gaps: LogGap[] = []
  return { entries, gaps, sub: { entries: (es: readonly LogEntry[]) => entries.push(...es), gap: (g: LogGap) => gaps.push(g) } }
}

describe('embedded invalidation log', () => {
  test('ids are strictly increasing and time-based, even within one millisecond', async () => {
    const clock = new FakeClock()
    const log = memoryLog({ clock })
    const a = await log.append({ tenant: 't', kind: 'hard', tags: ['x'] })
    const b = await log.append({ tenant: 't', kind: 'hard', tags: ['y'] })
    assert.ok(b.id > a.id)
    assert.equal(a.id, clock.now() * 1000)
    assert.equal(log.lastId(), b.id)
    await clock.advance(5)
    const c = await log.append({ tenant: 't', kind: 'soft', tags: ['z'] })
    assert.equal(c.id, clock.now() * 1000)
    assert.equal(c.at, clock.now())
  })

  test('subscribers get every entry once, in order, before append resolves', async () => {
    const log = memoryLog()
    const c = collector()
    log.subscribe(c.sub)
    const p = log.appendMany([
      { tenant: 't', kind: 'hard', tags: ['1'] },
      { tenant: 't', kind: 'hard', tags: ['2'] },
    ])
    assert.equal(c.entries.length, 2, 'delivered synchronously')
    await p
    assert.deepEqual(
      c.entries.map((e) => e.tags?.[0]),
      ['1', '2'],
    )
  })

  test('subscribe from an id replays what came after it; unsubscribe stops delivery', async () => {
    const log = memoryLog()
    const first = await log.append({ tenant: 't', kind: 'hard', tags: ['a'] })
    await log.append({ tenant: 't', kind: 'hard', tags: ['b'] })
    const c = collector()
    const off = log.subscribe(c.sub, first.id)
    assert.deepEqual(
      c.entries.map((e) => e.tags?.[0]),
      ['b'],
    )
    off()
    await log.append({ tenant: 't', kind: 'hard', tags: ['c'] })
    assert.equal(c.entries.length, 1)
  })

  test('the ring is bounded; reading or subscribing from a trimmed id reports a gap', async () => {
    const log = memoryLog({ capacity: 3 })
    const first = await log.append({ tenant: 't', kind: 'hard', tags: ['0'] })
    for (let i = 1; i < 6; i++) await log.append({ tenant: 't', kind: 'hard', tags: [String(i)] })
    const r = await log.read(first.id, 100)
    assert.equal(r.gap, true)
    assert.deepEqual(
      r.entries.map((e) => e.tags?.[0]),
      ['3', '4', '5'],
    )
    const c = collector()
    log.subscribe(c.sub, first.id)
    assert.equal(c.gaps.length, 1)
    // Reading from the newest dropped id is not a gap.
    const fromFourth = (await log.read(0, 100)).entries[0] as LogEntry
    const ok = await log.read(fromFourth.id - 1, 2)
    assert.equal(ok.gap, false)
    assert.equal(ok.entries.length, 2, 'limit respected')
  })

  test('append after close fails with E_CLOSED; bad capacity is refused', async () => {
    const log = memoryLog()
    await log.close()
    await assert.rejects(log.append({ tenant: 't', kind: 'hard' }), (e) => isLarderError(e, 'E_CLOSED'))
    assert.throws(() => memoryLog({ capacity: 0 }), (e) => isLarderError(e, 'E_INVALID_OPTION'))
  })
})

describe('write-behind queue', async () => {
  const { createWriteBehind } = await import('larder')
  test('flushes in batches, on interval, and on close; bounded', async () => {
    const clock = new FakeClock()
    const batches: number[][] = []
    const wb = createWriteBehind<number>({ flush: async (b) => void batches.push(b), maxBatch: 3, maxQueue: 5, interval: '1s', clock })
    for (let i = 0; i < 3; i++) wb.push(i)
    await wb.flush()
    assert.deepEqual(batches, [[0, 1, 2]])
    wb.push(3)
    await clock.advance(999)
    assert.equal(batches.length, 1)
    await clock.advance(1)
    assert.deepEqual(batches[1], [3])
    wb.push(4)
    wb.push(5)
    await wb.close()
    assert.deepEqual(batches[2], [4, 5])
    assert.throws(() => wb.push(6), (e) => isLarderError(e, 'E_CLOSED'))
  })
  test('a full queue refuses with E_QUEUE_FULL; failing batches are retried then reported', async () => {
    const failed: number[][] = []
    let attempts = 0
    const wb = createWriteBehind<number>({
      flush: async () => {
        attempts++
        throw new Error('sink down')
      },
      maxBatch: 2,
      maxQueue: 2,
      retries: 2,
      interval: '1h',
      onError: (_e, b) => failed.push(b),
    })
    wb.push(1)
    assert.throws(() => {
      wb.push(2)
      wb.push(3)
    }, (e) => isLarderError(e, 'E_QUEUE_FULL'))
    await wb.close()
    assert.equal(attempts, 3)
    assert.deepEqual(failed, [[1, 2]])
  })
})

logConformance('memory (embedded ring)', () => memoryLog())
