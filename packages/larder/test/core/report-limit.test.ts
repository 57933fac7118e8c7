import assert from 'node:assert/strict'
import { test } from 'node:test'
import { limitReports } from '../../src/core/report-limit.ts'
import { FakeClock } from '../../src/testing/index.ts'

test('limitReports: one report per context per interval, then the count of what was held back; contexts apart', async () => {
  const clock = new FakeClock()
  const lines: string[] = []
  const report = limitReports((err, context, suppressed) => lines.push(`${context} ${(err as Error).message} +${suppressed}`), { intervalMs: 1000, clock })
  for (let i = 0; i < 500; i++) report(new Error(`bad ${i}`), 'pubsub:seller_changes')
  report(new Error('other'), 'stream:events')
  assert.deepEqual(lines, ['pubsub:seller_changes bad 0 +0', 'stream:events other +0'])
  await clock.advance(999)
  report(new Error('still held'), 'pubsub:seller_changes')
  assert.equal(lines.length, 2)
  await clock.advance(1)
  report(new Error('after'), 'pubsub:seller_changes')
  assert.deepEqual(lines.slice(2), ['pubsub:seller_changes after +500'])
})

test('limitReports remembers at most maxContexts contexts', () => {
  const clock = new FakeClock()
  let n = 0
  const report = limitReports(() => n++, { intervalMs: 1000, clock, maxContexts: 2 })
  report(new Error('x'), 'a')
  report(new Error('x'), 'b')
  report(new Error('x'), 'c') // evicts a
  report(new Error('x'), 'a') // reported again: forgotten
  assert.equal(n, 4)
})
