/**
 * The stored form of an HTTP response (what the tiered cache holds, JSON-safe so the Redis
 * tier can hold it) and its hot-path form (`Prepared`: header array + body text, built once
 * per entry object), so a hit is little more than a `writeHead` + `end`. The RFC 9111
 * decisions that fill it in (storable? how fresh?) stay in engine.ts.
 * @module
 */
import { HOP_BY_HOP, hopByHop, SURROGATE_FIELDS } from './headers.ts'
import { type HeaderRecord, initialAge, type StoredFacts } from './freshness.ts'

/** What is stored in the tiered cache (JSON-safe, so the Redis tier can hold it). */
export interface HttpEntry {
  /** Entry format version. */
  f: 1
  status: number
  /** Stored header lines, lower-case names, no hop-by-hop or surrogate fields. */
  h: [string, string][]
  /**
   * Body as a latin1 string (one char per byte: no copy on a hit, and node writes header
   * and body in one syscall), or base64 when `enc` is 'b64' (bodies with control bytes,
   * which JSON — the shared tier's format — would blow up as \u00XX escapes).
   */
  b: string
  enc?: 'b64'
  /** response_time (ms), corrected_initial_age (s), freshness lifetime (s). */
  rt: number
  ia: number
  lt: number
  nc: boolean
  mr: boolean
  swr: number
  sie: number
  /** True when the ETag was generated here (never sent upstream as a validator). */
  ge?: boolean
}

/** Hot-path form of an entry, built once per entry object. */
export interface Prepared {
  entry: HttpEntry
  /** Body as latin1 text (`res.end(text, 'latin1')` sends the exact bytes). */
  text: string
  /** Flat [name, value, …] without age/content-length (added per response). */
  lines: string[]
  headers: HeaderRecord
  facts: StoredFacts
  /** Index in `lines` of the origin's Cache-Status value (-1: none); ours is prepended (RFC 9211 §2). */
  statusAt: number
}

/** A complete response as the origin answered it. */
export interface ResponseInput {
  status: number
  headers: HeaderRecord
  body: Buffer
  requestTime: number
  responseTime: number
}

/** What the RFC 9111 rules decided about a response (engine.ts `storePlan`). */
export interface EntryFacts {
  /** Freshness lifetime, seconds. */
  lifetime: number
  noCache: boolean
  mustRevalidate: boolean
  swr: number
  sie: number
  /** A validator to add (a 200 without ETag and Last-Modified). */
  etag: string | undefined
  /** The ETag was generated here (never sent upstream as a validator). */
  generated: boolean
}

/** The stored form of a response: header lines without hop-by-hop and surrogate fields, the body, the facts. */
export function entryOf(input: ResponseInput, facts: EntryFacts): HttpEntry {
  const hop = hopByHop(input.headers)
  const h: [string, string][] = []
  for (const [k, v] of Object.entries(input.headers)) {
    if (v === undefined || hop.has(k) || (SURROGATE_FIELDS as readonly string[]).includes(k)) continue
    if (Array.isArray(v)) for (const x of v) h.push([k, x])
    else h.push([k, v as string])
  }
  if (facts.etag !== undefined) h.push(['etag', facts.etag])
  const entry: HttpEntry = {
    f: 1,
    status: input.status,
    h,
    b: '',
    rt: input.responseTime,
    ia: initialAge(input.headers, input.requestTime, input.responseTime),
    lt: facts.lifetime,
    nc: facts.noCache,
    mr: facts.mustRevalidate,
    swr: facts.swr,
    sie: facts.sie,
  }
  if (facts.generated) entry.ge = true
  if (hasControlBytes(input.body)) {
    entry.b = input.body.toString('base64')
    entry.enc = 'b64'
  } else entry.b = input.body.toString('latin1')
  return entry
}

const prepared = new WeakMap<object, Prepared>()

export function prepare(e: HttpEntry): Prepared {
  let p = prepared.get(e)
  if (p !== undefined) return p
  const lines: string[] = []
  const headers: HeaderRecord = {}
  let statusAt = -1
  for (const [k, val] of e.h) {
    const prev = headers[k]
    headers[k] = prev === undefined ? val : Array.isArray(prev) ? [...prev, val] : [prev, val]
    if (k === 'age' || k === 'content-length' || k === 'x-cache') continue
    if (k === 'cache-status' && statusAt < 0) statusAt = lines.length + 1
    lines.push(k, val)
  }
  p = {
    entry: e,
    text: e.enc === 'b64' ? Buffer.from(e.b, 'base64').toString('latin1') : e.b,
    lines,
    headers,
    facts: { responseTime: e.rt, initialAge: e.ia, lifetime: e.lt, noCache: e.nc, mustRevalidate: e.mr, swr: e.swr, sie: e.sie, neverFresh: e.lt <= 0 },
    statusAt,
  }
  prepared.set(e, p)
  return p
}

/** A prepared entry answered once with other headers (a 304's merged into it, not stored again). */
export function withHeaders(old: Prepared, merged: HeaderRecord): Prepared {
  const lines: string[] = []
  for (const [k, v] of Object.entries(merged)) {
    if (v === undefined || k === 'age' || k === 'content-length' || HOP_BY_HOP.has(k)) continue
    if (Array.isArray(v)) for (const x of v) lines.push(k, x)
    else lines.push(k, v)
  }
  let statusAt = -1
  for (let i = 0; i < lines.length && statusAt < 0; i += 2) if (lines[i] === 'cache-status') statusAt = i + 1
  return { ...old, lines, headers: merged, statusAt }
}

/** True when a byte below 0x20 other than TAB/LF/CR occurs (binary bodies). */
function hasControlBytes(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i] as number
    if (c < 0x20 && c !== 9 && c !== 10 && c !== 13) return true
  }
  return false
}
