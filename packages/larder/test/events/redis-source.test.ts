import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Cluster, Redis } from 'ioredis'
import { createCache } from '../../src/core/cache.ts'
import { channels } from '../../src/core/diagnostics.ts'
import { createEventProcessor } from '../../src/events/processor.ts'
import { createRedisEventSource } from '../../src/events/redis-source.ts'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { type RedisServerHandle, startRedis, startRedisCluster } from '../../src/testing/servers.ts'
import { applied, hasTag, watchLog } from './helpers.ts'

const catalog = new URL('../../rules/catalog.yaml', import.meta.url).pathname

function setup() {
  const log = new MemoryLog()
  const cache = createCache({ log })
  const watch = watchLog(log)
  const processor = createEventProcessor({ cache, rules: catalog })
  return { cache, watch, processor }
}

const productEvent = (id: string, productId: number, tenant = 'acme') => JSON.stringify({ id, type: 'product.updated', tenant, data: { productId, categoryIds: ['c1'] } })

describe('events: Redis stream source', () => {
  let redis: RedisServerHandle
  let producer: Redis
  before(async () => {
    // appendfsync always: a killed server comes back with every acknowledged XADD.
    redis = await startRedis({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] })
    producer = new Redis(redis.url, { maxRetriesPerRequest: 3 })
    producer.on('error', () => {})
  })
  after(async () => {
    producer.disconnect()
    await redis.stop()
  })

  async function pendingCount(stream: string, group: string): Promise<number> {
    const p = (await producer.call('XPENDING', stream, group)) as [number]
    return Number(p[0])
  }

  /** Pending count once the source's acks (sent after each applied batch) have landed. */
  async function settledPending(stream: string, group: string): Promise<number> {
    let n = await pendingCount(stream, group)
    for (let i = 0; i < 200 && n > 0; i++) {
      await new Promise((r) => setTimeout(r, 10))
      n = await pendingCount(stream, group)
    }
    return n
  }

  it('reads JSON and flat-field entries, applies them, acknowledges them', async () => {
    const { cache, watch, processor } = setup()
    const source = createRedisEventSource({ url: redis.url, stream: 's1', group: 'larder', consumer: 'c1', processor, blockMs: 200 })
    try {
      await source.ready
      await cache.tenant('acme').set('product:1', 'old', { tags: ['product:1'] })
      await producer.xadd('s1', '*', 'event', productEvent('e1', 1))
      // A non-Node producer with flat fields and no id (the entry id becomes the event id).
      await producer.xadd('s1', '*', 'type', 'seller.status_changed', 'tenant', 'acme', 'data', JSON.stringify({ sellerId: 's9' }))
      await applied(watch, 'acme', 'product:1')
      await applied(watch, 'acme', 'seller:s9')
      assert.equal(await cache.tenant('acme').get('product:1'), undefined)
      await watch.waitFor((e) => e.kind === 'event' && String((e.data as { id: string }).id).startsWith('redis:'), 'the flat entry recorded with its stream id')
      assert.equal(await settledPending('s1', 'larder'), 0)
      assert.equal(source.stats().applied, 2)
    } finally {
      await source.close()
      await processor.close()
      await cache.close()
    }
  })

  it('parks poison entries with their error and keeps going', async () => {
    const { cache, watch, processor } = setup()
    const source = createRedisEventSource({ url: redis.url, stream: 's2', group: 'larder', consumer: 'c1', processor, blockMs: 200 })
    const outcomes: string[] = []
    const onEvent = (m: unknown) => outcomes.push((m as { outcome: string }).outcome)
    channels.event.subscribe(onEvent)
    try {
      await source.ready
      await producer.xadd('s2', '*', 'event', '{not json')
      await producer.xadd('s2', '*', 'event', JSON.stringify({ id: 'x1', type: 'product.teleported', tenant: 'acme', data: {} }))
      await producer.xadd('s2', '*', 'event', JSON.stringify({ id: 'x2', type: 'product.updated', data: { productId: 1, categoryIds: [] } }))
      await producer.xadd('s2', '*', 'event', JSON.stringify({ id: 'x3', type: 'product.updated', tenant: 'acme', data: { categoryIds: [] } }))
      await producer.xadd('s2', '*', 'event', productEvent('x4', 4))
      await applied(watch, 'acme', 'product:4')
      let parked: [string, string[]][] = []
      for (let i = 0; i < 100 && parked.length < 4; i++) {
        parked = (await producer.xrange('s2:parked', '-', '+')) as [string, string[]][]
        if (parked.length < 4) await new Promise((r) => setImmediate(r))
      }
      assert.equal(parked.length, 4)
      const errors = parked.map(([, f]) => f[f.indexOf('error') + 1])
      assert.match(errors[0] as string, /not valid JSON/)
      assert.match(errors[1] as string, /no rule for event type "product\.teleported"/)
      assert.match(errors[2] as string, /tenant: is missing/)
      assert.match(errors[3] as string, /data\.productId/)
      assert.ok(parked[1]?.[1].includes('event'), 'the original fields are kept')
      assert.equal(await settledPending('s2', 'larder'), 0, 'parked entries are acknowledged, not retried')
      assert.equal(watch.entries.filter((e) => e.kind === 'hard').length, 1, 'nothing applied from a poison entry')
      assert.equal(outcomes.filter((o) => o === 'parked').length, 4)
    } finally {
      channels.event.unsubscribe(onEvent)
      await source.close()
      await processor.close()
      await cache.close()
    }
  })

  it('a consumer that died mid-stream: its pending entries are claimed and applied; a repeat offender is parked', async () => {
    const { cache, watch, processor } = setup()
    await producer.call('XGROUP', 'CREATE', 's3', 'larder', '$', 'MKSTREAM')
    for (let i = 1; i <= 5; i++) await producer.xadd('s3', '*', 'event', productEvent(`d${i}`, i))
    // "dead" reads everything and crashes before acknowledging anything.
    const reply = (await producer.call('XREADGROUP', 'GROUP', 'larder', 'dead', 'COUNT', 10, 'STREAMS', 's3', '>')) as unknown[]
    // RESP2 nests [[stream, entries]], RESP3 flattens the map to [stream, entries].
    const taken = (Array.isArray(reply[0]) ? (reply[0] as unknown[])[1] : reply[1]) as [string, string[]][]
    assert.equal(taken.length, 5)
    // One entry was already delivered 3 times to crashing consumers.
    const poisonId = taken[4]?.[0] as string
    for (let i = 0; i < 2; i++) await producer.call('XCLAIM', 's3', 'larder', 'dead', 0, poisonId)
    const source = createRedisEventSource({ url: redis.url, stream: 's3', group: 'larder', consumer: 'alive', processor, blockMs: 100, claimIdleMs: 0, claimEveryMs: 50, maxDeliveries: 3 })
    try {
      for (let i = 1; i <= 4; i++) await applied(watch, 'acme', `product:${i}`)
      let parked: unknown[] = []
      for (let i = 0; i < 200 && parked.length === 0; i++) {
        parked = await producer.xrange('s3:parked', '-', '+')
        if (parked.length === 0) await new Promise((r) => setTimeout(r, 10))
      }
      assert.equal(parked.length, 1)
      assert.ok(!watch.entries.some(hasTag('acme', 'product:5')), 'the repeat offender was parked, not applied')
      assert.equal(source.stats().claimed, 5)
      assert.equal(await settledPending('s3', 'larder'), 0)
    } finally {
      await source.close()
      await processor.close()
      await cache.close()
    }
  })

  it('Redis killed mid-stream and restarted: every event is applied after reconnect', async () => {
    const { cache, watch, processor } = setup()
    const errors: string[] = []
    const source = createRedisEventSource({ url: redis.url, stream: 's4', group: 'larder', consumer: 'c1', processor, blockMs: 100, onError: (_e, ctx) => errors.push(ctx) })
    try {
      await source.ready
      for (let i = 1; i <= 3; i++) await producer.xadd('s4', '*', 'event', productEvent(`k${i}`, i))
      await applied(watch, 'acme', 'product:3')
      // Mid-stream: these may be unread, read but not applied, or applied but not acknowledged when Redis dies.
      for (let i = 4; i <= 6; i++) await producer.xadd('s4', '*', 'event', productEvent(`k${i}`, i))
      await redis.kill()
      await redis.restart()
      for (let i = 7; i <= 8; i++) await producer.xadd('s4', '*', 'event', productEvent(`k${i}`, i))
      for (let i = 4; i <= 8; i++) await applied(watch, 'acme', `product:${i}`)
      // Whether the drop surfaces as an error depends on timing (ioredis may replay the blocked
      // read on the new connection); what must hold is below: nothing lost, nothing doubled.
      assert.equal(await settledPending('s4', 'larder'), 0)
      // Each product was invalidated exactly once (redeliveries are absorbed by idempotency).
      for (let i = 1; i <= 8; i++) assert.equal(watch.entries.filter(hasTag('acme', `product:${i}`)).length, 1, `product:${i}`)
    } finally {
      await source.close()
      await processor.close()
      await cache.close()
    }
  })
})

describe('events: Redis stream source on a Redis Cluster', () => {
  it('reads, parks and acknowledges across slots', async () => {
    const cluster = await startRedisCluster({ masters: 3 })
    const { cache, watch, processor } = setup()
    const producer = new Cluster(cluster.urls.map((u) => ({ host: '127.0.0.1', port: Number(new URL(u).port) })))
    const source = createRedisEventSource({ cluster: cluster.urls, stream: 'events', group: 'larder', consumer: 'c1', processor, blockMs: 100 })
    try {
      await source.ready
      await producer.xadd('events', '*', 'event', productEvent('c1', 1))
      await producer.xadd('events', '*', 'event', '{broken')
      await applied(watch, 'acme', 'product:1')
      let parked: unknown[] = []
      for (let i = 0; i < 200 && parked.length === 0; i++) {
        parked = await producer.xrange('events:parked', '-', '+')
        if (parked.length === 0) await new Promise((r) => setTimeout(r, 10))
      }
      assert.equal(parked.length, 1)
    } finally {
      await source.close()
      producer.disconnect()
      await processor.close()
      await cache.close()
      await cluster.stop()
    }
  })
})
