/**
 * Cache-Control parsing (RFC 9111 §5.2) for requests and responses, and the targeted
 * fields of RFC 9213 (CDN-Cache-Control and friends). Parsers are tolerant: malformed
 * input never throws; it yields the most cautious reading the RFC allows.
 * @module
 */

/** Largest delta-seconds we represent (RFC 9111 §1.2.2: larger values become 2^31). */
export const MAX_DELTA = 2147483648

/**
 * Parsed directives. Numeric directives are seconds; `-1` marks a present but invalid
 * argument (callers treat that cautiously: an invalid max-age makes the response stale).
 */
export interface CacheControl {
  maxAge?: number
  sMaxAge?: number
  noCache?: boolean
  /** Field names of a qualified `no-cache="a, b"` (we treat qualified like unqualified, RFC 9111 §5.2.2.4 allows it). */
  noCacheFields?: string[]
  noStore?: boolean
  noTransform?: boolean
  mustRevalidate?: boolean
  proxyRevalidate?: boolean
  mustUnderstand?: boolean
  public?: boolean
  private?: boolean
  immutable?: boolean
  staleWhileRevalidate?: number
  staleIfError?: number
  /** Request only (RFC 9111 §5.2.1). */
  maxStale?: number
  minFresh?: number
  onlyIfCached?: boolean
}

/**
 * delta-seconds (RFC 9111 §1.2.2): 1*DIGIT. Anything else is invalid (-1). Values beyond
 * what we can represent become 2^31.
 */
export function parseDeltaSeconds(raw: string | undefined): number {
  if (raw === undefined) return -1
  if (!/^[0-9]+$/.test(raw)) return -1
  const n = raw.length > 10 ? MAX_DELTA : Number(raw)
  return Math.min(n, MAX_DELTA)
}

/** Splits a comma-separated list, honouring quoted strings (RFC 9110 §5.6.1, §5.6.4). */
export function splitList(value: string): string[] {
  const out: string[] = []
  let cur = ''
  let quoted = false
  for (let i = 0; i < value.length; i++) {
    const c = value[i] as string
    if (quoted) {
      if (c === '\\' && i + 1 < value.length) {
        cur += c + value[++i]
        continue
      }
      if (c === '"') quoted = false
      cur += c
    } else if (c === '"') {
      quoted = true
      cur += c
    } else if (c === ',') {
      const t = cur.trim()
      if (t) out.push(t)
      cur = ''
    } else cur += c
  }
  const t = cur.trim()
  if (t) out.push(t)
  return out
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) return v.slice(1, -1).replace(/\\(.)/g, '$1')
  return v
}

/** Joins repeated header lines into one list value (RFC 9110 §5.3). */
export function headerValue(v: string | readonly string[] | undefined): string | undefined {
  if (v === undefined) return undefined
  return typeof v === 'string' ? v : v.join(', ')
}

/**
 * Parses Cache-Control. Directive names are case-insensitive (RFC 9111 §5.2). When a
 * numeric directive repeats with different values the response is treated as stale
 * (RFC 9111 §4.2.1 allows "either the first occurrence … or the response should be
 * considered stale"); we pick the cautious branch by keeping the smallest value.
 */
