/**
 * The event mapping (src/events.ts) and the shipped rules, without a server: every Vendure
 * event class the plugin names exists in the installed Vendure, every Larder event type it
 * produces has a rule, and price-only variant updates stay in their channel.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { loadRules } from 'larder/events'
import { catalogEventClasses, mapEvent } from '../src/events.ts'
import { DEFAULT_RULES_PATH } from '../src/options.ts'

const lookup = { productIdsOf: async (ids: readonly (string | number)[]) => new Map(ids.map((id) => [String(id), 100 + Number(id)] as [string, number])) }
const ctx = { channelId: 2 }

function ev(name: string, fields: Record<string, unknown>) {
  const o = Object.create({ constructor: { name } })
  return Object.assign(o, fields)
}

describe('Vendure events → Larder events', () => {
  test('all twelve catalog event classes are found in the installed Vendure', () => {
    assert.deepEqual(
      catalogEventClasses().map((c) => c.name),
      ['ProductEvent', 'ProductVariantEvent', 'ProductVariantPriceEvent', 'StockMovementEvent', 'CollectionEvent', 'CollectionModificationEvent', 'ProductChannelEvent', 'ProductVariantChannelEvent', 'FacetValueEvent', 'AssetEvent', 'TaxRateModificationEvent', 'ChannelEvent'],
    )
  })

  test('a price-only variant update stays in its channel; other updates reach the variant’s channels', async () => {
    const priceOnly = await mapEvent(ev('ProductVariantEvent', { ctx, type: 'updated', entity: [{ id: 7, productId: 3 }], input: [{ id: 7, price: 100 }] }), lookup)
    assert.deepEqual(priceOnly, [{ type: 'vendure.variant.updated', data: { variantIds: ['7'], productIds: ['3'] }, scope: { kind: 'channels', ids: [2] } }])
    const renamed = await mapEvent(ev('ProductVariantEvent', { ctx, type: 'updated', entity: [{ id: 7 }], input: [{ id: 7, price: 100, sku: 'X' }] }), lookup)
    assert.deepEqual(renamed?.[0]?.scope, { kind: 'entity', entity: 'ProductVariant', ids: [7] })
    assert.deepEqual(renamed?.[0]?.data, { variantIds: ['7'], productIds: ['107'] }, 'product ids read when the entity lacks them')
    const deleted = await mapEvent(ev('ProductVariantEvent', { ctx, type: 'deleted', entity: [{ id: 7, productId: 3 }], input: 7 }), lookup)
    assert.deepEqual(deleted?.[0]?.scope, { kind: 'all' })
  })

  test('prices are grouped by their own channel', async () => {
    const out = await mapEvent(ev('ProductVariantPriceEvent', { ctx, type: 'updated', entity: [{ variantId: 1, channelId: 1 }, { variantId: 2, channelId: 3 }, { variantId: 4, channelId: 3 }] }), lookup)
    assert.deepEqual(out, [
      { type: 'vendure.variant.price_changed', data: { variantIds: ['1'], productIds: ['101'] }, scope: { kind: 'channels', ids: [1] } },
      { type: 'vendure.variant.price_changed', data: { variantIds: ['2', '4'], productIds: ['102', '104'] }, scope: { kind: 'channels', ids: [3] } },
    ])
  })

  test('every event the mapper produces has a shipped rule, and the rules render the documented tags', async () => {
    const rules = loadRules(DEFAULT_RULES_PATH)
    const samples = [
      ev('ProductEvent', { ctx, type: 'updated', entity: { id: 1 } }),
      ev('ProductVariantEvent', { ctx, type: 'created', entity: [{ id: 2, productId: 1 }] }),
      ev('ProductVariantPriceEvent', { ctx, type: 'created', entity: [{ variantId: 2, channelId: 1 }] }),
      ev('StockMovementEvent', { ctx, stockMovements: [{ productVariant: { id: 2 } }] }),
      ev('CollectionEvent', { ctx, type: 'deleted', entity: { id: 5 } }),
      ev('CollectionModificationEvent', { ctx, collection: { id: 5 }, productVariantIds: [2, 3] }),
      ev('ProductChannelEvent', { ctx, type: 'assigned', product: { id: 1 }, channelId: 2 }),
      ev('ProductVariantChannelEvent', { ctx, type: 'removed', productVariant: { id: 2, productId: 1 }, channelId: 2 }),
      ev('FacetValueEvent', { ctx, type: 'updated', entity: { id: 9, facetId: 4 } }),
      ev('AssetEvent', { ctx, type: 'created', entity: { id: 6 } }),
      ev('TaxRateModificationEvent', { ctx, taxRate: { id: 1 } }),
      ev('ChannelEvent', { ctx, type: 'updated', entity: { id: 2, token: 'b' } }),
    ]
    const tags = new Map<string, string[]>()
    for (const s of samples) {
      for (const m of (await mapEvent(s, lookup)) ?? []) {
        assert.ok(rules.has(m.type), `a rule for ${m.type}`)
        tags.set(m.type, rules.plan({ id: 'x', type: m.type, tenant: 't', data: m.data, at: 0 }).hardTags)
      }
    }
    assert.deepEqual(tags.get('vendure.variant.price_changed'), ['ProductVariant:2', 'Product:102', 'all:ProductVariant', 'all:Product'])
    assert.deepEqual(tags.get('vendure.product.updated'), ['Product:1', 'list:Product', 'all:Product'])
    assert.deepEqual(tags.get('vendure.collection.modified'), ['Collection:5', 'list:Collection', 'all:Collection', 'ProductVariant:2', 'ProductVariant:3', 'all:ProductVariant'])
    assert.deepEqual(tags.get('vendure.channel.updated'), ['shop-api', 'Channel:2'])
  })

  test('events the plugin does not handle map to nothing', async () => {
    assert.equal(await mapEvent(ev('OrderPlacedEvent', { ctx }), lookup), undefined)
  })
})

test('mergeVary keeps what is there (CORS Vary: Origin) and adds ours once', async () => {
  const { mergeVary } = await import('../src/graphql-hooks.ts')
  assert.equal(mergeVary(undefined, 'Origin', 'authorization, cookie'), 'Origin, authorization, cookie')
  assert.equal(mergeVary('origin', ['Accept-Encoding', 'Origin'], 'authorization, cookie'), 'origin, Accept-Encoding, authorization, cookie')
  assert.equal(mergeVary('*', 'authorization, cookie'), '*')
})
