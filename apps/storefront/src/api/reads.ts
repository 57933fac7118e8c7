/**
 * The read endpoints of the shop API. Each answers a JSON body plus what a shared cache
 * needs to know about it: how long it may be kept and the tags that invalidate it.
 * Every product, variant and seller row carries its `version`.
 * @module
 */
import type { Queryable } from '../db/connect.ts'
import { SHARED_MAX_AGE, sellersMaxAge, tags } from './cache-policy.ts'
import { HttpError } from './http-error.ts'

export interface ReadResult {
  body: unknown
  maxAge: number
  tags: string[]
}

export interface ProductRow {
  id: number
  name: string
  categoryId: number
  priceCents: number
  stock: number
  version: number
}

const PRODUCT_COLUMNS = 'p.id, p.name, p.category_id AS "categoryId", p.price_cents AS "priceCents", p.stock, p.version'

const SORTS: Record<string, string> = {
  id: 'p.id',
  name: 'p.name, p.id',
  price: 'p.price_cents, p.id',
  '-price': 'p.price_cents DESC, p.id',
}

/** Reads `?page=&per_page=&sort=` and rejects anything else with a message saying what is wrong. */
export function paging(url: URL, defaults = { perPage: 20 }): { page: number; perPage: number; sort: string } {
  const page = intParam(url, 'page', 1, 1, 500)
  const perPage = intParam(url, 'per_page', defaults.perPage, 1, 100)
  const sort = url.searchParams.get('sort') ?? 'id'
  if (!(sort in SORTS)) throw new HttpError(400, 'E_BAD_REQUEST', `sort must be one of ${Object.keys(SORTS).join(', ')}`)
  return { page, perPage, sort }
}

export function intParam(url: URL, name: string, def: number, min: number, max: number): number {
  const raw = url.searchParams.get(name)
  if (raw === null) return def
  if (!/^\d{1,9}$/.test(raw)) throw new HttpError(400, 'E_BAD_REQUEST', `${name} must be an integer between ${min} and ${max}`)
  const n = Number(raw)
  if (n < min || n > max) throw new HttpError(400, 'E_BAD_REQUEST', `${name} must be an integer between ${min} and ${max}`)
  return n
}

/** A path id: a positive integer, nothing else. */
export function idParam(raw: string, what: string): number {
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < 1) throw new HttpError(400, 'E_BAD_REQUEST', `${what} id must be a positive integer`)
  return Number(raw)
}

function listTags(items: readonly ProductRow[], extra: string[]): string[] {
  return [...extra, ...items.map((p) => tags.product(p.id))]
}

export async function listProducts(db: Queryable, tenant: string, url: URL): Promise<ReadResult> {
  const { page, perPage, sort } = paging(url)
  const items = await db.query<ProductRow>(`SELECT ${PRODUCT_COLUMNS} FROM products p WHERE p.tenant = $1 ORDER BY ${SORTS[sort]} LIMIT $2 OFFSET $3`, [tenant, perPage, (page - 1) * perPage])
  const [count] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM products WHERE tenant = $1', [tenant])
  const extra: string[] = [tags.productsList]
  if (sort.endsWith('price')) extra.push(tags.productsByPrice)
  return { body: { items, page, perPage, sort, total: count?.n ?? 0 }, maxAge: SHARED_MAX_AGE.products, tags: listTags(items, extra) }
}

export async function getProduct(db: Queryable, tenant: string, id: number): Promise<ReadResult> {
  const [product] = await db.query<ProductRow & { description: string }>(`SELECT ${PRODUCT_COLUMNS}, p.description FROM products p WHERE p.tenant = $1 AND p.id = $2`, [tenant, id])
  if (!product) throw new HttpError(404, 'E_NOT_FOUND', `product ${id} does not exist`)
  const variants = await db.query<{ id: number }>(
    'SELECT id, sku, name, price_cents AS "priceCents", stock, version FROM variants WHERE tenant = $1 AND product_id = $2 ORDER BY id',
    [tenant, id],
  )
  return {
    body: { product, variants },
    maxAge: SHARED_MAX_AGE.product,
    tags: [tags.product(id), tags.category(product.categoryId), ...variants.map((v) => tags.variant(v.id))],
  }
}

