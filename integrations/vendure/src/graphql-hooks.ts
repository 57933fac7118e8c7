/**
 * Apollo Server plugins the Larder plugin adds to Vendure's GraphQL APIs:
 *
 * - Shop API (`shopApiCache`): a query answered to an anonymous GET request, without errors and
 *   without customer- or session-specific root fields, is marked for shared caches
 *   (`Cache-Control: public, max-age=0, s-maxage=<ttl>`, `Vary: authorization, cookie`) and
 *   names its entities as surrogate keys (`Surrogate-Key: shop-api Product:42 …`, larder/http
 *   `graphqlSurrogateKeys`). Everything else gets `Cache-Control: private, no-store`.
 * - Admin API: a mutation answers once the invalidations of the catalog events it caused are
 *   applied (pending.ts), so the next storefront read gets the new value.
 * @module
 */
import type { ApolloServerPlugin, GraphQLRequestContextWillSendResponse } from '@apollo/server'
import type { DocumentNode, SelectionSetNode } from 'graphql'
import { graphqlSurrogateKeys } from 'larder/http'
import type { PendingInvalidations } from './pending.ts'

export const DEFAULT_UNCACHEABLE_FIELDS = [
  'activeOrder',
  'activeCustomer',
  'activePaymentMethods',
  'activeShippingMethods',
  'eligibleShippingMethods',
  'eligiblePaymentMethods',
  'nextOrderStates',
  'orderByCode',
  'me',
  // The search index is updated by a job after the catalog event: a read between the two
  // would be cached with the old index and never purged.
  'search',
] as const

/** Search results point at products and variants by these fields. */
export const VENDURE_REFERENCES = { SearchResult: { productId: 'Product', productVariantId: 'ProductVariant' } } as const

export interface ShopCacheHookOptions {
  shopApiPath: string
  ttlSeconds: number
  uncacheable: ReadonlySet<string>
  maxKeys: number
  /** Vendure's `apiOptions.channelTokenKey` (the gateway's tenant header). Default `vendure-token`. */
  channelTokenKey?: string
}

type Req = { method?: string; originalUrl?: string; url?: string; headers: Record<string, string | string[] | undefined> }
type Ctx = { req?: Req; res?: { getHeader?(name: string): number | string | string[] | undefined } }

function pathOf(req: Req | undefined): string {
  const u = req?.originalUrl ?? req?.url ?? ''
  const q = u.indexOf('?')
  return q < 0 ? u : u.slice(0, q)
}

function queryHas(req: Req, name: string): boolean {
  const u = req.originalUrl ?? req.url ?? ''
  const q = u.indexOf('?')
  return q >= 0 && new URLSearchParams(u.slice(q + 1)).has(name)
}

function under(path: string, apiPath: string): boolean {
  const p = `/${apiPath.replace(/^\/+/, '')}`
  return path === p || path.startsWith(`${p}/`)
}

/** Root field names of the operation, through fragments; undefined when a fragment is missing. */
export function rootFields(document: DocumentNode, set: SelectionSetNode, seen = new Set<string>()): string[] | undefined {
  const out: string[] = []
  for (const s of set.selections) {
    if (s.kind === 'Field') out.push(s.name.value)
    else if (s.kind === 'InlineFragment') {
      const inner = rootFields(document, s.selectionSet, seen)
      if (!inner) return undefined
      out.push(...inner)
    } else {
      const name = s.name.value
      if (seen.has(name)) continue
      seen.add(name)
      const def = document.definitions.find((d) => d.kind === 'FragmentDefinition' && d.name.value === name)
      if (def?.kind !== 'FragmentDefinition') return undefined
      const inner = rootFields(document, def.selectionSet, seen)
      if (!inner) return undefined
      out.push(...inner)
    }
  }
  return out
}

/** Why this response must not be shared, or its surrogate keys. */
export function shopCacheVerdict(rc: GraphQLRequestContextWillSendResponse<Ctx>, o: ShopCacheHookOptions): { keys: string[] } | { no: string } {
  const req = rc.contextValue?.req
  if (req?.method !== 'GET') return { no: 'not a GET' }
  if (rc.operation?.operation !== 'query' || !rc.document) return { no: 'not a query' }
  if (rc.response.body.kind !== 'single') return { no: 'incremental delivery' }
  const body = rc.response.body.singleResult
  if (body.errors && body.errors.length > 0) return { no: 'errors' }
  const h = req.headers
  if (h.authorization !== undefined || h.cookie !== undefined) return { no: 'a session may apply (authorization or cookie)' }
  const vctx = (req as unknown as Record<string, { default?: { session?: unknown } } | undefined>).vendureRequestContext
  if (vctx?.default?.session !== undefined) return { no: 'a session applies' }
  // A session started during this request (cookie token method): its Set-Cookie must never be
  // stored and replayed to the next visitor.
  if ((req as { session?: { isPopulated?: boolean } }).session?.isPopulated === true) return { no: 'a session cookie is being set' }
  // Vendure prefers a channel token in the query string to the header, the gateway keys its
  // tenant by the header: cached, the answer would sit in another channel's tenant, beyond
  // that channel's purges.
  if (queryHas(req, o.channelTokenKey ?? 'vendure-token')) return { no: 'the channel is named in the query string' }
  const fields = rootFields(rc.document, rc.operation.selectionSet)
  if (!fields) return { no: 'unknown fragment' }
  const bad = fields.find((f) => o.uncacheable.has(f))
  if (bad !== undefined) return { no: `${bad} is customer-specific` }
  const r = graphqlSurrogateKeys(body.data, { fixed: ['shop-api'], maxKeys: o.maxKeys, references: VENDURE_REFERENCES })
  if (!r.keys) return { no: r.reason }
  return { keys: r.keys }
}

/** One Vary field value from several (case-insensitive, no duplicates, `*` wins). */
export function mergeVary(...values: (number | string | string[] | undefined)[]): string {
  const out = new Map<string, string>()
  for (const v of values) {
    if (v === undefined) continue
    for (const part of (Array.isArray(v) ? v.join(',') : String(v)).split(',')) {
      const t = part.trim()
      if (t === '*') return '*'
      if (t && !out.has(t.toLowerCase())) out.set(t.toLowerCase(), t)
    }
  }
  return [...out.values()].join(', ')
}

export function shopApiCachePlugin(o: ShopCacheHookOptions): ApolloServerPlugin<Ctx> {
  return {
    async requestDidStart(start) {
      if (!under(pathOf(start.contextValue?.req), o.shopApiPath)) return
      return {
        async willSendResponse(rc) {
          const v = shopCacheVerdict(rc, o)
          const headers = rc.response.http.headers
          if ('no' in v) {
            headers.set('cache-control', 'private, no-store')
            return
          }
          headers.set('cache-control', `public, max-age=0, s-maxage=${o.ttlSeconds}`)
          // Added to what is there already (CORS middleware's `Vary: Origin`), never replacing it.
          headers.set('vary', mergeVary(headers.get('vary'), rc.contextValue?.res?.getHeader?.('vary'), 'authorization, cookie'))
          headers.set('surrogate-key', v.keys.join(' '))
        },
      }
    },
  }
}

export function adminMutationWaitPlugin(adminApiPath: string, pending: PendingInvalidations, maxMs: number): ApolloServerPlugin<Ctx> {
  return {
    async requestDidStart(start) {
      const req = start.contextValue?.req
      if (!req || !under(pathOf(req), adminApiPath)) return
      return {
        async willSendResponse(rc) {
          if (rc.operation?.operation !== 'mutation') return
          await pending.wait(req, maxMs)
        },
      }
    },
  }
}
