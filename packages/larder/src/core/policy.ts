import type { AdaptiveBounds } from './adaptive-ttl.ts'
import type { Policy } from './api.ts'
import { parseDuration } from './duration.ts'
import { LarderError } from './errors.ts'
import { validateTags } from './keys.ts'

/** A policy with every duration parsed to ms. */
export interface ResolvedPolicy {
  name: string
  ttl: number
  grace: number
  jitter: number
  ttlFrom: ((value: unknown) => number | undefined) | undefined
  negativeTtl: number
  softTimeout: number | undefined
  hardTimeout: number
  refreshAhead: number
  tags: readonly string[]
  maxStaleness: number
  /** Adaptive ttl bounds (core/adaptive-ttl.ts); undefined for a fixed ttl. */
  adaptive: AdaptiveBounds | undefined
}

export const DEFAULT_POLICY: Policy = { ttl: '1m', grace: 0, hardTimeout: '10s' }

export function resolvePolicy(name: string, p: Policy, base: Policy = DEFAULT_POLICY): ResolvedPolicy {
  if (p === null || typeof p !== 'object') throw new LarderError('E_INVALID_OPTION', `policy "${name}" must be an object`)
  const merged: Policy = { ...base, ...p }
  const ttl = parseDuration(merged.ttl ?? '1m', `policy "${name}" ttl`)
  const jitter = merged.jitter ?? 0
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) throw new LarderError('E_INVALID_OPTION', `policy "${name}" jitter must be a fraction between 0 and 1, got ${String(jitter)}`)
  const beta = merged.refreshAhead ?? 0
  if (typeof beta !== 'number' || !(beta >= 0 && beta <= 10)) throw new LarderError('E_INVALID_OPTION', `policy "${name}" refreshAhead must be a number between 0 and 10, got ${String(beta)}`)
  if (merged.ttlFrom !== undefined && typeof merged.ttlFrom !== 'function') throw new LarderError('E_INVALID_OPTION', `policy "${name}" ttlFrom must be a function`)
  const ttlFrom = merged.ttlFrom
  return {
    name,
    ttl,
    grace: parseDuration(merged.grace ?? 0, `policy "${name}" grace`),
    jitter,
    ttlFrom: ttlFrom
      ? (value: unknown) => {
          const d = ttlFrom(value)
          return d === undefined ? undefined : parseDuration(d, `policy "${name}" ttlFrom(value)`)
        }
      : undefined,
    negativeTtl: merged.negativeTtl === undefined ? Math.min(ttl, 30_000) : parseDuration(merged.negativeTtl, `policy "${name}" negativeTtl`),
    softTimeout: merged.softTimeout === undefined ? undefined : parseDuration(merged.softTimeout, `policy "${name}" softTimeout`),
    hardTimeout: parseDuration(merged.hardTimeout ?? '10s', `policy "${name}" hardTimeout`),
    refreshAhead: beta,
    tags: validateTags(merged.tags ?? []),
    maxStaleness: parseDuration(merged.maxStaleness ?? '1s', `policy "${name}" maxStaleness`, true),
    adaptive: resolveAdaptive(name, p.adaptive),
  }
}

/** An adaptive policy's bounds: `{ min, max, halfLife? }`, 0 < min <= max. Not inherited from `defaults`. */
function resolveAdaptive(name: string, a: Policy['adaptive']): AdaptiveBounds | undefined {
  if (a === undefined || a === false) return undefined
  if (a === null || typeof a !== 'object') throw new LarderError('E_INVALID_OPTION', `policy "${name}" adaptive must be { min, max, halfLife? }`)
  const min = parseDuration(a.min, `policy "${name}" adaptive.min`)
  const max = parseDuration(a.max, `policy "${name}" adaptive.max`)
  if (!(min > 0 && min <= max)) throw new LarderError('E_INVALID_OPTION', `policy "${name}" adaptive needs 0 < min <= max, got min ${min} ms, max ${max} ms`)
  return { min, max, halfLife: parseDuration(a.halfLife ?? '1h', `policy "${name}" adaptive.halfLife`) }
}

export function resolvePolicies(policies: Record<string, Policy> | undefined, defaults: Policy | undefined): { defaults: ResolvedPolicy; byName: Map<string, ResolvedPolicy> } {
  const d = resolvePolicy('default', defaults ?? {}, DEFAULT_POLICY)
  const byName = new Map<string, ResolvedPolicy>()
  for (const [name, p] of Object.entries(policies ?? {})) byName.set(name, resolvePolicy(name, p, { ...DEFAULT_POLICY, ...(defaults ?? {}) }))
  return { defaults: d, byName }
}

/** The named policy (the defaults for undefined); E_UNKNOWN_POLICY for a name not configured. */
export function pickPolicy(defaults: ResolvedPolicy, byName: ReadonlyMap<string, ResolvedPolicy>, name: string | undefined): ResolvedPolicy {
  if (name === undefined) return defaults
  const p = byName.get(name)
  if (p === undefined) throw new LarderError('E_UNKNOWN_POLICY', `policy "${name}" is not configured (configured: ${[...byName.keys()].join(', ') || 'none'})`)
  return p
}
