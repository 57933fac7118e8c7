/**
 * Vendure catalog events → Larder events. Each Vendure event becomes one Larder event per
 * channel it changes, with the channel's token as the tenant:
 *
 * - a price (`ProductVariantPriceEvent`) belongs to one channel; so does an update of variants
 *   that only sets prices (`updateProductVariants` with `price`/`prices`), which changes
 *   nothing in the other channels;
 * - channel assignment events name their channel;
 * - other entity events reach every channel the entity is assigned to (read after commit);
 *   deletions and tax rates reach every channel.
 *
 * The Larder event types and their data are the `rules/vendure.yaml` vocabulary
 * (docs/vendure.md has the table).
 * @module
 */
import type { ID, VendureEvent } from '@vendure/core'
import * as core from '@vendure/core'

/** One Larder event before its tenants are resolved. */
export interface MappedEvent {
  type: string
  data: Record<string, unknown>
  scope: Scope
}

/** Which channels an event reaches. */
export type Scope =
  | { kind: 'channels'; ids: ID[] }
  | { kind: 'tokens'; tokens: string[] }
  | { kind: 'entity'; entity: 'Product' | 'ProductVariant' | 'Collection' | 'FacetValue' | 'Asset'; ids: ID[] }
  | { kind: 'all' }

/** What the mapper needs from the database (read after commit). */
export interface CatalogLookup {
  /** variant id → product id. */
  productIdsOf(variantIds: readonly ID[]): Promise<Map<string, ID>>
}

const PRICE_ONLY = new Set(['id', 'price', 'prices'])
const ALL: Scope = { kind: 'all' }

/** The Vendure event classes the plugin subscribes to (those this Vendure version has). */
export function catalogEventClasses(): Array<new (...args: any[]) => VendureEvent> {
  const names = [
    'ProductEvent',
    'ProductVariantEvent',
    'ProductVariantPriceEvent',
    'StockMovementEvent',
    'CollectionEvent',
    'CollectionModificationEvent',
    'ProductChannelEvent',
    'ProductVariantChannelEvent',
    'FacetValueEvent',
    'AssetEvent',
    'TaxRateModificationEvent',
    'ChannelEvent',
  ]
  const mod = core as unknown as Record<string, unknown>
  return names.map((n) => mod[n]).filter((c): c is new (...args: any[]) => VendureEvent => typeof c === 'function')
}

function ids(xs: readonly { id: ID }[]): ID[] {
  return xs.map((x) => x.id)
}

function str(xs: Iterable<ID | undefined>): string[] {
  const out = new Set<string>()
  for (const x of xs) if (x !== undefined && x !== null) out.add(String(x))
  return [...out]
}

function entityScope(entity: Extract<Scope, { kind: 'entity' }>['entity'], type: string, list: ID[]): Scope {
  return type === 'deleted' ? ALL : { kind: 'entity', entity, ids: list }
}

