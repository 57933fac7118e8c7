/**
 * Storability (RFC 9111 §3), freshness lifetime (§4.2.1, §4.2.2), age (§4.2.3) and the
 * reuse decision (§4.2, §4.2.4, RFC 5861) for a shared cache. Pure functions over
 * lower-cased header records.
 * @module
 */
import { type CacheControl, headerValue, parseCacheControl, parseDeltaSeconds, parseTargeted } from './cache-control.ts'
import { parseHttpDate } from './dates.ts'

export type HeaderRecord = Record<string, string | string[] | undefined>

export interface RuleOptions {
  /**
   * Targeted cache-control fields this cache obeys, in priority order (RFC 9213 §2.2).
   * Default `['cdn-cache-control']`.
   */
  targets?: readonly string[]
  /** Fraction of (Date - Last-Modified) used as heuristic lifetime (RFC 9111 §4.2.2). Default 0.1. */
  heuristicFraction?: number
  /** Cap of a heuristic lifetime, seconds. Default 86400. */
  heuristicMaxSeconds?: number
}

/** Status codes heuristically cacheable (RFC 9110 §15.1) and understood by this cache. */
export const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501])
/** Final status codes whose caching semantics we implement (for must-understand, RFC 9111 §5.2.2.3). */
export const UNDERSTOOD_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501])

export interface ResponseDirectives {
  cc: CacheControl
  /** True when a targeted field (RFC 9213) supplied `cc`; then Expires is ignored too. */
  targeted: boolean
  /**
   * The directives as the origin sent them, before route defaults were folded into `cc`
   * (a route `ttl` acts like s-maxage for freshness, but it is not the origin saying the
   * response may be shared). Default: `cc`.
   */
  origin?: CacheControl
  /** The route policy says its responses are shared (`shared: true`). */
  routeShared?: boolean
}

/** RFC 9213 §2.2: the first valid targeted field wins over Cache-Control and Expires. */
export function responseDirectives(headers: HeaderRecord, targets: readonly string[] = ['cdn-cache-control']): ResponseDirectives {
  for (const t of targets) {
    const cc = parseTargeted(headers[t])
    if (cc) return { cc, targeted: true }
  }
  return { cc: parseCacheControl(headers['cache-control']), targeted: false }
}

/** Request directives; RFC 9111 §5.4: `Pragma: no-cache` counts as no-cache when Cache-Control is absent. */
export function requestDirectives(headers: HeaderRecord): CacheControl {
  const cc = parseCacheControl(headers['cache-control'])
  if (headers['cache-control'] === undefined) {
    const pragma = headerValue(headers.pragma)
    if (pragma && /(^|,)\s*no-cache\s*(,|$)/i.test(pragma)) cc.noCache = true
  }
  return cc
}

export interface StorableResult {
  ok: boolean
  /** Why not (for Cache-Status `detail` and docs). */
  reason?: string
}

/**
 * May a shared cache store this response (RFC 9111 §3)?
 * Set-Cookie: RFC 9111 does not forbid storing it, but a shared cache that replays one
 * visitor's cookie to others leaks sessions across users. We store such responses only
 * when the origin said the response is shared on purpose (`public` or `s-maxage`, the
 * same opt-in §3.5 asks for Authorization), and then keep the header as sent.
 * Cookie: a request that carries one is treated like one with Authorization (§3.5): its
 * answer is stored only when the origin explicitly allows shared caching (`public`,
 * `s-maxage`, `must-revalidate`) or the route policy says `shared: true`. RFC 9111 allows
 * storing it; but the default answer of most frameworks (a 200 without Cache-Control) to a
 * logged-in visitor is that visitor's page.
 */
