/**
 * Per-route HTTP caching policies: ttl, which query
 * parameters form the key, extra tags and the `invalidate_on` events that map to a
 * route's tag. Route patterns come from trusted config; request paths are data and are
 * only compared segment by segment, never turned into a pattern.
 * @module
 */
import { parseDuration } from '../core/duration.ts'
import { LarderError } from '../core/errors.ts'
import type { Duration } from '../core/types.ts'

export interface RoutePolicy {
  /** Pattern: literal segments, `{name}` for one segment, a trailing `*` for any rest. */
  path: string
  /** Freshness used when the origin gives none (acts like s-maxage). */
  ttl?: Duration
  /** When true, `ttl` wins over the origin's max-age/Expires (never over private/no-store). Default false. */
  override?: boolean
  /** stale-while-revalidate window added when the origin gives none. */
  grace?: Duration
  /** stale-if-error window added when the origin gives none. */
  staleIfError?: Duration
  /** Query parameters kept in the cache key: true (all, default), false (none) or a list (sorted). */
  query?: boolean | readonly string[]
  /** Request headers added to the key for every response of the route (like a fixed Vary). */
  vary?: readonly string[]
  /** Tags added to every entry; `{name}` is replaced by the path segment (e.g. `product:{id}`). */
  tags?: readonly string[]
  /** Domain event names that should purge this route's tag (`route:<path>`, `{id}` written `:id`); read by larder/events. */
  invalidate_on?: readonly string[]
  /** false: never cache this route (pass through). Default true. */
  cache?: boolean
  /**
   * true: the route's responses are the same for every visitor, so answers to requests that
   * carry `Cookie` or `Authorization` may be stored and shared even when the origin does not
   * say `public`, `s-maxage` or `must-revalidate` (the operator's explicit opt-in; RFC 9111
   * §3.5). Never makes a `Set-Cookie` response shareable. Default false.
   */
  shared?: boolean
}

export interface CompiledRoute {
  readonly policy: RoutePolicy
  /**
   * `route:<path>` on every entry of the route, with `{name}` written `:name` so the tag
   * holds no template braces (larder/events rules treat `{…}` as placeholders).
   */
  readonly tag: string
  readonly ttlSeconds: number | undefined
  readonly graceSeconds: number | undefined
  readonly sieSeconds: number | undefined
  match(segments: readonly string[]): Record<string, string> | undefined
}

function compile(policy: RoutePolicy): CompiledRoute {
  if (typeof policy.path !== 'string' || !policy.path.startsWith('/')) throw new LarderError('E_INVALID_OPTION', `route path must start with "/", got ${JSON.stringify(policy.path)}`)
  const parts = policy.path.split('/').slice(1)
  const rest = parts[parts.length - 1] === '*'
  if (rest) parts.pop()
  const secs = (d: Duration | undefined, name: string) => (d === undefined ? undefined : Math.floor(parseDuration(d, `routes["${policy.path}"].${name}`) / 1000))
  if (policy.shared !== undefined && typeof policy.shared !== 'boolean') throw new LarderError('E_INVALID_OPTION', `routes["${policy.path}"].shared must be true or false`)
  if (policy.query !== undefined && typeof policy.query !== 'boolean' && !Array.isArray(policy.query)) {
    throw new LarderError('E_INVALID_OPTION', `routes["${policy.path}"].query must be true, false or a list of parameter names`)
  }
  return {
    policy,
    tag: `route:${policy.path.replace(/\{([^}]*)\}/g, ':$1')}`,
    ttlSeconds: secs(policy.ttl, 'ttl'),
    graceSeconds: secs(policy.grace, 'grace'),
    sieSeconds: secs(policy.staleIfError, 'staleIfError'),
    match(segments) {
      if (rest ? segments.length < parts.length : segments.length !== parts.length) return undefined
      let params: Record<string, string> | undefined
      for (let i = 0; i < parts.length; i++) {
        const p = parts[i] as string
        const s = segments[i] as string
        if (p.length > 2 && p.startsWith('{') && p.endsWith('}')) {
          if (s === '') return undefined
          params ??= {}
          params[p.slice(1, -1)] = s
        } else if (p !== s) return undefined
      }
      return params ?? {}
    },
  }
}

/** Accepts a list of policies or map form `{ "/api/v1/products": { ttl: "5m", … } }`. */
export function compileRoutes(routes: readonly RoutePolicy[] | Record<string, Omit<RoutePolicy, 'path'> & { cache_ttl?: Duration }> | undefined): CompiledRoute[] {
  if (routes === undefined) return []
  const list: RoutePolicy[] = Array.isArray(routes)
    ? (routes as RoutePolicy[])
    : Object.entries(routes).map(([path, p]) => ({ ...p, ttl: p.ttl ?? p.cache_ttl, path }) as RoutePolicy)
  // Most specific first: more literal segments win over params and rests.
  return list.map(compile).sort((a, b) => score(b.policy.path) - score(a.policy.path))
}

function score(path: string): number {
  let s = 0
  for (const p of path.split('/')) s += p === '*' ? 0 : p.startsWith('{') ? 1 : 3
  return s
}

export interface RouteMatch {
  route: CompiledRoute
  params: Record<string, string>
}

export function matchRoute(routes: readonly CompiledRoute[], path: string): RouteMatch | undefined {
  if (routes.length === 0) return undefined
  const segments = path.split('/').slice(1)
  for (const route of routes) {
    const params = route.match(segments)
    if (params) return { route, params }
  }
  return undefined
}

/** Event name → tags to purge (`route:<path>` of every route listing the event). For larder/events. */
export function eventTags(routes: readonly CompiledRoute[]): Record<string, string[]> {
  const out: Record<string, string[]> = {}
  for (const r of routes) for (const ev of r.policy.invalidate_on ?? []) (out[ev] ??= []).push(r.tag)
  return out
}

/** Route tags with `{param}` filled from the matched path (values are data, inserted verbatim). */
export function routeTags(m: RouteMatch): string[] {
  const out = [m.route.tag]
  for (const t of m.route.policy.tags ?? []) out.push(t.replace(/\{([^}]+)\}/g, (_, n: string) => m.params[n] ?? ''))
  return out
}

/** Query string for the key: kept parameters per route (RFC 3986 §3.4 text kept byte for byte). */
export function keyQuery(query: string, route: CompiledRoute | undefined): string {
  const q = route?.policy.query
  if (q === undefined || q === true || query === '') return query
  if (q === false) return ''
  const keep = new Set(q)
  const parts = query
    .slice(1)
    .split('&')
    .filter((p) => keep.has(decodeSafe(p.split('=')[0] as string)))
    .sort()
  return parts.length ? `?${parts.join('&')}` : ''
}

function decodeSafe(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '))
  } catch {
    return s
  }
}
