/**
 * LarderCacheStrategy (Vendure's CacheService) through a Redis outage, on a real redis-server:
 * hung (SIGSTOP) reads end within a bound as a miss, and a tag invalidated while Redis is down
 * (SIGKILL) is not served by any instance after Redis comes back empty on the same port.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { createCache } from 'larder'
import { redisLog, redisStore } from 'larder/redis'
import { startRedis } from 'larder/testing'
import { LarderCacheStrategy } from '../src/cache-strategy.ts'

const quiet = () => {}

async function until(what: string, check: () => Promise<boolean>, maxMs: number): Promise<number> {
  const t0 = performance.now()
  for (;;) {
    if (await check()) return performance.now() - t0
    if (performance.now() - t0 > maxMs) throw new Error(`${what}: not within ${maxMs} ms`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

test('hung Redis: get/set/delete/invalidateTags end within a bound; reads answer undefined or the L1 copy', async () => {
  const redis = await startRedis()
  const cache = createCache({ l2: redisStore({ url: redis.url }), log: redisLog({ url: redis.url }) })
  const s = new LarderCacheStrategy({ cache, onError: quiet })
  after(async () => {
    redis.resume()
    await cache.close().catch(() => {})
    await redis.stop()
  })
  await s.set('warm', { v: 1 }, { tags: ['p:1'] })
  assert.deepEqual(await s.get('warm'), { v: 1 })
  redis.pause()
  const timed = async <T>(what: string, f: () => Promise<T>): Promise<{ ms: number; v: T | Error }> => {
    const t0 = performance.now()
    const v = await f().catch((e: Error) => e)
    const ms = performance.now() - t0
    console.log(`# hung redis: ${what} took ${ms.toFixed(0)} ms -> ${v instanceof Error ? v.message : JSON.stringify(v)}`)
    return { ms, v }
  }
  const cold = await timed('get (not in L1)', () => s.get('cold'))
  assert.ok(cold.ms < 3000, 'a cold read on a hung Redis ends within 3 s')
  assert.equal(cold.v, undefined)
  const warm = await timed('get (in L1)', () => s.get('warm'))
  assert.ok(warm.ms < 3000)
  const set = await timed('set', () => s.set('k2', 2, { tags: ['p:2'] }))
  assert.ok(set.ms < 3000)
  const del = await timed('delete', () => s.delete('warm'))
  assert.ok(del.ms < 3000)
  const inv = await timed('invalidateTags', () => s.invalidateTags(['p:1']))
  assert.ok(inv.ms < 3000)
  assert.equal((await timed('get after invalidation (hung)', () => s.get('warm'))).v, undefined, 'the invalidating instance never serves what it invalidated')
})

test('Redis killed: invalidateTags while down, restart on the same port: no instance serves the invalidated value', async () => {
  const redis = await startRedis()
  const mk = () => {
    const cache = createCache({ l2: redisStore({ url: redis.url }), log: redisLog({ url: redis.url }) })
    return { cache, s: new LarderCacheStrategy({ cache, onError: quiet }) }
  }
  const a = mk()
  const b = mk()
  after(async () => {
    await a.cache.close().catch(() => {})
    await b.cache.close().catch(() => {})
    await redis.stop()
  })
  await a.s.set('product:1', { price: 100 }, { tags: ['product:1'] })
  await b.s.set('product:1', { price: 100 }, { tags: ['product:1'] }) // B's L1 too
  assert.deepEqual(await b.s.get('product:1'), { price: 100 })
  assert.deepEqual(await a.s.get('product:1'), { price: 100 })
  await redis.kill()
  const t0 = performance.now()
  const err = await a.s.invalidateTags(['product:1']).then(
    () => undefined,
    (e: Error) => e,
  )
  console.log(`# redis down: invalidateTags took ${(performance.now() - t0).toFixed(0)} ms -> ${err ? err.message : 'resolved'}`)
  assert.equal(await a.s.get('product:1'), undefined, 'A does not serve what it invalidated (down)')
  // B must not serve the old value while the log is unreachable beyond its staleness bound.
  const bDown = await until('B distrusts L1 while the log is unreachable', async () => (await b.s.get('product:1')) === undefined, 5000)
  console.log(`# redis down: B stopped serving its L1 copy after ${bDown.toFixed(0)} ms`)
  await redis.restart()
  const bUp = await until('B after restart', async () => (await b.s.get('product:1')) === undefined, 5000)
  console.log(`# redis back: B answers undefined ${bUp.toFixed(0)} ms after restart`)
  assert.equal(await a.s.get('product:1'), undefined)
  // A fresh write after recovery is served again (the fence did not stick).
  await until('A stores again after recovery', async () => {
    await a.s.set('product:1', { price: 90 }, { tags: ['product:1'] })
    return JSON.stringify(await b.s.get('product:1')) === JSON.stringify({ price: 90 }) || JSON.stringify(await a.s.get('product:1')) === JSON.stringify({ price: 90 })
  }, 5000)
  // B must never go back to the pre-outage value.
  for (let i = 0; i < 10; i++) assert.notDeepEqual(await b.s.get('product:1'), { price: 100 })
})