export async function listCategories(db: Queryable, tenant: string): Promise<ReadResult> {
  const rows = await db.query<{ id: number; parentId: number | null; name: string; products: number }>(
    `SELECT c.id, c.parent_id AS "parentId", c.name, (SELECT count(*)::int FROM products p WHERE p.tenant = c.tenant AND p.category_id = c.id) AS products
     FROM categories c WHERE c.tenant = $1 ORDER BY c.id`,
    [tenant],
  )
  const roots = rows.filter((r) => r.parentId === null).map((r) => ({ ...r, children: rows.filter((c) => c.parentId === r.id) }))
  return { body: { categories: roots }, maxAge: SHARED_MAX_AGE.categories, tags: [tags.categories] }
}

export async function listCategoryProducts(db: Queryable, tenant: string, id: number, url: URL): Promise<ReadResult> {
  const { page, perPage, sort } = paging(url)
  // A root category lists the products of its children too.
  const cats = await db.query<{ id: number; name: string; parentId: number | null }>(
    'SELECT id, name, parent_id AS "parentId" FROM categories WHERE tenant = $1 AND (id = $2 OR parent_id = $2) ORDER BY id',
    [tenant, id],
  )
  const self = cats.find((c) => c.id === id)
  if (!self) throw new HttpError(404, 'E_NOT_FOUND', `category ${id} does not exist`)
  const ids = cats.map((c) => c.id)
  const items = await db.query<ProductRow>(
    `SELECT ${PRODUCT_COLUMNS} FROM products p WHERE p.tenant = $1 AND p.category_id = ANY($2::int[]) ORDER BY ${SORTS[sort]} LIMIT $3 OFFSET $4`,
    [tenant, ids, perPage, (page - 1) * perPage],
  )
  const [count] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM products WHERE tenant = $1 AND category_id = ANY($2::int[])', [tenant, ids])
  const extra = ids.map(tags.category)
  if (sort.endsWith('price')) extra.push(...ids.map(tags.categoryByPrice))
  return {
    body: { category: self, items, page, perPage, sort, total: count?.n ?? 0 },
    maxAge: SHARED_MAX_AGE.categoryProducts,
    tags: listTags(items, extra),
  }
}

