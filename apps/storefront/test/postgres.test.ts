import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createCache } from 'larder'
import { type PostgresHandle, startPostgres } from 'larder/testing'
import { startChangeFeed, type ChangeFeed, type FeedEvent } from '../src/change-feed.ts'
import { type Db, openDb } from '../src/db/connect.ts'
import { migrateAndSeed } from '../src/db/seed.ts'

// `DATABASE_URL=… npm start`: the same schema, seed and triggers on a real PostgreSQL.
let pg: PostgresHandle
let db: Db
let feed: ChangeFeed
const events: FeedEvent[] = []
let lost = 0
let onEvent: (() => void) | undefined
let onLost: (() => void) | undefined
const cache = createCache()

before(async () => {
  pg = await startPostgres()
  db = await openDb({ url: pg.url })
  await migrateAndSeed(db, [{ id: 'acme', name: 'Acme', products: 200 }])
  feed = await startChangeFeed({
    db,
    publish: async (e) => {
      events.push(e)
      onEvent?.()
    },
    // The library's listener distrusts the cache when the connection drops (and again once LISTEN is back).
    cache: {
      distrust: (tenants) => {
        lost++
        onLost?.()
        cache.distrust(tenants)
      },
      tenant: (id) => cache.tenant(id),
    },
  })
})

after(async () => {
  await feed?.close()
  await db?.close()
  await pg?.stop()
  await cache.close()
})

test('seed, version trigger and change capture work on a real server, and a second migrate keeps the data', async () => {
  const [counts] = await db.query<{ p: number; v: number; s: number; o: number }>(
    "SELECT (SELECT count(*)::int FROM products) p, (SELECT count(*)::int FROM variants) v, (SELECT count(*)::int FROM sellers) s, (SELECT count(*)::int FROM offers WHERE tenant = 'acme') o",
  )
  assert.equal(counts?.p, 200)
  assert.ok((counts?.v ?? 0) >= 200 && (counts?.s ?? 0) === 300 && (counts?.o ?? 0) > 400)
  assert.equal((await migrateAndSeed(db, [{ id: 'acme', name: 'Acme', products: 200 }])).seeded, false)

  const [row] = await db.query<{ version: number }>("UPDATE products SET price_cents = price_cents + 1 WHERE tenant = 'acme' AND id = 9 RETURNING version")
  assert.equal(row?.version, 2)
  while (!events.some((e) => e.type === 'product.price_changed' && (e.data.ids as string[]).includes('9'))) await new Promise<void>((r) => (onEvent = r))
  const ev = events.find((e) => e.type === 'product.price_changed') as FeedEvent
  assert.equal(ev.tenant, 'acme')
  assert.match(ev.id, /^pg:\d+:\d+:\d+$/)
})

test('a dropped LISTEN connection is reported (L1 must be distrusted) and the feed comes back', async () => {
  const lostBefore = lost
  await pg.kill()
  await pg.restart()
  // The feed notices the drop through the connection's error (and reconnects with backoff):
  // the loss is reported within the deadline, or the test fails saying so.
  await withDeadline(
    (async () => {
      while (lost === lostBefore) await new Promise<void>((r) => (onLost = r))
    })(),
    10_000,
    'the feed to report the dropped connection',
  )
  const before = events.length
  // NOTIFY is not durable: a change committed before the feed LISTENs again is never heard
  // (that is why the feed reports the loss). Keep changing a seller until one is heard.
  const heard = () => events.slice(before).some((e) => e.type === 'seller.status_changed')
  const deadline = Date.now() + 15_000
  while (!heard()) {
    assert.ok(Date.now() < deadline, 'no change heard within 15 s of the reconnect: the feed did not come back')
    try {
      await db.query("UPDATE sellers SET status = CASE WHEN status = 'active' THEN 'vacation' ELSE 'active' END WHERE tenant = 'acme' AND id = 3")
    } catch {
      // the pool's old connections fail once after the restart
    }
    await Promise.race([new Promise<void>((r) => (onEvent = r)), new Promise((r) => setTimeout(r, 200))])
  }
})

/** Resolves with `p`, or rejects naming `what` once `ms` have passed. */
async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)))])
  } finally {
    clearTimeout(timer)
  }
}
