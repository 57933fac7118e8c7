/**
 * The stale-race check of stale-race.test.ts with several tenants and tiny epoch bounds, so
 * that tables overflow, get evicted into floors and floors get forgotten all the time
 * (docs/invariants.md, "Per-tenant bounds"): still no read may return a value older than a
 * write acknowledged before the read began, in L1 or through an L2.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createCache, memoryLog, memoryStore } from 'larder'
import { FakeClock, mulberry32 } from 'larder/testing'

interface Violation {
  seed: number
  at: string
  got: number
  acked: number
}

async function trial(seed: number): Promise<{ reads: number; violations: Violation[] }> {
  const r = mulberry32(seed)
  const clock = new FakeClock()
  const cache = createCache({
    clock,
    l1: { maxEntries: 2 + Math.floor(r() * 6) },
    ...(r() < 0.5 ? { l2: memoryStore({ maxEntries: 64 }) } : {}),
    log: memoryLog({ capacity: 256, clock }),
    epochs: { maxPerTenant: 1 + Math.floor(r() * 3), maxTracked: 2 + Math.floor(r() * 4), maxTenants: 1 + Math.floor(r() * 2) },
    policies: { p: { ttl: 5 + Math.floor(r() * 40), grace: Math.floor(r() * 20) } },
  })
  const tenants = ['a', 'b', 'c']
  const keys = ['k0', 'k1']
  const db = new Map<string, number>()
  const acked = new Map<string, number>()
  for (const t of tenants) {
    for (const k of keys) {
      db.set(`${t}/${k}`, 0)
      acked.set(`${t}/${k}`, 0)
    }
  }
  const violations: Violation[] = []
  let reads = 0
  let noise = 0
  const sleep = (ms: number) => new Promise<void>((res) => clock.setTimeout(res, ms))
  const ops: Promise<void>[] = []
  const n = 10 + Math.floor(r() * 14)
  for (let i = 0; i < n; i++) {
    const t = tenants[Math.floor(r() * tenants.length)] as string
    const k = keys[Math.floor(r() * keys.length)] as string
    const id = `${t}/${k}`
    const shop = cache.tenant(t)
    const at = Math.floor(r() * 60)
    const kind = r()
    const how = r()
    const delay = Math.floor(r() * 15)
    ops.push(
      new Promise<void>((resolve, reject) => {
        clock.setTimeout(() => {
          const run = async () => {
            if (kind < 0.45) {
              const floor = acked.get(id) as number
              const got = await shop.getOrSet(
                k,
                async () => {
                  const v = db.get(id) as number
                  await sleep(delay)
                  return v
                },
                { policy: 'p', tags: [`product:${k}`, 'all'] },
              )
              reads++
              if (got < floor) violations.push({ seed, at: id, got, acked: floor })
            } else if (kind < 0.75) {
              const v = (db.get(id) as number) + 1
              db.set(id, v)
              await sleep(Math.floor(delay / 3))
              if (how < 0.3) await shop.invalidateTags([`product:${k}`])
              else if (how < 0.45) await shop.invalidateTags(['all'])
              else if (how < 0.65) await shop.delete(k)
              else if (how < 0.75) await shop.clear()
              else await shop.set(k, db.get(id) as number, { policy: 'p', tags: [`product:${k}`, 'all'] })
              if (v > (acked.get(id) as number)) acked.set(id, v)
            } else {
              // Noise: other tenants (or these) invalidating distinct tags: overflows, evictions, forgotten floors.
              const who = how < 0.7 ? `n${Math.floor(r() * 8)}` : t
              await cache.tenant(who).invalidateTags([`x:${noise++}`, `x:${noise++}`])
            }
          }
          run().then(resolve, reject)
        }, at)
      }),
    )
  }
  await clock.advance(300)
  await Promise.all(ops)
  await cache.close()
  return { reads, violations }
}

test('tiny epoch bounds, several tenants, with and without L2: zero stale reads', async () => {
  let reads = 0
  const trials = Number(process.env.RACE_TRIALS ?? 4_000)
  const violations: Violation[] = []
  for (let seed = 1; seed <= trials; seed++) {
    const res = await trial(seed)
    reads += res.reads
    violations.push(...res.violations)
  }
  assert.ok(reads > trials * 2, `enough reads were checked (${reads})`)
  assert.deepEqual(violations.slice(0, 5), [], `${violations.length} stale reads: ${JSON.stringify(violations.slice(0, 5))}`)
})
