/**
 * The write endpoints. They only change rows: the triggers (db/schema.ts) turn each
 * committed change into a domain event, and the rules turn events into invalidations.
 *
 * Each write transaction ends with a "commit marker" notification carrying a token. NOTIFY
 * messages of one transaction are delivered in the order they were sent, after COMMIT, so
 * once the change feed has processed the marker it has processed every event of the
 * write: the origin can then acknowledge the write knowing its invalidation is in the log
 * (read-your-writes through the cache).
 * @module
 */
import { randomUUID } from 'node:crypto'
import type { Db, Queryable } from '../db/connect.ts'
import { EVENTS_CHANNEL, SELLER_STATUSES } from '../db/schema.ts'
import { HttpError } from './http-error.ts'

export const COMMIT_EVENT = 'storefront.commit'

export interface WriteResult {
  status: number
  body: unknown
  /** Token of the commit marker this write's transaction sent. */
  token: string
}

type Body = Record<string, unknown>

function asObject(body: unknown): Body {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'E_BAD_REQUEST', 'the request body must be a JSON object')
  return body as Body
}

function optInt(body: Body, field: string, min: number, max: number): number | undefined {
  const v = body[field]
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new HttpError(400, 'E_BAD_REQUEST', `${field} must be an integer between ${min} and ${max}`)
  return v
}

function onlyFields(body: Body, allowed: readonly string[]): void {
  for (const k of Object.keys(body)) if (!allowed.includes(k)) throw new HttpError(400, 'E_BAD_REQUEST', `unknown field "${k.slice(0, 40)}" (allowed: ${allowed.join(', ')})`)
}

const MAX_PRICE = 100_000_000
const MAX_STOCK = 1_000_000

async function inWrite<T>(db: Db, fn: (tx: Queryable) => Promise<T>): Promise<{ out: T; token: string }> {
  const token = randomUUID()
  const out = await db.transaction(async (tx) => {
    const r = await fn(tx)
    await tx.query('SELECT pg_notify($1, $2)', [EVENTS_CHANNEL, JSON.stringify({ type: COMMIT_EVENT, token })])
    return r
  })
  return { out, token }
}

/** `{ priceCents?, stock? }`, at least one, both bounded: the body of a product or variant PATCH. */
function priceAndStock(body: Body): { price: number | undefined; stock: number | undefined } {
  onlyFields(body, ['priceCents', 'stock'])
  const price = optInt(body, 'priceCents', 0, MAX_PRICE)
  const stock = optInt(body, 'stock', 0, MAX_STOCK)
  if (price === undefined && stock === undefined) throw new HttpError(400, 'E_BAD_REQUEST', 'give priceCents and/or stock')
  return { price, stock }
}

/** PATCH /api/v1/products/{id} { priceCents?, stock? } */
export async function patchProduct(db: Db, tenant: string, id: number, raw: unknown): Promise<WriteResult> {
  const body = asObject(raw)
  const { price, stock } = priceAndStock(body)
  const { out, token } = await inWrite(db, (tx) =>
    tx.query(
      `UPDATE products SET price_cents = coalesce($3, price_cents), stock = coalesce($4, stock) WHERE tenant = $1 AND id = $2
       RETURNING id, name, category_id AS "categoryId", price_cents AS "priceCents", stock, version`,
      [tenant, id, price ?? null, stock ?? null],
    ),
  )
  if (!out[0]) throw new HttpError(404, 'E_NOT_FOUND', `product ${id} does not exist`)
  return { status: 200, body: { product: out[0] }, token }
}

/** PATCH /api/v1/variants/{id} { priceCents?, stock? } */
export async function patchVariant(db: Db, tenant: string, id: number, raw: unknown): Promise<WriteResult> {
  const body = asObject(raw)
  const { price, stock } = priceAndStock(body)
  const { out, token } = await inWrite(db, (tx) =>
    tx.query(
      `UPDATE variants SET price_cents = coalesce($3, price_cents), stock = coalesce($4, stock) WHERE tenant = $1 AND id = $2
       RETURNING id, product_id AS "productId", sku, name, price_cents AS "priceCents", stock, version`,
      [tenant, id, price ?? null, stock ?? null],
    ),
  )
  if (!out[0]) throw new HttpError(404, 'E_NOT_FOUND', `variant ${id} does not exist`)
  return { status: 200, body: { variant: out[0] }, token }
}

/** PATCH /api/v1/sellers/{id} { status?, active? } — `active: true` marks the seller active now. */
export async function patchSeller(db: Db, tenant: string, id: number, raw: unknown): Promise<WriteResult> {
  const body = asObject(raw)
  onlyFields(body, ['status', 'active'])
  const status = body.status
  if (status !== undefined && !(SELLER_STATUSES as readonly unknown[]).includes(status)) {
    throw new HttpError(400, 'E_BAD_REQUEST', `status must be one of ${SELLER_STATUSES.join(', ')}`)
  }
  if (body.active !== undefined && body.active !== true) throw new HttpError(400, 'E_BAD_REQUEST', 'active may only be true (it marks the seller active now)')
  if (status === undefined && body.active === undefined) throw new HttpError(400, 'E_BAD_REQUEST', 'give status and/or active')
  const { out, token } = await inWrite(db, (tx) =>
    tx.query(
      `UPDATE sellers SET status = coalesce($3, status), last_active_at = CASE WHEN $4 THEN now() ELSE last_active_at END WHERE tenant = $1 AND id = $2
       RETURNING id, name, status, last_active_at AS "lastActiveAt", version`,
      [tenant, id, status ?? null, body.active === true],
    ),
  )
  if (!out[0]) throw new HttpError(404, 'E_NOT_FOUND', `seller ${id} does not exist`)
  return { status: 200, body: { seller: out[0] }, token }
}

