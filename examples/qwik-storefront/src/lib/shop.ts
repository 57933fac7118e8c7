/**
 * Vendure Shop API queries. In the browser they go to `/shop-api` on the page's origin (the
 * storefront server forwards it to the Larder gateway); on the server straight to the gateway.
 * The channel token is the `vendure-token` header, which is also the Larder tenant.
 *
 * Queries are sent as GET (`?query=&variables=`): the gateway caches anonymous GET queries
 * (the @larder/vendure Shop API hook marks them), and a price change purges exactly the
 * cached answers that held that product or variant.
 */
export interface Variant {
  __typename: 'ProductVariant'
  id: string
  name: string
  sku: string
  priceWithTax: number
  currencyCode: string
}

export interface Product {
  __typename: 'Product'
  id: string
  name: string
  slug: string
  description: string
  variants: Variant[]
}

const VARIANT_FIELDS = '__typename id name sku priceWithTax currencyCode'

export const PRODUCTS_QUERY = `query Products($take: Int) {
  products(options: { take: $take, sort: { name: ASC } }) { __typename items { __typename id name slug description variants { ${VARIANT_FIELDS} } } }
}`

export const PRODUCT_QUERY = `query Product($slug: String!) {
  product(slug: $slug) { __typename id name slug description variants { ${VARIANT_FIELDS} } }
}`

export class ShopApiError extends Error {
  /** The HTTP status of the answer (200 when GraphQL reported errors). */
  readonly status: number
  /** GraphQL error codes (`extensions.code`), e.g. `CHANNEL_NOT_FOUND`. */
  readonly codes: string[]
  constructor(message: string, status: number, codes: string[] = []) {
    super(message)
    this.name = 'ShopApiError'
    this.status = status
    this.codes = codes
  }
  /** The request named what does not exist (an unknown channel token): the page is a 404, not a 500. */
  get notFound(): boolean {
    return this.codes.includes('CHANNEL_NOT_FOUND')
  }
}

/** Runs a Shop API query for `channel`; `base` is the gateway URL on the server, '' in the browser. */
export async function shopQuery<T>(base: string, channel: string, query: string, variables: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
  const url = `${base}/shop-api?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(JSON.stringify(variables))}`
  const res = await fetch(url, { headers: { 'vendure-token': channel }, signal })
  if (!res.ok) throw new ShopApiError(`shop api answered ${res.status}`, res.status)
  const body = (await res.json()) as { data?: T; errors?: { message: string; extensions?: { code?: string } }[] }
  if (body.errors?.length) {
    const codes = body.errors.map((e) => e.extensions?.code ?? '').filter((c) => c !== '')
    throw new ShopApiError(body.errors.map((e) => e.message).join('; '), res.status, codes)
  }
  return body.data as T
}

/** Formats minor units (Vendure stores 1299 for 12.99). */
export function formatPrice(minor: number, currency: string): string {
  return `${(minor / 100).toFixed(2)} ${currency}`
}

/** The Larder topics that change when a product's data changes (the tags the Vendure plugin invalidates). */
export function productTopics(product: Pick<Product, 'id' | 'variants'>): string[] {
  return [`Product:${product.id}`, ...product.variants.map((v) => `ProductVariant:${v.id}`)]
}

/** Channel tokens are untrusted path input: letters, digits, `-` and `_` only. */
export function validChannel(token: string): boolean {
  return /^[A-Za-z0-9_-]{1,64}$/.test(token)
}
