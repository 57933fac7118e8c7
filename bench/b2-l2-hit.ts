/**
 * B2: an L2 hit with a cold L1 (benchmark plan target: ≥ 0.9× a raw Redis client GET + parse,
 * same run; getMany(100) in one round trip).
 *
 * Subjects, one request at a time (await each), same Redis, same value (≈ 150 B JSON):
 * - anchor: ioredis GET + JSON.parse (the floor: one round trip, no metadata);
 * - larder: createCache({ l1: false, l2: redisStore, log: redisLog }).tenant(t).get(key) —
 *   engine + READ script (value + tag/tenant epochs checked server-side, one round trip);
 * - redisStore.get directly (the store without the engine);
 * - BentoCache 1.6, L2-only Redis driver, get.
 * Subjects take turns in small interleaved batches; we report ops/s and the ratio to the anchor.
 * Then getMany(100): Redis commands (INFO commandstats) and round trips, on a single node and
 * on a 3-master Cluster (10 tenants).
 *
 * Run: npm run bench -- b2        (or: node --import tsx --conditions=larder-src bench/b2-l2-hit.ts [batch=250] [batches=200])
 */
import { register } from 'node:module'
import { loadavg } from 'node:os'
import { pathToFileURL } from 'node:url'
import { createCache } from '../packages/larder/src/core/cache.ts'
import { interleavedTable, runInterleaved } from './lib/interleaved.ts'
import { connect, type RedisClient as Redis } from '../packages/larder/src/redis/connection.ts'
import { redisLog, redisStore } from '../packages/larder/src/redis/index.ts'
import { startRedis, startRedisCluster } from '../packages/larder/src/testing/servers.ts'

// BentoCache's Redis driver imports 'ioredis', which is installed only under packages/larder:
// resolve it there (the same ioredis Larder uses).
const ioredisUrl = pathToFileURL(new URL('../packages/larder/node_modules/ioredis/built/index.js', import.meta.url).pathname).href
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'ioredis' ? { url: ${JSON.stringify(ioredisUrl)}, format: 'commonjs', shortCircuit: true } : n(s, c) }`)}`)
const { BentoCache, bentostore } = await import('bentocache')
const { redisDriver } = await import('bentocache/drivers/redis')

const OPS = Number(process.argv[2] ?? 250)
const ROUNDS = Number(process.argv[3] ?? 200)
const KEYS = 1000

const redis = await startRedis()
// A plain ioredis client (ioredis lives under packages/larder; connect() builds one).
const plain = (url: string): Redis => connect({ url }, 'bench').client
const raw = plain(redis.url)
const log = redisLog({ url: redis.url })
const store = redisStore({ url: redis.url, log })
await log.ready()
const cache = createCache({ l1: false, l2: store, log, defaults: { ttl: '1h' } })
const shop = cache.tenant('shop')
const directStore = redisStore({ url: redis.url })
const bento = new BentoCache({ default: 'l2', stores: { l2: bentostore().useL2Layer(redisDriver({ connection: { host: '127.0.0.1', port: redis.port } })) } })

const value = (i: number) => ({ id: i, sku: `SKU-${i}`, name: `Product ${i} — organic whole milk 1L`, price: 1.99 + i / 100, stock: i % 50, seller: { id: i % 20, status: 'active' }, tags: ['dairy', 'milk'] })
for (let i = 0; i < KEYS; i++) {
  await raw.set(`raw:p:${i}`, JSON.stringify(value(i)))
  await shop.set(`p:${i}`, value(i), { tags: [`product:${i}`, `category:${i % 10}`] })
  await bento.set({ key: `p:${i}`, value: value(i), ttl: '1h' })
}
const qkey = (i: number) => `shop\u001fp:${i}`

