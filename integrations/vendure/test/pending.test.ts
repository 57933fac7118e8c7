/** PendingInvalidations (src/pending.ts): a mutation's answer waits for its events, bounded. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { VendureEvent } from '@vendure/core'
import { PendingInvalidations } from '../src/pending.ts'

const req = () => ({})
const event = (r: object | undefined) => ({ ctx: { req: r } }) as unknown as VendureEvent

test('wait resolves once every tracked event of the request is settled', async () => {
  const p = new PendingInvalidations()
  const r = req()
  const [a, b] = [event(r), event(r)]
  p.track(a)
  p.track(b)
  p.track(event(req())) // another request's event does not hold this one
  let done = false
  const w = p.wait(r, 5000).then((all) => {
    done = true
    return all
  })
  p.settle(a)
  await new Promise((x) => setImmediate(x))
  assert.equal(done, false, 'one of two settled: still waiting')
  p.settle(b)
  assert.equal(await w, true)
})

test('a request without events does not wait; an unsettled event (rollback) ends at the bound', async () => {
  const p = new PendingInvalidations()
  assert.equal(await p.wait(req(), 5000), true)
  const r = req()
  p.track(event(r))
  const t0 = performance.now()
  assert.equal(await p.wait(r, 30), false)
  assert.ok(performance.now() - t0 >= 25)
})

test('events without a request (jobs, the worker) are not tracked', async () => {
  const p = new PendingInvalidations()
  p.track(event(undefined))
  p.settle(event(undefined))
})
