/**
 * `larder pg install|uninstall|sql` — PostgreSQL change capture triggers.
 *
 *   larder pg install --table products --event product.row_changed --key id --tenant-column tenant_id \
 *     [--columns category_id,brand_id] [--ops insert,update,delete] [--channel larder_events] \
 *     [--outbox larder_outbox | --no-outbox] [--database-url postgres://…]   (default: $DATABASE_URL)
 *   larder pg uninstall --table products [--database-url …]
 *   larder pg sql --table products --event …      prints the SQL instead of running it
 * @module
 */
import { parseArgs } from 'node:util'
import { type PgOp, type PgTriggerOptions, installPgTrigger, pgTriggerSql, uninstallPgTrigger } from '../events/pg-trigger.ts'
import { wantsHelp } from './args.ts'

const INSTALL_FLAGS = `[--key id] [--tenant-column tenant_id] [--columns a,b] [--ops insert,update,delete]
        [--channel larder_events] [--outbox larder_outbox | --no-outbox]`
const USAGES = {
  install: `usage: larder pg install --table <t> --event <type> [--database-url <url>]
        ${INSTALL_FLAGS}
  Installs a trigger on <t> that emits <type> events (NOTIFY, and the outbox table unless --no-outbox).`,
  uninstall: `usage: larder pg uninstall --table <t> [--database-url <url>]
  Removes the change capture trigger (and its function) from <t>.`,
  sql: `usage: larder pg sql --table <t> --event <type> ${INSTALL_FLAGS}
  Prints the SQL that install would run, to review or apply yourself.`,
} as const
const USAGE = `usage:
  larder pg install --table <t> --event <type> [--key id] [--tenant-column tenant_id]
                    [--columns a,b] [--ops insert,update,delete] [--channel larder_events]
                    [--outbox larder_outbox | --no-outbox] [--database-url <url>]
  larder pg uninstall --table <t> [--database-url <url>]
  larder pg sql --table <t> --event <type> [...install flags]   (print the SQL only)
The database URL defaults to $DATABASE_URL. larder pg <subcommand> --help for one of them.`

function list(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean)
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
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args: rest,
      options: {
        table: { type: 'string' },
        event: { type: 'string' },
        key: { type: 'string' },
        'tenant-column': { type: 'string' },
        columns: { type: 'string' },
        ops: { type: 'string' },
        channel: { type: 'string' },
        outbox: { type: 'string' },
        'no-outbox': { type: 'boolean' },
        'database-url': { type: 'string' },
      },
      strict: true,
    }).values
  } catch (err) {
    io.err(`larder pg: ${(err as Error).message}\n${USAGE}`)
    return 2
  }
  const table = values.table as string | undefined
  if (!table) {
    io.err(`larder pg ${sub}: --table is required\n${USAGE}`)
    return 2
  }
  const options: PgTriggerOptions = {
    table,
    event: (values.event as string | undefined) ?? '',
    key: values.key as string | undefined,
    tenantColumn: values['tenant-column'] as string | undefined,
    columns: list(values.columns as string | undefined),
    ops: list(values.ops as string | undefined) as PgOp[] | undefined,
    channel: values.channel as string | undefined,
    outbox: values['no-outbox'] ? false : (values.outbox as string | undefined),
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
  const url = (values['database-url'] as string | undefined) ?? process.env.DATABASE_URL
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
