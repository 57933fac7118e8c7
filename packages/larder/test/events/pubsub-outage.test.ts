/**
 * The Redis pub/sub source with Redis hung (SIGSTOP: the socket stays open, nothing answers,
 * like a half-open connection): the heartbeat notices the silence, the source reports itself
 * disconnected and distrusts L1 of its tenants, and subscribes back (distrusting once more)
 * when Redis answers again; messages published after that reach the processor.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Redis } from 'ioredis'
import { createCache } from '../../src/core/cache.ts'
import { createPubSubEventSource } from '../../src/events/pubsub-source.ts'
import { startRedis } from '../../src/testing/servers.ts'
import { until } from '../redis/helpers.ts'
import { recordDistrusts } from './helpers.ts'

test('pub/sub source: a hung Redis is noticed by the heartbeat (disconnected, L1 distrusted), and it subscribes back', async (t) => {
  const redis = await startRedis()
  const cache = createCache()
  const distrusts = recordDistrusts(cache)
  const got: unknown[] = []
  const source = createPubSubEventSource({
    url: redis.url,
    channels: ['seller_changes'],
    processor: { publish: async (e) => void got.push(e) },
    cache,
    tenants: ['acme'],
    heartbeatMs: 200,
    backoff: { initialMs: 20, maxMs: 200 },
  })
  const pub = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  t.after(async () => {
    redis.resume()
    await source.close()
    pub.disconnect()
    await cache.close()
    await redis.stop()
  })
  await source.ready
  assert.equal(source.stats().connected, true)
  const before = distrusts.calls.length
  redis.pause()
  const t0 = performance.now()
  await until(() => !source.stats().connected, 3000, 'the source to notice the hung Redis')
  const noticed = performance.now() - t0
  console.log(`# hung Redis noticed after ${noticed.toFixed(0)} ms (heartbeat 200 ms)`)
  assert.ok(distrusts.calls.length > before, 'L1 of the served tenants is distrusted once the silence is noticed')
  assert.deepEqual(distrusts.calls.at(-1), ['acme'])
  const whileDown = distrusts.calls.length
  redis.resume()
  await until(() => source.stats().connected, 5000, 'the source to subscribe back')
  assert.ok(distrusts.calls.length > whileDown, 'distrusted again once subscribed back')
  assert.ok(source.stats().reconnects >= 1)
  await pub.connect()
  await pub.publish('seller_changes', JSON.stringify({ type: 'seller.updated', tenant: 'acme', data: {} }))
  await until(() => got.length === 1, 3000, 'a message published after the recovery')
})