const subjects: Record<string, (i: number) => Promise<unknown>> = {
  'ioredis GET + JSON.parse (anchor)': async (i) => JSON.parse((await raw.get(`raw:p:${i % KEYS}`)) as string),
  'larder get, L1 off (engine + L2)': (i) => shop.get(`p:${i % KEYS}`),
  'redisStore.get, log attached (no engine)': async (i) => (await store.get(qkey(i % KEYS)))?.v,
  'redisStore.get, no log: READ script (no engine)': async (i) => (await directStore.get(qkey(i % KEYS)))?.v,
  'BentoCache 1.6 L2-only get': (i) => bento.get({ key: `p:${i % KEYS}` }),
}
// Sanity: every subject answers the value (a benchmark of misses would be meaningless).
for (const [name, fn] of Object.entries(subjects)) {
  const v = (await fn(7)) as { sku?: string } | undefined
  if (v?.sku !== 'SKU-7') throw new Error(`${name} did not return the value: ${JSON.stringify(v)}`)
}

// The machine is shared and noisy: subjects take turns in small batches (bench/lib/interleaved.ts).
const result = await runInterleaved(subjects, ROUNDS, OPS)
console.log(`B2 L2 hit, cold L1 — ${ROUNDS} batches × ${OPS} sequential gets per subject, interleaved; loadavg ${loadavg()[0]?.toFixed(2)}`)
console.log(interleavedTable(result, ROUNDS, OPS))

// ---------------------------------------------------------------- getMany(100)
async function commands(c: Redis): Promise<Map<string, number>> {
  const info = (await c.call('INFO', 'commandstats')) as string
  const out = new Map<string, number>()
  for (const m of info.matchAll(/cmdstat_([a-z|_-]+):calls=(\d+)/g)) out.set(m[1] as string, Number(m[2]))
  return out
}
function diff(a: Map<string, number>, b: Map<string, number>): string {
  const parts: string[] = []
  for (const [k, v] of b) {
    if (k === 'info') continue
    const d = v - (a.get(k) ?? 0)
    if (d > 0) parts.push(`${d} ${k.toUpperCase()}`)
  }
  return parts.join(' + ') || '0'
}

const hundred = Array.from({ length: 100 }, (_, i) => `p:${i}`)
await shop.getMany(hundred)
const before = await commands(raw)
const got = await shop.getMany(hundred)
const after = await commands(raw)
if (got.filter((v) => v !== undefined).length !== 100) throw new Error('getMany missed')
const rtt = await (async () => {
  const t0 = performance.now()
  for (let i = 0; i < 200; i++) await raw.ping()
  return (performance.now() - t0) / 200
})()
const gm = await (async () => {
  const t0 = performance.now()
  for (let i = 0; i < 200; i++) await shop.getMany(hundred)
  return (performance.now() - t0) / 200
})()
console.log(`\ngetMany(100), single node: ${diff(before, after)} command(s) server-side; ${gm.toFixed(3)} ms per call vs ${rtt.toFixed(3)} ms PING round trip`)

await cache.close()
await directStore.close()
await bento.disconnectAll()
raw.disconnect()
await redis.stop()

// Cluster: 100 keys over 10 tenants (10 hash slots on 3 masters).
const cluster = await startRedisCluster({ masters: 3 })
try {
  const clog = redisLog({ cluster: cluster.urls, stream: 'b2' })
  const cstore = redisStore({ cluster: cluster.urls, log: clog })
  await clog.whenInitialized()
  const now = Date.now()
  const keys = Array.from({ length: 100 }, (_, i) => `tenant-${i % 10}\u001fp:${i}`)
  await cstore.setMany(keys.map((key, i) => ({ key, entry: { v: value(i), tags: ['a'], began: 1, at: now, staleAt: now + 3.6e6, expireAt: now + 3.6e6 } })))
  await cstore.getMany(keys)
  const admins = cluster.nodes.map((n) => plain(n.url))
  const b4 = await Promise.all(admins.map(commands))
  const res = await cstore.getMany(keys)
  const af = await Promise.all(admins.map(commands))
  if (res.filter((e) => e !== undefined).length !== 100) throw new Error('cluster getMany missed')
  console.log(`getMany(100) over 10 tenants, 3-master Cluster: per node ${admins.map((_, i) => diff(b4[i] as Map<string, number>, af[i] as Map<string, number>)).join(' | ')} (commands of all nodes sent together: one round trip per node)`)
  for (const a of admins) a.disconnect()
  await cstore.close()
  await clog.close()
} finally {
  await cluster.stop()
}
