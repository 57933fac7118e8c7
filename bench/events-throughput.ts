/**
 * Events benchmark.
 *
 * 1. Throughput: `product.updated` events (catalog rules: 4 tags + 1 key each, 10 tenants)
 *    through validation → rules → coalescing → `cache.invalidate` → log, published in
 *    concurrent waves of 1,000. Anchor in the same run: the same invalidations with one
 *    direct `cache.invalidate` per event (no envelope, no rules, no coalescing).
 *    Once with the embedded log, once with the Redis log (a throwaway redis-server).
 * 2. Latency: `UPDATE … ` (autocommit) in PostgreSQL → trigger → NOTIFY → listener → rule →
 *    invalidation applied on this instance, one change at a time, p50/p99. Anchor in the same
 *    run: a bare `NOTIFY` from one pg connection to a LISTENing pg connection.
 *
 * Run: node --import tsx --conditions=larder-src bench/events-throughput.ts [events=50000] [updates=300]
 */
import { loadavg } from 'node:os'
import pg from 'pg'
import { createCache } from '../packages/larder/src/core/cache.ts'
import type { Cache } from '../packages/larder/src/core/api.ts'
import type { InvalidationLog } from '../packages/larder/src/core/types.ts'
import { createPgListener } from '../packages/larder/src/events/pg-listener.ts'
import { installPgTrigger } from '../packages/larder/src/events/pg-trigger.ts'
import { createEventProcessor } from '../packages/larder/src/events/processor.ts'
import { MemoryLog } from '../packages/larder/src/log/memory-log.ts'
import { redisLog } from '../packages/larder/src/redis/index.ts'
import { startPostgres, startRedis } from '../packages/larder/src/testing/servers.ts'

const EVENTS = Number(process.argv[2] ?? 50_000)
const UPDATES = Number(process.argv[3] ?? 300)
const WAVE = 1000
const TENANTS = 10
const catalog = new URL('../packages/larder/rules/catalog.yaml', import.meta.url).pathname

const event = (i: number) => ({ id: `e${i}`, type: 'product.updated', tenant: `t${i % TENANTS}`, data: { productId: i, categoryIds: [`c${i % 50}`] } })

async function direct(cache: Cache, n: number): Promise<number> {
  const t0 = performance.now()
  for (let w = 0; w < n; w += WAVE) {
    const wave: Promise<unknown>[] = []
    for (let i = w; i < Math.min(n, w + WAVE); i++) {
      wave.push(cache.invalidate(`t${i % TENANTS}`, { tags: [`product:${i}`, `category:c${i % 50}`, 'search', 'dashboard'], keys: [`product:${i}`] }))
    }
    await Promise.all(wave)
  }
  return n / ((performance.now() - t0) / 1000)
}

async function viaProcessor(cache: Cache, n: number, offset: number, coalesceMs: number, recordEvents = true): Promise<number> {
  const processor = createEventProcessor({ cache, rules: catalog, coalesceMs, stormThreshold: 1e9, dedupeWindow: 100_000, recordEvents })
  const t0 = performance.now()
  for (let w = 0; w < n; w += WAVE) {
    const wave: Promise<unknown>[] = []
    for (let i = w; i < Math.min(n, w + WAVE); i++) wave.push(processor.publish(event(offset + i)))
    await Promise.all(wave)
  }
  const rate = n / ((performance.now() - t0) / 1000)
  await processor.close()
  return rate
}

function fmt(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} k` : n.toFixed(0)
}

async function throughput(name: string, makeLog: () => InvalidationLog, n: number): Promise<void> {
  const cache = createCache({ log: makeLog() })
  await direct(cache, Math.min(n, 5000)) // warm-up
  const anchor = await direct(cache, n)
  const p2 = await viaProcessor(cache, n, 1_000_000, 2)
  const p0 = await viaProcessor(cache, n, 2_000_000, 0)
  const pn = await viaProcessor(cache, n, 3_000_000, 2, false)
  const anchor2 = await direct(cache, n)
  await cache.close()
  const a = (anchor + anchor2) / 2
  console.log(`\n### ${name} (${n} events, ${TENANTS} tenants, waves of ${WAVE})`)
  console.log('| case | events/s | vs direct |')
  console.log('|---|---|---|')
  console.log(`| direct cache.invalidate per event (anchor, mean of 2) | ${fmt(a)} | 1.00× |`)
  console.log(`| processor, coalesceMs 2 (default) | ${fmt(p2)} | ${(p2 / a).toFixed(2)}× |`)
  console.log(`| processor, coalesceMs 0 | ${fmt(p0)} | ${(p0 / a).toFixed(2)}× |`)
  console.log(`| processor, coalesceMs 2, recordEvents false (no per-event log record) | ${fmt(pn)} | ${(pn / a).toFixed(2)}× |`)
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number
}

