/**
 * Vendure's `CacheStrategy` (`systemOptions.cacheStrategy`, behind `CacheService`) on a
 * Larder cache: reads hit the in-process L1 first, then Redis (L2); `invalidateTags` and
 * `delete` go through the invalidation log, so every instance drops its L1 copies (within the
 * log's heartbeat, 250 ms by default, and before a read of an entry the log says is gone);
 * writes of values read before an invalidation are refused (fenced), unlike
 * `RedisCacheStrategy`, which has no L1 and no fences.
 *
 * Like Vendure's own strategies it never fails a read or a write: errors are logged and a
 * read answers undefined (a miss). `invalidateTags` does fail when nothing could be recorded.
 * @module
 */
import type { CacheStrategy, SetCacheKeyOptions } from '@vendure/core/dist/config/system/cache-strategy.js'
import type { Cache, TenantCache } from 'larder'

export interface LarderCacheStrategyConfig {
  /** The Larder cache (or a getter: the plugin's cache is built at bootstrap). */
  cache: Cache | (() => Cache)
  /** Larder tenant of Vendure's internal cache. Default `vendure-cache-service`. */
  tenant?: string
  /** Ttl of an entry set without one. Default 1 hour. */
  defaultTtlMs?: number
  onError?: (err: unknown, context: string) => void
}

export const DEFAULT_CACHE_TENANT = 'vendure-cache-service'

export class LarderCacheStrategy implements CacheStrategy {
  readonly #cache: () => Cache
  readonly #tenant: string
  readonly #ttl: number
  readonly #onError: (err: unknown, context: string) => void
  #scope: { cache: Cache; tenant: TenantCache } | undefined

  constructor(config: LarderCacheStrategyConfig) {
    const c = config.cache
    this.#cache = typeof c === 'function' ? c : () => c
    this.#tenant = config.tenant ?? DEFAULT_CACHE_TENANT
    this.#ttl = config.defaultTtlMs ?? 3_600_000
    this.#onError = config.onError ?? ((err, context) => console.error(`[larder] ${context}: ${(err as Error).message}`))
  }

  /** The tenant scope, rebuilt when the plugin's cache was rebuilt (a restarted app). */
  get #t(): TenantCache {
    const cache = this.#cache()
    if (this.#scope?.cache !== cache) this.#scope = { cache, tenant: cache.tenant(this.#tenant) }
    return this.#scope.tenant
  }

  /** Not an async function: one `.then` on the cache's promise (a cold read is one GET and a hop). */
  get<T>(key: string): Promise<T | undefined> {
    let p: Promise<T | undefined>
    try {
      p = this.#t.get<T>(key)
    } catch (err) {
      p = Promise.reject(err)
    }
    return p.then(
      (v) => v ?? undefined,
      (err) => {
        this.#onError(err, `cache get ${key.slice(0, 100)}`)
        return undefined
      },
    )
  }

  async set<T>(key: string, value: T, options?: SetCacheKeyOptions): Promise<void> {
    const ttl = options?.ttl ?? this.#ttl
    if (!(ttl > 0)) return
    try {
      await this.#t.set(key, value, { ttl, tags: options?.tags ?? [] })
    } catch (err) {
      this.#onError(err, `cache set ${key.slice(0, 100)}`)
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.#t.delete(key)
    } catch (err) {
      this.#onError(err, `cache delete ${key.slice(0, 100)}`)
    }
  }

  async invalidateTags(tags: string[]): Promise<void> {
    if (tags.length === 0) return
    await this.#t.invalidateTags(tags)
  }
}