export function parseCacheControl(value: string | readonly string[] | undefined): CacheControl {
  const cc: CacheControl = {}
  const text = headerValue(value)
  if (!text) return cc
  for (const part of splitList(text)) {
    const eq = part.indexOf('=')
    const name = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase()
    const arg = eq < 0 ? undefined : unquote(part.slice(eq + 1).trim())
    switch (name) {
      case 'max-age':
        cc.maxAge = mergeDelta(cc.maxAge, parseDeltaSeconds(arg))
        break
      case 's-maxage':
        cc.sMaxAge = mergeDelta(cc.sMaxAge, parseDeltaSeconds(arg))
        break
      case 'stale-while-revalidate':
        cc.staleWhileRevalidate = mergeDelta(cc.staleWhileRevalidate, parseDeltaSeconds(arg))
        break
      case 'stale-if-error':
        cc.staleIfError = mergeDelta(cc.staleIfError, parseDeltaSeconds(arg))
        break
      case 'min-fresh':
        cc.minFresh = mergeDelta(cc.minFresh, parseDeltaSeconds(arg))
        break
      case 'max-stale':
        // RFC 9111 §5.2.1.2: without a value, any staleness is acceptable.
        cc.maxStale = arg === undefined ? MAX_DELTA : mergeDelta(cc.maxStale, parseDeltaSeconds(arg))
        break
      case 'no-cache':
        cc.noCache = true
        if (arg) cc.noCacheFields = arg.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)
        break
      case 'no-store':
        cc.noStore = true
        break
      case 'no-transform':
        cc.noTransform = true
        break
      case 'must-revalidate':
        cc.mustRevalidate = true
        break
      case 'proxy-revalidate':
        cc.proxyRevalidate = true
        break
      case 'must-understand':
        cc.mustUnderstand = true
        break
      case 'public':
        cc.public = true
        break
      case 'private':
        cc.private = true
        break
      case 'immutable':
        cc.immutable = true
        break
      case 'only-if-cached':
        cc.onlyIfCached = true
        break
      default:
      // RFC 9111 §5.2.3: unknown extensions are ignored.
    }
  }
  return cc
}

function mergeDelta(prev: number | undefined, next: number): number {
  if (prev === undefined) return next
  if (prev === -1 || next === -1) return -1
  return Math.min(prev, next)
}

/**
 * Parses a targeted cache-control field (RFC 9213 §2.1): a Structured Fields Dictionary.
 * Returns undefined when the field is absent or not a valid dictionary, in which case
 * RFC 9213 §2.2 says the cache falls back to Cache-Control.
 */
export function parseTargeted(value: string | readonly string[] | undefined): CacheControl | undefined {
  const text = headerValue(value)
  if (text === undefined || text.trim() === '') return undefined
  const members = text.split(',').map((s) => s.trim())
  for (const m of members) {
    // RFC 8941 §3.2: key = lcalpha / "*" then lcalpha / DIGIT / "_" / "-" / "." / "*";
    // values here are integers, tokens, strings or booleans (parameters are ignored).
    if (!/^[a-z*][a-z0-9_\-.*]*(=("([^"\\]|\\.)*"|-?[0-9]{1,15}(\.[0-9]{1,3})?|[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*|\?[01]))?(;.*)?$/.test(m)) return undefined
  }
  const cc: CacheControl = {}
  for (const m of members) {
    const semi = m.indexOf(';')
    const item = semi < 0 ? m : m.slice(0, semi)
    const eq = item.indexOf('=')
    const name = eq < 0 ? item : item.slice(0, eq)
    const arg = eq < 0 ? undefined : item.slice(eq + 1)
    const num = arg !== undefined && /^[0-9]+$/.test(arg) ? parseDeltaSeconds(arg) : arg === undefined ? undefined : -1
    switch (name) {
      case 'max-age':
        if (num !== undefined) cc.maxAge = num
        break
      case 's-maxage':
        if (num !== undefined) cc.sMaxAge = num
        break
      case 'stale-while-revalidate':
        if (num !== undefined) cc.staleWhileRevalidate = num
        break
      case 'stale-if-error':
        if (num !== undefined) cc.staleIfError = num
        break
      case 'no-store':
        cc.noStore = arg !== '?0'
        break
      case 'no-cache':
        cc.noCache = arg !== '?0'
        break
      case 'private':
        cc.private = arg !== '?0'
        break
      case 'public':
        cc.public = arg !== '?0'
        break
      case 'must-revalidate':
        cc.mustRevalidate = arg !== '?0'
        break
      case 'proxy-revalidate':
        cc.proxyRevalidate = arg !== '?0'
        break
      default:
    }
  }
  // A numeric directive with a non-integer value makes the whole field unusable.
  if (cc.maxAge === -1 || cc.sMaxAge === -1) return undefined
  return cc
}
