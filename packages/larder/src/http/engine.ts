/**
 * The HTTP cache engine: RFC 9111 decisions (from the pure rule modules) over the tiered
 * cache. Entries live inside `cache.tenant(t)`, keyed by host + path + kept query (+ the
 * Vary'd request fields), tagged with `@url <primary key>`, the route tags and the
 * origin's surrogate keys — so a purge by URL, route or surrogate key is one
 * `cache.invalidate(tenant, { tags })`, scoped to the tenant by construction.
 *
 * The store only stores (RFC facts are precomputed at store time, like undici's
 * cachedAt/staleAt/deleteAt); the stored form and its per-entry prepared form (header array
 * + body text, so a hit is little more than a `writeHead` + `end`) live in entry.ts.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import { parseDuration } from '../core/duration.ts'
import type { Cache, InvalidationResult, TenantCache } from '../core/api.ts'
import type { Duration } from '../core/types.ts'
import { type CacheControl, headerValue } from './cache-control.ts'
import { NOT_MODIFIED_FIELDS, notModified, updateHeaders } from './conditional.ts'
import {
  currentAge,
  first,
  freshnessLifetime,
  type HeaderRecord,
  isStorable,
  type ResponseDirectives,
  responseDirectives,
  type RuleOptions,
} from './freshness.ts'
import { entryOf, type HttpEntry, type Prepared, prepare, type ResponseInput, withHeaders } from './entry.ts'
import { type CacheOutcome, cacheStatus, hopByHop, surrogateKeys } from './headers.ts'
import { type CompiledRoute, compileRoutes, eventTags, keyQuery, matchRoute, type RouteMatch, type RoutePolicy, routeTags } from './routes.ts'
import { ifRangeMatches, parseRange } from './range.ts'
import { parseVary, varyKey } from './vary.ts'

export type { HttpEntry, Prepared } from './entry.ts'

export interface HttpCacheOptions extends RuleOptions {
  cache: Cache
  routes?: readonly RoutePolicy[] | Record<string, Omit<RoutePolicy, 'path'>>
  /** Cache-Status member name (RFC 9211). Default `larder`. */
  name?: string
  /** Largest body stored; larger responses pass through. Default 4 MiB. */
  maxBodyBytes?: number
  /** How long a stale entry with validators is kept for revalidation. Default 1h. */
  keepStale?: Duration
  /** Add a weak ETag to cacheable 200s without validators. Default true. */
  etag?: boolean
  /** Send `X-Cache: HIT|MISS|STALE|BYPASS`. Default true. */
  xCache?: boolean
  /** Strip surrogate-key fields before the client sees them. Default true. */
  stripSurrogateKeys?: boolean
  /** Clock (ms); fake in tests. */
  now?: () => number
}

