/**
 * The admin API, mountable on the gateway or any node:http server (a {@link LarderRoute}):
 *
 * - `GET  /_larder/stats[?tenant=]`   cache stats + rates, top keys/tags, alerts, TTL report (admin/read:stats; tenant:<id> for its own)
 * - `POST /_larder/purge`             `{ tenant?, tags?, keys?, urls?, soft? }` → `{ purged, id }`
 * - `POST /_larder/clear`             `{ tenant, namespace? }` → `{ purged, id }` (generation bump, O(1))
 * - `GET  /_larder/keys?tenant=&prefix=&cursor=&limit=`  bounded, paginated listing
 * - `POST /_larder/warm` `{ plan, wait? }`, `GET /_larder/warm`  warm plans and their progress
 * - `GET  /_larder/dashboard`, `GET /_larder/dashboard/feed` (SSE of snapshots)
 *
 * Every action is authorized with core/auth.ts `requireScope` and logged (pino): who, what,
 * tenant, how many. Purges go through the one purge handler (admin/purge.ts), shared with the
 * gateway's PURGE method; errors answer with their registry status (core/errors.ts).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { pino, type Logger } from 'pino'
import type { Cache, InvalidationResult } from '../core/api.ts'
import { type Authorizer, type Principal, requireGrant, requireScope, requireToken } from '../core/auth.ts'
import { isLarderError } from '../core/errors.ts'
import { type LarderRoute, readBody, sendError, sendJson } from '../core/route.ts'
import type { Clock, Store } from '../core/types.ts'
import type { Warmer } from '../warm/warmer.ts'
import { AlertEvaluator } from './alerts.ts'
import { DASHBOARD_HTML } from './dashboard-page.ts'
import { Monitor } from './monitor.ts'
import { createPurger, type PurgeWork, type Purger } from './purge.ts'
import { BadRequest, parseClear, parseJsonObject, parseKeysQuery, tenantField } from './requests.ts'

/** The parts of the SSE hub the admin API reads (stats for the dashboard). */
export interface HubLike {
  stats(): unknown
}

export interface AdminApiOptions {
  cache: Cache
  auth: Authorizer
  hub?: HubLike
  logger?: Logger
  warmer?: Warmer
  /** Store whose `keys()` lists keys (default: the cache's L2, else its L1, when they can list). */
  keyStore?: Store
  /** Largest page of GET /_larder/keys. Default 1000. */
  maxKeysPage?: number
  /**
   * The purge handler (admin/purge.ts) behind POST /purge. The gateway passes its own
   * (`gateway.purger`), which purges through its HTTP cache so `urls` work, so both answer
   * the same way and write the same audit line. Default: one that purges tags and keys with
   * `cache.invalidate` (or `purge`, when given) and refuses `urls`.
   */
  purger?: Purger
  /**
   * Carries out purges instead of `cache.invalidate` (auth, validation and the audit log stay
   * in the purge handler), e.g. `(tenant, input, host) => http.purge(tenant, input, host)`.
   * Ignored when `purger` is given.
   */
  purge?: (tenant: string, input: PurgeWork, host: string | undefined) => Promise<InvalidationResult>
  /** Path prefix. Default `/_larder`. */
  basePath?: string
  clock?: Clock
  /** Sample/feed interval. Default 1000 ms. */
  tickMs?: number
  /** Most concurrent dashboard feeds. Default 16. */
  maxFeeds?: number
  /** Per-rule threshold/for overrides of the in-process alerts (e.g. for a demo). */
  alerts?: Record<string, { threshold?: number; forMs?: number }>
  /** Count one read in N toward the top keys (see Monitor). Default 8. */
  sampleEvery?: number
  /** Request body limit. Default 1 MiB. */
  maxBodyBytes?: number
}

export interface AdminApi {
  route: LarderRoute
  /** The in-process view behind /_larder/stats and the dashboard. */
  monitor: Monitor
  close(): Promise<void>
}

/**
 * Instance ids of the caches with an admin API in this process. The monitor listens to the
 * process-wide diagnostics channels, so when several caches share a process (the demo's
 * in-process gateways) its rates, top lists and tenants cover all of them: the stats say so.
 */
const processInstances = new Map<string, number>()

/** Most bytes a dashboard feed may have unsent before it is dropped (a stuck client). */
const FEED_BUFFER = 1 << 20

