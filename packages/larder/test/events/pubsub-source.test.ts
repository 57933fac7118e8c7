/**
 * The Redis pub/sub compatibility source, fed by a Ruby publisher
 * (examples/producers/seller_change_monitor.rb, shown verbatim in docs/events.md) through a
 * real redis-server: messages reach the cache, the gateway and SSE; bad messages are counted
 * and reported without stopping the source; a lost connection distrusts L1 of the served
 * tenants at once and again once subscribed back.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { Redis } from 'ioredis'
import { createCache } from '../../src/core/cache.ts'
import { LarderError } from '../../src/core/errors.ts'
import { createEventProcessor } from '../../src/events/processor.ts'
import { createPubSubEventSource, type PubSubEventSource } from '../../src/events/pubsub-source.ts'
import { until } from '../redis/helpers.ts'
import { applied, hasTag, recordDistrusts } from './helpers.ts'
import { assertInvalidationReachesEverything, EXAMPLES, type ProducerRig, requireRuby, run, startProducerRig } from './producer-rig.ts'

describe('events: Redis pub/sub source options', () => {
  const base = { url: 'redis://127.0.0.1:1', processor: { publish: async () => ({}) }, cache: { distrust() {} } }
  it('refuses bad channel names and a cluster with E_INVALID_OPTION', () => {
    for (const channels of [[], [''], ['seller_*'], ['a b'], [42]] as unknown as string[][]) {
      assert.throws(() => createPubSubEventSource({ ...base, channels }), (err: unknown) => err instanceof LarderError && err.code === 'E_INVALID_OPTION' && /channels must be/.test(err.message))
    }
    assert.throws(() => createPubSubEventSource({ ...base, url: undefined, cluster: ['redis://127.0.0.1:1'], channels: ['c'] } as never), /one node/)
    assert.throws(() => createPubSubEventSource({ ...base, url: 'http://x', channels: ['c'] }), /url must start with redis/)
  })
})

describe('events: Redis pub/sub source with a Ruby publisher', () => {
  let ruby: string
  let rig: ProducerRig
  let source: PubSubEventSource
  let distrusts: ReturnType<typeof recordDistrusts>
  const errors: { err: unknown; context: string }[] = []
  before(async () => {
    ruby = requireRuby()
    rig = await startProducerRig()
    distrusts = recordDistrusts(rig.cache)
    source = createPubSubEventSource({
      url: rig.redis.url,
      channels: ['seller_changes'],
      processor: rig.processor,
      cache: rig.cache,
      tenants: ['acme', 'globex'],
      maxMessageBytes: 4096,
      backoff: { initialMs: 20, maxMs: 200 },
      onError: (err, context) => errors.push({ err, context }),
    })
    await source.ready
  })
  after(async () => {
    await source?.close()
    await rig?.close()
  })

  /** Runs Ruby code with the monitor loaded; returns what it printed. */
  async function monitor(code: string): Promise<string> {
    const r = await run(ruby, ['-r', `${EXAMPLES}seller_change_monitor.rb`, '-e', code], { REDIS_URL: rig.redis.url })
    assert.equal(r.code, 0, `ruby failed: ${r.stderr}`)
    return r.stdout.trim()
  }

  it("a monitor's message reaches the cache, the gateway and SSE", async () => {
    await assertInvalidationReachesEverything(rig, 'acme', 'seller:m1', async () => {
      assert.equal(await monitor('puts SellerChangeMonitor.seller_status_changed(tenant: "acme", seller_id: "m1", variant_ids: [5])'), '1', 'one subscriber got it')
    })
    assert.ok(rig.watch.entries.some(hasTag('acme', 'variant:5')))
    assert.equal(source.stats().applied, 1)
  })

  it('bad messages are counted and reported; the source keeps going', async () => {
    const before = source.stats().rejected
    errors.length = 0
    await monitor(`r = SellerChangeMonitor.redis
r.publish("seller_changes", "{not json")
r.publish("seller_changes", "[1, 2]")
r.publish("seller_changes", "x" * 5000)
SellerChangeMonitor.announce("seller.teleported", tenant: "acme", data: {})
SellerChangeMonitor.announce("seller.status_changed", tenant: "acme", data: {})
SellerChangeMonitor.announce("seller.status_changed", tenant: "@all", data: { sellerId: "m2" })
SellerChangeMonitor.seller_status_changed(tenant: "acme", seller_id: "m3")`)
    await applied(rig.watch, 'acme', 'seller:m3')
    await until(() => source.stats().rejected === before + 6, 5000, 'six rejected messages')
    const messages = errors.map((e) => (e.err as Error).message)
    assert.ok(errors.every((e) => e.context === 'pubsub:seller_changes' && e.err instanceof LarderError && e.err.code === 'E_INVALID_EVENT'))
    for (const expected of [/not JSON/, /must be a JSON object|object/, /5000 bytes; the limit is 4096/, /no rule for event type "seller\.teleported"/, /data\.sellerId/, /tenant/]) {
      assert.ok(
        messages.some((m) => expected.test(m)),
        `a reported error matches ${expected}: ${messages.join(' | ')}`,
      )
    }
    assert.ok(!rig.watch.entries.some(hasTag('acme', 'seller:m2')), 'nothing applied from a bad message')
    assert.equal(source.stats().connected, true)
  })

  it('toEvent maps another message shape; a message it cannot map is rejected', async () => {
    // A client of the app's own: the source subscribes on a duplicate and leaves this one open.
    const mine = new Redis(rig.redis.url)
    const legacy = createPubSubEventSource({
      client: mine,
      channels: ['legacy_changes'],
      processor: rig.processor,
      cache: rig.cache,
      toEvent: (m) => {
        const { shop, seller } = m as { shop?: string; seller?: string }
        if (!seller) throw new LarderError('E_INVALID_EVENT', 'legacy change without a seller')
        return { type: 'seller.payment_status_changed', tenant: shop, data: { sellerId: seller } }
      },
    })
    try {
      await legacy.ready
      await monitor(`r = SellerChangeMonitor.redis
r.publish("legacy_changes", { shop: "acme" }.to_json)
r.publish("legacy_changes", { shop: "acme", seller: "m4", change: "payment" }.to_json)`)
      await applied(rig.watch, 'acme', 'seller:m4')
      await until(() => legacy.stats().rejected === 1, 5000, 'the unmappable message to be rejected')
      await legacy.close()
      assert.equal(await mine.ping(), 'PONG', 'the given client is still open')
    } finally {
      await legacy.close()
      mine.disconnect()
    }
  })

  it('a valid event the processor cannot take (it is closed) counts as failed and distrusts that tenant', async () => {
    const cache = createCache()
    const processor = createEventProcessor({ cache, rules: { version: 1, events: { 'seller.status_changed': { fields: ['sellerId'], invalidate: ['seller:{sellerId}'] } } } })
    const seen = recordDistrusts(cache)
    const failing = createPubSubEventSource({ url: rig.redis.url, channels: ['seller_changes_2'], processor, cache, tenants: ['acme'], onError: () => {} })
    try {
      await failing.ready
      assert.deepEqual(seen.calls, [['acme']], 'the first subscription distrusts the served tenants')
      // Shutting down in the wrong order: the processor closes while the source still listens.
      await processor.close()
      const distrusted = seen.next()
      await monitor('SellerChangeMonitor.redis.publish("seller_changes_2", { type: "seller.status_changed", tenant: "globex", data: { sellerId: "f1" } }.to_json)')
      await distrusted
      assert.deepEqual(seen.calls.at(-1), ['globex'], 'the tenant of the lost event, served or not')
      assert.equal(failing.stats().failed, 1)
      assert.equal(failing.stats().rejected, 0)
    } finally {
      await failing.close()
      await cache.close()
    }
  })

  it('a lost connection distrusts L1 of the served tenants at once and again once subscribed back', async () => {
    await rig.cache.tenant('acme').set('k', 'v1')
    await rig.cache.tenant('initech').set('k', 'v1')
    const dropped = distrusts.next()
    const seen = distrusts.calls.length
    await rig.redis.kill()
    await dropped
    assert.deepEqual(distrusts.calls[seen], ['acme', 'globex'])
    assert.equal(source.stats().connected, false)
    assert.equal(await rig.cache.tenant('acme').get('k'), undefined, 'L1 of a served tenant is no longer trusted')
    assert.equal(await rig.cache.tenant('initech').get('k'), 'v1', 'a tenant this source does not serve keeps its L1')
    // Cached while away: messages published now are lost, so this is distrusted too once back.
    await rig.cache.tenant('acme').set('k', 'v2')
    const back = distrusts.next()
    await rig.redis.restart()
    await back
    assert.equal(source.stats().connected, true)
    assert.equal(source.stats().reconnects, 1)
    assert.equal(await rig.cache.tenant('acme').get('k'), undefined)
    // Subscribed again: new messages arrive.
    assert.equal(await monitor('puts SellerChangeMonitor.seller_status_changed(tenant: "globex", seller_id: "m5")'), '1')
    await applied(rig.watch, 'globex', 'seller:m5')
  })
})