/** `%`, `_` and `\` in the query are data, not LIKE syntax. */
export function likePattern(q: string): string {
  return `%${q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

export async function search(db: Queryable, tenant: string, url: URL): Promise<ReadResult> {
  const q = url.searchParams.get('q')
  if (q === null || q.trim() === '') throw new HttpError(400, 'E_BAD_REQUEST', 'q (the search text) is required')
  if (q.length > 100) throw new HttpError(400, 'E_BAD_REQUEST', `q is ${q.length} characters long; the limit is 100`)
  const { page, perPage } = paging(url)
  const items = await db.query<ProductRow>(
    `SELECT ${PRODUCT_COLUMNS} FROM products p WHERE p.tenant = $1 AND p.name ILIKE $2 ESCAPE '\\' ORDER BY p.name, p.id LIMIT $3 OFFSET $4`,
    [tenant, likePattern(q.trim()), perPage, (page - 1) * perPage],
  )
  return { body: { q, items, page, perPage }, maxAge: SHARED_MAX_AGE.search, tags: listTags(items, [tags.search]) }
}

/**
 * The sellers of a variant, without banned, suspended, payment-overdue, vacation
 * and inactive-for-6-months sellers (nor removed listings); ttl by seller count.
 */
export async function variantSellers(db: Queryable, tenant: string, id: number): Promise<ReadResult> {
  const [variant] = await db.query<{ id: number; productId: number }>(
    'SELECT id, product_id AS "productId", sku, name, price_cents AS "priceCents", stock, version FROM variants WHERE tenant = $1 AND id = $2',
    [tenant, id],
  )
  if (!variant) throw new HttpError(404, 'E_NOT_FOUND', `variant ${id} does not exist`)
  const rows = await db.query<{ id: number; name: string; status: string; inactive: boolean; priceCents: number; stock: number; version: number }>(
    `SELECT s.id, s.name, s.status, s.last_active_at < now() - interval '6 months' AS inactive,
            o.price_cents AS "priceCents", o.stock, s.version
     FROM offers o JOIN sellers s ON s.tenant = o.tenant AND s.id = o.seller_id
     WHERE o.tenant = $1 AND o.variant_id = $2 AND o.removed_at IS NULL
     ORDER BY o.price_cents, s.id`,
    [tenant, id],
  )
  const excluded: Record<string, number> = {}
  const sellers: { id: number; name: string; priceCents: number; stock: number; version: number }[] = []
  for (const r of rows) {
    if (r.status !== 'active') excluded[r.status] = (excluded[r.status] ?? 0) + 1
    else if (r.inactive) excluded.inactive_6_months = (excluded.inactive_6_months ?? 0) + 1
    else sellers.push({ id: r.id, name: r.name, priceCents: r.priceCents, stock: r.stock, version: r.version })
  }
  return {
    body: { variant, sellerCount: sellers.length, sellers, excluded },
    maxAge: sellersMaxAge(sellers.length),
    tags: [tags.variantSellers(id), tags.variant(id), ...sellers.map((s) => tags.seller(s.id))],
  }
}

export async function analyticsDashboard(db: Queryable, tenant: string): Promise<ReadResult> {
  const [orders] = await db.query<{ count: number; revenueCents: number }>(
    `SELECT count(*)::int AS count, coalesce(sum(total_cents), 0)::bigint::text AS "revenueCents" FROM orders WHERE tenant = $1 AND created_at > now() - interval '30 days'`,
    [tenant],
  )
  const topProducts = await db.query(
    `SELECT v.product_id AS "productId", sum(o.quantity)::int AS quantity FROM orders o JOIN variants v ON v.tenant = o.tenant AND v.id = o.variant_id
     WHERE o.tenant = $1 AND o.created_at > now() - interval '30 days' GROUP BY v.product_id ORDER BY 2 DESC, 1 LIMIT 5`,
    [tenant],
  )
  const sellerStatus = await db.query<{ status: string; count: number }>('SELECT status, count(*)::int AS count FROM sellers WHERE tenant = $1 GROUP BY status ORDER BY status', [tenant])
  const [inactive] = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM sellers WHERE tenant = $1 AND last_active_at < now() - interval '6 months'`, [tenant])
  // Marketplace churn: listings added and removed per hour over the last 24 hours.
  const churn = await db.query<{ hour: string; added: number; removed: number }>(
    `SELECT to_char(h AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00"Z"') AS hour, sum(a)::int AS added, sum(r)::int AS removed FROM (
       SELECT date_trunc('hour', created_at) AS h, 1 AS a, 0 AS r FROM offers WHERE tenant = $1 AND created_at > now() - interval '24 hours'
       UNION ALL
       SELECT date_trunc('hour', removed_at), 0, 1 FROM offers WHERE tenant = $1 AND removed_at > now() - interval '24 hours') x
     GROUP BY h ORDER BY h`,
    [tenant],
  )
  const [lowStock] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM variants WHERE tenant = $1 AND stock < 5', [tenant])
  return {
    body: {
      orders30d: { count: orders?.count ?? 0, revenueCents: Number(orders?.revenueCents ?? 0) },
      topProducts,
      sellers: { byStatus: Object.fromEntries(sellerStatus.map((s) => [s.status, s.count])), inactive6Months: inactive?.n ?? 0 },
      listingsChurn: churn,
      lowStockVariants: lowStock?.n ?? 0,
      at: new Date().toISOString(),
    },
    maxAge: SHARED_MAX_AGE.analytics,
    tags: [tags.analytics],
  }
}
