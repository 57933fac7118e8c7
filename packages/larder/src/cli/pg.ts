/**
 * `larder pg install|uninstall|sql` — PostgreSQL change capture triggers.
 *
 *   larder pg install --table products --event product.row_changed --key id --tenant-column tenant_id \
 *     [--columns category_id,brand_id] [--ops insert,update,delete] [--channel larder_events] \
 *     [--outbox larder_outbox | --no-outbox] [--database-url postgres://…]   (default: $DATABASE_URL)
 *     [--changed | --changed-columns status] [--type-by-column product.price_changed=price_cents]…
 *     [--related name=variant_ids,table=offers,column=variant_id,references=seller_id[,tenant-column=shop]]…
 *   larder pg uninstall --table products [--database-url …]
 *   larder pg sql --table products --event …      prints the SQL instead of running it
 * The flags map one to one onto installPgTrigger's options; pgTriggerSql validates and quotes
 * every identifier and type, so this module only splits the flag values.
 * @module
 */
import { type PgOp, type PgRelated, type PgTriggerOptions, installPgTrigger, pgTriggerSql, uninstallPgTrigger } from '../events/pg-trigger.ts'
import { parseFlags, UsageError, wantsHelp } from './args.ts'

const INSTALL_FLAGS = `[--key id] [--tenant-column tenant_id] [--columns a,b] [--ops insert,update,delete]
        [--channel larder_events] [--outbox larder_outbox | --no-outbox]
        [--changed | --changed-columns a,b] [--type-by-column <type>=a,b]...
        [--related name=<field>,table=<t>,column=<c>,references=<c>[,tenant-column=<c>]]...`
const FLAG_HELP = `  --changed               updates: send only rows that changed (any column)
  --changed-columns a,b   updates: send only rows where one of these columns changed
  --type-by-column t=a,b  updates: send under type t the rows where a or b changed (repeatable)
  --related ...           send data.<field>: <column> of every <t> row whose <references> is the
                          changed row's key, same tenant (repeatable; tenant-column defaults to
                          --tenant-column)`
const USAGES = {
  install: `usage: larder pg install --table <t> --event <type> [--database-url <url>]
        ${INSTALL_FLAGS}
  Installs a trigger on <t> that emits <type> events (NOTIFY, and the outbox table unless --no-outbox).
${FLAG_HELP}`,
  uninstall: `usage: larder pg uninstall --table <t> [--database-url <url>]
  Removes the change capture trigger (and its function) from <t>.`,
  sql: `usage: larder pg sql --table <t> --event <type> ${INSTALL_FLAGS}
  Prints the SQL that install would run, to review or apply yourself.
${FLAG_HELP}`,
} as const
const USAGE = `usage:
  larder pg install --table <t> --event <type> [--key id] [--tenant-column tenant_id]
                    [--columns a,b] [--ops insert,update,delete] [--channel larder_events]
                    [--outbox larder_outbox | --no-outbox] [--database-url <url>]
                    [--changed | --changed-columns a,b] [--type-by-column <type>=a,b]...
                    [--related name=<field>,table=<t>,column=<c>,references=<c>]...
  larder pg uninstall --table <t> [--database-url <url>]
  larder pg sql --table <t> --event <type> [...install flags]   (print the SQL only)
The database URL defaults to $DATABASE_URL. larder pg <subcommand> --help for one of them.`

const FLAGS = {
  table: { type: 'string' },
  event: { type: 'string' },
  key: { type: 'string' },
  'tenant-column': { type: 'string' },
  columns: { type: 'string' },
  ops: { type: 'string' },
  channel: { type: 'string' },
  outbox: { type: 'string' },
  'no-outbox': { type: 'boolean' },
  changed: { type: 'boolean' },
  'changed-columns': { type: 'string' },
  'type-by-column': { type: 'string', multiple: true },
  related: { type: 'string', multiple: true },
  'database-url': { type: 'string' },
} as const

function list(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean)
}

/** `--type-by-column product.price_changed=price_cents,cost` (repeatable) → typesByColumn. */
function typesByColumn(values: readonly string[] | undefined): Record<string, string[]> | undefined {
  if (!values) return undefined
  const out: Record<string, string[]> = {}
  for (const v of values) {
    const i = v.indexOf('=')
    const type = v.slice(0, i).trim()
    const cols = list(v.slice(i + 1)) ?? []
    if (i <= 0 || cols.length === 0) throw new UsageError(`--type-by-column "${v}" must be <type>=<column>[,<column>…], e.g. product.price_changed=price_cents`)
    if (Object.hasOwn(out, type)) throw new UsageError(`--type-by-column: type "${type}" is given twice; list all its columns in one flag`)
    out[type] = cols
  }
  return out
}

const RELATED_FIELDS = { name: 'name', table: 'table', column: 'column', references: 'references', 'tenant-column': 'tenantColumn' } as const

