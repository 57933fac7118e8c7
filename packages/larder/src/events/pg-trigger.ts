/**
 * PostgreSQL change capture, the database side: `installPgTrigger` creates statement-level
 * triggers (one per operation: PostgreSQL allows transition tables only on single-event
 * triggers) whose function groups the changed rows by tenant and sends one envelope per
 * tenant with `pg_notify`:
 *
 *   { id, type, tenant, at, data: { op, table, ids: [...], <column>: [...], overflow? } }
 *
 * `ids` are the distinct key values (old and new rows, so a key change invalidates both),
 * each extra column (`columns`) the distinct values of that column, each `related` field the
 * values read from another table's rows that reference a changed row. For updates, `changed`
 * keeps only rows that changed (any or a watched column) and `typesByColumn` picks the event
 * type by the column that changed (old and new rows paired by key and tenant). A NOTIFY payload must
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
  /**
   * Updates only: send only the rows that changed — `true`: any column (an UPDATE that left a
   * row as it was sends nothing for it); a list: one of these columns (e.g. `['status']`).
   * The old and new rows are paired by key and tenant. Default: every updated row.
   */
  changed?: boolean | readonly string[]
  /**
   * Updates only: event types by the columns whose change they announce, e.g.
   * `{ 'product.price_changed': ['price_cents'], 'product.moved': ['category_id'] }`. An updated
   * row is sent under each type one of whose columns changed, and under `event` when none did
   * (inserts and deletes always under `event`). A row whose key changed is sent under all of them.
   */
  typesByColumn?: Readonly<Record<string, readonly string[]>>
  /**
   * Values read from another table for each changed row, sent as `data.<name>` (chunked like
   * `ids`): `{ name: 'variant_ids', table: 'offers', column: 'variant_id', references: 'seller_id' }`
   * sends the `variant_id` of every `offers` row whose `seller_id` is the changed row's key
   * (and whose tenant column, named as this table's, is its tenant) — e.g. everything a
   * seller offers when the seller changes.
   */
  related?: readonly PgRelated[]
}

