/**
 * Refresh on invalidation: the gateway re-fetches, right after an invalidation, the cached
 * GET responses of the invalidated tenant that clients read recently and that the
 * invalidation removed (or made stale). Pages told of the change (SSE) then refetch a fresh
 * entry instead of a miss that waits on the origin, and an SSE hub that follows `refresher.log`
 * sends each event only once those refreshes ended (bounded by `maxWaitMs`).
 *
 * Never stale: a refresh is an ordinary load begun after the invalidation entry reached this
 * process (the cache applied it first: it subscribed to the log before anyone else), so it is
 * the read a client would make right after the invalidation, fenced the same way; entries the
 * invalidation did not touch are found in the cache and not fetched. Only tenant-scoped:
 * an entry of tenant A refreshes only the reads recorded for tenant A, with the headers the
 * client sent (reads carrying `authorization` or `cookie` are never recorded).
 * @module
 */
import type { Cache } from '../core/api.ts'
import { LarderError } from '../core/errors.ts'
import type { InvalidationLog, LogEntry, LogSubscriber } from '../core/types.ts'
import type { RequestInfo } from '../http/engine.ts'

export interface RefresherOptions {
  cache: Cache
  /** Only reads seen within this many ms are refreshed. Default 60 000. */
  windowMs?: number
  /**
   * Recent reads remembered. Default 256. When full, the tenant with the most reads loses its
   * least recently read one, so one tenant's many URLs cannot push out the others' reads.
   */
  maxReads?: number
  /** Refresh loads running at once toward the origin (a tenant-wide clear refreshes up to maxReads). Default 8. */
  concurrency?: number
  /** The longest `log` holds an entry back for its refreshes (ms). Default 250. */
  maxWaitMs?: number
  /** Time of a read (ms). Default Date.now. */
  now?: () => number
}

/** What the gateway gives the refresher: a load of one request if its entry is missing or stale (false: nothing loaded). */
export type RefreshLoad = (tenant: string, info: RequestInfo) => Promise<boolean>

export interface InvalidationRefresher {
  /** The cache's log, delivering each batch of entries to its subscribers after that batch's refreshes ended. */
  readonly log: InvalidationLog
  /** Called by the gateway for each cacheable GET it answers. */
  record(tenant: string, info: RequestInfo): void
  /** Set by the gateway the refresher is given to (createGateway({ refresher })). */
  attach(load: RefreshLoad): void
  /** Refreshes done (loads that fetched) and skipped (entry still usable), for tests and metrics. */
  stats(): { refreshed: number; skipped: number; failed: number }
  /** Resolves once the refreshes running now have ended. */
  idle(): Promise<void>
  close(): void
}

interface Read {
  info: RequestInfo
  at: number
}

const INVALIDATING = new Set(['hard', 'soft', 'clear'])
/**
 * A client's own request directives and validators are not replayed: a refresh is the plain
 * read anyone would make (with `Cache-Control: no-cache` kept, one client's reads would each be
 * fetched from the origin on every invalidation of the tenant, touched or not).
 */
const NOT_REPLAYED = ['cache-control', 'pragma', 'if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range']

