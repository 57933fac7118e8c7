import assert from 'node:assert/strict'
import { readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { createCache } from '../../src/core/cache.ts'
import type { Cache } from '../../src/core/api.ts'
import { run as pgCli } from '../../src/cli/pg.ts'
import { createPgListener } from '../../src/events/pg-listener.ts'
import { installPgTrigger, pgTriggerSql, uninstallPgTrigger } from '../../src/events/pg-trigger.ts'
import { createEventProcessor } from '../../src/events/processor.ts'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { type PostgresHandle, startPostgres } from '../../src/testing/servers.ts'
import { applied, hasTag, pgNotified, recordDistrusts, signal, watchLog } from './helpers.ts'

/**
 * servers.ts kill() SIGKILLs runuser and pkills the postmaster, which then lingers as an
 * unreaped zombie here; PostgreSQL takes a zombie pid for a live postmaster and refuses to
 * start on the socket lock file it left. Remove that stale lock before restarting.
 */
function removeStaleSocketLock(port: number): void {
  for (const dir of readdirSync(tmpdir())) {
    if (!dir.startsWith('larder-pg-')) continue
    for (const f of [`.s.PGSQL.${port}.lock`, `.s.PGSQL.${port}`]) rmSync(join(tmpdir(), dir, f), { force: true })
  }
}

const rules = {
  events: {
    'product.row_changed': {
      fields: ['ids[]', 'category_id[]'],
      invalidate: { tags: ['product:{ids[]}', 'category:{category_id[]}'], keys: ['product:{ids[]}'] },
    },
  },
}

const schema = `CREATE TABLE products (id int PRIMARY KEY, tenant_id text, category_id text, name text, price int)`

function setup() {
  const log = new MemoryLog()
  const cache = createCache({ log })
  const watch = watchLog(log)
  const processor = createEventProcessor({ cache, rules })
  const { calls: distrusts, next: nextDistrust } = recordDistrusts(cache)
  return { log, cache, watch, processor, distrusts, nextDistrust }
}

async function warm(cache: Cache) {
  const shop = cache.tenant('acme')
  await shop.set('product:1', { name: 'old' }, { tags: ['product:1'] })
  await shop.set('listing:c1', [1], { tags: ['category:c1'] })
  await shop.set('listing:c2', [2], { tags: ['category:c2'] })
  await cache.tenant('zeta').set('product:1', { name: 'zeta' }, { tags: ['product:1'] })
}

describe('events: PostgreSQL change capture on PGlite', () => {
  // One in-process database for the suite (starting PGlite costs seconds); each test its own schema.
  let db: PGlite
  before(async () => {
    db = new PGlite()
    await db.waitReady
  })
  after(async () => {
    await db.close()
  })

  it('UPDATE → trigger → rule → product and category listing invalidated, seen in the log', async () => {
    const { cache, watch, processor } = setup()
    try {
      await db.exec(`CREATE SCHEMA one; SET search_path = one; ${schema}`)
      await db.query(`INSERT INTO products VALUES (1, 'acme', 'c1', 'shoe', 10), (2, 'acme', 'c2', 'hat', 5), (1000, 'zeta', 'c1', 'x', 1)`)
      await installPgTrigger(db, { table: 'products', event: 'product.row_changed', key: 'id', tenantColumn: 'tenant_id', columns: ['category_id'] })
      const listener = createPgListener({ client: db, processor, cache })
      await listener.ready
      await warm(cache)
      await db.query(`UPDATE products SET price = 11 WHERE id = 1`)
      const entry = await applied(watch, 'acme', 'product:1')
      assert.deepEqual(new Set(entry.tags), new Set(['product:1', 'category:c1']))
      const shop = cache.tenant('acme')
      assert.equal(await shop.get('product:1'), undefined)
      assert.equal(await shop.get('listing:c1'), undefined)
      assert.deepEqual(await shop.get('listing:c2'), [2])
      assert.deepEqual(await cache.tenant('zeta').get('product:1'), { name: 'zeta' }, 'another tenant keeps its entry')
      // Moving a product to another category invalidates both listings.
      await db.query(`UPDATE products SET category_id = 'c3' WHERE id = 2`)
      const moved = await watch.waitFor(hasTag('acme', 'product:2'), 'the move')
      assert.deepEqual(new Set(moved.tags), new Set(['product:2', 'category:c2', 'category:c3']))
      await listener.close()
      await uninstallPgTrigger(db, { table: 'products' })
      const { rows } = await db.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgname LIKE 'larder_%'`)
      assert.equal((rows[0] as { n: number }).n, 0)
    } finally {
      await processor.close()
      await cache.close()
    }
  })

  it('a large statement is split into payloads under 8000 bytes, covering every id', async () => {
    const { cache, watch, processor } = setup()
    try {
      await db.exec(`CREATE SCHEMA two; SET search_path = two; ${schema}`)
      await installPgTrigger(db, { table: 'products', event: 'product.row_changed', columns: ['category_id'] })
      const raw: string[] = []
      const unlisten = await db.listen('larder_events', (p) => raw.push(p))
      const listener = createPgListener({ client: db, processor, cache })
      await listener.ready
      await db.query(`INSERT INTO products SELECT g, 'acme', 'cat-' || (g % 13), 'n', 1 FROM generate_series(1, 4000) g`)
      await watch.waitFor(hasTag('acme', 'product:4000'), 'the last id')
      await processor.flush()
      assert.ok(raw.length > 1, 'split into several notifications')
      for (const p of raw) assert.ok(Buffer.byteLength(p) < 8000, `payload of ${Buffer.byteLength(p)} bytes`)
      const tags = new Set(watch.entries.filter((e) => e.kind === 'hard').flatMap((e) => e.tags ?? []))
      for (let i = 1; i <= 4000; i++) assert.ok(tags.has(`product:${i}`), `product:${i}`)
      for (let i = 0; i < 13; i++) assert.ok(tags.has(`category:cat-${i}`))
      await unlisten()
      await listener.close()
    } finally {
      await processor.close()
      await cache.close()
    }
  })

  it('a value too long to send marks the payload overflow: the tenant is cleared instead', async () => {
    const { cache, watch, processor } = setup()
    try {
      await db.exec(`CREATE SCHEMA three; SET search_path = three; ${schema}`)
      await installPgTrigger(db, { table: 'products', event: 'product.row_changed', columns: ['category_id'] })
      const listener = createPgListener({ client: db, processor, cache })
      await listener.ready
      await cache.tenant('acme').set('listing:any', [1], { tags: ['category:whatever'] })
      await db.query(`INSERT INTO products VALUES (1, 'acme', repeat('x', 2000), 'n', 1)`)
      const cleared = await watch.waitFor((e) => e.tenant === 'acme' && e.kind === 'clear', 'the tenant clear')
      const hard = watch.entries.find(hasTag('acme', 'product:1'))
      assert.ok(hard && hard.id < cleared.id, 'the ids that fit were still invalidated')
      assert.ok(!hard.tags?.some((t) => t.startsWith('category:')), 'the long value was left out')
      // clear() purges L1 once its log append resolved: let the pending promise callbacks run.
      await new Promise((r) => setImmediate(r))
      assert.equal(await cache.tenant('acme').get('listing:any'), undefined)
      await listener.close()
    } finally {
      await processor.close()
      await cache.close()
    }
  })

  it('the processor may be any publisher: called once per notification in arrival order, also for messages that are not events', async () => {
    await db.exec('CREATE SCHEMA wrap; CREATE TABLE wrap.items (id int PRIMARY KEY, tenant text)')
    await installPgTrigger(db, { table: 'wrap.items', event: 'item.changed', tenantColumn: 'tenant', channel: 'wrap_events', outbox: false })
    const seen: unknown[] = []
    const cache = createCache()
    let done: (() => void) | undefined
    const listener = createPgListener({
      client: db,
      channel: 'wrap_events',
      outbox: false,
      cache,
      // Not an EventProcessor: a wrapper that answers its own markers and returns nothing useful.
      processor: {
        publish: async (e) => {
          seen.push((e as { type: string }).type)
          if ((e as { type: string }).type === 'marker') done?.()
        },
      },
    })
    try {
      await listener.ready
      const marked = new Promise<void>((r) => (done = r))
      await db.transaction(async (tx) => {
        await tx.query("INSERT INTO wrap.items VALUES (1, 'acme')")
        await tx.query(`SELECT pg_notify('wrap_events', '{"type":"marker"}')`)
      })
      await marked
      assert.deepEqual(seen, ['item.changed', 'marker'])
    } finally {
      await listener.close()
      await cache.close()
    }
  })

  it('PGlite (a millisecond clock): statements of one transaction send distinct ids, so none is dropped as a duplicate', async () => {
    await db.exec('CREATE SCHEMA tick; CREATE TABLE tick.items (id int PRIMARY KEY, tenant_id text)')
    await installPgTrigger(db, { table: 'tick.items', event: 'item.changed', channel: 'tick_events', outbox: false })
    const ids: string[] = []
    const marked = signal()
    const unlisten = await db.listen('tick_events', (p) => (p === 'marker' ? marked.resolve() : ids.push(JSON.parse(p).id)))
    try {
      await db.transaction(async (tx) => {
        for (let i = 0; i < 20; i++) await tx.query(`INSERT INTO tick.items VALUES (${i}, 'acme')`)
        await tx.query(`SELECT pg_notify('tick_events', 'marker')`)
      })
      await marked.promise
      assert.equal(ids.length, 20)
      assert.equal(new Set(ids).size, 20)
    } finally {
      await unlisten()
    }
  })

  it('rejects unsafe identifiers and event types at install', () => {
    assert.throws(() => pgTriggerSql({ table: 'products; drop table x', event: 'a.b' }), /plain SQL identifier/)
    assert.throws(() => pgTriggerSql({ table: 'products', event: "a.b'; --" }), /dotted lower-case/)
    assert.throws(() => pgTriggerSql({ table: 'products', event: 'a.b', columns: ['ids'] }), /clashes/)
    assert.throws(() => pgTriggerSql({ table: 'products', event: 'a.b', channel: 'bad channel' }), /plain SQL identifier/)
  })
})

describe('events: PostgreSQL change capture on a real server', () => {
  let server: PostgresHandle
  let admin: pg.Client
  before(async () => {
    server = await startPostgres()
    admin = new pg.Client({ connectionString: server.url })
    await admin.connect()
    await admin.query(schema)
    await admin.query(`INSERT INTO products SELECT g, 'acme', 'c' || (g % 3), 'n', 1 FROM generate_series(1, 20) g`)
    await installPgTrigger(admin, { table: 'products', event: 'product.row_changed', columns: ['category_id'] })
  })
  after(async () => {
    await admin?.end().catch(() => {})
    await server?.stop()
  })

  const connect = () => async () => {
    const c = new pg.Client({ connectionString: server.url })
    c.on('error', () => {})
    await c.connect()
    return c
  }

  it('end-to-end: UPDATE … COMMIT → invalidation applied, log subscriber sees it', async () => {
    const { cache, watch, processor } = setup()
    const listener = createPgListener({ connect: connect(), processor, cache, heartbeatMs: 0 })
    try {
      await listener.ready
      await warm(cache)
      await admin.query('BEGIN')
      await admin.query(`UPDATE products SET price = price + 1 WHERE id = 1`)
      await admin.query('COMMIT')
      const e = await applied(watch, 'acme', 'product:1')
      assert.ok(e.tags?.includes('category:c1'))
      assert.equal(await cache.tenant('acme').get('product:1'), undefined)
      assert.equal(await cache.tenant('acme').get('listing:c1'), undefined)
      // A rolled-back change sends nothing.
      await admin.query('BEGIN')
      await admin.query(`UPDATE products SET price = 0 WHERE id = 2`)
      await admin.query('ROLLBACK')
      await admin.query(`UPDATE products SET price = 0 WHERE id = 3`)
      await watch.waitFor(hasTag('acme', 'product:3'))
      assert.ok(!watch.entries.some(hasTag('acme', 'product:2')), 'nothing from the rolled-back update')
    } finally {
      await listener.close()
      await processor.close()
      await cache.close()
    }
  })

  it('lost connection: distrusts L1, reconnects, replays what it missed from the outbox', async () => {
    const { cache, watch, processor, distrusts, nextDistrust } = setup()
    const listener = createPgListener({ connect: connect(), processor, cache, tenants: ['acme'], heartbeatMs: 0, backoff: { initialMs: 20, maxMs: 200 } })
    try {
      await listener.ready
      await warm(cache)
      await admin.query(`UPDATE products SET price = 50 WHERE id = 4`)
      await applied(watch, 'acme', 'product:4')
      // Kill the listener's backend; other sessions keep writing while it is away.
      const dropped = nextDistrust()
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'LISTEN%' AND pid <> pg_backend_pid()`)
      await dropped
      assert.deepEqual(distrusts[0], ['acme'])
      assert.equal(await cache.tenant('acme').get('listing:c2'), undefined, 'L1 no longer trusted')
      await admin.query(`UPDATE products SET price = 99 WHERE id = 5`)
      await admin.query(`UPDATE products SET price = 98 WHERE id = 6`)
      // Back: the missed changes arrive by replay.
      await watch.waitFor(hasTag('acme', 'product:5'), 'the replayed product:5')
      await watch.waitFor(hasTag('acme', 'product:6'), 'the replayed product:6')
      assert.ok(listener.stats().reconnects >= 1)
      assert.ok(listener.stats().replayed >= 2)
      // Live again.
      await admin.query(`UPDATE products SET price = 97 WHERE id = 7`)
      await watch.waitFor(hasTag('acme', 'product:7'))
      // The replay window reached back over product:4's change too: dropped as a duplicate.
      assert.equal(watch.entries.filter(hasTag('acme', 'product:4')).length, 1)
      assert.ok(processor.stats().duplicates >= 1)
    } finally {
      await listener.close()
      await processor.close()
      await cache.close()
    }
  })

  const notified = (channel: string, work: () => Promise<void>) => pgNotified(server.url, admin, channel, work)

  it('changed: true sends only the rows an UPDATE changed; typesByColumn picks the event type by changed column', async () => {
    await admin.query(`CREATE TABLE shop_products (tenant text, id int, category_id int, price int, stock int, PRIMARY KEY (tenant, id))`)
    await admin.query(`INSERT INTO shop_products VALUES ('acme', 1, 10, 100, 5), ('acme', 2, 10, 200, 5), ('zeta', 1, 11, 100, 5)`)
    const channel = 'typed_events'
    await installPgTrigger(admin, {
      table: 'shop_products',
      event: 'product.updated',
      tenantColumn: 'tenant',
      columns: ['category_id'],
      changed: true,
      typesByColumn: { 'product.price_changed': ['price'], 'product.moved': ['category_id'] },
      channel,
      outbox: false,
    })
    const brief = (es: Awaited<ReturnType<typeof notified>>) => es.map((e) => [e.type, e.tenant, e.data.ids, e.data.category_id])
    // Rewriting a row with the values it has changes nothing: nothing is sent for it.
    assert.deepEqual(await notified(channel, () => admin.query(`UPDATE shop_products SET price = price, stock = stock`).then(() => {})), [])
    // Only the changed row of a multi-row statement, under the default type (no typed column changed).
    assert.deepEqual(brief(await notified(channel, () => admin.query(`UPDATE shop_products SET stock = CASE WHEN id = 2 THEN 9 ELSE stock END WHERE tenant = 'acme'`).then(() => {}))), [['product.updated', 'acme', ['2'], ['10']]])
    // A price change and a move in one statement: one envelope per type, both categories (old and new), no default type.
    const both = brief(await notified(channel, () => admin.query(`UPDATE shop_products SET price = 150, category_id = 12 WHERE tenant = 'acme' AND id = 1`).then(() => {})))
    assert.deepEqual(
      both.sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      [
        ['product.moved', 'acme', ['1'], ['12', '10']],
        ['product.price_changed', 'acme', ['1'], ['12', '10']],
      ],
    )
    // Inserts are sent under the default type; a key change counts as a change of every column.
    assert.deepEqual(brief(await notified(channel, () => admin.query(`INSERT INTO shop_products VALUES ('zeta', 2, 11, 1, 1)`).then(() => {}))), [['product.updated', 'zeta', ['2'], ['11']]])
    const moved = await notified(channel, () => admin.query(`UPDATE shop_products SET id = 3 WHERE tenant = 'zeta' AND id = 2`).then(() => {}))
    assert.deepEqual(new Set(moved.map((e) => e.type)), new Set(['product.updated', 'product.price_changed', 'product.moved']))
    for (const e of moved) assert.deepEqual(new Set(e.data.ids), new Set(['2', '3']))
  })

  it('changed: [columns] sends only when a watched column changed; related reads the values of referencing rows, tenant by tenant', async () => {
    await admin.query(`CREATE TABLE shop_sellers (tenant text, id int, status text, name text, PRIMARY KEY (tenant, id))`)
    await admin.query(`CREATE TABLE shop_offers (tenant text, variant_id int, seller_id int)`)
    await admin.query(`INSERT INTO shop_sellers VALUES ('acme', 1, 'active', 'a'), ('acme', 2, 'active', 'b'), ('zeta', 1, 'active', 'z')`)
    // Seller 1 of acme offers 7 and 8; seller 1 of zeta offers 9 (another tenant's rows never leak).
    await admin.query(`INSERT INTO shop_offers SELECT 'acme', g, 1 FROM generate_series(7, 8) g UNION ALL SELECT 'zeta', 9, 1`)
    const channel = 'related_events'
    await installPgTrigger(admin, {
      table: 'shop_sellers',
      event: 'seller.status_changed',
      tenantColumn: 'tenant',
      ops: ['update'],
      changed: ['status'],
      related: [{ name: 'variant_ids', table: 'shop_offers', column: 'variant_id', references: 'seller_id' }],
      channel,
      outbox: false,
    })
    assert.deepEqual(await notified(channel, () => admin.query(`UPDATE shop_sellers SET name = 'renamed'`).then(() => {})), [], 'a column nobody watches')
    const sent = await notified(channel, () => admin.query(`UPDATE shop_sellers SET status = 'vacation' WHERE id = 1`).then(() => {}))
    const byTenant = Object.fromEntries(sent.map((e) => [e.tenant, [e.type, e.data.ids, e.data.variant_ids]]))
    assert.deepEqual(byTenant, { acme: ['seller.status_changed', ['1'], ['7', '8']], zeta: ['seller.status_changed', ['1'], ['9']] })
    // A seller that offers nothing still sends its own id (and an empty list).
    const lone = await notified(channel, () => admin.query(`UPDATE shop_sellers SET status = 'vacation' WHERE tenant = 'acme' AND id = 2`).then(() => {}))
    assert.deepEqual(lone.map((e) => [e.data.ids, e.data.variant_ids]), [[['2'], []]])
    // Thousands of related values are split like ids: every payload under 8000 bytes, none lost.
    await admin.query(`INSERT INTO shop_offers SELECT 'acme', g, 2 FROM generate_series(1000, 4999) g`)
    const many = await notified(channel, () => admin.query(`UPDATE shop_sellers SET status = 'active' WHERE tenant = 'acme' AND id = 2`).then(() => {}))
    assert.ok(many.length > 1, 'split into several notifications')
    for (const e of many) assert.ok(Buffer.byteLength(JSON.stringify(e)) < 8000)
    assert.equal(new Set(many.flatMap((e) => e.data.variant_ids as string[])).size, 4000)
    assert.throws(() => pgTriggerSql({ table: 'x', event: 'a.b', related: [{ name: 'ids', table: 'y', column: 'c', references: 'r' }] }), /clashes/)
    assert.throws(() => pgTriggerSql({ table: 'x', event: 'a.b', typesByColumn: { 'Bad Type': ['c'] } }), /dotted lower-case/)
    assert.throws(() => pgTriggerSql({ table: 'x', event: 'a.b', changed: [] }), /non-empty/)
  })

  it('envelopes of one transaction have distinct ids, however many statements share a clock tick', async () => {
    await admin.query(`CREATE TABLE tick (tenant_id text, id int PRIMARY KEY)`)
    await installPgTrigger(admin, { table: 'tick', event: 'tick.changed', channel: 'tick_events', outbox: false })
    const sent = await notified('tick_events', async () => {
      await admin.query('BEGIN')
      for (let i = 0; i < 30; i++) await admin.query(`INSERT INTO tick VALUES ('acme', ${i})`)
      await admin.query('COMMIT')
    })
    assert.equal(sent.length, 30)
    assert.equal(new Set(sent.map((e) => e.id)).size, 30)
  })

  it('larder pg install / uninstall / sql, with clear errors for bad flags', async () => {
    const out: string[] = []
    const err: string[] = []
    const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }
    await admin.query(`CREATE TABLE sellers (seller_id text PRIMARY KEY, shop text, status text)`)
    const code = await pgCli(['install', '--table', 'sellers', '--event', 'seller.status_changed', '--key', 'seller_id', '--tenant-column', 'shop', '--database-url', server.url], io)
    assert.equal(code, 0, err.join('\n'))
    const { rows } = await admin.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'sellers'::regclass ORDER BY 1`)
    assert.deepEqual(
      rows.map((r) => r.tgname),
      ['larder_delete_sellers', 'larder_insert_sellers', 'larder_update_sellers'],
    )
    const got = signal<string>()
    const probe = new pg.Client({ connectionString: server.url })
    await probe.connect()
    probe.on('notification', (m) => got.resolve(m.payload ?? ''))
    await probe.query('LISTEN larder_events')
    await admin.query(`INSERT INTO sellers VALUES ('s1', 'acme', 'active')`)
    const payload = JSON.parse(await got.promise)
    assert.equal(payload.type, 'seller.status_changed')
    assert.equal(payload.tenant, 'acme')
    assert.deepEqual(payload.data.ids, ['s1'])
    await probe.end()
    assert.equal(await pgCli(['uninstall', '--table', 'sellers', '--database-url', server.url], io), 0)
    const after = await admin.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'sellers'::regclass`)
    assert.equal(after.rows[0].n, 0)
    assert.equal(await pgCli(['sql', '--table', 'products', '--event', 'product.row_changed'], io), 0)
    assert.match(out.at(-1) as string, /CREATE TRIGGER "larder_update_products" AFTER UPDATE ON "products"/)
    err.length = 0
    assert.equal(await pgCli(['install', '--event', 'a.b'], io), 2)
    assert.match(err.join(''), /--table is required/)
    assert.equal(await pgCli(['install', '--table', 'x;drop', '--event', 'a.b', '--database-url', server.url], io), 2)
    assert.match(err.join(''), /plain SQL identifier/)
    assert.equal(await pgCli(['install', '--table', 'missing_table', '--event', 'a.b', '--database-url', server.url], io), 1)
    assert.match(err.join(''), /missing_table/)
    assert.equal(await pgCli(['bogus'], io), 2)
  })

  it('server killed and restarted: the listener comes back and no change after recovery is lost', async () => {
    const { cache, watch, processor, nextDistrust } = setup()
    const errors: string[] = []
    const listener = createPgListener({ connect: connect(), processor, cache, heartbeatMs: 0, backoff: { initialMs: 50, maxMs: 300 }, onError: (_e, ctx) => errors.push(ctx) })
    try {
      await listener.ready
      const dropped = nextDistrust()
      await admin.end().catch(() => {})
      await server.kill()
      await dropped
      removeStaleSocketLock(server.port)
      await cache.tenant('acme').set('product:8', 'cached during the outage', { tags: ['product:8'] })
      const back = nextDistrust()
      await server.restart()
      await back
      assert.equal(listener.stats().connected, true)
      assert.equal(await cache.tenant('acme').get('product:8'), undefined, 'L1 distrusted again after reconnect')
      admin = new pg.Client({ connectionString: server.url })
      await admin.connect()
      await cache.tenant('acme').set('product:9', 'v', { tags: ['product:9'] })
      await admin.query(`UPDATE products SET price = 1 WHERE id = 9`)
      await applied(watch, 'acme', 'product:9')
      assert.equal(await cache.tenant('acme').get('product:9'), undefined)
      assert.ok(errors.includes('pg:connection') || errors.includes('pg:connect'))
    } finally {
      await listener.close()
      await processor.close()
      await cache.close()
    }
  })
})