export function isStorable(
  method: string,
  reqHeaders: HeaderRecord,
  status: number,
  resHeaders: HeaderRecord,
  dirs: ResponseDirectives,
  reqCc: CacheControl,
): StorableResult {
  const cc = dirs.cc
  // §3: the request method must be understood and cacheable; we store GET only.
  if (method !== 'GET') return { ok: false, reason: 'method' }
  // §3: final status only; 206 needs range support we do not implement (§3.3); 304 updates, never stores.
  if (status < 200 || status === 206 || status === 304) return { ok: false, reason: 'status' }
  // §5.2.2.3 must-understand: store only statuses whose semantics we implement, and then ignore no-store.
  if (cc.mustUnderstand) {
    if (!UNDERSTOOD_STATUSES.has(status)) return { ok: false, reason: 'must-understand' }
  } else if (cc.noStore) return { ok: false, reason: 'no-store' } // §5.2.2.5
  // §5.2.1.5: request no-store.
  if (reqCc.noStore) return { ok: false, reason: 'request no-store' }
  // §5.2.2.7: a shared cache must not store a private response.
  if (cc.private) return { ok: false, reason: 'private' }
  // §3.5: Authorization requests only with public, s-maxage or must-revalidate (from the
  // origin, not a route default) — and, stricter than the RFC, Cookie requests too.
  const oc = dirs.origin ?? cc
  const shared = oc.public === true || oc.sMaxAge !== undefined || oc.mustRevalidate === true || dirs.routeShared === true
  if (!shared) {
    if (reqHeaders.authorization !== undefined) return { ok: false, reason: 'authorization' }
    if (reqHeaders.cookie !== undefined) return { ok: false, reason: 'cookie' }
  }
  // §4.1: Vary: * never matches, so storing it is pointless.
  const vary = headerValue(resHeaders.vary)
  if (vary && vary.split(',').some((v) => v.trim() === '*')) return { ok: false, reason: 'vary-star' }
  if (resHeaders['set-cookie'] !== undefined && !(oc.public || oc.sMaxAge !== undefined)) return { ok: false, reason: 'set-cookie' }
  // §3: explicit freshness, public, or a heuristically cacheable status.
  const explicit = cc.maxAge !== undefined || cc.sMaxAge !== undefined || (!dirs.targeted && resHeaders.expires !== undefined)
  if (explicit || cc.public || HEURISTIC_STATUSES.has(status)) return { ok: true }
  return { ok: false, reason: 'not cacheable status' }
}

export interface Lifetime {
  /** Freshness lifetime in seconds. */
  seconds: number
  heuristic: boolean
}

/** Freshness lifetime for a shared cache (RFC 9111 §4.2.1, heuristics §4.2.2). */
export function freshnessLifetime(status: number, headers: HeaderRecord, dirs: ResponseDirectives, responseTime: number, opts: RuleOptions = {}): Lifetime {
  const cc = dirs.cc
  // §5.2.2.10: s-maxage wins for shared caches; §1.2.2 invalid → stale.
  if (cc.sMaxAge !== undefined) return { seconds: Math.max(0, cc.sMaxAge), heuristic: false }
  if (cc.maxAge !== undefined) return { seconds: Math.max(0, cc.maxAge), heuristic: false }
  const date = parseHttpDate(first(headers.date)) ?? responseTime
  if (!dirs.targeted && headers.expires !== undefined) {
    // §5.3: an invalid Expires (e.g. "0") means already expired.
    const exp = parseHttpDate(first(headers.expires))
    if (exp === undefined) return { seconds: 0, heuristic: false }
    return { seconds: Math.max(0, Math.floor((exp - date) / 1000)), heuristic: false }
  }
  // §4.2.2: heuristics only when no explicit expiration and the status allows it (or public).
  if (!(HEURISTIC_STATUSES.has(status) || cc.public)) return { seconds: 0, heuristic: false }
  const lm = parseHttpDate(first(headers['last-modified']))
  if (lm === undefined || lm >= date) return { seconds: 0, heuristic: true }
  const frac = opts.heuristicFraction ?? 0.1
  const max = opts.heuristicMaxSeconds ?? 86400
  return { seconds: Math.min(max, Math.floor(((date - lm) / 1000) * frac)), heuristic: true }
}

/** First field line / list member of a header (Age and Expires are singletons). */
export function first(v: string | readonly string[] | undefined): string | undefined {
  if (v === undefined) return undefined
  const line = typeof v === 'string' ? v : v[0]
  if (line === undefined) return undefined
  const comma = line.indexOf(',')
  // A date contains a comma ("Sun, 06 Nov …"): only split lists that do not start with a weekday.
  if (comma >= 0 && /^\s*\d/.test(line)) return line.slice(0, comma).trim()
  return line.trim()
}

/**
 * Age header value (RFC 9111 §5.1): delta-seconds; an invalid value is ignored (0).
 * With several values the first one counts.
 */
export function parseAge(v: string | readonly string[] | undefined): number {
  const n = parseDeltaSeconds(first(v))
  return n < 0 ? 0 : n
}

/**
 * corrected_initial_age (RFC 9111 §4.2.3), in seconds, computed once when the response
 * arrives; current_age is then corrected_initial_age + resident time.
 */
