/**
 * How long each endpoint may be cached by a shared cache (the table in docs/storefront.md) and
 * the surrogate keys (tags) its responses carry. The origin says this once, in headers;
 * the gateway stores `s-maxage` and turns `Surrogate-Key` into tags, and the event rules
 * (rules.yaml) purge by the same tags.
 * @module
 */

/** Seconds a shared cache may keep each endpoint's answer. */
export const SHARED_MAX_AGE = {
  products: 300, // "/api/v1/products": 5m
  product: 3600, // "/api/v1/products/{id}": 1h
  categories: 7200, // "/api/v1/categories": 2h
  categoryProducts: 1800, // "/api/v1/categories/{id}/products": 30m
  search: 900, // "/api/v1/search": 15m
  analytics: 3600, // "/api/v1/analytics/dashboard": 1h
  sellersMany: 900, // a variant with more than 100 sellers: 15m
  sellersFew: 3600, // otherwise 1h
} as const

/** More sellers means more churn, so a shorter ttl. */
export function sellersMaxAge(sellerCount: number): number {
  return sellerCount > 100 ? SHARED_MAX_AGE.sellersMany : SHARED_MAX_AGE.sellersFew
}

/** Stale-while-revalidate window (as in `max-age=300, stale-while-revalidate=60`). */
export const SWR_SECONDS = 60

/**
 * Browsers must ask again every time (`max-age=0`) so the page always goes through the
 * gateway, whose copy is kept fresh by invalidation; shared caches keep it for `s-maxage`
 * (RFC 9111 §5.2.2.10) and may serve it stale while revalidating (RFC 5861 §3).
 */
export function cacheControl(sMaxAge: number): string {
  return `public, max-age=0, s-maxage=${sMaxAge}, stale-while-revalidate=${SWR_SECONDS}`
}

/** Tag names, in one place so the rules (rules.yaml) and the responses cannot drift apart. */
export const tags = {
  product: (id: number) => `product:${id}`,
  variant: (id: number) => `variant:${id}`,
  variantSellers: (id: number) => `variant:${id}:sellers`,
  seller: (id: number) => `seller:${id}`,
  category: (id: number) => `category:${id}`,
  /** Lists whose order depends on prices (a price change can move any row to any page). */
  productsByPrice: 'products:by-price',
  categoryByPrice: (id: number) => `category:${id}:by-price`,
  productsList: 'products:list',
  categories: 'categories',
  search: 'search',
  analytics: 'analytics',
} as const