const KEY_HOST_SAFE = /^[A-Za-z0-9\-._~!$&'()*+,;=:[\]]*$/

/** The host as the primary key holds it: authority characters as they are, anything else (`/`, `?`, `%`, spaces …) percent-encoded. */
function keyHost(host: string): string {
  if (KEY_HOST_SAFE.test(host)) return host
  let out = ''
  for (const ch of host) {
    if (KEY_HOST_SAFE.test(ch)) out += ch
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return out
}

/** Stored at the primary key when the response varies: which request fields select. */
interface VaryMarker {
  f: 1
  vary: string[]
}

export interface RequestInfo {
  method: string
  /** Lower-cased host (authority) of the request. */
  host: string
  /** Path + query as received (origin-form). */
  target: string
  headers: HeaderRecord
  /** Matched route pattern, filled by `lookup` (diagnostics label). */
  routePath?: string
}

export interface Lookup {
  tc: TenantCache
  primary: string
  route: RouteMatch | undefined
  /** Key the found (or to-be-stored) variant lives at. */
  key: string
  found: Prepared | undefined
}

export interface StoreInput extends ResponseInput {
  /**
   * `cache.log.lastId(tenant)` taken before the origin request was sent. When an invalidation
   * of this entry (its URL, surrogate keys, route tags or its tenant) was logged after
   * it, the response may predate that invalidation and is not stored (docs/invariants.md, P1:
   * a load that began before an invalidation never writes its result back).
   */
  began?: number
  /**
   * The validator generated for this load (`newEtag()`), already sent to the client with
   * the first answer. Used for a 200 without ETag and Last-Modified (a new one otherwise).
   */
  etag?: string
}

export interface PurgeInput {
  tags?: readonly string[]
  keys?: readonly string[]
  /** Absolute URLs or paths (resolved against `host`). */
  urls?: readonly string[]
  soft?: boolean
}

const MAX_KEY = 900

export class HttpCache {
  readonly cache: Cache
  readonly routes: CompiledRoute[]
  readonly name: string
  readonly maxBodyBytes: number
  readonly now: () => number
  /** Send X-Cache. */
  readonly xCache: boolean
  /** Generate weak ETags for stored 200s without validators. */
  readonly etags: boolean
  readonly #opts: HttpCacheOptions
  readonly #keepStale: number
  readonly #tenants = new Map<string, TenantCache>()

  constructor(opts: HttpCacheOptions) {
    this.cache = opts.cache
    this.routes = compileRoutes(opts.routes as RoutePolicy[] | undefined)
    this.name = opts.name ?? 'larder'
    this.maxBodyBytes = opts.maxBodyBytes ?? 4 * 1024 * 1024
    this.now = opts.now ?? Date.now
    this.xCache = opts.xCache !== false
    this.etags = opts.etag !== false
    this.#opts = opts
    this.#keepStale = Math.floor(parseDuration(opts.keepStale ?? '1h', 'keepStale') / 1000)
  }

  /** Event name → tags, from the routes' `invalidate_on` (for larder/events rules). */
  eventTags(): Record<string, string[]> {
    return eventTags(this.routes)
  }

  tenantCache(tenant: string): TenantCache {
    let tc = this.#tenants.get(tenant)
    if (tc === undefined) {
      if (this.#tenants.size > 10_000) this.#tenants.clear()
      tc = this.cache.tenant(tenant)
      this.#tenants.set(tenant, tc)
    }
    return tc
  }

  /**
   * Primary key: host + path + kept query. Long keys are hashed (the store bounds key length).
   * Unambiguous whatever bytes the parts hold: the host part never holds `/`, space or `%`
   * unescaped (`keyHost`), a path starts with `/` (any other target is set off by a space),
   * and the query is everything from the first `?` — so two different (host, target) pairs
   * never share a key, and `shop.example/p?q` stays readable (purge tags, webhook).
   */
  primaryKey(host: string, target: string, matched?: RouteMatch | null): { primary: string; route: RouteMatch | undefined } {
    const q = target.indexOf('?')
    const path = q < 0 ? target : target.slice(0, q)
    const route = matched === undefined ? matchRoute(this.routes, path) : (matched ?? undefined)
    const query = q < 0 ? '' : keyQuery(target.slice(q), route?.route)
    let primary = `${keyHost(host)}${path[0] === '/' ? '' : ' '}${path}${query}`
    if (primary.length > MAX_KEY) primary = `#${createHash('sha256').update(primary).digest('base64url')}`
    return { primary, route }
  }

  /** The route policy of a request target (null when none matches). */
  match(target: string): RouteMatch | null {
    if (this.routes.length === 0) return null
    const q = target.indexOf('?')
    return matchRoute(this.routes, q < 0 ? target : target.slice(0, q)) ?? null
  }

  /** Route of a request when it disables caching. */
  bypassed(target: string, matched: RouteMatch | null = this.match(target)): boolean {
    return matched?.route.policy.cache === false
  }

  /**
   * Finds the stored variant matching the request (RFC 9111 §4: key, then Vary §4.1).
   * `matched` is the request's route from `match()` when the caller already has it.
   */
  async lookup(tenant: string, req: RequestInfo, matched?: RouteMatch | null): Promise<Lookup> {
    const tc = this.tenantCache(tenant)
    const { primary, route } = this.primaryKey(req.host, req.target, matched)
    if (route !== undefined) req.routePath = route.route.policy.path
    // The Vary marker only says which variant to read: that read counts as the request's hit or miss.
    const got = await tc.getEntry<HttpEntry | VaryMarker>(primary, { counts: (v) => !('vary' in v) })
    if (got === undefined) return { tc, primary, route, key: primary, found: undefined }
    const v = got.value
    if ('vary' in v) {
      const key = primary + varyKey(v.vary, req.headers)
      const e = await tc.getEntry<HttpEntry>(key)
      return { tc, primary, route, key, found: e === undefined ? undefined : this.#softAware(e.value, e.stale || got.stale, e.unverified === true || got.unverified === true) }
    }
    return { tc, primary, route, key: primary, found: this.#softAware(v, got.stale, got.unverified === true) }
  }

  /**
   * A soft purge (`soft: true`) leaves the entry readable but stale: its freshness lifetime
   * ends now, so RFC 9111 decides what follows — served stale while one revalidation runs
   * when the response allows stale-while-revalidate (RFC 5861 §3), otherwise revalidated
   * first (a conditional request: a cheap 304 when nothing changed).
   *
   * An `unverified` entry (the invalidation log was not heard from for longer than
   * maxStaleness, and L2 could not confirm it) is revalidated first, never served stale while
   * revalidating: it answers (X-Cache: STALE) only when the origin fails (stale-if-error,
   * or disconnected, RFC 9111 §4.2.4).
   */
  #softAware(e: HttpEntry, purged: boolean, unverified = false): Prepared {
    const p = prepare(e)
    if (!purged) return p
    const age = currentAge(p.facts, this.now())
    return { ...p, facts: { ...p.facts, lifetime: Math.min(p.facts.lifetime, age), ...(unverified ? { swr: 0 } : {}) } }
  }

  /** Response directives with route defaults folded in (route ttl acts like s-maxage). */
  directives(resHeaders: HeaderRecord, route: RouteMatch | undefined): ResponseDirectives {
    const dirs = responseDirectives(resHeaders, this.#opts.targets)
    const r = route?.route
    if (r === undefined) return dirs
    const cc: CacheControl = { ...dirs.cc }
    const out: ResponseDirectives = { cc, targeted: dirs.targeted, origin: dirs.cc, routeShared: r.policy.shared === true }
    const explicit = cc.maxAge !== undefined || cc.sMaxAge !== undefined || (!dirs.targeted && resHeaders.expires !== undefined)
    if (r.ttlSeconds !== undefined && (r.policy.override === true || !explicit)) {
      cc.sMaxAge = r.ttlSeconds
    }
    if (r.graceSeconds !== undefined && cc.staleWhileRevalidate === undefined) cc.staleWhileRevalidate = r.graceSeconds
    if (r.sieSeconds !== undefined && cc.staleIfError === undefined) cc.staleIfError = r.sieSeconds
    return out
  }

  /**
   * A new weak validator for one load (RFC 9110 §8.8.1), known before the body streams, so
   * the first answer carries the ETag its stored copy will have. Unique per load: two
   * different bodies never share one (a new load gets a new tag even for the same bytes,
   * which only costs a full answer instead of a 304).
   */
  newEtag(): string {
    return `W/"${randomBytes(12).toString('base64url')}"`
  }

  /** Will a copy of this answer carry a generated ETag (a 200 without ETag and Last-Modified)? */
  needsEtag(status: number, headers: HeaderRecord): boolean {
    return this.etags && status === 200 && headers.etag === undefined && headers['last-modified'] === undefined
  }

  /** Should this response be stored, and for how long (seconds)? */
  storePlan(req: RequestInfo, reqCc: CacheControl, status: number, headers: HeaderRecord, route: RouteMatch | undefined, responseTime: number) {
    const dirs = this.directives(headers, route)
    const verdict = isStorable(req.method === 'HEAD' ? 'HEAD' : req.method, req.headers, status, headers, dirs, reqCc)
    if (!verdict.ok) return { ok: false as const, reason: verdict.reason, dirs }
    const life = freshnessLifetime(status, headers, dirs, responseTime, this.#opts)
    const cc = dirs.cc
    const swr = Math.max(0, cc.staleWhileRevalidate ?? 0)
    const sie = Math.max(0, cc.staleIfError ?? 0)
    const validators = headers.etag !== undefined || headers['last-modified'] !== undefined || (this.#opts.etag !== false && status === 200)
    const keep = Math.max(swr, sie, validators ? this.#keepStale : 0)
    const lifetime = cc.noCache ? 0 : life.seconds
    const seconds = Math.min(lifetime + keep, 366 * 86400)
    if (seconds <= 0) return { ok: false as const, reason: 'no freshness and no validators', dirs }
    return { ok: true as const, dirs, lifetime, swr, sie, seconds }
  }

  /**
   * Stores a complete response for `lk` (the lookup of this request). Returns the
   * prepared entry, or undefined when it was not storable.
   */
  async store(lk: Lookup, req: RequestInfo, reqCc: CacheControl, input: StoreInput): Promise<Prepared | undefined> {
    if (input.body.length > this.maxBodyBytes) return undefined
    const plan = this.storePlan(req, reqCc, input.status, input.headers, lk.route, input.responseTime)
    if (!plan.ok) return undefined
    const cc = plan.dirs.cc
    let etag: string | undefined
    let generated = false
    if (this.needsEtag(input.status, input.headers)) {
      etag = input.etag ?? this.newEtag()
      generated = true
    } else if (input.etag !== undefined && input.status === 200 && input.headers['last-modified'] === undefined && first(input.headers.etag) === input.etag) {
      // Freshened from a 304: the stored copy keeps the validator we generated (never sent upstream).
      generated = true
    }
    const entry = entryOf(input, {
      lifetime: plan.lifetime,
      noCache: cc.noCache === true,
      // §4.2.4 must-revalidate, §5.2.2.8 proxy-revalidate, §5.2.2.10 s-maxage (from the origin).
      mustRevalidate: cc.mustRevalidate === true || cc.proxyRevalidate === true || (cc.sMaxAge !== undefined && lk.route?.route.ttlSeconds === undefined),
      swr: plan.swr,
      sie: plan.sie,
      etag,
      generated,
    })
    const tags = [`@url ${lk.primary}`, ...surrogateKeys(input.headers)]
    if (lk.route) tags.push(...routeTags(lk.route))
    const ttl = plan.seconds * 1000
    const vary = parseVary(input.headers.vary)
    const extra = lk.route?.route.policy.vary?.map((n) => n.toLowerCase()) ?? []
    const names = vary === '*' ? [] : [...new Set([...vary, ...extra])].sort()
    const p = prepare(entry)
    const varyKeyFull = names.length > 0 ? lk.primary + varyKey(names, req.headers) : lk.primary
    // The fetch began at log id `began`: the core refuses the write when the URL, one of its
    // surrogate keys or route tags, or the tenant was invalidated since (docs/invariants.md, P1).
    const began = input.began
    // A failing store throws: callers report it (http/handler.ts) and the response was still served.
    if (names.length > 0) {
      const marker: VaryMarker = { f: 1, vary: names }
      const ok = await lk.tc.setMany([
        { key: lk.primary, value: marker, ttl, tags, began },
        { key: varyKeyFull, value: entry, ttl, tags, began },
      ])
      if (!ok[1]) return undefined
    } else if (!(await lk.tc.set(lk.primary, entry, { ttl, tags, began }))) return undefined
    return p
  }

  /** Freshens a stored entry from a 304 (RFC 9111 §4.3.4, §3.2) and stores it again. */
  async freshen(lk: Lookup, req: RequestInfo, reqCc: CacheControl, old: Prepared, notModifiedHeaders: HeaderRecord, requestTime: number, responseTime: number, began?: number): Promise<Prepared> {
    const merged = updateHeaders(old.headers, notModifiedHeaders, hopByHop(notModifiedHeaders))
    const etag = old.entry.ge ? first(old.headers.etag) : undefined
    const stored = await this.store(lk, req, reqCc, { status: old.entry.status, headers: merged, body: Buffer.from(old.text, 'latin1'), requestTime, responseTime, began, etag })
    if (stored) return stored
    // Not storable any more (e.g. the 304 said no-store): serve the merged response once.
    return withHeaders(old, merged)
  }

  /** Age of a prepared entry now, whole seconds (RFC 9111 §5.1). */
  age(p: Prepared): number {
    return Math.floor(currentAge(p.facts, this.now()))
  }

  /**
   * Writes a stored response (or a 304 when the client's conditional matches, RFC 9111
   * §4.3.2). `xcache` is the X-Cache value; `status` the Cache-Status outcome.
   */
  serve(res: ServerResponse, method: string, reqHeaders: HeaderRecord, p: Prepared, outcome: CacheOutcome, fwdStatus?: number): void {
    const age = this.age(p)
    const status = cacheStatus(this.name, outcome, { ttl: p.facts.lifetime - age, fwdStatus })
    const xcache = outcome === 'REVALIDATED' ? 'HIT' : outcome
    // Hot path: most hits carry no conditional header, so skip the RFC 9110 §13 evaluation.
    if ((reqHeaders['if-none-match'] !== undefined || reqHeaders['if-modified-since'] !== undefined) && notModified(method, reqHeaders, p.headers, p.facts.responseTime)) {
      const lines: string[] = []
      for (const f of NOT_MODIFIED_FIELDS) {
        const v = p.headers[f]
        if (v !== undefined) lines.push(f, Array.isArray(v) ? v.join(', ') : v)
      }
      lines.push('age', String(age), 'cache-status', p.statusAt < 0 ? status : `${status}, ${p.lines[p.statusAt]}`)
      if (this.#opts.xCache !== false) lines.push('x-cache', xcache)
      res.writeHead(304, lines)
      res.end()
      return
    }
    const lines = p.lines.slice()
    if (p.statusAt < 0) lines.push('cache-status', status)
    else lines[p.statusAt] = `${status}, ${lines[p.statusAt]}`
    lines.push('age', String(age))
    if (this.#opts.xCache !== false) lines.push('x-cache', xcache)
    const range = reqHeaders.range
    if (range !== undefined && method === 'GET' && p.entry.status === 200 && ifRangeMatches(reqHeaders, p.headers)) {
      const r = parseRange(headerValue(range), p.text.length)
      if (r.kind === 'partial') {
        lines.push('content-range', `bytes ${r.start}-${r.end}/${p.text.length}`, 'content-length', String(r.end - r.start + 1))
        res.writeHead(206, lines)
        res.end(p.text.slice(r.start, r.end + 1), 'latin1')
        return
      }
      if (r.kind === 'unsatisfiable') {
        res.writeHead(416, ['content-range', `bytes */${p.text.length}`, 'content-length', '0', 'age', String(age)])
        res.end()
        return
      }
    }
    lines.push('content-length', String(p.text.length))
    res.writeHead(p.entry.status, lines)
    if (method === 'HEAD') res.end()
    else res.end(p.text, 'latin1')
  }

  /** Purges by tags, keys and URLs in one log entry (hard by default). */
  purge(tenant: string, input: PurgeInput, host = ''): Promise<InvalidationResult> {
    const tags = [...(input.tags ?? [])]
    for (const u of input.urls ?? []) tags.push(`@url ${this.urlKey(u, host)}`)
    return this.cache.invalidate(tenant, { tags, keys: input.keys, soft: input.soft === true })
  }

  /** Primary key of an absolute URL or a path (then `host` is used). */
  urlKey(url: string, host: string): string {
    if (url.startsWith('/')) return this.primaryKey(host, url).primary
    const u = new URL(url)
    return this.primaryKey(u.host.toLowerCase(), u.pathname + u.search).primary
  }
}

export function createHttpCache(opts: HttpCacheOptions): HttpCache {
  return new HttpCache(opts)
}
