import type { Cache } from '../../src/core/api.ts'
import type { InvalidationLog } from '../../src/core/types.ts'
import { seededRandom, until } from './helpers.ts'

/** What a race needs of an instance: its cache and its log (to know when an invalidation arrived). */
export interface RaceInstance {
  cache: Cache
  log: InvalidationLog
}

/**
 * The randomized stale-set race across two instances: a slow load starts on one instance
 * and reads the old row, the row changes and one instance invalidates (tag or delete), then
 * the load finishes and tries to write back. Counts reads that return the old row: on the
 * invalidating instance once the invalidation resolved, on the other once its log brought it
 * (`log.lastId(tenant)`, the tenant's partition position). Seeded: LARDER_SEED=<n> replays a
 * failing run (the seed is printed on failure). `trials` in rounds of 20 concurrent ones.
 */
export async function staleSetRace(a: RaceInstance, b: RaceInstance, options: { trials: number; tenants: readonly string[] }): Promise<number> {
  const db = new Map<string, number>()
  let stale = 0
  const { seed, rnd } = seededRandom()
  // Jitter in event-loop turns, not wall-clock time.
  const pause = async (turns: number) => {
    for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r))
  }
  const trial = async (i: number) => {
    const tenant = options.tenants[rnd(options.tenants.length)] as string
    const key = `race-${i}`
    const tag = `t-${i}`
    db.set(key, 1)
    // B loads more often (in fleet.test.ts B is the instance that hears the log late).
    const [loader, writer] = [
      [b, a],
      [b, a],
      [a, b],
      [a, a],
      [b, b],
    ][rnd(5)] as [RaceInstance, RaceInstance]
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const loading = loader.cache.tenant(tenant).getOrSet(
      key,
      async () => {
        const v = db.get(key)
        await gate
        return v
      },
      { tags: [tag] },
    )
    await pause(rnd(5))
    db.set(key, 2)
    const inv = rnd(2) ? await writer.cache.tenant(tenant).invalidateTags([tag]) : await writer.cache.tenant(tenant).delete(key)
    release()
    await loading.catch(() => {})
    const read = (x: RaceInstance) => x.cache.tenant(tenant).getOrSet(key, async () => db.get(key), { tags: [tag] })
    if ((await read(writer)) !== 2) stale++
    await until(() => loader.log.lastId(tenant) >= inv.id, 5000, 'convergence')
    if ((await read(loader)) !== 2) stale++
  }
  try {
    for (let round = 0; round < options.trials / 20; round++) await Promise.all(Array.from({ length: 20 }, (_, j) => trial(round * 20 + j)))
    return stale
  } catch (err) {
    console.error(`randomized stale-set race failed with LARDER_SEED=${seed}`)
    throw err
  }
}
