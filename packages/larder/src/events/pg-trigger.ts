/**
 * PostgreSQL change capture, the database side: `installPgTrigger` creates statement-level
 * triggers (one per operation: PostgreSQL allows transition tables only on single-event
 * triggers) whose function groups the changed rows by tenant and sends one envelope per
 * tenant with `pg_notify`:
 *
 *   { id, type, tenant, at, data: { op, table, ids: [...], <column>: [...], overflow? } }
 *
 * `ids` are the distinct key values (old and new rows, so a key change invalidates both),
 * each extra column (`columns`) the distinct values of that column. A NOTIFY payload must
 * stay under 8000 bytes (PostgreSQL docs, NOTIFY): large statements are split into several
 * envelopes of at most {@link CHUNK_BYTES} bytes of values each. A single value longer than
 * 1024 characters (longer than any Larder key) is left out and `overflow: true` tells the
 * listener to clear that tenant instead.
 *
 * Each envelope is also written to an outbox table (`larder_outbox`), so a listener that
 * lost its connection replays what it missed (NOTIFY itself is not durable).
 * Works the same on a PostgreSQL server and on PGlite.
 * @module
 */
import { LarderError } from '../core/errors.ts'

/** Anything that runs one SQL statement: a `pg` Client or Pool, or a PGlite instance. */
export interface SqlClient {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>
}

export type PgOp = 'insert' | 'update' | 'delete'

export interface PgTriggerOptions {
  /** Table, optionally schema-qualified: `products`, `shop.products`. */
  table: string
  /** Event type sent for every change, e.g. `product.row_changed`. */
  event: string
  /** Key column; its values become `data.ids`. Default `id`. */
  key?: string
  /** Tenant column; rows with a NULL tenant are skipped. Default `tenant_id`. */
  tenantColumn?: string
  /** NOTIFY channel. Default `larder_events`. */
  channel?: string
  /** Extra columns whose distinct values are sent as `data.<column>` (e.g. `category_id`). */
  columns?: readonly string[]
  /** Operations to capture. Default all three. */
  ops?: readonly PgOp[]
  /** Outbox table for replay after a disconnect, or false. Default `larder_outbox`. */
  outbox?: string | false
}

/** Bytes of ids/values per notification; the envelope around them stays well under 8000. */
export const CHUNK_BYTES = 6000
export const DEFAULT_CHANNEL = 'larder_events'
export const DEFAULT_OUTBOX = 'larder_outbox'

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
const TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/

function ident(name: string, what: string): string {
  if (typeof name !== 'string' || !IDENT.test(name)) throw new LarderError('E_INVALID_OPTION', `${what} "${name}" must be a plain SQL identifier (letters, digits, _; at most 63)`)
  return `"${name}"`
}

/** `schema.table` or `table` → quoted parts. */
function qualified(name: string, what: string): { schema: string | undefined; table: string; sql: string } {
  const parts = typeof name === 'string' ? name.split('.') : []
  if (parts.length === 0 || parts.length > 2) throw new LarderError('E_INVALID_OPTION', `${what} "${name}" must be table or schema.table`)
  const table = parts[parts.length - 1] as string
  const schema = parts.length === 2 ? parts[0] : undefined
  const sql = (schema ? `${ident(schema, 'schema')}.` : '') + ident(table, what)
  return { schema, table, sql }
}

function literal(s: string): string {
  return `'${s.replace(/'/g, "''")}'`
}

function names(o: PgTriggerOptions) {
  const t = qualified(o.table, 'table')
  const prefix = t.schema ? `${ident(t.schema, 'schema')}.` : ''
  const fn = `${prefix}${ident(`larder_notify_${t.table}`.slice(0, 63), 'function')}`
  const trigger = (op: PgOp) => ident(`larder_${op}_${t.table}`.slice(0, 63), 'trigger')
  return { t, fn, trigger }
}

