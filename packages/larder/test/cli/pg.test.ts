/**
 * `larder pg install|sql` with the update options (`--changed`, `--changed-columns`,
 * `--type-by-column`, `--related`) against a real PostgreSQL server: what the installed trigger
 * sends, and that bad values (untrusted identifiers among them) are refused before any SQL runs.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { run as pgCli } from '../../src/cli/pg.ts'
import { type PostgresHandle, startPostgres } from '../../src/testing/servers.ts'
import { type PgEnvelope, pgNotified } from '../events/helpers.ts'

describe('larder pg: --changed, --type-by-column and --related on a real server', () => {
  let server: PostgresHandle
  let admin: pg.Client
  const out: string[] = []
  const err: string[] = []
  const io = { out: (s: string) => out.push(s), err: (s: string) => err.push(s) }
  const cli = (args: string[]) => pgCli([...args, '--database-url', server.url], io)

  before(async () => {
    server = await startPostgres()
    admin = new pg.Client({ connectionString: server.url })
    await admin.connect()
    await admin.query(`CREATE TABLE sellers (shop text, seller_id int, status text, name text, PRIMARY KEY (shop, seller_id))`)
    await admin.query(`CREATE SCHEMA catalog`)
    await admin.query(`CREATE TABLE catalog.offers (shop text, variant_id int, seller_id int)`)
    await admin.query(`INSERT INTO sellers VALUES ('acme', 1, 'active', 'a'), ('zeta', 1, 'active', 'z')`)
    await admin.query(`INSERT INTO catalog.offers VALUES ('acme', 7, 1), ('acme', 8, 1), ('zeta', 9, 1)`)
  })
  after(async () => {
    await admin?.end().catch(() => {})
    await server?.stop()
  })

  const notified = (channel: string, sql: string) => pgNotified(server.url, admin, channel, () => admin.query(sql))

  const triggers = async () => (await admin.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'sellers'::regclass AND NOT tgisinternal`)).rows[0].n as number
  const base = ['install', '--table', 'sellers', '--event', 'seller.changed', '--key', 'seller_id', '--tenant-column', 'shop', '--channel', 'cli_events', '--no-outbox']
  const brief = (es: PgEnvelope[]) => es.map((e) => [e.type, e.tenant, e.data.ids, e.data.variant_ids]).sort((a, b) => String(a[0]) + a[1] < String(b[0]) + b[1] ? -1 : 1)

  it('--changed, --type-by-column and --related reach the installed trigger', async () => {
    const code = await cli([...base, '--changed', '--type-by-column', 'seller.renamed=name', '--related', 'name=variant_ids,table=catalog.offers,column=variant_id,references=seller_id'])
    assert.equal(code, 0, err.join('\n'))
    assert.equal(await triggers(), 3)
    // --changed: an UPDATE that leaves the rows as they were sends nothing.
    assert.deepEqual(await notified('cli_events', `UPDATE sellers SET status = status, name = name`), [])
    // The default type with the related offers, tenant by tenant.
    assert.deepEqual(brief(await notified('cli_events', `UPDATE sellers SET status = 'vacation'`)), [
      ['seller.changed', 'acme', ['1'], ['7', '8']],
      ['seller.changed', 'zeta', ['1'], ['9']],
    ])
    // --type-by-column: a rename goes out under its own type.
    assert.deepEqual(brief(await notified('cli_events', `UPDATE sellers SET name = 'b' WHERE shop = 'acme'`)), [['seller.renamed', 'acme', ['1'], ['7', '8']]])
  })

  it('--changed-columns sends only when a listed column changed (install replaces the trigger)', async () => {
    assert.equal(await cli([...base, '--changed-columns', 'status', '--ops', 'update']), 0, err.join('\n'))
    assert.equal(await triggers(), 1)
    assert.deepEqual(await notified('cli_events', `UPDATE sellers SET name = 'c'`), [], 'a column nobody watches')
    assert.deepEqual(brief(await notified('cli_events', `UPDATE sellers SET status = 'active' WHERE shop = 'zeta'`)), [['seller.changed', 'zeta', ['1'], undefined]])
  })

  it('sql prints the quoted identifiers of every option', async () => {
    out.length = 0
    const code = await pgCli(['sql', '--table', 'sellers', '--event', 'seller.changed', '--changed-columns', 'status,name', '--type-by-column', 'seller.renamed=name', '--related', 'name=variant_ids,table=catalog.offers,column=variant_id,references=seller_id,tenant-column=shop'], io)
    assert.equal(code, 0, err.join('\n'))
    const sql = out.join('\n')
    assert.match(sql, /FROM "catalog"\."offers" x WHERE x\."seller_id" = /)
    assert.match(sql, /x\."shop" = /)
    assert.match(sql, /'seller\.renamed'/)
  })

  it('bad values are refused with exit 2 and a clear message, before any SQL runs', async () => {
    await admin.query(`CREATE TABLE untouched (tenant_id text, id int)`)
    const cases: [string[], RegExp][] = [
      [['--related', 'name=v,table=offers;drop table sellers,column=c,references=r'], /related table "offers;drop table sellers" must be a plain SQL identifier/],
      [['--related', 'name=v,table=offers,column=c"x,references=r'], /related column "c"x" must be a plain SQL identifier/],
      [['--related', 'name=v,table=offers,column=c,references=r,tenant-column=t t'], /related tenant column "t t" must be a plain SQL identifier/],
      [['--related', 'name=v,table=a.b.c,column=c,references=r'], /must be table or schema\.table/],
      [['--related', 'name=v,table=offers'], /--related "name=v,table=offers" needs column=, references=/],
      [['--related', 'name=v,table=o,column=c,references=r,where=1'], /"where=1" is not one of name=, table=, column=, references=, tenant-column=/],
      [['--related', 'name=v,name=w,table=o,column=c,references=r'], /name= is given twice/],
      [['--related', 'name=ids,table=o,column=c,references=r'], /clashes/],
      [['--changed-columns', 'status;--'], /changed column "status;--" must be a plain SQL identifier/],
      [['--changed-columns', ','], /--changed-columns needs at least one column/],
      [['--changed', '--changed-columns', 'status'], /not both/],
      [['--type-by-column', 'Bad Type=name'], /typesByColumn type "Bad Type" must be a dotted lower-case type/],
      [['--type-by-column', 'x.y=na me'], /typesByColumn column "na me" must be a plain SQL identifier/],
      [['--type-by-column', 'x.y'], /must be <type>=<column>/],
      [['--type-by-column', 'x.y=a', '--type-by-column', 'x.y=b'], /given twice/],
      [['--changed=yes'], /--changed/],
    ]
    for (const [flags, message] of cases) {
      err.length = 0
      assert.equal(await cli(['install', '--table', 'untouched', '--event', 'a.b', ...flags]), 2, flags.join(' '))
      assert.match(err.join('\n'), message, flags.join(' '))
    }
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'untouched'::regclass`)
    assert.equal(rows[0].n, 0, 'nothing was installed')
    // A well-formed name of a missing table or column: PL/pgSQL would accept the function and
    // fail every later write to the table, so install refuses it (exit 1: it needed the database).
    err.length = 0
    assert.equal(await cli(['install', '--table', 'untouched', '--event', 'a.b', '--related', 'name=v,table=nowhere,column=c,references=id']), 1)
    assert.match(err.join('\n'), /related table "nowhere" does not exist/)
    assert.equal(await cli(['install', '--table', 'untouched', '--event', 'a.b', '--tenant-column', 'shop', '--related', 'name=v,table=catalog.offers,column=variant_id,references=seller']), 1)
    assert.match(err.join('\n'), /related table "catalog.offers" has no column "seller"/)
    const still = await admin.query(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'untouched'::regclass`)
    assert.equal(still.rows[0].n, 0, 'nothing was installed')
    await admin.query(`INSERT INTO untouched VALUES ('acme', 1)`)
  })

  it('--help lists the update options', async () => {
    out.length = 0
    assert.equal(await pgCli(['install', '--help'], io), 0)
    for (const flag of ['--changed', '--changed-columns', '--type-by-column', '--related']) assert.ok(out.join('\n').includes(flag), flag)
  })
})
