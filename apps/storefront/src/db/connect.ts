/**
 * One small database seam for the demo: an embedded PostgreSQL (PGlite, WASM, in-process)
 * by default, or a real PostgreSQL when `DATABASE_URL` is set. Both speak the same SQL,
 * the same triggers and the same LISTEN/NOTIFY. LISTEN itself is not done here: the change
 * feed hands `listenSource` to `createPgListener` (larder/events), the listener a real shop
 * runs (reconnect with jittered backoff, heartbeat, distrust after a drop).
 * @module
 */
import { PGlite } from '@electric-sql/pglite'
import type { PgClientLike, PgliteLike } from 'larder/events'
import pg from 'pg'

export interface Queryable {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>
}

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres'
  /** Runs several statements (schema, seed). No parameters. */
  exec(sql: string): Promise<void>
  /** Runs `fn` in one transaction (BEGIN … COMMIT, ROLLBACK on throw). */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>
  /**
   * What `createPgListener` LISTENs through: the embedded database itself (in-process, it
   * never disconnects), or a factory of new connections to the server (called again after
   * every disconnect).
   */
  readonly listenSource: { client: PgliteLike } | { connect: () => Promise<PgClientLike> }
  close(): Promise<void>
}

export interface OpenOptions {
  /** postgres://… — a real server. Default: process.env.DATABASE_URL, else embedded PGlite. */
  url?: string | undefined
  /** PGlite data directory (default: in memory). */
  dataDir?: string | undefined
}

export async function openDb(options: OpenOptions = {}): Promise<Db> {
  const url = options.url ?? process.env.DATABASE_URL
  return url ? openPostgres(url) : openPglite(options.dataDir)
}

async function openPglite(dataDir: string | undefined): Promise<Db> {
  const db = dataDir ? new PGlite(dataDir) : new PGlite()
  await db.waitReady
  return {
    kind: 'pglite',
    async query<T>(sql: string, params?: unknown[]) {
      return (await db.query<T>(sql, params)).rows
    },
    async exec(sql) {
      await db.exec(sql)
    },
    transaction(fn) {
      return db.transaction((tx) =>
        fn({
          async query<T>(sql: string, params?: unknown[]) {
            return (await tx.query<T>(sql, params)).rows
          },
        }),
      )
    },
    listenSource: { client: db },
    async close() {
      await db.close()
    },
  }
}

async function openPostgres(url: string): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: 8 })
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  return {
    kind: 'postgres',
    async query<T>(sql: string, params?: unknown[]) {
      return (await pool.query(sql, params)).rows as T[]
    },
    async exec(sql) {
      await pool.query(sql)
    },
    async transaction(fn) {
      const client = await pool.connect()
      try {
        await client.query('BEGIN')
        const out = await fn({ query: async (sql, params) => (await client.query(sql, params)).rows })
        await client.query('COMMIT')
        return out
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        throw err
      } finally {
        client.release()
      }
    },
    listenSource: {
      async connect() {
        const c = new pg.Client({ connectionString: url })
        // The listener attaches its own handlers once connected; an error before that must not crash.
        c.on('error', () => {})
        await c.connect()
        return c
      },
    },
    async close() {
      await pool.end()
    },
  }
}