/** The SQL statements `installPgTrigger` runs, one statement per string. */
export function pgTriggerSql(o: PgTriggerOptions): string[] {
  const { t, fn, trigger } = names(o)
  if (typeof o.event !== 'string' || !TYPE.test(o.event) || o.event.length > 100) throw new LarderError('E_INVALID_OPTION', `event "${o.event}" must be a dotted lower-case type such as product.row_changed`)
  const key = ident(o.key ?? 'id', 'key column')
  const tenant = ident(o.tenantColumn ?? 'tenant_id', 'tenant column')
  const channel = o.channel ?? DEFAULT_CHANNEL
  ident(channel, 'channel')
  const cols = (o.columns ?? []).map((c) => ({ name: c, sql: ident(c, 'column') }))
  if (new Set(cols.map((c) => c.name)).size !== cols.length) throw new LarderError('E_INVALID_OPTION', 'columns must not repeat')
  for (const c of cols) if (['ids', 'op', 'table', 'overflow'].includes(c.name)) throw new LarderError('E_INVALID_OPTION', `column "${c.name}" clashes with a data field of the envelope`)
  const ops = o.ops ?? ['insert', 'update', 'delete']
  if (ops.length === 0 || ops.some((op) => !['insert', 'update', 'delete'].includes(op))) throw new LarderError('E_INVALID_OPTION', 'ops must be a non-empty list of insert, update, delete')
  const outbox = o.outbox === undefined ? DEFAULT_OUTBOX : o.outbox
  const outboxSql = outbox === false ? undefined : qualified(outbox, 'outbox table').sql

  const select = (rel: string) => `SELECT ${tenant}::text AS t, ${key}::text AS k${cols.map((c, i) => `, ${c.sql}::text AS c${i}`).join('')} FROM ${rel}`
  const query = (rels: string[]) => literal(`SELECT * FROM (${rels.map((r) => `(${select(r)})`).join(' UNION ')}) s WHERE t IS NOT NULL ORDER BY t`)
  const vars = cols.map((_, i) => `  c${i} jsonb := '[]';`).join('\n')
  const reset = ["ids := '[]'", ...cols.map((_, i) => `c${i} := '[]'`), 'size := 0', 'overflow := false'].map((s) => `${s};`).join(' ')
  const data = [`'op', lower(TG_OP)`, `'table', TG_TABLE_NAME`, `'ids', ids`, ...cols.map((c, i) => `${literal(c.name)}, c${i}`)].join(', ')
  const emit = `
      chunk := chunk + 1;
      payload := jsonb_build_object(
        'id', 'pg:' || txid_current() || ':' || (extract(epoch from clock_timestamp()) * 1000000)::bigint || ':' || chunk,
        'type', ${literal(o.event)}, 'tenant', cur, 'at', (extract(epoch from clock_timestamp()) * 1000)::bigint,
        'data', jsonb_build_object(${data}) || CASE WHEN overflow THEN '{"overflow": true}'::jsonb ELSE '{}'::jsonb END)::text;
      ${outboxSql ? `INSERT INTO ${outboxSql} (channel, payload) VALUES (${literal(channel)}, payload);` : ''}
      PERFORM pg_notify(${literal(channel)}, payload);
      ${reset}`
  // How many bytes a value adds when it is new to its list (exactly as jsonb prints it, escapes included, plus ", ").
  const add = (v: string, list: string) => `CASE WHEN ${v} IS NULL OR ${list} @> to_jsonb(${v}) THEN 0 ELSE octet_length(to_jsonb(${v})::text) + 2 END`
  const push = (v: string, list: string) =>
    `IF ${v} IS NOT NULL AND NOT ${list} @> to_jsonb(${v}) THEN
        IF octet_length(${v}) > 1024 THEN overflow := true; ELSE ${list} := ${list} || to_jsonb(${v}); END IF;
      END IF;`
  const body = `
DECLARE
  r record;
  q text;
  cur text := NULL;
  ids jsonb := '[]';
${vars}
  size int := 0;
  grow int;
  chunk int := 0;
  overflow boolean := false;
  payload text;
BEGIN
  q := CASE TG_OP
    WHEN 'INSERT' THEN ${query(['larder_new'])}
    WHEN 'DELETE' THEN ${query(['larder_old'])}
    ELSE ${query(['larder_new', 'larder_old'])} END;
  FOR r IN EXECUTE q LOOP
    grow := ${[add('r.k', 'ids'), ...cols.map((_, i) => add(`r.c${i}`, `c${i}`))].join(' + ')};
    IF cur IS NOT NULL AND (cur <> r.t OR size + grow > ${CHUNK_BYTES}) THEN${emit}
    END IF;
    cur := r.t;
    size := size + ${[add('r.k', 'ids'), ...cols.map((_, i) => add(`r.c${i}`, `c${i}`))].join(' + ')};
    ${push('r.k', 'ids')}
    ${cols.map((_, i) => push(`r.c${i}`, `c${i}`)).join('\n    ')}
  END LOOP;
  IF cur IS NOT NULL THEN${emit}
  END IF;
  RETURN NULL;
END`
  const stmts: string[] = []
  if (outboxSql) {
    stmts.push(`CREATE TABLE IF NOT EXISTS ${outboxSql} (seq bigserial PRIMARY KEY, channel text NOT NULL, payload text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())`)
    stmts.push(`CREATE INDEX IF NOT EXISTS ${ident(`${qualified(outbox as string, 'outbox table').table}_channel_at`, 'index')} ON ${outboxSql} (channel, at)`)
  }
  stmts.push(`CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $larder$${body}$larder$`)
  for (const op of ['insert', 'update', 'delete'] as const) stmts.push(`DROP TRIGGER IF EXISTS ${trigger(op)} ON ${t.sql}`)
  for (const op of ops) {
    const refs = op === 'insert' ? 'NEW TABLE AS larder_new' : op === 'delete' ? 'OLD TABLE AS larder_old' : 'OLD TABLE AS larder_old NEW TABLE AS larder_new'
    stmts.push(`CREATE TRIGGER ${trigger(op)} AFTER ${op.toUpperCase()} ON ${t.sql} REFERENCING ${refs} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`)
  }
  return stmts
}

/** Installs (or replaces) the change-capture triggers on a table. */
export async function installPgTrigger(client: SqlClient, options: PgTriggerOptions): Promise<void> {
  for (const sql of pgTriggerSql(options)) await client.query(sql)
}

/** Removes the triggers and the function (the outbox table stays: other tables may use it). */
export async function uninstallPgTrigger(client: SqlClient, options: { table: string }): Promise<void> {
  const { t, fn, trigger } = names({ table: options.table, event: 'x' })
  for (const op of ['insert', 'update', 'delete'] as const) await client.query(`DROP TRIGGER IF EXISTS ${trigger(op)} ON ${t.sql}`)
  await client.query(`DROP FUNCTION IF EXISTS ${fn}()`)
}