/** PUT /api/v1/variants/{vid}/sellers/{sid} { priceCents, stock }: a seller lists (or relists) a variant. */
export async function putOffer(db: Db, tenant: string, variantId: number, sellerId: number, raw: unknown): Promise<WriteResult> {
  const body = asObject(raw)
  onlyFields(body, ['priceCents', 'stock'])
  const price = optInt(body, 'priceCents', 0, MAX_PRICE)
  const stock = optInt(body, 'stock', 0, MAX_STOCK)
  if (price === undefined || stock === undefined) throw new HttpError(400, 'E_BAD_REQUEST', 'give priceCents and stock')
  const { out, token } = await inWrite(db, async (tx) => {
    const ok = await tx.query(
      'SELECT (SELECT count(*)::int FROM variants WHERE tenant = $1 AND id = $2) AS v, (SELECT count(*)::int FROM sellers WHERE tenant = $1 AND id = $3) AS s',
      [tenant, variantId, sellerId],
    )
    const r = ok[0] as { v: number; s: number }
    if (!r.v) throw new HttpError(404, 'E_NOT_FOUND', `variant ${variantId} does not exist`)
    if (!r.s) throw new HttpError(404, 'E_NOT_FOUND', `seller ${sellerId} does not exist`)
    return tx.query(
      `INSERT INTO offers (tenant, variant_id, seller_id, price_cents, stock) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant, variant_id, seller_id) DO UPDATE SET price_cents = EXCLUDED.price_cents, stock = EXCLUDED.stock, removed_at = NULL
       RETURNING variant_id AS "variantId", seller_id AS "sellerId", price_cents AS "priceCents", stock`,
      [tenant, variantId, sellerId, price, stock],
    )
  })
  return { status: 200, body: { offer: out[0] }, token }
}

/** DELETE /api/v1/variants/{vid}/sellers/{sid}: the listing is removed (kept for churn metrics). */
export async function removeOffer(db: Db, tenant: string, variantId: number, sellerId: number): Promise<WriteResult> {
  const { out, token } = await inWrite(db, (tx) =>
    tx.query('UPDATE offers SET removed_at = now() WHERE tenant = $1 AND variant_id = $2 AND seller_id = $3 AND removed_at IS NULL RETURNING variant_id', [tenant, variantId, sellerId]),
  )
  if (!out[0]) throw new HttpError(404, 'E_NOT_FOUND', `seller ${sellerId} has no listing for variant ${variantId}`)
  return { status: 200, body: { removed: true }, token }
}

/** POST /api/v1/orders { variantId, quantity }: takes stock from the variant and its product. */
export async function createOrder(db: Db, tenant: string, raw: unknown): Promise<WriteResult> {
  const body = asObject(raw)
  onlyFields(body, ['variantId', 'quantity'])
  const variantId = optInt(body, 'variantId', 1, 999_999_999)
  const quantity = optInt(body, 'quantity', 1, 100)
  if (variantId === undefined || quantity === undefined) throw new HttpError(400, 'E_BAD_REQUEST', 'give variantId and quantity')
  const { out, token } = await inWrite(db, async (tx) => {
    const [v] = await tx.query<{ productId: number; priceCents: number; stock: number; version: number }>(
      'UPDATE variants SET stock = stock - $3 WHERE tenant = $1 AND id = $2 AND stock >= $3 RETURNING product_id AS "productId", price_cents AS "priceCents", stock, version',
      [tenant, variantId, quantity],
    )
    if (!v) {
      const [exists] = await tx.query('SELECT 1 FROM variants WHERE tenant = $1 AND id = $2', [tenant, variantId])
      if (!exists) throw new HttpError(404, 'E_NOT_FOUND', `variant ${variantId} does not exist`)
      throw new HttpError(409, 'E_OUT_OF_STOCK', `variant ${variantId} has fewer than ${quantity} in stock`)
    }
    const [p] = await tx.query<{ stock: number; version: number }>(
      'UPDATE products SET stock = greatest(stock - $3, 0) WHERE tenant = $1 AND id = $2 RETURNING id, stock, version',
      [tenant, v.productId, quantity],
    )
    const [o] = await tx.query<{ id: number }>('INSERT INTO orders (tenant, variant_id, quantity, total_cents) VALUES ($1, $2, $3, $4) RETURNING id', [
      tenant,
      variantId,
      quantity,
      v.priceCents * quantity,
    ])
    return { order: { id: o?.id, variantId, quantity, totalCents: v.priceCents * quantity }, variant: { id: variantId, stock: v.stock, version: v.version }, product: { id: v.productId, ...p } }
  })
  return { status: 201, body: out, token }
}
