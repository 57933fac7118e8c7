/**
 * The CacheStrategy contract (src/testing/cache-strategy-conformance.ts): Vendure's own
 * InMemoryCacheStrategy is the reference; LarderCacheStrategy must pass it on the embedded
 * cache and on L1 + Redis L2 + the Redis log (a real redis-server).
 */
// Vendure ships it without exporting it from the package root.
import { InMemoryCacheStrategy } from '@vendure/core/dist/config/system/in-memory-cache-strategy.js'
import { createCache } from 'larder'
import { redisLog, redisStore } from 'larder/redis'
import { FakeClock, startRedis } from 'larder/testing'
import { LarderCacheStrategy } from '../src/cache-strategy.ts'
import { cacheStrategyConformance } from '../src/testing/index.ts'

cacheStrategyConformance("Vendure's InMemoryCacheStrategy (reference)", async () => {
  let now = 1_000_000
  const strategy = new InMemoryCacheStrategy({ cacheTtlProvider: { getTime: () => now } })
  return {
    strategy,
    advance: async (ms) => {
      now += ms
    },
  }
})

cacheStrategyConformance('LarderCacheStrategy, embedded cache', async () => {
  const clock = new FakeClock()
  const cache = createCache({ clock })
  return { strategy: new LarderCacheStrategy({ cache }), advance: (ms) => clock.advance(ms), close: () => cache.close() }
})

cacheStrategyConformance('LarderCacheStrategy, L1 + Redis L2 + Redis log', async () => {
  const redis = await startRedis()
  // The fake clock drives L1 and the expiry Larder checks on every L2 read (Redis' own PX is a
  // backstop set from the same expireAt), so the ttl case needs no real wait.
  const clock = new FakeClock()
  const cache = createCache({ clock, l2: redisStore({ url: redis.url }), log: redisLog({ url: redis.url }) })
  return {
    strategy: new LarderCacheStrategy({ cache }),
    advance: (ms) => clock.advance(ms),
    close: async () => {
      await cache.close()
      await redis.stop()
    },
  }
})