/** Maps one Vendure event; undefined for events the plugin does not handle. */
export async function mapEvent(event: VendureEvent, lookup: CatalogLookup): Promise<MappedEvent[] | undefined> {
  const e = event as any
  const name = event.constructor.name
  switch (name) {
    case 'ProductEvent':
      return [{ type: `vendure.product.${e.type}`, data: { productId: String(e.entity.id) }, scope: entityScope('Product', e.type, [e.entity.id]) }]
    case 'ProductVariantEvent': {
      const variants = e.entity as { id: ID; productId?: ID }[]
      const vids = ids(variants)
      const pids = await productIds(variants, lookup)
      const inputs = Array.isArray(e.input) ? e.input : []
      const priceOnly = e.type === 'updated' && inputs.length > 0 && inputs.every((i: unknown) => typeof i === 'object' && i !== null && Object.keys(i).every((k) => PRICE_ONLY.has(k)))
      const scope: Scope = priceOnly ? { kind: 'channels', ids: [e.ctx.channelId] } : entityScope('ProductVariant', e.type, vids)
      return [{ type: `vendure.variant.${e.type}`, data: { variantIds: str(vids), productIds: pids }, scope }]
    }
    case 'ProductVariantPriceEvent': {
      const prices = e.entity as { variantId: ID; channelId: ID }[]
      const byChannel = new Map<string, { channelId: ID; variantIds: ID[] }>()
      for (const p of prices) {
        const k = String(p.channelId)
        const g = byChannel.get(k) ?? { channelId: p.channelId, variantIds: [] }
        g.variantIds.push(p.variantId)
        byChannel.set(k, g)
      }
      const map = await lookup.productIdsOf(prices.map((p) => p.variantId))
      return [...byChannel.values()].map((g) => ({
        type: 'vendure.variant.price_changed',
        data: { variantIds: str(g.variantIds), productIds: str(g.variantIds.map((v) => map.get(String(v)))) },
        scope: { kind: 'channels', ids: [g.channelId] },
      }))
    }
    case 'StockMovementEvent': {
      const vids = str((e.stockMovements as { productVariant?: { id: ID }; productVariantId?: ID }[]).map((m) => m.productVariant?.id ?? m.productVariantId))
      const map = await lookup.productIdsOf(vids)
      return [{ type: 'vendure.stock.moved', data: { variantIds: vids, productIds: str(vids.map((v) => map.get(v))) }, scope: { kind: 'entity', entity: 'ProductVariant', ids: vids } }]
    }
    case 'CollectionEvent':
      return [{ type: `vendure.collection.${e.type}`, data: { collectionId: String(e.entity.id) }, scope: entityScope('Collection', e.type, [e.entity.id]) }]
    case 'CollectionModificationEvent':
      return [{ type: 'vendure.collection.modified', data: { collectionId: String(e.collection.id), variantIds: str(e.productVariantIds) }, scope: { kind: 'entity', entity: 'Collection', ids: [e.collection.id] } }]
    case 'ProductChannelEvent':
      return [{ type: `vendure.product.${e.type}`, data: { productId: String(e.product.id) }, scope: { kind: 'channels', ids: [e.channelId] } }]
    case 'ProductVariantChannelEvent': {
      const v = e.productVariant as { id: ID; productId?: ID }
      const pid = v.productId ?? (await lookup.productIdsOf([v.id])).get(String(v.id))
      return [{ type: `vendure.variant.${e.type}`, data: pid === undefined ? { variantId: String(v.id) } : { variantId: String(v.id), productId: String(pid) }, scope: { kind: 'channels', ids: [e.channelId] } }]
    }
    case 'FacetValueEvent': {
      const fv = e.entity as { id: ID; facetId?: ID; facet?: { id: ID } }
      const facetId = fv.facetId ?? fv.facet?.id
      const data = facetId === undefined ? { facetValueId: String(fv.id) } : { facetValueId: String(fv.id), facetId: String(facetId) }
      return [{ type: `vendure.facet_value.${e.type}`, data, scope: entityScope('FacetValue', e.type, [fv.id]) }]
    }
    case 'AssetEvent':
      return [{ type: `vendure.asset.${e.type}`, data: { assetId: String(e.entity.id) }, scope: entityScope('Asset', e.type, [e.entity.id]) }]
    case 'TaxRateModificationEvent':
      return [{ type: 'vendure.tax_rate.modified', data: { taxRateId: String(e.taxRate.id) }, scope: ALL }]
    case 'ChannelEvent':
      return [{ type: `vendure.channel.${e.type}`, data: { channelId: String(e.entity.id) }, scope: { kind: 'tokens', tokens: [e.entity.token] } }]
    default:
      return undefined
  }
}

async function productIds(variants: { id: ID; productId?: ID }[], lookup: CatalogLookup): Promise<string[]> {
  const missing = variants.filter((v) => v.productId === undefined || v.productId === null).map((v) => v.id)
  const map = missing.length > 0 ? await lookup.productIdsOf(missing) : new Map<string, ID>()
  return str(variants.map((v) => v.productId ?? map.get(String(v.id))))
}