export interface PgRelated {
  /** Field name in `data`. */
  name: string
  /** The other table, optionally schema-qualified. */
  table: string
  /** Its column whose values are sent. */
  column: string
  /** Its column that holds this table's key. */
  references: string
  /** Its tenant column. Default: this table's `tenantColumn`. */
  tenantColumn?: string
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

function eventType(type: string, what: string): string {
  if (typeof type !== 'string' || !TYPE.test(type) || type.length > 100) throw new LarderError('E_INVALID_OPTION', `${what} "${type}" must be a dotted lower-case type such as product.row_changed`)
  return literal(type)
}

/** The SQL statements `installPgTrigger` runs, one statement per string. */
export function pgTriggerSql(o: PgTriggerOptions): string[] {
  const { t, fn, trigger } = names(o)
  const event = eventType(o.event, 'event')
  const key = ident(o.key ?? 'id', 'key column')
  const tenantName = o.tenantColumn ?? 'tenant_id'
  const tenant = ident(tenantName, 'tenant column')
  const channel = o.channel ?? DEFAULT_CHANNEL
  ident(channel, 'channel')
  const cols = (o.columns ?? []).map((c) => ({ name: c, sql: ident(c, 'column') }))
  const related = (o.related ?? []).map((r) => {
    if (r === null || typeof r !== 'object') throw new LarderError('E_INVALID_OPTION', 'related must be a list of { name, table, column, references }')
    ident(r.name, 'related name')
    return { name: r.name, table: qualified(r.table, 'related table').sql, column: ident(r.column, 'related column'), references: ident(r.references, 'related references'), tenant: ident(r.tenantColumn ?? tenantName, 'related tenant column') }
  })
  const fields = [...cols.map((c) => c.name), ...related.map((r) => r.name)]
  if (new Set(fields).size !== fields.length) throw new LarderError('E_INVALID_OPTION', 'columns and related names must not repeat')
  for (const f of fields) if (['ids', 'op', 'table', 'overflow'].includes(f)) throw new LarderError('E_INVALID_OPTION', `column "${f}" clashes with a data field of the envelope`)
  const ops = o.ops ?? ['insert', 'update', 'delete']
  if (ops.length === 0 || ops.some((op) => !['insert', 'update', 'delete'].includes(op))) throw new LarderError('E_INVALID_OPTION', 'ops must be a non-empty list of insert, update, delete')
  const outbox = o.outbox === undefined ? DEFAULT_OUTBOX : o.outbox
  const outboxSql = outbox === false ? undefined : qualified(outbox, 'outbox table').sql
  const changed = o.changed ?? false
  if (typeof changed !== 'boolean' && (!Array.isArray(changed) || changed.length === 0)) throw new LarderError('E_INVALID_OPTION', 'changed must be true, false or a non-empty list of columns')
  const changedCols = Array.isArray(changed) ? changed.map((c) => ident(c, 'changed column')) : []
  const typed = Object.entries(o.typesByColumn ?? {}).map(([type, on]) => {
    if (!Array.isArray(on) || on.length === 0) throw new LarderError('E_INVALID_OPTION', `typesByColumn "${type}" needs a non-empty list of columns`)
    return { type: eventType(type, 'typesByColumn type'), on: on.map((c: string) => ident(c, 'typesByColumn column')) }
  })

  // Each side (old or new row) of a changed row becomes one row (t, k, c0…, a0…): tenant, key,
  // extra columns as text, related values as text arrays (read from the row's typed columns, so
  // the other table's index on `references` is used). An UPDATE pairs old and new rows by key
  // and tenant when it must tell what changed; a side missing from a pair (key changed) counts
  // as changed in every column.
  const side = (a: string) => `(${a}.${tenant}::text, ${a}.${key}::text${cols.map((c) => `, ${a}.${c.sql}::text`).join('')}${related.map((r) => `, ARRAY(SELECT x.${r.column}::text FROM ${r.table} x WHERE x.${r.references} = ${a}.${key} AND x.${r.tenant} = ${a}.${tenant})`).join('')})`
  const xcols = ['t', 'k', ...cols.map((_, i) => `c${i}`), ...related.map((_, i) => `a${i}`)].join(', ')
  const diff = (cs: string[]) => cs.map((c) => `n.${c} IS DISTINCT FROM o.${c}`).join(' OR ')
  const unpaired = 'n.larder_row IS NULL OR o.larder_row IS NULL'
  const rel = related.length === 0 ? '' : ` CROSS JOIN LATERAL unnest(${related.map((_, i) => `CASE WHEN cardinality(s.a${i}) = 0 THEN ARRAY[NULL::text] ELSE s.a${i} END`).join(', ')}) r(${related.map((_, i) => `r${i}`).join(', ')})`
  const out = ['s.t', 's.k', ...cols.map((_, i) => `s.c${i}`), ...related.map((_, i) => `r.r${i}`), 'y.ty'].join(', ')
  const select = (sides: string[], src: string, where: string, types: string) => `SELECT ${out} FROM ${src} CROSS JOIN LATERAL (VALUES ${sides.join(', ')}) s(${xcols}) CROSS JOIN LATERAL (${types}) y(ty)${rel} WHERE s.t IS NOT NULL${where}`
  const ordered = (parts: string[]) => `SELECT * FROM (${parts.join(' UNION ALL ')}) q ORDER BY ty, t`
  const plain = `SELECT ${event}`
  const insertQ = ordered([select([side('n')], 'larder_new n', '', plain)])
  const deleteQ = ordered([select([side('o')], 'larder_old o', '', plain)])
  let updateQ: string
  if (changed === false && typed.length === 0) {
    updateQ = ordered([select([side('n')], 'larder_new n', '', plain), select([side('o')], 'larder_old o', '', plain)])
  } else {
    // A FULL JOIN needs a hash- or merge-joinable condition: plain equality (NULL tenants are skipped anyway).
    const pairs = `(SELECT *, true AS larder_row FROM larder_new) n FULL JOIN (SELECT *, true AS larder_row FROM larder_old) o ON n.${key} = o.${key} AND n.${tenant} = o.${tenant}`
    const rowChanged = changed === true ? 'to_jsonb(n) IS DISTINCT FROM to_jsonb(o)' : changedCols.length > 0 ? diff(changedCols) : 'true'
    const types =
      typed.length === 0
        ? plain
        : `SELECT v.ty FROM (VALUES ${typed.map((ty) => `(${ty.type}, ${diff(ty.on)})`).join(', ')}) v(ty, hit) WHERE v.hit OR ${unpaired} UNION ALL SELECT ${event} WHERE NOT (${diff(typed.flatMap((ty) => ty.on))}) OR ${unpaired}`
    updateQ = ordered([select([side('n'), side('o')], pairs, ` AND (${unpaired} OR ${rowChanged})`, types)])
  }
  // Column i of the loop's row: ids (k), the extra columns (c…), the related values (r…).
  const lists = [{ v: 'r.k', l: 'ids' }, ...cols.map((_, i) => ({ v: `r.c${i}`, l: `c${i}` })), ...related.map((_, i) => ({ v: `r.r${i}`, l: `l${i}` }))]
  const vars = lists.slice(1).map((x) => `  ${x.l} jsonb := '[]';`).join('\n')
  const reset = [...lists.map((x) => `${x.l} := '[]'`), 'size := 0', 'overflow := false'].map((x) => `${x};`).join(' ')
  const data = [`'op', lower(TG_OP)`, `'table', TG_TABLE_NAME`, `'ids', ids`, ...cols.map((c, i) => `${literal(c.name)}, c${i}`), ...related.map((r, i) => `${literal(r.name)}, l${i}`)].join(', ')
  const emit = `
      -- Numbered per transaction (a transaction-local setting): two statements of one
      -- transaction within one clock tick still send different ids.
      chunk := coalesce(nullif(current_setting('larder.envelope', true), ''), '0')::bigint + 1;
      PERFORM set_config('larder.envelope', chunk::text, true);
      payload := jsonb_build_object(
        'id', 'pg:' || txid_current() || ':' || (extract(epoch from clock_timestamp()) * 1000000)::bigint || ':' || chunk,
        'type', curty, 'tenant', cur, 'at', (extract(epoch from clock_timestamp()) * 1000)::bigint,
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
  const grow = lists.map((x) => add(x.v, x.l)).join(' + ')
  const body = `
DECLARE
  r record;
  q text;
  cur text := NULL;
  curty text := NULL;
  ids jsonb := '[]';
${vars}
  size int := 0;
  grow int;
  chunk bigint;
  overflow boolean := false;
  payload text;
BEGIN
  q := CASE TG_OP
    WHEN 'INSERT' THEN ${literal(insertQ)}
    WHEN 'DELETE' THEN ${literal(deleteQ)}
    ELSE ${literal(updateQ)} END;
  FOR r IN EXECUTE q LOOP
    grow := ${grow};
    IF cur IS NOT NULL AND (cur <> r.t OR curty <> r.ty OR size + grow > ${CHUNK_BYTES}) THEN${emit}
    END IF;
    cur := r.t;
    curty := r.ty;
    size := size + ${grow};
    ${lists.map((x) => push(x.v, x.l)).join('\n    ')}
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

/**
 * PL/pgSQL looks up the `related` tables only when the trigger runs, so a missing table or
 * column would make every later write to the captured table fail: refuse it at install.
 */
async function checkRelated(client: SqlClient, o: PgTriggerOptions): Promise<void> {
  for (const r of o.related ?? []) {
    const { rows } = await client.query('SELECT attname FROM pg_attribute WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped', [qualified(r.table, 'related table').sql])
    if (rows.length === 0) throw new LarderError('E_INVALID_OPTION', `related table "${r.table}" does not exist`)
    const have = new Set(rows.map((row) => (row as { attname: string }).attname))
    const missing = [r.column, r.references, r.tenantColumn ?? o.tenantColumn ?? 'tenant_id'].filter((c) => !have.has(c))
    if (missing.length > 0) throw new LarderError('E_INVALID_OPTION', `related table "${r.table}" has no column ${missing.map((c) => `"${c}"`).join(', ')}`)
  }
}

/** Installs (or replaces) the change-capture triggers on a table. */
export async function installPgTrigger(client: SqlClient, options: PgTriggerOptions): Promise<void> {
  const statements = pgTriggerSql(options)
  await checkRelated(client, options)
  for (const sql of statements) await client.query(sql)
}

/** Removes the triggers and the function (the outbox table stays: other tables may use it). */
export async function uninstallPgTrigger(client: SqlClient, options: { table: string }): Promise<void> {
  const { t, fn, trigger } = names({ table: options.table, event: 'x' })
  for (const op of ['insert', 'update', 'delete'] as const) await client.query(`DROP TRIGGER IF EXISTS ${trigger(op)} ON ${t.sql}`)
  await client.query(`DROP FUNCTION IF EXISTS ${fn}()`)
}
