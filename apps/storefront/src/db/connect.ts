/**
 * One small database seam for the demo: an embedded PostgreSQL (PGlite, WASM, in-process)
 * by default, or a real PostgreSQL when `DATABASE_URL` is set. Both speak the same SQL,
 * the same triggers and the same LISTEN/NOTIFY, so the demo's change capture is the one a
 * real shop would run.
 * @module
 */
import { PGlite } from '@electric-sql/pglite'
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
   * LISTENs on `channel`. `onLost` is called when notifications may have been missed
   * (a real server's connection dropped and came back): whoever derived state from them
   * must stop trusting it.
   */
  listen(channel: string, onPayload: (payload: string) => void, onLost?: () => void): Promise<() => Promise<void>>
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
    async listen(channel, onPayload) {
      // In-process: no connection to lose, so onLost never fires.
      const unlisten = await db.listen(channel, onPayload)
      return async () => {
        await unlisten()
      }
    },
    async close() {
      await db.close()
    },
  }
}

async function openPostgres(url: string): Promise<Db> {
  const pool = new pg.Pool({ connectionString: url, max: 8 })
  // An idle client's error (server restart) must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  const listeners = new Set<() => Promise<void>>()
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
    async listen(channel, onPayload, onLost) {
      let closed = false
      let client: pg.Client | undefined
      let delay = 100
      let timer: NodeJS.Timeout | undefined
      const connect = async (): Promise<void> => {
        const c = new pg.Client({ connectionString: url })
        c.on('notification', (n) => {
          if (n.channel === channel && n.payload !== undefined) onPayload(n.payload)
        })
        // An idle client may see its server go away as 'end' without an 'error' first.
        const dropped = () => {
          if (closed || client !== c) return
          client = undefined
          // Notifications sent while we were away are lost for good: tell the caller.
          onLost?.()
          retry()
        }
        c.on('error', dropped)
        c.on('end', dropped)
        await c.connect()
        await c.query(`LISTEN ${pg.Client.prototype.escapeIdentifier(channel)}`)
        client = c
        delay = 100
      }
      const retry = () => {
        if (closed) return
        timer = setTimeout(() => {
          connect().catch(() => {
            delay = Math.min(delay * 2, 5000)
            retry()
          })
        }, delay)
      }
      await connect()
      const stop = async () => {
        closed = true
        clearTimeout(timer)
        await client?.end().catch(() => {})
        listeners.delete(stop)
      }
      listeners.add(stop)
      return stop
    },
    async close() {
      for (const stop of [...listeners]) await stop()
      await pool.end()
    },
  }
}
