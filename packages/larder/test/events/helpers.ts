import pg from 'pg'
import type { Cache } from '../../src/core/api.ts'
import type { InvalidationLog, LogEntry } from '../../src/core/types.ts'

/** Collects log entries and resolves waits on them (no sleeps). */
export function watchLog(log: InvalidationLog) {
  const entries: LogEntry[] = []
  const waiters: { pred: (e: LogEntry) => boolean; resolve: (e: LogEntry) => void }[] = []
  const unsubscribe = log.subscribe(
    {
      entries(es) {
        for (const e of es) {
          entries.push(e)
          for (const w of [...waiters]) {
            if (w.pred(e)) {
              waiters.splice(waiters.indexOf(w), 1)
              w.resolve(e)
            }
          }
        }
      },
      gap() {},
    },
    'now',
  )
  return {
    entries,
    unsubscribe,
    /** Resolves with the first entry (already seen or future) matching pred. */
    waitFor(pred: (e: LogEntry) => boolean, what = 'a log entry', timeoutMs = 15_000): Promise<LogEntry> {
      const found = entries.find(pred)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs)
        waiters.push({
          pred,
          resolve: (e) => {
            clearTimeout(t)
            resolve(e)
          },
        })
      })
    },
  }
}

/** A promise plus its resolver, for "wait until X happened" without sleeps. */
export function signal<T = void>() {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => (resolve = r))
  return { promise, resolve }
}

/**
 * Waits until an invalidation carrying `tag` is *applied*: the processor appends its event
 * records after cache.invalidate resolved, so the first event record after the invalidation
 * entry means this instance's L1 is purged (log subscribers see the entry a moment earlier).
 */
export async function applied(watch: ReturnType<typeof watchLog>, tenant: string, tag: string, what?: string): Promise<LogEntry> {
  const e = await watch.waitFor(hasTag(tenant, tag), what ?? `${tenant} ${tag}`)
  await watch.waitFor((x) => x.kind === 'event' && x.tenant === tenant && x.id > e.id, `the event record after ${tag}`)
  return e
}

export const hasTag = (tenant: string, tag: string) => (e: LogEntry) => e.tenant === tenant && e.kind === 'hard' && (e.tags?.includes(tag) ?? false)

/** Records every `cache.distrust(tenants)` call (the change-capture sources' loss signal); `next()` resolves at the next one. */
export function recordDistrusts(cache: Pick<Cache, 'distrust'>) {
  const calls: (readonly string[] | undefined)[] = []
  const waiting: { resolve: () => void }[] = []
  const original = cache.distrust.bind(cache)
  cache.distrust = (tenants) => {
    calls.push(tenants)
    for (const w of waiting.splice(0)) w.resolve()
    original(tenants)
  }
  return {
    calls,
    next() {
      const s = signal()
      waiting.push(s)
      return s.promise
    },
  }
}

/** One NOTIFY payload of a change capture trigger. */
export type PgEnvelope = { id: string; type: string; tenant: string; data: Record<string, string[] | string> }

/**
 * Every payload on `channel` up to a marker NOTIFY that `admin` sends after `work`: commit
 * order, so no sleeps. `url` is the server the probe listens on.
 */
export async function pgNotified(url: string, admin: pg.Client, channel: string, work: () => Promise<unknown>): Promise<PgEnvelope[]> {
  const probe = new pg.Client({ connectionString: url })
  await probe.connect()
  const got: string[] = []
  const done = signal()
  probe.on('notification', (m) => {
    if (m.payload === 'marker') done.resolve()
    else got.push(m.payload ?? '')
  })
  try {
    await probe.query(`LISTEN ${channel}`)
    await work()
    await admin.query(`SELECT pg_notify('${channel}', 'marker')`)
    await done.promise
    return got.map((p) => JSON.parse(p) as PgEnvelope)
  } finally {
    await probe.end()
  }
}
