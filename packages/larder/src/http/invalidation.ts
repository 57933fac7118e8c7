/**
 * Invalidation after unsafe methods (RFC 9111 §4.4).
 * @module
 */
import { first, type HeaderRecord } from './freshness.ts'

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/** RFC 9110 §9.2.1. */
export function isSafeMethod(method: string): boolean {
  return SAFE.has(method)
}

/**
 * URLs a cache must invalidate after an unsafe request got a non-error response
 * (RFC 9111 §4.4): the target URI, plus Location and Content-Location when they are
 * same-origin (invalidating another origin's entries would let one origin deny service
 * to another, so §4.4 forbids it).
 */
export function invalidationTargets(method: string, status: number, target: URL, resHeaders: HeaderRecord): URL[] {
  if (isSafeMethod(method) || status < 200 || status >= 400) return []
  const out = [target]
  for (const field of ['location', 'content-location']) {
    const v = first(resHeaders[field])
    if (!v) continue
    try {
      const u = new URL(v, target)
      if (u.origin === target.origin && u.href !== target.href) out.push(u)
    } catch {
      // Malformed URI reference: nothing to invalidate.
    }
  }
  return out
}