export function initialAge(headers: HeaderRecord, requestTime: number, responseTime: number): number {
  const date = parseHttpDate(first(headers.date))
  const apparent = date === undefined ? 0 : Math.max(0, (responseTime - date) / 1000)
  const delay = Math.max(0, (responseTime - requestTime) / 1000)
  const corrected = parseAge(headers.age) + delay
  return Math.max(apparent, corrected)
}

/** The facts about a stored response the reuse decision needs (precomputed at store time). */
export interface StoredFacts {
  /** Epoch ms the response was received. */
  responseTime: number
  /** corrected_initial_age, seconds. */
  initialAge: number
  /** freshness lifetime, seconds. */
  lifetime: number
  noCache: boolean
  /** must-revalidate / proxy-revalidate / s-maxage (§4.2.4, §5.2.2.8: s-maxage implies proxy-revalidate). */
  mustRevalidate: boolean
  /** RFC 5861 windows, seconds (0 when absent). */
  swr: number
  sie: number
  /**
   * The freshness lifetime was 0 when the response was stored: it was never fresh, so it is
   * kept for revalidation only — never served stale (max-stale, stale-if-error, origin down).
   */
  neverFresh?: boolean
}

export function currentAge(f: StoredFacts, now: number): number {
  return f.initialAge + Math.max(0, (now - f.responseTime) / 1000)
}

export type Reuse =
  | { use: 'fresh' }
  | { use: 'stale-while-revalidate' }
  /**
   * staleIfError: RFC 5861 §4 allows serving stale on an error or 5xx.
   * staleIfDisconnected: RFC 9111 §4.2.4 allows stale when the cache is disconnected from
   * the origin (network error, timeout), unless the response forbids stale reuse.
   */
  | { use: 'revalidate'; staleIfError: boolean; staleIfDisconnected: boolean }
  | { use: 'stale-ok' }

/**
 * May a stored response answer this request (RFC 9111 §4.2, §4.2.4, §5.2.1; RFC 5861)?
 * Vary matching is done by the key; this judges time only.
 */
export function reuseDecision(f: StoredFacts, reqCc: CacheControl, now: number): Reuse {
  const age = currentAge(f, now)
  // §5.2.1.4 request no-cache and §5.2.2.4 response no-cache: always validate first.
  if (reqCc.noCache || f.noCache) return { use: 'revalidate', staleIfError: false, staleIfDisconnected: false }
  // §5.2.1.1 request max-age: the response must be no older than that.
  if (reqCc.maxAge !== undefined && (reqCc.maxAge < 0 || age > reqCc.maxAge)) return { use: 'revalidate', staleIfError: false, staleIfDisconnected: false }
  const remaining = f.lifetime - age
  // §5.2.1.3 min-fresh.
  const minFresh = reqCc.minFresh !== undefined && reqCc.minFresh > 0 ? reqCc.minFresh : 0
  if (remaining > minFresh || (remaining > 0 && minFresh === 0)) return { use: 'fresh' }
  if (minFresh > 0 && remaining > 0) return { use: 'revalidate', staleIfError: false, staleIfDisconnected: false }
  const staleFor = -remaining
  // §4.2.4: must-revalidate / proxy-revalidate forbid stale reuse, even when disconnected.
  if (f.mustRevalidate) return { use: 'revalidate', staleIfError: false, staleIfDisconnected: false }
  // Stricter than RFC 9111: a response that was never fresh (no explicit or heuristic
  // lifetime: the default of most frameworks, often a per-user page) is only revalidated;
  // max-stale, stale-if-error and an unreachable origin never bring it back. The origin's
  // explicit stale-while-revalidate still applies (it revalidates at once).
  if (f.neverFresh) {
    if (f.swr > 0 && staleFor <= f.swr) return { use: 'stale-while-revalidate' }
    return { use: 'revalidate', staleIfError: false, staleIfDisconnected: false }
  }
  // §5.2.1.2 request max-stale.
  if (reqCc.maxStale !== undefined && reqCc.maxStale >= 0 && staleFor <= reqCc.maxStale) return { use: 'stale-ok' }
  // RFC 5861 §3.
  if (f.swr > 0 && staleFor <= f.swr) return { use: 'stale-while-revalidate' }
  // RFC 5861 §4 (request stale-if-error is honoured too).
  const sieWindow = Math.max(f.sie, reqCc.staleIfError ?? 0)
  return { use: 'revalidate', staleIfError: sieWindow > 0 && staleFor <= sieWindow, staleIfDisconnected: true }
}