export function createAdminApi(options: AdminApiOptions): AdminApi {
  const { cache, auth, hub, warmer } = options
  const base = options.basePath ?? '/_larder'
  const log = options.logger ?? pino({ name: 'larder-admin' })
  const maxKeysPage = options.maxKeysPage ?? 1000
  const maxBody = options.maxBodyBytes ?? 1 << 20
  const maxFeeds = options.maxFeeds ?? 16
  const monitor = new Monitor({ clock: options.clock, evaluator: new AlertEvaluator(undefined, options.alerts), sampleEvery: options.sampleEvery })
  const feeds = new Set<ServerResponse>()
  const keyStore = [options.keyStore, cache.l2, cache.l1].find((s): s is Store => typeof s?.keys === 'function')

  const tick = () => {
    monitor.tick()
    if (feeds.size === 0) return
    const frame = `event: stats\ndata: ${JSON.stringify(globalStats())}\n\n`
    for (const res of feeds) {
      // A client that does not read is dropped rather than buffered without bound.
      if (res.writableLength > FEED_BUFFER) {
        res.destroy()
        feeds.delete(res)
        continue
      }
      res.write(frame)
    }
  }
  let closed = false
  processInstances.set(cache.instanceId, (processInstances.get(cache.instanceId) ?? 0) + 1)
  const timer = setInterval(tick, options.tickMs ?? 1000)
  timer.unref()
  monitor.tick()

  function globalStats() {
    return {
      instanceId: cache.instanceId,
      /** Every instance whose traffic `monitor` covers (this process); `cache` is this instance's. */
      instances: [...processInstances.keys()].sort(),
      cache: cache.stats(),
      monitor: monitor.snapshot(),
      // TTL effectiveness per group (core/adaptive-ttl.ts); a key of its own, so older readers are unaffected.
      ...(cache.ttlReport ? { ttl: cache.ttlReport() } : {}),
      ...(hub ? { hub: hub.stats() } : {}),
      ...(warmer ? { warm: warmer.progress() } : {}),
    }
  }

  const purger =
    options.purger ??
    createPurger({
      auth,
      logger: log,
      maxBodyBytes: maxBody,
      urls: options.purge !== undefined,
      run: (tenant, work, host) => (options.purge ? options.purge(tenant, work, host) : cache.invalidate(tenant, { tags: work.tags, keys: work.keys, soft: work.soft })),
    })

  async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
    return parseJsonObject(await readBody(req, maxBody))
  }

  function audit(p: Principal, action: string, fields: Record<string, unknown>): void {
    log.info({ who: p.name, action, ...fields }, `admin ${action}`)
  }

  async function stats(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const raw = url.searchParams.get('tenant')
    if (raw !== null) {
      const tenant = tenantField(raw)
      const p = requireScope(req, res, auth, 'stats', tenant)
      if (!p) return
      const s = cache.stats()
      const snap = monitor.snapshot({ tenant })
      sendJson(res, 200, { tenant, counters: s.tenants[tenant] ?? null, monitor: { tenants: snap.tenants, topKeys: snap.topKeys, topTags: snap.topTags }, ...(cache.ttlReport ? { ttl: cache.ttlReport(tenant) } : {}) })
      return
    }
    if (!requireScope(req, res, auth, 'stats')) return
    sendJson(res, 200, globalStats())
  }

  async function clear(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // One token check: 401 before the body is read, 403 once it names the tenant.
    const p = requireToken(req, res, auth)
    if (!p) return
    const input = parseClear(await body(req))
    if (!requireGrant(res, auth, p, 'clear', input.tenant)) return
    const t = cache.tenant(input.tenant)
    const result: InvalidationResult = input.namespace === undefined ? await t.clear() : await t.namespace(input.namespace).bump()
    audit(p, 'clear', { tenant: input.tenant, namespace: input.namespace, purged: result.purged, id: result.id })
    // 202: applied here but queued for the shared log (other instances do not have it yet).
    sendJson(res, result.queued ? 202 : 200, { purged: result.purged, id: result.id, ...(result.queued ? { queued: true } : {}) })
  }

  async function keys(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const q = parseKeysQuery(url.searchParams, maxKeysPage)
    const p = requireScope(req, res, auth, 'keys', q.tenant)
    if (!p) return
    if (!keyStore?.keys) return sendError(res, 'E_NOT_CONFIGURED', 'no store that can list keys is configured (pass keyStore to createAdminApi)')
    const page = await keyStore.keys(q.tenant, q.prefix, { cursor: q.cursor, limit: q.limit })
    const keysOut = page.keys.slice(0, q.limit)
    audit(p, 'keys', { tenant: q.tenant, prefix: q.prefix, count: keysOut.length })
    sendJson(res, 200, { tenant: q.tenant, keys: keysOut, ...(page.cursor ? { cursor: page.cursor } : {}) })
  }

  async function warm(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET') {
      if (!requireScope(req, res, auth, 'stats')) return
      return sendJson(res, 200, { plans: warmer?.plans ?? [], progress: warmer?.progress() ?? [] })
    }
    const p = requireScope(req, res, auth, 'warm')
    if (!p) return
    const b = await body(req)
    if (!warmer) return sendError(res, 'E_NOT_CONFIGURED', 'no warmer is configured on this server')
    if (typeof b.plan !== 'string' || !warmer.plans.includes(b.plan)) throw new BadRequest(`"plan" must name a warm plan (plans: ${warmer.plans.join(', ') || 'none'})`)
    const job = warmer.run(b.plan, 'manual')
    audit(p, 'warm', { plan: b.plan })
    if (b.wait === true) return sendJson(res, 200, await job)
    job.catch((err) => log.warn({ err, plan: b.plan }, 'warm plan failed'))
    sendJson(res, 202, { plan: b.plan, started: true })
  }

  function feed(req: IncomingMessage, res: ServerResponse): void {
    if (!requireScope(req, res, auth, 'stats')) return
    if (feeds.size >= maxFeeds) {
      sendError(res, 'E_TOO_MANY_CONNECTIONS', `at most ${maxFeeds} dashboard feeds at a time`)
      return
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
    res.write(`retry: 2000\nevent: stats\ndata: ${JSON.stringify(globalStats())}\n\n`)
    feeds.add(res)
    const done = () => feeds.delete(res)
    res.on('close', done)
    req.on('close', done)
  }

  const route: LarderRoute = async (req, res, { tenant, url }) => {
    const path = url.pathname
    if (path !== base && !path.startsWith(base + '/')) return false
    const sub = path.slice(base.length)
    const method = req.method ?? 'GET'
    const want = (m: string): boolean => {
      if (method === m || (m === 'GET' && method === 'HEAD')) return true
      res.setHeader('allow', m)
      sendError(res, 'E_METHOD_NOT_ALLOWED', `${path} answers ${m} only`)
      return false
    }
    try {
      switch (sub) {
        case '/stats':
          if (want('GET')) await stats(req, res, url)
          return true
        case '/purge':
          if (want('POST')) await purger.post(req, res, tenant)
          return true
        case '/clear':
          if (want('POST')) await clear(req, res)
          return true
        case '/keys':
          if (want('GET')) await keys(req, res, url)
          return true
        case '/warm':
          if (method === 'GET' || want('POST')) await warm(req, res)
          return true
        case '/dashboard':
        case '/dashboard/':
          if (want('GET')) {
            res.writeHead(200, {
              'content-type': 'text/html; charset=utf-8',
              'cache-control': 'no-store',
              'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:",
            })
            res.end(DASHBOARD_HTML)
          }
          return true
        case '/dashboard/feed':
          if (want('GET')) feed(req, res)
          return true
        default:
          return false
      }
    } catch (err) {
      if (res.headersSent) {
        res.destroy()
        return true
      }
      // A LarderError answers with its code's status (core/errors.ts); anything else is a bug.
      if (isLarderError(err)) sendError(res, err.code, err.message)
      else {
        log.error({ err, path }, 'admin request failed')
        sendError(res, 'E_INTERNAL', 'the admin request failed; see the server log')
      }
      return true
    }
  }

  return {
    route,
    monitor,
    async close() {
      clearInterval(timer)
      if (closed) return
      closed = true
      const n = (processInstances.get(cache.instanceId) ?? 1) - 1
      if (n > 0) processInstances.set(cache.instanceId, n)
      else processInstances.delete(cache.instanceId)
      for (const res of feeds) res.end()
      feeds.clear()
      monitor.close()
    },
  }
}
