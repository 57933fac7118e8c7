/**
 * Larder: a tiered cache (in-process L1, shared L2) with one ordered invalidation log.
 *
 * ```ts
 * import { createCache } from 'larder'
 * const cache = createCache({ policies: { product: { ttl: '1h', grace: '24h' } } })
 * const shop = cache.tenant('acme')
 * const p = await shop.getOrSet('product:42', () => db.product(42), { policy: 'product', tags: ['product:42'] })
 * await shop.invalidateTags(['product:42'])
 * ```
 * @module
 */
export * from './core/api.ts'
export * from './core/types.ts'
export { LarderError, ErrorCodes, ErrorRegistry, httpStatus, isLarderError, type ErrorCode } from './core/errors.ts'
export { parseDuration } from './core/duration.ts'
export { PUBLIC_TENANT, qualify, splitQualified, validateTenant, validateKey, validateTag, isTenantId } from './core/keys.ts'
export { jsonCodec, structuredCodec, type ValueCodec } from './core/codec.ts'
export { channels, type ChannelPayloads, type TypedChannel } from './core/diagnostics.ts'
export { clockOf, systemClock, type Timers, type TimerClock } from './core/clock.ts'
export { MemoryLog, memoryLog, type MemoryLogOptions } from './log/memory-log.ts'
export { createCache, CacheEngine } from './core/cache.ts'
export { MemoryStore, memoryStore, type MemoryStoreOptions } from './stores/memory-store.ts'
export { createAuthorizer, tokensFromEnv, type Authorizer, type Principal, type TokenConfig, type Action } from './core/auth.ts'
export type { LarderRoute } from './core/route.ts'
export { createWriteBehind, type WriteBehind, type WriteBehindOptions } from './core/write-behind.ts'
export { cached, cachedOf, type CachedFunction, type CachedMethodDecorator, type CachedOptions } from './core/cached.ts'
