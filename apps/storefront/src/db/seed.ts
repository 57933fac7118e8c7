/**
 * Deterministic seed: 3 tenants, 10,000 products, ~20,000 variants, 300 sellers per tenant
 * (every seller status, some inactive for over 6 months), several offers per variant
 * (a few "hot" variants with more than 100 sellers, for the 15-minute ttl), orders.
 *
 * Rows are generated inside the database with generate_series and a small integer hash
 * (`sf_rand`, PostgreSQL's hashint8), so seeding is a handful of statements (fast on PGlite's WASM build too) and
 * gives the same shop on every machine.
 * @module
 */
import { installPgTrigger, type SqlClient, uninstallPgTrigger } from 'larder/events'
import type { Db } from './connect.ts'
import { LIBRARY_TRIGGERS, SCHEMA_SQL, TRIGGERS_SQL } from './schema.ts'

export interface TenantSeed {
  id: string
  name: string
  products: number
}

export const TENANTS: readonly TenantSeed[] = [
  { id: 'acme', name: 'Acme Outfitters', products: 4000 },
  { id: 'globex', name: 'Globex Market', products: 3500 },
  { id: 'initech', name: 'Initech Supply', products: 2500 },
]

export const SELLERS_PER_TENANT = 300
/** Variants whose id % HOT_EVERY === 1 get more than 100 sellers. */
export const HOT_EVERY = 250

// PostgreSQL's own int8 hash (stable across versions: hash partitioning depends on it), as
// one inlinable SQL expression: a plpgsql function call per row would dominate the seed time.
const RAND_SQL = `
CREATE OR REPLACE FUNCTION sf_rand(i bigint, salt bigint) RETURNS bigint AS
  'SELECT (hashint8(i * 1000003 + salt) & 2147483647)::bigint' LANGUAGE sql IMMUTABLE;
`