export function createInvalidationRefresher(o: RefresherOptions): InvalidationRefresher {
  const log = o.cache.log
  const windowMs = o.windowMs ?? 60_000
  const maxReads = o.maxReads ?? 256
  const maxWaitMs = o.maxWaitMs ?? 250
  const concurrency = o.concurrency ?? 8
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new LarderError('E_INVALID_OPTION', 'refresher concurrency must be a positive integer')
  // A slot is handed straight to the next waiting refresh, so never more than `concurrency` run.
  let active = 0
  const waiting: (() => void)[] = []
  const release = () => {
    const next = waiting.shift()
    if (next) next()
    else active--
  }
  function limited<T>(fn: () => Promise<T>): Promise<T> {
    const start = () => fn().finally(release)
    if (active < concurrency) {
      active++
      return start()
    }
    return new Promise<void>((r) => waiting.push(r)).then(start)
  }
  const now = o.now ?? Date.now
  /** tenant → its recent reads by target, least recently read first; a tenant's count is its map's size. */
  const reads = new Map<string, Map<string, Read>>()
  let total = 0
  const forget = (tenant: string, target: string): void => {
    const mine = reads.get(tenant)
    if (!mine?.delete(target)) return
    total--
    if (mine.size === 0) reads.delete(tenant)
  }
  const byBatch = new WeakMap<readonly LogEntry[], Promise<void>>()
  const counts = { refreshed: 0, skipped: 0, failed: 0 }
  const running = new Set<Promise<void>>()
  let load: RefreshLoad | undefined

  function refresh(entries: readonly LogEntry[]): Promise<void> {
    const known = byBatch.get(entries)
    if (known) return known
    const tenants = new Set<string>()
    for (const e of entries) if (INVALIDATING.has(e.kind)) tenants.add(e.tenant)
    const jobs: Promise<void>[] = []
    if (load && tenants.size > 0) {
      const since = now() - windowMs
      const run = load
      for (const [tenant, mine] of reads) {
        const invalidated = tenants.has(tenant)
        for (const [target, r] of mine) {
          if (r.at < since) {
            forget(tenant, target)
            continue
          }
          if (!invalidated) continue
          jobs.push(
            limited(() => run(tenant, r.info)).then(
              (fetched) => void (fetched ? counts.refreshed++ : counts.skipped++),
              () => void counts.failed++,
            ),
          )
        }
      }
    }
    const done = jobs.length === 0 ? Promise.resolve() : Promise.all(jobs).then(() => {})
    if (jobs.length > 0) {
      running.add(done)
      void done.finally(() => running.delete(done))
    }
    byBatch.set(entries, done)
    return done
  }

  // Refreshes run whether or not anything follows `log` (a gateway without a hub still gains).
  const unsubscribe = log.subscribe({ entries: (es) => void refresh(es), gap: () => {} }, 'now')

  function bounded(p: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const limit = new Promise<void>((r) => {
      timer = setTimeout(r, maxWaitMs)
    })
    return Promise.race([p, limit]).finally(() => clearTimeout(timer))
  }

  function subscribe(sub: LogSubscriber, fromId?: number | 'now'): () => void {
    // One chain per subscriber keeps its batches (and gaps) in log order.
    let chain = Promise.resolve()
    return log.subscribe(
      {
        entries(es) {
          const ready = refresh(es)
          chain = chain.then(() => bounded(ready)).then(() => sub.entries(es))
        },
        gap(g) {
          chain = chain.then(() => sub.gap(g))
        },
      },
      fromId,
    )
  }

  const view = new Proxy(log, {
    get(target, prop) {
      if (prop === 'subscribe') return subscribe
      const v = Reflect.get(target, prop, target)
      return typeof v === 'function' ? v.bind(target) : v
    },
  })

  return {
    log: view,
    record(tenant, info) {
      const h = info.headers
      if (info.method !== 'GET' || h.authorization !== undefined || h.cookie !== undefined || h.range !== undefined) return
      const headers = { ...h }
      for (const name of NOT_REPLAYED) delete headers[name]
      forget(tenant, info.target)
      let mine = reads.get(tenant)
      if (mine === undefined) reads.set(tenant, (mine = new Map()))
      mine.set(info.target, { info: { ...info, headers }, at: now() })
      total++
      if (total > maxReads) {
        let biggest = tenant
        let most = mine
        for (const [t, theirs] of reads)
          if (theirs.size > most.size) {
            biggest = t
            most = theirs
          }
        // Its least recently read entry (insertion order is recency).
        forget(biggest, most.keys().next().value as string)
      }
    },
    attach(l) {
      load = l
    },
    stats: () => ({ ...counts }),
    idle: () => Promise.all([...running]).then(() => {}),
    close() {
      unsubscribe()
      reads.clear()
      total = 0
    },
  }
}
