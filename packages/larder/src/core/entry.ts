/**
 * What the engine's modules share about an entry and a call's scope: the L1 entry shape,
 * the read states a judged entry can be in, and `Scope` (cache.ts, loading.ts, writes.ts,
 * invalidation.ts). No behaviour lives here.
 * @module
 */
import { SEP } from './keys.ts'
import type { Counters } from './stats.ts'
import type { StoredEntry } from './types.ts'

/**
 * An L1 entry remembers the epoch version it was last validated at in `c`: `c === version`
 * means valid, `c === -version - 2` valid but soft-invalidated, anything else (-1 when new)
 * means "check again". One small-integer field keeps entries compact.
 */
export interface L1Entry extends StoredEntry {
  c?: number
}

export const NO_TAGS: readonly string[] = Object.freeze([])

/** Builds an entry with one fixed shape (fewer hidden classes, smaller objects). */
export function makeEntry(v: unknown, tags: readonly string[], began: number, at: number, staleAt: number, expireAt: number): L1Entry {
  return { v, tags: tags.length === 0 ? NO_TAGS : tags, began, at, staleAt, expireAt, c: -1 }
}

/** Where a call lands: a tenant, optionally a namespace inside it. */
export interface Scope {
  tenant: string
  /** Qualified-key prefix: tenant + SEP (+ namespace marker). */
  prefix: string
  /** Namespace marker put before keys inside the tenant ('' outside namespaces). */
  marker: string
  /** Implicit tag of the namespace, if any. */
  nsTag: string | undefined
  counters: Counters
}

/** The scope of a tenant, or of a namespace inside it (its keys get a marker, its entries an internal tag). */
export function scopeOf(tenant: string, namespace: string | undefined, counters: Counters): Scope {
  const marker = namespace === undefined ? '' : `\u0000ns:${namespace}\u0000`
  return { tenant, prefix: tenant + SEP + marker, marker, nsTag: namespace === undefined ? undefined : `\u0000ns:${namespace}`, counters }
}

/** Read states of a judged entry (CacheEngine's judge). */
export const FRESH = 0
export const STALE = 1
export const DEAD = 2
/** Found only in L1 while the log was not heard from for longer than maxStaleness (getEntry). */
export const UNVERIFIED = 3
