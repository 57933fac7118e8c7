/**
 * GraphQL responses → surrogate keys, the way GraphQL edge caches tag what they store: every
 * object carrying `__typename` and `id` names an entity (`Product:42`), so a purge of that
 * key drops exactly the cached queries that returned it. Any GraphQL server can use it (the
 * Vendure plugin's Shop API hook does).
 *
 * ```ts
 * import { graphqlSurrogateKeys } from 'larder/http'
 * const keys = graphqlSurrogateKeys({ product: { __typename: 'Product', id: '42', variants: [{ __typename: 'ProductVariant', id: '7' }] } })
 * // { keys: ['Product:42', 'ProductVariant:7'] }
 * ```
 *
 * Root fields that return a list (an array, or a page `{ items: [...] }`) also get
 * `list:<Type>`: a new entity of that type changes the list although no cached key names it.
 * Past `maxKeys` (the gateway reads at most 64 surrogate keys of a response), the types with
 * the most entities fold into `all:<Type>`, so an update of any entity of that type must also
 * invalidate `all:<Type>` (the shipped Vendure rules do). An object with an `id` but no
 * `__typename` cannot be named: the answer is `{ keys: undefined, reason }`, and the response
 * must not be cached.
 * @module
 */

export interface GraphqlKeyOptions {
  /** Most keys returned (the gateway's `surrogateKeys` limit). Default 64. */
  maxKeys?: number
  /** Longest key kept; longer ids make the response uncacheable. Default 256 (the gateway's limit). */
  maxKeyLength?: number
  /** Keys added to every answer first (e.g. `shop-api`), counted in `maxKeys`. */
  fixed?: readonly string[]
  /**
   * Objects without an `id` that point at entities by other fields, e.g.
   * `{ SearchResult: { productId: 'Product', productVariantId: 'ProductVariant' } }`.
   */
  references?: Readonly<Record<string, Readonly<Record<string, string>>>>
  /** Most objects visited; a larger response is not keyed (uncacheable). Default 50,000. */
  maxObjects?: number
}

export type GraphqlKeys = { keys: string[]; reason?: undefined } | { keys: undefined; reason: string }

type Ids = Map<string, Set<string>>

const SCALAR_ID = (v: unknown): v is string | number => (typeof v === 'string' && v.length > 0) || (typeof v === 'number' && Number.isFinite(v))

/** The surrogate keys of one GraphQL response's `data` (see the module comment). */
export function graphqlSurrogateKeys(data: unknown, options: GraphqlKeyOptions = {}): GraphqlKeys {
  const maxKeys = options.maxKeys ?? 64
  const maxLength = options.maxKeyLength ?? 256
  const maxObjects = options.maxObjects ?? 50_000
  const refs = options.references ?? {}
  const ids: Ids = new Map()
  const lists = new Set<string>()
  let visited = 0
  let problem: string | undefined

  const add = (type: string, id: string | number): void => {
    let s = ids.get(type)
    if (!s) ids.set(type, (s = new Set()))
    s.add(String(id))
  }

  // Iterative walk: a deep response cannot overflow the stack.
  const stack: unknown[] = [data]
  while (stack.length > 0 && problem === undefined) {
    const v = stack.pop()
    if (v === null || typeof v !== 'object') continue
    if (++visited > maxObjects) {
      problem = `the response has more than ${maxObjects} objects`
      break
    }
    if (Array.isArray(v)) {
      for (const x of v) stack.push(x)
      continue
    }
    const o = v as Record<string, unknown>
    const type = o.__typename
    if (typeof type === 'string') {
      if (SCALAR_ID(o.id)) add(type, o.id)
      const r = refs[type]
      if (r) for (const [field, target] of Object.entries(r)) if (SCALAR_ID(o[field])) add(target, o[field] as string | number)
    } else if (o.id !== undefined && o.id !== null) {
      problem = 'an object with an id has no __typename (ask for __typename, as Apollo Client and urql do)'
      break
    }
    for (const k in o) if (k !== '__typename') stack.push(o[k])
  }
  if (problem !== undefined) return { keys: undefined, reason: problem }

  // Root lists: `products { items { … } }`, `collections { items }`, `facets` …
  if (data !== null && typeof data === 'object') {
    for (const value of Object.values(data as Record<string, unknown>)) {
      const items = Array.isArray(value) ? value : value !== null && typeof value === 'object' && Array.isArray((value as { items?: unknown }).items) ? (value as { items: unknown[] }).items : undefined
      if (!items) continue
      for (const it of items) {
        const t = it !== null && typeof it === 'object' ? (it as { __typename?: unknown }).__typename : undefined
        if (typeof t === 'string') lists.add(`list:${refListType(t, refs)}`)
      }
    }
  }

  const fixed = [...new Set(options.fixed ?? [])]
  const head = [...fixed, ...lists]
  let budget = maxKeys - head.length
  if (budget < 0) return { keys: undefined, reason: `the response needs ${head.length} fixed and list keys; maxKeys is ${maxKeys}` }
  // Fold the largest types into all:<Type> until the rest fits.
  const types = [...ids.entries()].sort((a, b) => b[1].size - a[1].size || (a[0] < b[0] ? -1 : 1))
  let total = types.reduce((n, [, s]) => n + s.size, 0)
  const folded: string[] = []
  for (const [type, s] of types) {
    if (total <= budget - folded.length) break
    folded.push(`all:${type}`)
    total -= s.size
    ids.delete(type)
  }
  budget -= folded.length
  if (budget < 0 || total > budget) return { keys: undefined, reason: `the response names too many entity types for maxKeys ${maxKeys}` }
  const keys = [...head, ...folded]
  for (const [type, s] of [...ids.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1))) for (const id of s) keys.push(`${type}:${id}`)
  for (const k of keys) {
    if (k.length > maxLength) return { keys: undefined, reason: `the key "${k.slice(0, 40)}…" is longer than ${maxLength} characters` }
    if (/\s|,/.test(k)) return { keys: undefined, reason: `the key "${k.slice(0, 40)}" holds a space or comma (surrogate keys are space-separated)` }
  }
  return { keys }
}

/** A root list of `SearchResult`s is a list of the type its references point at first. */
function refListType(type: string, refs: Readonly<Record<string, Readonly<Record<string, string>>>>): string {
  const r = refs[type]
  if (!r) return type
  const first = Object.values(r)[0]
  return first ?? type
}
