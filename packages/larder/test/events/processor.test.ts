import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createCache } from '../../src/core/cache.ts'
import { channels } from '../../src/core/diagnostics.ts'
import { LarderError } from '../../src/core/errors.ts'
import type { LogEntry } from '../../src/core/types.ts'
import { type StormAlert, createEventProcessor, stormChannel } from '../../src/events/processor.ts'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { FakeClock } from '../../src/testing/fake-clock.ts'

const catalog = new URL('../../rules/catalog.yaml', import.meta.url).pathname

function setup(extra: Partial<Parameters<typeof createEventProcessor>[0]> = {}) {
  const log = new MemoryLog()
  const cache = createCache({ log })
  const seen: LogEntry[] = []
  log.subscribe({ entries: (es) => seen.push(...es), gap: () => {} })
  const invalidations: { tenant: string; tags?: readonly string[]; keys?: readonly string[]; soft?: boolean }[] = []
  const original = cache.invalidate.bind(cache)
  cache.invalidate = async (tenant, input) => {
    invalidations.push({ tenant, ...input })
    return original(tenant, input)
  }
  const processor = createEventProcessor({ cache, rules: catalog, ...extra })
  return { log, cache, seen, invalidations, processor }
}

const product = (id: string, tenant: string, productId: number, categoryIds: string[] = ['c1']) => ({ id, type: 'product.updated', tenant, data: { productId, categoryIds } })