async function pgLatency(n: number): Promise<void> {
  const server = await startPostgres()
  const admin = new pg.Client({ connectionString: server.url })
  await admin.connect()
  await admin.query('CREATE TABLE products (id int PRIMARY KEY, tenant_id text, category_id text, price int)')
  await admin.query(`INSERT INTO products SELECT g, 't' || (g % 10), 'c' || (g % 50), 1 FROM generate_series(1, ${n}) g`)
  const listenerClient = new pg.Client({ connectionString: server.url })
  await listenerClient.connect()
  // Anchor: bare NOTIFY → LISTEN between two connections.
  const bare: number[] = []
  let onNote: (() => void) | undefined
  listenerClient.on('notification', () => onNote?.())
  await listenerClient.query('LISTEN bench')
  for (let i = 0; i < n; i++) {
    let t1 = 0
    const got = new Promise<void>((r) => (onNote = () => r(void (t1 = performance.now()))))
    const t0 = performance.now()
    await admin.query(`NOTIFY bench, '${i}'`)
    await got
    bare.push(t1 - t0)
  }
  await listenerClient.end()
  if (process.env.BENCH_DEBUG) console.log(bare.map((x) => x.toFixed(3)).join(' '))

  // Second anchor: the UPDATE round trip itself, before the trigger exists.
  const plain: number[] = []
  for (let i = 1; i <= n; i++) {
    const t0 = performance.now()
    await admin.query('UPDATE products SET price = price + 1 WHERE id = $1', [i])
    plain.push(performance.now() - t0)
  }
  await installPgTrigger(admin, { table: 'products', event: 'product.row_changed', columns: ['category_id'] })
  const rules = { events: { 'product.row_changed': { fields: ['ids[]', 'category_id[]'], invalidate: { tags: ['product:{ids[]}', 'category:{category_id[]}'] } } } }
  async function larderPath(coalesceMs: number): Promise<number[]> {
    const cache = createCache({ log: new MemoryLog() })
    const waiting = new Map<string, () => void>()
    const original = cache.invalidate.bind(cache)
    cache.invalidate = async (tenant, input) => {
      const r = await original(tenant, input)
      for (const t of input.tags ?? []) waiting.get(t)?.()
      return r
    }
    const processor = createEventProcessor({ cache, rules, coalesceMs, stormThreshold: 1e9 })
    const listener = createPgListener({
      connect: async () => {
        const c = new pg.Client({ connectionString: server.url })
        await c.connect()
        return c
      },
      processor,
      cache,
      heartbeatMs: 0,
    })
    await listener.ready
    const out: number[] = []
    for (let i = 1; i <= n; i++) {
      const applied = new Promise<void>((r) => waiting.set(`product:${i}`, r))
      const t0 = performance.now()
      await admin.query('UPDATE products SET price = price + 1 WHERE id = $1', [i])
      await applied
      out.push(performance.now() - t0)
      waiting.delete(`product:${i}`)
    }
    await listener.close()
    await processor.close()
    await cache.close()
    return out
  }
  const l2 = await larderPath(2)
  const l0 = await larderPath(0)
  const row = (name: string, xs: number[]) => console.log(`| ${name} | ${pct(xs, 50).toFixed(2)} ms | ${pct(xs, 99).toFixed(2)} ms |`)
  console.log(`\n### PostgreSQL UPDATE … COMMIT → invalidation applied (${n} single-row autocommit updates, one at a time)`)
  console.log('| path | p50 | p99 |')
  console.log('|---|---|---|')
  row('anchor: bare NOTIFY → LISTEN between two pg connections', bare)
  row('anchor: the UPDATE round trip alone (no trigger)', plain)
  row('UPDATE → trigger → NOTIFY → listener → rule → cache.invalidate resolved, coalesceMs 2 (default)', l2)
  row('same, coalesceMs 0', l0)
  await admin.end()
  await server.stop()
}

console.log(`events bench — ${new Date().toISOString()}, Node ${process.version}, load ${loadavg()[0]?.toFixed(2)}`)
await throughput('Embedded log', () => new MemoryLog({ capacity: 10_000 }), EVENTS)
const redis = await startRedis()
try {
  await throughput('Redis log', () => redisLog({ url: redis.url }), Math.min(EVENTS, 20_000))
} finally {
  await redis.stop()
}
await pgLatency(UPDATES)
