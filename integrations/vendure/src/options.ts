/**
 * The options of `LarderPlugin.init({ … })` and how they become one Larder runtime: the
 * cache (L1 + Redis L2 + the Redis invalidation log, or embedded without `redis`), the event
 * processor with the shipped (or your) rules, the SSE hub and the admin API.
 * @module
 */
import { fileURLToPath } from 'node:url'
import { type Cache, type CacheOptions, createCache, createAuthorizer, type InvalidationLog, type TokenConfig } from 'larder'
import type { RulesSpec, RuleSet } from 'larder/events'
import { redisLog, redisStore } from 'larder/redis'

/** The rules this package ships (`rules/vendure.yaml`): copy it to override. */
export const DEFAULT_RULES_PATH = fileURLToPath(new URL('../rules/vendure.yaml', import.meta.url))

export interface LarderCacheStrategyOptions {
  /** Larder tenant that holds Vendure's internal cache. Default `vendure-cache-service`. */
  tenant?: string
  /** Ttl of an entry set without one. Default 1 hour (Vendure's own strategies' default). */
  defaultTtlMs?: number
}

export interface ShopApiCacheOptions {
  /** Shared-cache lifetime of a cacheable Shop API query (`s-maxage`): purges end it earlier. Default 300 s. */
  ttlSeconds?: number
  /**
   * Root fields that make a query uncacheable (customer- or session-specific, or served
   * from an index updated asynchronously). Added to the defaults: activeOrder, activeCustomer,
   * activePaymentMethods, activeShippingMethods, eligibleShippingMethods,
   * eligiblePaymentMethods, nextOrderStates, orderByCode, me, search.
   */
  uncacheableFields?: readonly string[]
  /** Most surrogate keys per response (the gateway reads 64). Default 64. */
  maxKeys?: number
}

export interface LarderPluginOptions {
  /** A Larder cache you built (then `redis` is ignored and you close it). */
  cache?: Cache
  /**
   * Redis for L2 and the fleet-wide invalidation log, e.g. `redis://127.0.0.1:6379`. Without
   * it the cache is in-process (one Vendure instance only).
   */
  redis?: string
  /** Name of the Redis stream of the log (every instance and the gateway must use the same). Default `larder`. */
  stream?: string
  /** Extra options of the cache the plugin builds. */
  cacheOptions?: Omit<CacheOptions, 'l2' | 'log'>
  /** Rules: a YAML path or text, a RulesSpec or a RuleSet. Default: the shipped `rules/vendure.yaml`. */
  rules?: string | RulesSpec | RuleSet
  /** Tokens for the purge and admin routes (`Authorization: Bearer …`, core/auth.ts scopes). Without them those routes answer 401. */
  tokens?: readonly TokenConfig[]
  /** HMAC secret of signed stream tokens (`?token=`, realtime/token.ts). */
  streamSecret?: string
  /**
   * Streams without a token, tenant from the `vendure-token` header (or the default channel).
   * Default: true without `streamSecret`, false with one.
   */
  anonymousStreams?: boolean
  /** Origins allowed to read the stream cross-origin. */
  allowOrigin?: string | readonly string[]
  /**
   * The log the SSE hub follows. Default: the cache's. Give it a gateway refresher's view
   * (`createInvalidationRefresher(…).log`, larder/gateway) when the gateway caching the Shop API
   * runs in this process, so each event goes out once the cached answers it touched were re-fetched.
   */
  streamLog?: InvalidationLog
  /** Path prefix of the mounted Larder routes. Default `/_larder` (stream: `/_larder/stream`). */
  basePath?: string
  /** Vendure's CacheService on Larder (`systemOptions.cacheStrategy`). Default true. */
  cacheStrategy?: boolean | LarderCacheStrategyOptions
  /** Mark cacheable Shop API queries for the Larder gateway (Cache-Control + Surrogate-Key). Default false. */
  shopApiCache?: boolean | ShopApiCacheOptions
  /**
   * Hold an Admin API mutation's answer until the invalidations of the catalog events it
   * caused are applied (after commit), at most this long. So a read made after the answer
   * never sees the old value. 0 turns it off. Default 2000 ms.
   */
  awaitInvalidationMs?: number
  /** How long one channel's invalidations are merged. Default 0 (same event-loop turn). */
  coalesceMs?: number
  onError?: (err: unknown, context: string) => void
}

export interface ResolvedCache {
  cache: Cache
  /** Whether the plugin built the cache (and so closes it). */
  owned: boolean
}

export function resolveCache(o: LarderPluginOptions): ResolvedCache {
  if (o.cache) return { cache: o.cache, owned: false }
  const base: CacheOptions = { ...o.cacheOptions }
  if (o.onError && !base.onError) base.onError = o.onError
  if (o.redis) {
    const stream = o.stream ?? 'larder'
    return { cache: createCache({ ...base, l2: redisStore({ url: o.redis }), log: redisLog({ url: o.redis, stream }) }), owned: true }
  }
  return { cache: createCache(base), owned: true }
}

export function authorizerOf(o: LarderPluginOptions) {
  return createAuthorizer([...(o.tokens ?? [])])
}
