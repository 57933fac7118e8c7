/**
 * Call-option resolution: the one place that decides an entry's lifetime, for every path
 * that stores one (`getOrSet`'s load, `set`, `setMany`, `writeThrough`), so the same value
 * stored through any of them lives equally long (docs/invariants.md, V4).
 *
 * Precedence, most specific first:
 * - ttl of a value: the loader's `ctx.setTtl` > the call's `ttl` > the policy's
 *   `ttlFrom(value)` > the adaptive ttl (`adapted`, an adaptive policy's choice for the
 *   tenant, core/adaptive-ttl.ts) > the policy's `ttl`;
 * - ttl of `null` (a cached "not found"): the loader's `ctx.setTtl` > the policy's
 *   `negativeTtl` (a call's `ttl` is meant for the value, not for its absence);
 * - grace: the loader's `ctx.setGrace` > the call's `grace` > the policy's `grace`;
 * - then the policy's `jitter` adds up to that fraction of the ttl.
 * @module
 */
import type { SetOptions } from './api.ts'
import { parseDuration } from './duration.ts'
import type { ResolvedPolicy } from './policy.ts'

/** What a loader set for its own entry through its context. */
export interface LoaderOverrides {
  ttl?: number
  grace?: number
}

export interface Lifetime {
  /** ms until stale. */
  ttl: number
  /** ms after that during which the entry may still be served stale. */
  grace: number
}

export function lifetime(policy: ResolvedPolicy, value: unknown, options: SetOptions | undefined, fromLoader?: LoaderOverrides, random: () => number = Math.random, adapted?: number): Lifetime {
  let ttl: number
  if (fromLoader?.ttl !== undefined) ttl = fromLoader.ttl
  else if (value === null) ttl = policy.negativeTtl
  else if (options?.ttl !== undefined) ttl = parseDuration(options.ttl, 'ttl')
  else ttl = policy.ttlFrom?.(value) ?? adapted ?? policy.ttl
  if (policy.jitter > 0) ttl += Math.floor(ttl * policy.jitter * random())
  const grace = fromLoader?.grace ?? (options?.grace === undefined ? policy.grace : parseDuration(options.grace, 'grace'))
  return { ttl, grace }
}
