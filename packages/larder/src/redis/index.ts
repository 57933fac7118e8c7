/**
 * The shared tier on Redis / Redis Cluster (ioredis): an L2 store with versioned writes
 * and fleet leases, the fleet-wide invalidation log on a Redis Stream, sessions and a
 * sliding-window rate limiter (with in-memory equivalents).
 *
 * ```ts
 * import { createCache } from 'larder'
 * import { redisLog, redisStore } from 'larder/redis'
 * const cache = createCache({ l2: redisStore({ url: 'redis://127.0.0.1:6379' }), log: redisLog({ url: 'redis://127.0.0.1:6379' }) })
 * // Cluster: redisStore({ cluster: ['redis://127.0.0.1:7000', 'redis://127.0.0.1:7001'] })
 * ```
 * See docs/redis.md for every option, log sizing and failure behaviour.
 * @module
 */
export { Breaker, type BreakerOptions, type BreakerState } from './breaker.ts'
export type { ConnectionOptions, RedisClient } from './connection.ts'
export { RedisLog, type RedisLogOptions, redisLog } from './log.ts'
export { partitionOf } from './log-partitions.ts'
export { type MemoryRateLimitOptions, memoryRateLimiter, type RateDecision, type RateLimiter, type RateLimitOptions, type RedisRateLimitOptions, redisRateLimiter } from './rate-limit.ts'
export { type MemorySessionOptions, memorySessions, type RedisSessionOptions, redisSessions, type SessionOptions, type Sessions } from './sessions.ts'
export { RedisStore, type RedisStoreOptions, redisStore } from './store.ts'
