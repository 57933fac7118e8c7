/**
 * Where a cold Larder read (L1 off: the L2 path) spends its time next to a bare ioredis GET,
 * layer by layer, on one throwaway redis-server (the Vendure benchmark's ≈ 200-byte value, one tag):
 * - ioredis GET + JSON.parse of the plain JSON (the anchor: what RedisCacheStrategy does);
 * - the same with ioredis `commandTimeout` (the per-command timer redisStore's client runs);
 * - ioredis GET of Larder's stored entry + decodeEntry (the envelope: bytes and decoding);
 * - redisStore.get (breaker, local-epochs verdict), also on a client without commandTimeout
 *   (then the breaker's shared ticker bounds the call);
 * - cache.get with L1 off (the engine on top).
 * Prints the CPU time per read of each subject (process.cpuUsage, the least of CPU_ROUNDS
 * runs of 2,000 reads: less noisy than wall time on a shared machine), the interleaved wall
 * time ratios, and the Redis commands the interleaved part sent (GET only, no script).
 *
 * Run: node --import tsx --conditions=larder-src bench/cold-read-micro.ts [batch=200] [batches=100]
 */
import { loadavg } from 'node:os'
import { createCache } from '../packages/larder/src/core/cache.ts'
import { connect } from '../packages/larder/src/redis/connection.ts'
import { decodeEntry } from '../packages/larder/src/redis/codec.ts'
import { redisLog, redisStore } from '../packages/larder/src/redis/index.ts'
import { startRedis } from '../packages/larder/src/testing/servers.ts'
import { interleavedTable, runInterleaved } from './lib/interleaved.ts'

const OPS = Number(process.argv[2] ?? 200)
const ROUNDS = Number(process.argv[3] ?? 100)
const KEYS = 1000
const redis = await startRedis()
const plain = connect({ url: redis.url }, 'bench').client
const timed = connect({ url: redis.url }, 'bench', 250).client
const log = redisLog({ url: redis.url })
await log.ready()
const store = redisStore({ url: redis.url, log })
const store2 = redisStore({ client: connect({ url: redis.url }, 'bench').client, log })
const cache = createCache({ l1: false, l2: store, log })
const t = cache.tenant('vendure-cache-service')
const value = (i: number) => ({ id: i, sku: `SKU-${i}`, name: `Product ${i} — organic whole milk 1L`, price: 199 + i, stock: i % 50, channelId: 1, facetValueIds: [1, 2, 3], tags: ['dairy', 'milk'] })
for (let i = 0; i < KEYS; i++) {
  await plain.set(`raw:p:${i}`, JSON.stringify(value(i)))
  await t.set(`p:${i}`, value(i), { tags: [`Product:${i}`], ttl: 3_600_000 })
}
const rk = (i: number) => `lr:{${Buffer.from('vendure-cache-service').toString('base64url')}}:k:p:${i}`
console.log('raw bytes', (await plain.get('raw:p:7'))?.length, 'larder bytes', (await plain.get(rk(7)))?.length)
console.log(await plain.get(rk(7)))
const subjects: Record<string, (i: number) => Promise<unknown>> = {
  'ioredis GET+parse (anchor)': async (i) => JSON.parse((await plain.get(`raw:p:${i % KEYS}`)) as string),
  'ioredis commandTimeout GET+parse': async (i) => JSON.parse((await timed.get(`raw:p:${i % KEYS}`)) as string),
  'ioredis GET larder entry + decodeEntry': async (i) => decodeEntry((await plain.get(rk(i % KEYS))) as string)?.v,
  'store.get': async (i) => (await store.get(`vendure-cache-service\u001fp:${i % KEYS}`))?.v,
  'store.get, breaker ticker (client without commandTimeout)': async (i) => (await store2.get(`vendure-cache-service\u001fp:${i % KEYS}`))?.v,
  'cache.get L1 off': (i) => t.get(`p:${i % KEYS}`),
}
for (const [name, fn] of Object.entries(subjects)) {
  const v = (await fn(7)) as { sku?: string } | undefined
  if (v?.sku !== 'SKU-7') throw new Error(`${name} did not return the value`)
}
const cpu = new Map<string, number>()
for (let r = 0; r < Number(process.env.CPU_ROUNDS ?? 10); r++)
  for (const [name, fn] of Object.entries(subjects)) {
    const c0 = process.cpuUsage()
    for (let i = 0; i < 2000; i++) await fn(i)
    const c = process.cpuUsage(c0)
    cpu.set(name, Math.min(cpu.get(name) ?? Infinity, (c.user + c.system) / 2000))
  }
for (const [n, us] of cpu) console.log(`cpu µs/op (min of rounds) ${us.toFixed(2)}  ${n}`)
const cs = async () => (await plain.call('INFO', 'commandstats')) as string
const before = await cs()
const result = await runInterleaved(subjects, ROUNDS, OPS)
console.log(`loadavg ${loadavg()[0]?.toFixed(2)}`)
console.log(interleavedTable(result, ROUNDS, OPS))
const after = await cs()
for (const c of ['get', 'evalsha', 'xread']) {
  const f = (s: string) => Number(new RegExp(`cmdstat_${c}:calls=(\\d+)`).exec(s)?.[1] ?? 0)
  console.log(c, f(after) - f(before))
}
await cache.close()
plain.disconnect()
timed.disconnect()
await redis.stop()
process.exit(0)
