/**
 * Serving a byte range of a complete stored response (RFC 9110 §14): one range per
 * request; several ranges are answered with the whole representation (§14.2 lets a
 * server ignore Range), an unsatisfiable one with 416.
 * @module
 */
import { headerValue } from './cache-control.ts'
import { parseHttpDate } from './dates.ts'
import { first, type HeaderRecord } from './freshness.ts'

export type RangeResult = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' }

/** Parses `Range: bytes=…` against a body of `length` bytes (RFC 9110 §14.1.2). */
export function parseRange(value: string | undefined, length: number): RangeResult {
  if (value === undefined) return { kind: 'full' }
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(value)
  if (!m) return { kind: 'full' } // unknown unit, several ranges, or malformed: ignore Range
  const [, a, b] = m as unknown as [string, string, string]
  if (a === '' && b === '') return { kind: 'full' }
  if (a === '') {
    // suffix-range: the last N bytes.
    const n = Number(b)
    if (n === 0) return { kind: 'unsatisfiable' }
    return { kind: 'partial', start: Math.max(0, length - n), end: length - 1 }
  }
  const start = Number(a)
  const end = b === '' ? length - 1 : Math.min(Number(b), length - 1)
  if (b !== '' && Number(b) < start) return { kind: 'full' } // invalid range-spec: ignore
  if (start >= length) return { kind: 'unsatisfiable' }
  return { kind: 'partial', start, end }
}

/**
 * If-Range (RFC 9110 §13.1.5): the range applies only when the validator matches the
 * stored response — a strong ETag compared strongly, or a date equal to Last-Modified.
 */
export function ifRangeMatches(reqHeaders: HeaderRecord, stored: HeaderRecord): boolean {
  const v = headerValue(reqHeaders['if-range'])
  if (v === undefined) return true
  const t = v.trim()
  if (t.startsWith('"')) {
    const etag = first(stored.etag)
    return etag !== undefined && !etag.startsWith('W/') && etag === t
  }
  if (t.startsWith('W/')) return false
  const d = parseHttpDate(t)
  const lm = parseHttpDate(first(stored['last-modified']))
  return d !== undefined && lm !== undefined && d === lm
}
