/**
 * Vary (RFC 9111 §4.1): which request fields select among stored responses, and the
 * secondary cache key built from their normalized values.
 * @module
 */
import { headerValue } from './cache-control.ts'
import type { HeaderRecord } from './freshness.ts'

/** Lower-cased field names listed by Vary, deduplicated and sorted; `'*'` when Vary has `*`. */
export function parseVary(value: string | readonly string[] | undefined): string[] | '*' {
  const v = headerValue(value)
  if (!v) return []
  const names = new Set<string>()
  for (const part of v.split(',')) {
    const n = part.trim().toLowerCase()
    if (n === '*') return '*'
    if (n) names.add(n)
  }
  return [...names].sort()
}

/**
 * Secondary key for the request (RFC 9111 §4.1): the selecting fields' values, with
 * repeated lines combined and whitespace normalized, so semantically equal requests
 * match. An absent field (`\n<name>`) differs from an empty one (`\n<name>:`). Unambiguous
 * whatever bytes a value holds: whitespace (line feeds included) is folded to one space,
 * so a value can never spell another field's part (names are tokens: no `:`, no line feed).
 */
export function varyKey(names: readonly string[], reqHeaders: HeaderRecord): string {
  let out = ''
  for (const n of names) {
    const v = headerValue(reqHeaders[n])
    if (v === undefined) out += `\n${n}`
    else out += `\n${n}:${v.replace(/\s*,\s*/g, ',').replace(/\s+/g, ' ').trim()}`
  }
  return out
}
