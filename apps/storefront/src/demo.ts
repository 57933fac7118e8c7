/**
 * The whole demo in one process: the shop's database (PGlite, or PostgreSQL with
 * DATABASE_URL), the origin API and page, change capture (triggers → rules → log), and one
 * or more caching gateways, each with the SSE hub, the admin API + dashboard and /metrics.
 *
 * With `redisUrl`, every gateway instance gets its own Redis connections (L2 store and
 * Stream log), exactly as separate processes would: an invalidation applied through one
 * reaches the others through Redis. Without it, one instance uses the embedded log.
 * @module
 */
import { randomBytes } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { type Cache, type InvalidationLog, type LarderRoute, type Store, createCache } from 'larder'
import { createAuthorizer } from 'larder/admin'
import { createEventProcessor, type EventProcessor } from 'larder/events'
import { assembleGateway, createGateway, type Gateway } from 'larder/gateway'
import { createMetrics, type Metrics } from 'larder/metrics'
import type { SseHub } from 'larder/realtime'
import { redisLog, redisStore } from 'larder/redis'
import { type ChangeFeed, startChangeFeed } from './change-feed.ts'
import { type Db, openDb } from './db/connect.ts'
import { migrateAndSeed, TENANTS, type TenantSeed } from './db/seed.ts'
import { createOrigin, type Origin, TENANT_HEADER } from './origin.ts'
import { pageRoute } from './page/serve.ts'

/** The host part of the demo gateways' cache keys (GatewayOptions.keyHost). */
const DEMO_KEY_HOST = 'storefront.demo'

export const RULES_FILE = fileURLToPath(new URL('../rules.yaml', import.meta.url))

/**
 * GET /_larder/demo on each gateway answers `{ app: DEMO_APP, gateways: [url, …] }`: how
 * `larder demo load` finds the demo that runs at the default address, and all its gateways
 * (it never sends its writes to a gateway that is not the demo's).
 */
export const DEMO_INFO_PATH = '/_larder/demo'
export const DEMO_APP = 'larder-storefront-demo'

export interface DemoOptions {
  /** Port of the first gateway (the next instances take the following ports; 0 = any free port). Default 8080. */
  port?: number
  host?: string
  /** Origin port. Default 0 (any free port). */
  originPort?: number
  /** Gateway instances. More than one needs `redisUrl`. Default 1. */
  instances?: number
  redisUrl?: string | undefined
  databaseUrl?: string | undefined
  dataDir?: string | undefined
  tenants?: readonly TenantSeed[]
  /** false: TTL-only caching (no change capture), to compare against. Default true. */
  events?: boolean
  /** Admin token (default: LARDER_ADMIN_TOKEN, else a random one printed at start). */
  adminToken?: string | undefined
  /** Progress lines (default: none). */
  log?: (line: string) => void
}

export interface DemoInstance {
  url: string
  cache: Cache
  gateway: Gateway
  hub: SseHub
}

export interface Demo {
  db: Db
  origin: Origin
  originUrl: string
  instances: DemoInstance[]
  processor: EventProcessor | undefined
  feed: ChangeFeed | undefined
  metrics: Metrics
  adminToken: string
  /** A read:stats token for the dashboard link on the page. */
  viewerToken: string
  dashboardUrl: string
  seedMs: number
  close(): Promise<void>
}

