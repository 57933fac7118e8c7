/**
 * The Spree marketplace flow from Ruby: examples/producers/spree_seller_events.rb (the file
 * docs/events.md shows verbatim) publishes seller events to the Larder event stream; Larder's
 * stream source applies them to the cache, the gateway and SSE subscribers.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createRedisEventSource } from '../../src/events/redis-source.ts'
import { until, withAdmin } from '../redis/helpers.ts'
import { applied, hasTag } from './helpers.ts'
import { assertInvalidationReachesEverything, EXAMPLES, type ProducerRig, parkedEntries, recorded, requireRuby, run, startProducerRig } from './producer-rig.ts'

describe('producers: Ruby (Spree seller events on the Redis stream)', () => {
  let ruby: string
  let rig: ProducerRig
  before(async () => {
    ruby = requireRuby()
    rig = await startProducerRig()
  })
  after(() => rig?.close())

  /** Runs Ruby code with the example loaded, as the Spree app would call it. */
  async function spree(code: string): Promise<void> {
    const r = await run(ruby, ['-r', `${EXAMPLES}spree_seller_events.rb`, '-e', code], { REDIS_URL: rig.redis.url })
    assert.equal(r.code, 0, `ruby failed: ${r.stderr}`)
  }

  it('a seller suspension reaches the cache, the gateway and SSE', async () => {
    await assertInvalidationReachesEverything(rig, 'acme', 'seller:s1', () => spree('LarderSellerEvents.status_changed(tenant: "acme", seller_id: "s1", variant_ids: [101, 102])'))
    assert.ok(rig.watch.entries.some(hasTag('acme', 'variant:101')), 'the variants the seller shows are invalidated too')
  })

  it('inventory and payment status changes invalidate what their rules name', async () => {
    await assertInvalidationReachesEverything(rig, 'acme', 'seller-variants:2', () => spree('LarderSellerEvents.inventory_updated(tenant: "acme", seller_id: 2, variant_ids: [7])'))
    await rig.cache.tenant('acme').set('seller-list', 'acme sellers', { tags: ['sellers'] })
    await assertInvalidationReachesEverything(rig, 'globex', 'sellers', () => spree('LarderSellerEvents.payment_status_changed(tenant: "globex", seller_id: "s3")'))
    assert.equal(await rig.cache.tenant('acme').get('seller-list'), 'acme sellers', 'a globex event leaves acme alone')
  })

  it('a retried change (same id) is a duplicate: applied once', async () => {
    await spree('2.times { LarderSellerEvents.status_changed(tenant: "acme", seller_id: "s4", id: "spree:vendor:4:state:suspended") }')
    await recorded(rig, 'spree:vendor:4:state:suspended', 'duplicate')
    assert.equal(rig.watch.entries.filter(hasTag('acme', 'seller:s4')).length, 1)
  })

  it("an entry a crashed consumer read and never acknowledged is claimed and applied", async () => {
    const stream = 'larder:events:claims'
    await withAdmin(rig.redis.port, (r) => r.call('XGROUP', 'CREATE', stream, 'larder', '$', 'MKSTREAM'))
    const r = await run(ruby, ['-r', `${EXAMPLES}spree_seller_events.rb`, '-e', 'LarderSellerEvents.status_changed(tenant: "acme", seller_id: "s6")'], { REDIS_URL: rig.redis.url, LARDER_STREAM: stream })
    assert.equal(r.code, 0, r.stderr)
    // A consumer reads it and dies before XACK.
    const taken = await withAdmin(rig.redis.port, (a) => a.call('XREADGROUP', 'GROUP', 'larder', 'crashed', 'COUNT', 10, 'STREAMS', stream, '>'))
    assert.ok(Array.isArray(taken) && taken.length > 0, 'the crashed consumer held the entry')
    const alive = createRedisEventSource({ url: rig.redis.url, stream, group: 'larder', consumer: 'alive', processor: rig.processor, blockMs: 100, claimIdleMs: 0, claimEveryMs: 50 })
    try {
      await applied(rig.watch, 'acme', 'seller:s6')
      await until(async () => Number(((await withAdmin(rig.redis.port, (a) => a.call('XPENDING', stream, 'larder'))) as [number])[0]) === 0, 10_000, 'the claimed entry to be acknowledged')
      assert.equal(alive.stats().claimed, 1)
    } finally {
      await alive.close()
    }
  })

  it('a poison entry is parked with its error; the events after it are applied', async () => {
    // A seller without an id (nil.to_s is ""), then a good event.
    await spree('LarderSellerEvents.status_changed(tenant: "acme", seller_id: nil, id: "bad-1"); LarderSellerEvents.payment_status_changed(tenant: "acme", seller_id: "s5", id: "good-1")')
    await recorded(rig, 'good-1', 'applied')
    const [parked] = await parkedEntries(rig, 1)
    assert.equal(parked?.code, 'E_INVALID_EVENT')
    assert.match(parked?.error ?? '', /data\.sellerId/)
    assert.equal(JSON.parse(parked?.event ?? '{}').id, 'bad-1', 'the original entry is kept')
    assert.equal(rig.source.stats().parked, 1)
  })
})
