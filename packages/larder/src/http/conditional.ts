/**
 * Conditional requests (RFC 9110 §13) evaluated by the cache against a stored response
 * (RFC 9111 §4.3.2), the header set of a 304 (RFC 9110 §15.4.5), and header updates
 * from a 304 or HEAD (RFC 9111 §3.2, §4.3.4).
 * @module
 */
import { headerValue, splitList } from './cache-control.ts'
import { parseHttpDate } from './dates.ts'
import { first, type HeaderRecord } from './freshness.ts'

/** Opaque part of an entity-tag, without the weakness prefix (RFC 9110 §8.8.3). */
function opaque(tag: string): string | undefined {
  const t = tag.trim()
  const body = t.startsWith('W/') ? t.slice(2) : t
  if (body.length < 2 || !body.startsWith('"') || !body.endsWith('"')) return undefined
  return body
}

/** Weak comparison (RFC 9110 §8.8.3.2): opaque tags equal, weakness ignored. */
export function weakMatch(a: string, b: string): boolean {
  const x = opaque(a)
  return x !== undefined && x === opaque(b)
}

/** Parses If-None-Match / If-Match: `*` or a list of entity-tags (malformed members dropped). */
export function parseEtagList(value: string | readonly string[] | undefined): '*' | string[] | undefined {
  const v = headerValue(value)
  if (v === undefined) return undefined
  if (v.trim() === '*') return '*'
  return splitList(v).filter((t) => opaque(t) !== undefined)
}

/**
 * Does the stored response satisfy the client's conditional GET/HEAD, i.e. may the cache
 * answer 304 (RFC 9110 §13.1.2, §13.1.3, §13.2.2 precedence; RFC 9111 §4.3.2)?
 */
export function notModified(method: string, reqHeaders: HeaderRecord, stored: HeaderRecord, storedResponseTime: number): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false
  const inm = parseEtagList(reqHeaders['if-none-match'])
  if (inm !== undefined) {
    // §13.2.2: If-None-Match takes precedence; If-Modified-Since is then ignored.
    if (inm === '*') return true
    const etag = first(stored.etag)
    return etag !== undefined && inm.some((t) => weakMatch(t, etag))
  }
  const ims = parseHttpDate(headerValue(reqHeaders['if-modified-since']))
  if (ims === undefined) return false
  // RFC 9111 §4.3.2: use Last-Modified, else Date, else the time the response was received.
  const lm = parseHttpDate(first(stored['last-modified'])) ?? parseHttpDate(first(stored.date)) ?? storedResponseTime
  return lm <= ims
}

/** Fields a 304 carries when the 200 would have carried them (RFC 9110 §15.4.5). */
export const NOT_MODIFIED_FIELDS = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified'] as const

/** Fields never replaced from a 304/HEAD (RFC 9111 §3.2) besides hop-by-hop ones. */
const NOT_UPDATED = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'content-range'])

/**
 * Header update from a 304 or HEAD response (RFC 9111 §3.2): every field of the new
 * response replaces the stored one, except Content-Length and fields about the stored
 * body's encoding.
 */
export function updateHeaders(stored: HeaderRecord, fresh: HeaderRecord, hopByHop: ReadonlySet<string>): HeaderRecord {
  const out: HeaderRecord = { ...stored }
  for (const [k, v] of Object.entries(fresh)) {
    if (v === undefined || NOT_UPDATED.has(k) || hopByHop.has(k)) continue
    out[k] = v
  }
  return out
}

/**
 * Which stored response a 304 freshens (RFC 9111 §4.3.4): one whose strong validator
 * matches, else (no ETag in the 304) one whose Last-Modified matches, else — when the
 * 304 carries no validator at all — the one we revalidated.
 */
export function validatorsMatch(stored: HeaderRecord, notModifiedHeaders: HeaderRecord): boolean {
  const newTag = first(notModifiedHeaders.etag)
  const oldTag = first(stored.etag)
  if (newTag !== undefined) return oldTag !== undefined && newTag === oldTag
  const newLm = first(notModifiedHeaders['last-modified'])
  if (newLm !== undefined) return newLm === first(stored['last-modified'])
  return true
}