export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const say = options.log ?? (() => {})
  const host = options.host ?? '127.0.0.1'
  const instances = options.instances ?? 1
  if (!Number.isInteger(instances) || instances < 1 || instances > 8) throw new Error('instances must be an integer between 1 and 8')
  if (instances > 1 && !options.redisUrl) throw new Error('more than one gateway instance needs Redis: set REDIS_URL (e.g. REDIS_URL=redis://127.0.0.1:6379)')
  const tenants = options.tenants ?? TENANTS
  const closers: (() => Promise<unknown> | unknown)[] = []
  const close = async () => {
    for (const c of closers.reverse()) await Promise.resolve(c()).catch(() => {})
  }

  try {
    say(`database: ${options.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : 'embedded PostgreSQL (PGlite)'}…`)
    const db = await openDb({ url: options.databaseUrl ?? '', dataDir: options.dataDir })
    closers.push(() => db.close())
    const seed = await migrateAndSeed(db, tenants)
    say(seed.seeded ? `seeded ${tenants.length} shops in ${(seed.ms / 1000).toFixed(1)} s` : 'database already seeded')

    const adminToken = options.adminToken ?? (process.env.LARDER_ADMIN_TOKEN || `demo-${randomBytes(12).toString('hex')}`)
    const viewerToken = `view-${randomBytes(12).toString('hex')}`
    const auth = createAuthorizer([
      { name: 'demo-admin', token: adminToken, scopes: ['admin'] },
      { name: 'demo-viewer', token: viewerToken, scopes: ['read:stats'] },
    ])
    // One cache per gateway instance. With Redis each has its own connections, as separate processes would.
    const caches: Cache[] = []
    const runId = randomBytes(4).toString('hex')
    for (let i = 0; i < instances; i++) {
      let log: InvalidationLog | undefined
      let l2: Store | undefined
      if (options.redisUrl) {
        log = redisLog({ url: options.redisUrl, stream: `larder-demo-${runId}` })
        l2 = redisStore({ url: options.redisUrl })
      }
      const cache = createCache({ instanceId: `gateway-${i + 1}`, ...(log ? { log } : {}), ...(l2 ? { l2 } : {}) })
      caches.push(cache)
      closers.push(() => cache.close())
    }
    const first = caches[0] as Cache
    // One exporter for every instance (its counters are process-wide channels); its entries/bytes
    // gauges sum the instances' L1s. Unlike `larder gateway`, /metrics stays open on the demo
    // (its start line prints the link).
    const metrics = createMetrics({
      keyGroups: [{ name: 'api', prefix: 'GET ' }],
      stats: () => {
        let entries = 0
        let bytes = 0
        for (const c of caches) {
          const s = c.stats()
          entries += s.entries
          bytes += s.bytes
        }
        return { entries, bytes }
      },
    })
    closers.push(() => metrics.close())

    // Change capture: triggers → rules → the log (read by every instance, the hub, the dashboard).
    let processor: EventProcessor | undefined
    let feed: ChangeFeed | undefined
    if (options.events !== false) {
      const p = createEventProcessor({ cache: first, rules: RULES_FILE, onError: (err, ctx) => say(`events: ${ctx}: ${(err as Error).message}`) })
      processor = p
      closers.push(() => p.close?.())
      feed = await startChangeFeed({
        db,
        publish: (e) => p.publish(e),
        // A real server's LISTEN connection dropped: what came meanwhile is lost, so no instance's L1 may be trusted.
        cache: {
          distrust: (tenants) => {
            for (const c of caches) c.distrust(tenants)
          },
          tenant: (id) => first.tenant(id),
        },
        onError: (err, e) => say(`change feed: ${e?.type ?? 'payload'}: ${(err as Error).message}`),
      })
      const f = feed
      closers.push(() => f.close())
    }

    const origin = createOrigin({
      db,
      tenants: tenants.map((t) => t.id),
      ...(feed ? { awaitInvalidation: (token: string) => (feed as ChangeFeed).waitFor(token) } : {}),
      routes: [pageRoute({ dashboardLink: `/_larder/dashboard#token=${viewerToken}` })],
    })
    const { url: originUrl } = await origin.listen(options.originPort ?? 0, host)
    closers.push(() => origin.close())

    const out: DemoInstance[] = []
    const info: LarderRoute = (req, res, { url }) => {
      if (url.pathname !== DEMO_INFO_PATH || (req.method !== 'GET' && req.method !== 'HEAD')) return false
      const body = JSON.stringify({ app: DEMO_APP, gateways: out.map((i) => i.url), events: feed !== undefined })
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) })
      res.end(req.method === 'HEAD' ? undefined : body)
      return true
    }
    for (const [i, cache] of caches.entries()) {
      // Filled by assembleGateway once the gateway exists (the gateway reads it per request).
      const routes: LarderRoute[] = [info]
      const gateway = createGateway({
        origin: originUrl,
        cache,
        auth,
        tenantHeader: TENANT_HEADER,
        defaultTenant: tenants[0]?.id ?? 'default',
        // One shop behind several gateways: key entries by the shop's name, not each gateway's
        // host:port, so the instances share what they cache (and path purges reach all of it).
        keyHost: DEMO_KEY_HOST,
        routes,
      })
      // The same hub, admin API (purging through the gateway) and metrics route as `larder gateway`.
      const parts = assembleGateway({ cache, gateway, auth, routes, metrics })
      const hub = parts.hub
      closers.push(() => gateway.close(), () => parts.close())
      const port = options.port === undefined ? 8080 + i : options.port === 0 ? 0 : options.port + i
      const addr = await gateway.listen(port, host)
      out.push({ url: `http://${host}:${addr.port}`, cache, gateway, hub })
    }
    const dashboardUrl = `${(out[0] as DemoInstance).url}/_larder/dashboard#token=${adminToken}`

    return {
      db,
      origin,
      originUrl,
      instances: out,
      processor,
      feed,
      metrics,
      adminToken,
      viewerToken,
      dashboardUrl,
      seedMs: seed.ms,
      close,
    }
  } catch (err) {
    await close()
    throw err
  }
}
