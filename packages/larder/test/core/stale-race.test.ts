/**
 * Invariant 1, randomized (B4): runs 10,000 random interleavings of loads, source updates
 * and invalidations on a fake clock, and checks that no read which began after an
 * invalidation was acknowledged returns a value older than the write it invalidated.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createCache, memoryLog } from 'larder'
import { FakeClock, mulberry32 } from 'larder/testing'

interface Violation {
  seed: number
  key: string
  got: number
  acked: number
}

async function trial(seed: number): Promise<{ reads: number; violations: Violation[] }> {
  const r = mulberry32(seed)
  const clock = new FakeClock()
  const cache = createCache({ clock, l1: { maxEntries: 64 }, log: memoryLog({ capacity: 64, clock }), policies: { p: { ttl: 1 + Math.floor(r() * 30), grace: Math.floor(r() * 30) } } })
  const shop = cache.tenant('t')
  const keys = ['k0', 'k1', 'k2']
  const db = new Map(keys.map((k) => [k, 0]))
  const acked = new Map(keys.map((k) => [k, 0]))
  const violations: Violation[] = []
  let reads = 0
  const sleep = (ms: number) => new Promise<void>((res) => clock.setTimeout(res, ms))
  const tagsOf = (k: string) => [`product:${k}`, 'category:all']

  const ops: Promise<void>[] = []
  const n = 6 + Math.floor(r() * 6)
  for (let i = 0; i < n; i++) {
    const k = keys[Math.floor(r() * keys.length)] as string
    const at = Math.floor(r() * 40)
    const kind = r()
    const delay = Math.floor(r() * 15)
    ops.push(
      new Promise<void>((resolve, reject) => {
        clock.setTimeout(() => {
          const run = async () => {
            if (kind < 0.55) {
              // A reader: what was acknowledged when it started is the floor of what it may see.
              const floor = acked.get(k) as number
              const got = await shop.getOrSet(
                k,
                async () => {
                  const v = db.get(k) as number
                  await sleep(delay)
                  return v
                },
                { policy: 'p', tags: tagsOf(k) },
              )
              reads++
              if (got < floor) violations.push({ seed, key: k, got, acked: floor })
            } else {
              // A writer: update the source, then invalidate; acknowledged once that resolves.
              const v = (db.get(k) as number) + 1
              db.set(k, v)
              await sleep(Math.floor(delay / 3))
              const how = r()
              if (how < 0.3) await shop.invalidateTags([`product:${k}`])
              else if (how < 0.5) await shop.invalidateTags(['category:all'])
              else if (how < 0.8) await shop.delete(k)
              else await shop.set(k, db.get(k) as number, { policy: 'p', tags: tagsOf(k) }) // write-through of the current row
              if (v > (acked.get(k) as number)) acked.set(k, v)
            }
          }
          run().then(resolve, reject)
        }, at)
      }),
    )
  }
  await clock.advance(200)
  await Promise.all(ops)
  await cache.close()
  return { reads, violations }
}

test('10,000 randomized load/update/invalidate interleavings: zero stale reads', async () => {
  let reads = 0
  const trials = Number(process.env.RACE_TRIALS ?? 10_000)
  const violations: Violation[] = []
  for (let seed = 1; seed <= trials; seed++) {
    const res = await trial(seed)
    reads += res.reads
    violations.push(...res.violations)
  }
  assert.ok(reads > trials * 2, `enough reads were checked (${reads})`)
  assert.deepEqual(violations.slice(0, 5), [], `${violations.length} stale reads: ${JSON.stringify(violations.slice(0, 5))}`)
})

test('the checker can fail: without the fence a stale write-back is caught', async () => {
  // Same scenario as the benchmark plan's correctness probe (docs/benchmarks.md, B4), on a cache that does not fence:
  // a plain Map stands in for a cache without versioning.
  const map = new Map<string, number>()
  let db = 1
  let release!: () => void
  const gate = new Promise<void>((r) => {
    release = r
  })
  const slowLoad = (async () => {
    const v = db
    await gate
    map.set('k', v) // unfenced write-back
  })()
  db = 2
  map.delete('k') // "invalidation" acknowledged with db = 2
  release()
  await slowLoad
  const acked = 2
  assert.ok((map.get('k') as number) < acked, 'an unfenced cache holds the stale value')
})