describe('events: processor', () => {
  it('applies a rule: cached product and category listing are invalidated, the log records the event', async () => {
    const { cache, seen, processor } = setup()
    const shop = cache.tenant('acme')
    await shop.set('product:42', { name: 'old' }, { tags: ['product:42'] })
    await shop.set('listing:c1', ['42'], { tags: ['category:c1'] })
    await shop.set('listing:c2', ['7'], { tags: ['category:c2'] })
    const r = await processor.publish(product('e1', 'acme', 42, ['c1']))
    assert.equal(r.outcome, 'applied')
    assert.ok(r.logId && r.logId > 0)
    assert.equal(await shop.get('product:42'), undefined)
    assert.equal(await shop.get('listing:c1'), undefined)
    assert.deepEqual(await shop.get('listing:c2'), ['7'])
    const hard = seen.find((e) => e.kind === 'hard')
    assert.ok(hard)
    assert.deepEqual(new Set(hard.tags), new Set(['product:42', 'category:c1', 'search', 'dashboard']))
    const rec = seen.find((e) => e.kind === 'event')
    assert.deepEqual(rec?.data, { id: 'e1', type: 'product.updated', outcome: 'applied' })
    assert.ok((rec as LogEntry).id > hard.id, 'the event record follows its invalidation')
    await processor.close()
    await cache.close()
  })

  it('is idempotent by event id, per tenant', async () => {
    const { invalidations, processor, seen } = setup()
    const a = await processor.publish(product('same', 'acme', 1))
    const b = await processor.publish(product('same', 'acme', 1))
    const c = await processor.publish(product('same', 'other', 1))
    assert.deepEqual([a.outcome, b.outcome, c.outcome], ['applied', 'duplicate', 'applied'])
    assert.equal(invalidations.length, 2)
    await processor.flush()
    assert.equal(seen.filter((e) => e.kind === 'event' && (e.data as { outcome: string }).outcome === 'duplicate').length, 1)
    assert.equal(processor.stats().duplicates, 1)
    await processor.close()
  })

  it('coalesces a tenant’s events into one invalidation per flush, tenants apart', async () => {
    const { invalidations, processor } = setup({ coalesceMs: 5 })
    const results = await Promise.all([
      processor.publish(product('1', 'acme', 1, ['c1'])),
      processor.publish(product('2', 'acme', 2, ['c1'])),
      processor.publish(product('3', 'zeta', 3, ['c9'])),
      processor.publish(product('4', 'acme', 1, ['c2'])),
    ])
    assert.ok(results.every((r) => r.outcome === 'applied'))
    const acme = invalidations.filter((i) => i.tenant === 'acme')
    const zeta = invalidations.filter((i) => i.tenant === 'zeta')
    assert.equal(acme.length, 1)
    assert.equal(zeta.length, 1)
    assert.deepEqual(new Set(acme[0]?.tags), new Set(['product:1', 'product:2', 'category:c1', 'category:c2', 'search', 'dashboard']))
    assert.deepEqual(new Set(zeta[0]?.tags), new Set(['product:3', 'category:c9', 'search', 'dashboard']))
    assert.ok(!zeta[0]?.tags?.includes('product:1'), 'no cross-tenant effect')
    await processor.close()
  })

  it('keeps per-tenant FIFO: a slow flush delays the next flush of that tenant only', async () => {
    const log = new MemoryLog()
    const cache = createCache({ log })
    const order: string[] = []
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    let started!: () => void
    const firstStarted = new Promise<void>((r) => (started = r))
    const original = cache.invalidate.bind(cache)
    cache.invalidate = async (tenant, input) => {
      const tag = input.tags?.find((t) => t.startsWith('product:')) as string
      order.push(`start ${tenant} ${tag}`)
      if (tag === 'product:1') {
        started()
        await gate
      }
      order.push(`end ${tenant} ${tag}`)
      return original(tenant, input)
    }
    const processor = createEventProcessor({ cache, rules: catalog, coalesceMs: 0 })
    const first = processor.publish(product('1', 'acme', 1))
    await firstStarted
    const second = processor.publish(product('2', 'acme', 2))
    const other = processor.publish(product('3', 'zeta', 3))
    await other
    assert.ok(order.includes('end zeta product:3'), 'another tenant is not held up')
    assert.ok(!order.includes('start acme product:2'), 'the second acme flush waits for the first')
    release()
    await Promise.all([first, second])
    assert.ok(order.indexOf('end acme product:1') < order.indexOf('start acme product:2'))
    await processor.close()
    await cache.close()
  })

  it('an invalid event or a missing field applies nothing; a batch is all-or-nothing', async () => {
    const { invalidations, processor, seen } = setup()
    const events: unknown[] = []
    const onEvent = (m: unknown) => events.push(m)
    channels.event.subscribe(onEvent)
    try {
      await assert.rejects(processor.publish({ id: 'x', type: 'product.updated', tenant: 'acme', data: { categoryIds: [] } }), (err: unknown) => err instanceof LarderError && err.details?.field === 'data.productId')
      await assert.rejects(processor.publish({ id: 'y', type: 'product.updated', data: {} }), (err: unknown) => err instanceof LarderError && err.details?.field === 'tenant')
      await assert.rejects(
        processor.publishBatch([product('ok', 'acme', 1), { id: 'bad', type: 'nope.nope', tenant: 'acme' }]),
        (err: unknown) => err instanceof LarderError && err.details?.field === 'type' && err.details?.index === 1,
      )
      // A bad event naming the public scope (or garbage) leaves no record in that scope.
      await assert.rejects(processor.publish({ id: 'p', type: 'Not A Type', tenant: '@public' }), (err: unknown) => err instanceof LarderError && err.details?.field === 'type')
      await processor.flush()
      assert.ok(!seen.some((e) => e.tenant === '@public'))
      assert.equal(invalidations.length, 0)
      assert.equal(seen.filter((e) => e.kind === 'hard' || e.kind === 'soft').length, 0)
      // The batch's valid event was not remembered: publishing it now applies it.
      assert.equal((await processor.publish(product('ok', 'acme', 1))).outcome, 'applied')
      assert.equal(processor.stats().rejected, 4)
      assert.ok(events.some((e) => (e as { outcome: string }).outcome === 'rejected'))
      assert.ok(seen.some((e) => e.kind === 'event' && (e.data as { outcome: string }).outcome === 'rejected'))
    } finally {
      channels.event.unsubscribe(onEvent)
      await processor.close()
    }
  })

  it('a failed flush rejects its events and forgets their ids so a redelivery applies', async () => {
    const log = new MemoryLog()
    const cache = createCache({ log })
    let fail = true
    const original = cache.invalidate.bind(cache)
    cache.invalidate = async (tenant, input) => {
      if (fail) throw new LarderError('E_LOG_UNAVAILABLE', 'down')
      return original(tenant, input)
    }
    const processor = createEventProcessor({ cache, rules: catalog })
    await assert.rejects(processor.publish(product('r', 'acme', 1)), /down/)
    fail = false
    assert.equal((await processor.publish(product('r', 'acme', 1))).outcome, 'applied')
    await processor.close()
    await cache.close()
  })

  it('soft rules expire, notify topics become live entries, warm keys reach onWarm', async () => {
    const warmed: [string, string[]][] = []
    const { invalidations, processor, seen } = setup({ onWarm: (t, k) => void warmed.push([t, k]) })
    await Promise.all([
      processor.publish({ id: 's1', type: 'stock.changed', tenant: 'acme', data: { productId: 5, qty: 3 } }),
      processor.publish({ id: 's2', type: 'stock.changed', tenant: 'acme', data: { productId: 5, qty: 2 } }),
    ])
    assert.deepEqual(invalidations, [{ tenant: 'acme', tags: ['stock:5'], keys: [], soft: true }])
    const live = seen.filter((e) => e.kind === 'live')
    assert.equal(live.length, 1, 'two updates of one topic coalesce to the newest value')
    assert.deepEqual(live[0]?.data, { topic: 'stock:5', value: { productId: 5, qty: 2 }, public: true })
    await processor.publish(product('p', 'acme', 9))
    assert.deepEqual(warmed, [['acme', ['product:9']]])
    await processor.close()
  })

  it('storm guard: alerts past the threshold and, in generation mode, clears the tenant instead', async () => {
    const clock = new FakeClock()
    const alerts: StormAlert[] = []
    const fromChannel: unknown[] = []
    const sub = (m: unknown) => fromChannel.push(m)
    stormChannel.subscribe(sub)
    const log = new MemoryLog({ clock })
    const cache = createCache({ log, clock })
    const calls: string[] = []
    const original = cache.invalidate.bind(cache)
    cache.invalidate = async (t, i) => {
      calls.push('invalidate')
      return original(t, i)
    }
    const processor = createEventProcessor({ cache, rules: catalog, clock, coalesceMs: 0, stormThreshold: 10, stormMode: 'generation', onAlert: (a) => void alerts.push(a) })
    const seen: LogEntry[] = []
    log.subscribe({ entries: (es) => seen.push(...es), gap: () => {} })
    try {
      const publishAndFlush = async (id: string, productId: number) => {
        const p = processor.publish(product(id, 'acme', productId, [`c${productId}`]))
        await processor.flush()
        return p
      }
      // 4 tags + 1 key per event: 2 events = 10 ≤ 10, the third passes the threshold.
      await publishAndFlush('1', 1)
      await publishAndFlush('2', 2)
      assert.equal(alerts.length, 0)
      await publishAndFlush('3', 3)
      assert.equal(alerts.length, 1)
      assert.deepEqual(alerts[0], { tenant: 'acme', count: 15, threshold: 10, windowMs: 60_000, mode: 'generation' })
      assert.equal(fromChannel.length, 1)
      assert.equal(seen.filter((e) => e.kind === 'clear').length, 1)
      assert.equal(calls.length, 2)
      await publishAndFlush('4', 4)
      assert.equal(alerts.length, 1, 'one alert per window')
      assert.equal(seen.filter((e) => e.kind === 'clear').length, 2)
      // Another tenant is not affected.
      const other = processor.publish(product('5', 'zeta', 5))
      await processor.flush()
      await other
      assert.equal(calls.length, 3)
      // A minute later the window resets.
      await clock.advance(60_000)
      await publishAndFlush('6', 6)
      assert.equal(calls.length, 4)
      assert.equal(processor.stats().clears, 2)
    } finally {
      stormChannel.unsubscribe(sub)
      await processor.close()
      await cache.close()
    }
  })

  it('refuses events after close', async () => {
    const { processor } = setup()
    await processor.close()
    await assert.rejects(processor.publish(product('z', 'acme', 1)), (err: unknown) => err instanceof LarderError && err.code === 'E_CLOSED')
  })
})