/** `--related name=variant_ids,table=offers,column=variant_id,references=seller_id[,tenant-column=shop]` → one PgRelated. */
function related(values: readonly string[] | undefined): PgRelated[] | undefined {
  return values?.map((v) => {
    const r: Partial<Record<(typeof RELATED_FIELDS)[keyof typeof RELATED_FIELDS], string>> = {}
    for (const part of v.split(',')) {
      const i = part.indexOf('=')
      const field = part.slice(0, i).trim()
      if (i <= 0 || !Object.hasOwn(RELATED_FIELDS, field)) throw new UsageError(`--related "${v}": "${part}" is not one of ${Object.keys(RELATED_FIELDS).map((f) => `${f}=`).join(', ')}`)
      const key = RELATED_FIELDS[field as keyof typeof RELATED_FIELDS]
      if (r[key] !== undefined) throw new UsageError(`--related "${v}": ${field}= is given twice`)
      r[key] = part.slice(i + 1).trim()
    }
    const missing = (['name', 'table', 'column', 'references'] as const).filter((f) => !r[f])
    if (missing.length > 0) throw new UsageError(`--related "${v}" needs ${missing.map((f) => `${f}=`).join(', ')}`)
    return r as PgRelated
  })
}

/** The install/sql flags → installPgTrigger options (identifiers are checked by pgTriggerSql). */
function triggerOptions(values: ReturnType<typeof parseFlags<typeof FLAGS>>['values'], table: string): PgTriggerOptions {
  if (values.changed && values['changed-columns'] !== undefined) throw new UsageError('give --changed (any column) or --changed-columns <a,b>, not both')
  const changedColumns = list(values['changed-columns'])
  if (changedColumns?.length === 0) throw new UsageError('--changed-columns needs at least one column')
  return {
    table,
    event: values.event ?? '',
    key: values.key,
    tenantColumn: values['tenant-column'],
    columns: list(values.columns),
    ops: list(values.ops) as PgOp[] | undefined,
    channel: values.channel,
    outbox: values['no-outbox'] ? false : values.outbox,
    ...(values.changed ? { changed: true } : changedColumns ? { changed: changedColumns } : {}),
    ...(values['type-by-column'] ? { typesByColumn: typesByColumn(values['type-by-column']) } : {}),
    ...(values.related ? { related: related(values.related) } : {}),
  }
}

export async function run(argv: string[], io: { out: (s: string) => void; err: (s: string) => void } = { out: (s) => console.log(s), err: (s) => console.error(s) }): Promise<number> {
  const [sub, ...rest] = argv
  if (!sub || sub === '--help' || sub === '-h') {
    io.out(USAGE)
    return 0
  }
  if (!Object.hasOwn(USAGES, sub)) {
    io.err(`larder pg: unknown subcommand "${sub}" (install, uninstall or sql)\n${USAGE}`)
    return 2
  }
  if (wantsHelp(rest)) {
    io.out(USAGES[sub as keyof typeof USAGES])
    return 0
  }
  let values: ReturnType<typeof parseFlags<typeof FLAGS>>['values']
  try {
    values = parseFlags(rest, FLAGS).values
  } catch (err) {
    io.err(`larder pg: ${(err as Error).message}\n${USAGE}`)
    return 2
  }
  const table = values.table
  if (!table) {
    io.err(`larder pg ${sub}: --table is required\n${USAGE}`)
    return 2
  }
  let options: PgTriggerOptions
  try {
    options = triggerOptions(values, table)
  } catch (err) {
    io.err(`larder pg ${sub}: ${(err as Error).message} (larder pg ${sub} --help)`)
    return 2
  }
  if (sub !== 'uninstall' && !options.event) {
    io.err(`larder pg ${sub}: --event is required (e.g. --event product.row_changed)\n${USAGE}`)
    return 2
  }
  let statements: string[] = []
  try {
    if (sub !== 'uninstall') statements = pgTriggerSql(options)
  } catch (err) {
    io.err(`larder pg ${sub}: ${(err as Error).message}`)
    return 2
  }
  if (sub === 'sql') {
    io.out(statements.map((s) => `${s};`).join('\n\n'))
    return 0
  }
  const url = values['database-url'] ?? process.env.DATABASE_URL
  if (!url) {
    io.err(`larder pg ${sub}: give --database-url or set DATABASE_URL`)
    return 2
  }
  let pg: typeof import('pg').default
  try {
    pg = (await import('pg')).default
  } catch {
    io.err(`larder pg ${sub}: the "pg" package is not installed here; run "npm install pg" (or use "larder pg sql" and apply the SQL yourself)`)
    return 1
  }
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 })
  try {
    await client.connect()
    if (sub === 'install') {
      await installPgTrigger(client, options)
      io.out(`installed change capture on ${table}: ${options.event} → NOTIFY ${options.channel ?? 'larder_events'}`)
    } else {
      await uninstallPgTrigger(client, { table })
      io.out(`removed change capture from ${table}`)
    }
    return 0
  } catch (err) {
    io.err(`larder pg ${sub}: ${(err as Error).message}`)
    return 1
  } finally {
    await client.end().catch(() => {})
  }
}