function seedTenantSql(t: TenantSeed, tenantNo: number): string {
  const q = `'${t.id.replace(/'/g, "''")}'`
  const salt = tenantNo * 1000
  const adjectives = "ARRAY['Classic','Urban','Alpine','Coastal','Vintage','Modern','Rugged','Silk','Midnight','Solar','Arctic','Golden','Crimson','Forest','Nordic','Desert','Velvet','Electric','Quiet','Bold']"
  const nouns = "ARRAY['Jacket','Backpack','Lamp','Kettle','Sneaker','Headphones','Blender','Notebook','Watch','Chair','Tent','Scarf','Mug','Speaker','Desk','Bottle','Helmet','Blanket','Camera','Umbrella']"
  const roots = "ARRAY['Outdoor','Home','Kitchen','Fashion','Electronics','Office']"
  return `
INSERT INTO categories (tenant, id, parent_id, name)
  SELECT ${q}, g, NULL, (${roots})[g] FROM generate_series(1, 6) g;
INSERT INTO categories (tenant, id, parent_id, name)
  SELECT ${q}, g, 1 + (g - 7) / 5, (${roots})[1 + (g - 7) / 5] || ' ' || (ARRAY['Essentials','Premium','Deals','New','Kids'])[1 + (g - 7) % 5]
  FROM generate_series(7, 36) g;
INSERT INTO products (tenant, id, category_id, name, description, price_cents, stock)
  SELECT ${q}, g, 7 + sf_rand(g, ${salt} + 1) % 30,
    (${adjectives})[1 + sf_rand(g, ${salt} + 2) % 20] || ' ' || (${nouns})[1 + sf_rand(g, ${salt} + 3) % 20] || ' ' || g,
    'Sold by ${t.name.replace(/'/g, "''")}. Item ' || g || '.',
    499 + sf_rand(g, ${salt} + 4) % 50000, sf_rand(g, ${salt} + 5) % 200
  FROM generate_series(1, ${t.products}) g;
INSERT INTO variants (tenant, id, product_id, sku, name, price_cents, stock)
  SELECT ${q}, (p.id - 1) * 3 + k, p.id, upper(${q}) || '-' || p.id || '-' || k, (ARRAY['S','M','L'])[k],
    p.price_cents + (k - 1) * 200, sf_rand(p.id * 3 + k, ${salt} + 6) % 100
  FROM products p, generate_series(1, 3) k
  WHERE p.tenant = ${q} AND k <= 1 + sf_rand(p.id, ${salt} + 7) % 3;
INSERT INTO sellers (tenant, id, name, status, last_active_at)
  SELECT ${q}, g, 'Seller ' || g,
    CASE WHEN r < 76 THEN 'active' WHEN r < 83 THEN 'vacation' WHEN r < 88 THEN 'temporarily_suspended'
         WHEN r < 93 THEN 'permanently_banned' ELSE 'payment_overdue' END,
    CASE WHEN sf_rand(g, ${salt} + 9) % 100 < 12
      THEN now() - make_interval(days => 200 + (sf_rand(g, ${salt} + 10) % 500)::int)
      ELSE now() - make_interval(mins => (sf_rand(g, ${salt} + 11) % 86400)::int) END
  FROM (SELECT g, sf_rand(g, ${salt} + 8) % 100 AS r FROM generate_series(1, ${SELLERS_PER_TENANT}) g) s;
-- Offers: 2-6 distinct sellers per variant ((v*7 + k*37) mod 300 is distinct for k < 300
-- because 37 and 300 are coprime); "hot" variants get 101-160 sellers.
INSERT INTO offers (tenant, variant_id, seller_id, price_cents, stock, created_at, removed_at)
  SELECT ${q}, v.id, 1 + (v.id * 7 + k * 37) % ${SELLERS_PER_TENANT},
    (v.price_cents * (90 + sf_rand(v.id * 200 + k, ${salt} + 12) % 25) / 100)::int,
    sf_rand(v.id * 200 + k, ${salt} + 13) % 40,
    now() - make_interval(mins => (sf_rand(v.id * 200 + k, ${salt} + 14) % 200000)::int),
    CASE WHEN sf_rand(v.id * 200 + k, ${salt} + 15) % 100 = 0 THEN now() - make_interval(mins => (sf_rand(v.id, ${salt} + 16) % 3000)::int) END
  FROM variants v, generate_series(0, 159) k
  WHERE v.tenant = ${q} AND k < CASE WHEN v.id % ${HOT_EVERY} = 1 THEN 101 + sf_rand(v.id, ${salt} + 17) % 60 ELSE 2 + sf_rand(v.id, ${salt} + 18) % 5 END;
INSERT INTO orders (tenant, variant_id, quantity, total_cents, created_at)
  SELECT ${q}, v.id, q.n, v.price_cents * q.n, now() - make_interval(mins => (sf_rand(g, ${salt} + 20) % 43200)::int)
  FROM generate_series(1, 3000) g
  CROSS JOIN LATERAL (SELECT 1 + sf_rand(g, ${salt} + 21) % 3 AS n) q
  JOIN variants v ON v.tenant = ${q} AND v.id = (sf_rand(g, ${salt} + 22) % ${t.products}) * 3 + 1;
`
}

/**
 * Creates the schema, seeds an empty database, then installs the triggers (after the seed,
 * so seeding does not emit 100,000 notifications). Idempotent: a seeded database is kept.
 */
export async function migrateAndSeed(db: Db, tenants: readonly TenantSeed[] = TENANTS): Promise<{ seeded: boolean; ms: number }> {
  const started = performance.now()
  await db.exec(SCHEMA_SQL)
  const [row] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM products')
  let seeded = false
  if ((row?.n ?? 0) === 0) {
    await db.exec('DROP TRIGGER IF EXISTS offers_changed ON offers; DROP TRIGGER IF EXISTS orders_created ON orders;')
    for (const t of LIBRARY_TRIGGERS) await uninstallPgTrigger(sql(db), t)
    await db.exec(RAND_SQL)
    await db.transaction(async (tx) => {
      for (const [i, t] of tenants.entries()) {
        for (const stmt of splitStatements(seedTenantSql(t, i + 1))) await tx.query(stmt)
      }
    })
    await db.exec('ANALYZE')
    seeded = true
  }
  await db.exec(TRIGGERS_SQL)
  for (const t of LIBRARY_TRIGGERS) await installPgTrigger(sql(db), t)
  return { seeded, ms: performance.now() - started }
}

/** The Db as the library's triggers take it. */
function sql(db: Db): SqlClient {
  return { query: async (text, params) => ({ rows: await db.query(text, params) }) }
}

function splitStatements(sql: string): string[] {
  // The seed's statements hold no semicolons inside literals, so a split on ';\n' is exact.
  return sql
    .split(/;\s*\n/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean)
}
