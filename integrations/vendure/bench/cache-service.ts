/**
 * Vendure's CacheService.get of a cached value (≈ 200 B JSON) on three strategies, same run
 * (target: Larder ≥ 10× RedisCacheStrategy on repeated reads, no slower on cold reads):
 *
 * - RedisCacheStrategy (RedisCachePlugin), the anchor: one GET + JSON.parse per read;
 * - SqlCacheStrategy (DefaultCachePlugin) in a running Vendure app on its sql.js database
 *   (in-process SQLite: a networked PostgreSQL/MySQL would be slower);
 * - LarderCacheStrategy, repeated reads: L1 hits (L2 = the same redis-server, the Redis log);
 * - LarderCacheStrategy, cold reads: a cache with L1 off, so every read is the L2 path
 *   (one plain GET of Larder's entry, judged against the epochs its log reader heard;
 *   bench/cold-read-micro.ts splits its cost layer by layer).
 *
 * Every subject is Vendure's own CacheService class over its strategy. Subjects take turns in
 * small interleaved batches (rotating who goes first) on a shared, noisy machine.
 *
 * Run: npm run bench -- vendure   (or: node --import tsx --conditions=larder-src integrations/vendure/bench/cache-service.ts [batch=200] [batches=100])
 */
import { loadavg } from 'node:os'
import { CacheService, type ConfigService, DefaultCachePlugin, RedisCacheStrategy } from '@vendure/core'
import { createCache } from 'larder'
import { redisLog, redisStore } from 'larder/redis'
import { startRedis } from 'larder/testing'
import { interleavedTable, runInterleaved } from '../../../bench/lib/interleaved.ts'
import { LarderCacheStrategy } from '../src/cache-strategy.ts'
import { startTestVendure } from '../src/testing/index.ts'

const OPS = Number(process.argv[2] ?? 200)
const ROUNDS = Number(process.argv[3] ?? 100)
const KEYS = 1000

const redis = await startRedis()
const vendure = await startTestVendure({ larder: { cacheStrategy: false }, config: { plugins: [DefaultCachePlugin.init({})] } })
const sql = vendure.server.app.get(CacheService)
if (sql.constructor !== CacheService) throw new Error('expected the app CacheService')

const serviceOf = (cacheStrategy: unknown) => new CacheService({ systemOptions: { cacheStrategy } } as unknown as ConfigService)
const redisStrategy = new RedisCacheStrategy({ redisOptions: { host: '127.0.0.1', port: redis.port }, namespace: 'bench' })
await redisStrategy.init()
// As in a running fleet, each cache's store follows its log (hits judged against what the
// reader heard: one GET, not the READ script), once the log reader is up.
const larderLog = redisLog({ url: redis.url })
const coldLog = redisLog({ url: redis.url })
await Promise.all([larderLog.ready(), coldLog.ready()])
const larderCache = createCache({ l2: redisStore({ url: redis.url, log: larderLog }), log: larderLog })
const coldCache = createCache({ l1: false, l2: redisStore({ url: redis.url, log: coldLog }), log: coldLog })
const services = {
  'RedisCachePlugin (RedisCacheStrategy), anchor': serviceOf(redisStrategy),
  'DefaultCachePlugin (SqlCacheStrategy, sql.js)': sql,
  'LarderCacheStrategy, repeated reads (L1)': serviceOf(new LarderCacheStrategy({ cache: larderCache })),
  'LarderCacheStrategy, cold reads (L1 off: L2)': serviceOf(new LarderCacheStrategy({ cache: coldCache })),
}

const value = (i: number) => ({ id: i, sku: `SKU-${i}`, name: `Product ${i} — organic whole milk 1L`, price: 199 + i, stock: i % 50, channelId: 1, facetValueIds: [1, 2, 3], tags: ['dairy', 'milk'] })
for (const s of Object.values(services)) for (let i = 0; i < KEYS; i++) await s.set(`p:${i}`, value(i), { tags: [`Product:${i}`], ttl: 3_600_000 })
const subjects = Object.fromEntries(Object.entries(services).map(([n, s]) => [n, (i: number) => s.get(`p:${i % KEYS}`)]))
for (const [name, fn] of Object.entries(subjects)) {
  const v = (await fn(7)) as { sku?: string } | undefined
  if (v?.sku !== 'SKU-7') throw new Error(`${name} did not return the value: ${JSON.stringify(v)}`)
}

const result = await runInterleaved(subjects, ROUNDS, OPS)
console.log(`Vendure CacheService.get — ${ROUNDS} batches × ${OPS} sequential gets per subject, interleaved; loadavg ${loadavg()[0]?.toFixed(2)}`)
console.log(interleavedTable(result, ROUNDS, OPS, 'RedisCacheStrategy'))

await redisStrategy.destroy()
await larderCache.close()
await coldCache.close()
await vendure.close()
await redis.stop()
process.exit(0)
