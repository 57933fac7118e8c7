/**
 * Two instances over one Redis: each has its own cache, its own RedisLog reader and its
 * own hub, as two processes would. An invalidation on one instance reaches streams on the
 * other, and a client that moves from one instance to the other resumes from the stream.
 */
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createCache } from '../../src/core/cache.ts'
import type { Cache } from '../../src/core/api.ts'
import { redisLog } from '../../src/redis/index.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { type HubServer, ofType, openStream, payload, startHubServer } from './helpers.ts'

describe('SSE over the Redis log (two instances)', () => {
  let redis: RedisServerHandle
  let a: { cache: Cache; srv: HubServer }
  let b: { cache: Cache; srv: HubServer }
  before(async () => {
    redis = await startRedis()
    const make = async (id: string) => {
      const cache = createCache({ instanceId: id, log: redisLog({ url: redis.url, source: id, block: '200ms' }) })
      // The reader must know its position before the test appends: entries appended earlier are not "new" to it.
      await cache.log.whenInitialized?.()
      return { cache, srv: await startHubServer({ log: cache.log }) }
    }
    a = await make('A')
    b = await make('B')
  })
  after(async () => {
    for (const x of [a, b]) {
      await x?.srv.close()
      await x?.cache.close()
    }
    await redis?.stop()
  })

  test('an invalidation on instance A reaches a stream on instance B; live values too', async () => {
    const onB = await openStream(b.srv.port, '?topics=product:42,stock:*', { 'x-tenant': 'acme' })
    const otherTenant = await openStream(b.srv.port, '?topics=product:42', { 'x-tenant': 'globex' })
    await Promise.all([onB, otherTenant].map((s) => s.waitFor((es) => es.some(ofType('ready')))))
    const r = await a.cache.tenant('acme').invalidateTags(['product:42'])
    await onB.waitFor((es) => es.some(ofType('invalidate')))
    const ev = onB.events.find(ofType('invalidate'))!
    assert.equal(ev.lastEventId, String(r.id))
    assert.deepEqual(payload(ev).tags, ['product:42'])
    const live = await a.srv.hub.publishLive('acme', 'stock:42', { qty: 2 })
    await onB.waitFor((es) => es.some(ofType('update')))
    assert.equal(onB.events.find(ofType('update'))!.lastEventId, String(live.id))
    await b.cache.tenant('globex').invalidateTags(['product:42'])
    await otherTenant.waitFor((es) => es.some(ofType('invalidate')))
    assert.equal(otherTenant.events.filter(ofType('invalidate')).length, 1)
    onB.close()
    otherTenant.close()
  })

  test('a client that moves from A to B resumes from the Redis stream', async () => {
    const s = await openStream(a.srv.port, '?topics=p', { 'x-tenant': 'acme' })
    await s.waitFor((es) => es.some(ofType('ready')))
    await a.cache.tenant('acme').invalidateTags(['p'])
    await s.waitFor((es) => es.some(ofType('invalidate')))
    const resumeFrom = s.lastEventId
    s.close()
    const missed = await a.cache.tenant('acme').invalidateTags(['p'])
    await a.cache.tenant('acme').invalidateTags(['q'])
    const moved = await openStream(b.srv.port, '?topics=p', { 'x-tenant': 'acme', 'last-event-id': resumeFrom })
    await moved.waitFor((es) => es.some(ofType('ready')))
    assert.deepEqual(
      moved.events.map((e) => [e.type, e.type === 'ready' ? payload(e).resumed : e.lastEventId]),
      [
        ['invalidate', String(missed.id)],
        ['ready', true],
      ],
    )
    moved.close()
  })
})
