/**
 * `larder gateway --origin URL --port N [--host H] [--redis URL] [--config larder.yaml]
 *  [--tenant-header X-Tenant-Id] [--admin-token T]`
 * Every flag also reads an environment variable (LARDER_ORIGIN, LARDER_PORT, LARDER_HOST,
 * LARDER_REDIS_URL, LARDER_CONFIG, LARDER_TENANT_HEADER, LARDER_ADMIN_TOKEN, LARDER_WORKERS);
 * flags win over the environment, which wins over the config file. `--workers N` (N > 1)
 * runs N processes on one port (node:cluster) and needs `--redis`: entries and
 * invalidations are shared through it, as between gateway instances.
 * The SSE stream: `--stream-secret S` (LARDER_STREAM_SECRET, config `stream.secret`) signs
 * stream tokens; `--stream-anonymous` (LARDER_STREAM_ANONYMOUS=1, config `stream.anonymous`)
 * also allows streams without one, the default only when no secret is configured.
 * Request safety: `--trust-proxy LIST` (LARDER_TRUST_PROXY, config `trust_proxy`) names the
 * proxies whose X-Forwarded-* / Forwarded fields are believed; `--client-headers-timeout MS`,
 * `--client-request-timeout MS` (config `timeouts.client_headers` / `client_request`) and
 * `--max-connections-per-client N` (config `max_connections_per_client`) bound slow and
 * greedy clients (docs/http.md, "Requests the gateway refuses or rewrites").
 * Config `event_sources` (a Redis stream consumer group, pub/sub channels) feeds the config's
 * rules over the gateway's Redis (gateway/event-sources.ts).
 * @module
 */
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { parse as parseYaml } from 'yaml'
import type { Cache, CacheOptions } from '../core/api.ts'
import { type Authorizer, createAuthorizer, type TokenConfig, tokensFromEnv } from '../core/auth.ts'
import { createCache } from '../core/cache.ts'
import type { LarderRoute } from '../core/route.ts'
import type { RulesSpec } from '../events/index.ts'
import type { HttpCache } from '../http/engine.ts'
import { assembleGateway, type GatewayParts } from '../gateway/assemble.ts'
import { type GatewayConfigFile, loadGatewayConfig } from '../gateway/config.ts'
import { startEventSources } from '../gateway/event-sources.ts'
import { parseTrustProxy } from '../gateway/forwarded.ts'
import { createGateway, type Gateway } from '../gateway/index.ts'
import { createInvalidationRefresher } from '../gateway/refresh-on-invalidation.ts'
import { createForwarders, type ForwarderSpec } from '../http/cdn/index.ts'
import { limitReports } from '../core/report-limit.ts'
import { joinNegativeValues, listenErrorMessage, parsePort } from './args.ts'

const USAGE = `usage: larder gateway --origin http://127.0.0.1:3000 [--port 8080] [--host 127.0.0.1]
                      [--redis redis://127.0.0.1:6379] [--config larder.yaml]
                      [--tenant-header X-Tenant-Id] [--admin-token TOKEN] [--workers N]
                      [--stream-secret SECRET] [--stream-anonymous] [--trust-proxy IP/CIDR,...] [--key-host HOST]
                      [--client-headers-timeout MS] [--client-request-timeout MS]
                      [--max-connections-per-client N] [--refresh-on-invalidation]`

export async function run(argv: string[]): Promise<number | undefined> {
  let args: ReturnType<typeof parse>
  try {
    args = parse(argv)
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`)
    return 2
  }
  if (args.values.help) {
    console.log(USAGE)
    return 0
  }
  const env = process.env
  const configPath = args.values.config ?? env.LARDER_CONFIG
  let file: GatewayConfigFile = {}
  try {
    if (configPath) file = loadGatewayConfig(configPath)
  } catch (err) {
    console.error((err as Error).message)
    return 2
  }
  const origin = args.values.origin ?? env.LARDER_ORIGIN ?? file.origin
  if (!origin) {
    console.error(`--origin (or LARDER_ORIGIN, or origin: in the config file) is required\n${USAGE}`)
    return 2
  }
  const portText = args.values.port ?? env.LARDER_PORT ?? String(file.port ?? 8080)
  let port: number
  try {
    port = parsePort(portText)
  } catch (err) {
    console.error((err as Error).message)
    return 2
  }
  const host = args.values.host ?? env.LARDER_HOST ?? file.host ?? '127.0.0.1'
  const tenantHeader = args.values['tenant-header'] ?? env.LARDER_TENANT_HEADER ?? file.tenant_header
  const redisUrl = args.values.redis ?? env.LARDER_REDIS_URL ?? file.redis
  const adminToken = args.values['admin-token'] ?? env.LARDER_ADMIN_TOKEN
  const workersText = args.values.workers ?? env.LARDER_WORKERS ?? '1'
  const workers = Number(workersText)
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    console.error(`--workers must be an integer 1-64, got "${workersText}"`)
    return 2
  }
  if (workers > 1 && !redisUrl) {
    // Each worker has its own L1 and would not see the others' purges without a shared log.
    console.error('--workers > 1 needs --redis: workers share entries and invalidations through Redis')
    return 2
  }
  let stream: StreamSettings
  try {
    stream = streamSettings(args.values['stream-secret'], args.values['stream-anonymous'], env, file)
  } catch (err) {
    console.error((err as Error).message)
    return 2
  }
  let limits: RequestLimits
  try {
    limits = requestLimits(args.values, env, file)
  } catch (err) {
    console.error((err as Error).message)
    return 2
  }
  if (workers > 1 && cluster.isPrimary) return primary(workers, origin, redisUrl as string)
  const tokens: TokenConfig[] = [...(file.tokens ?? []), ...tokensFromEnv({ ...env, LARDER_ADMIN_TOKEN: undefined })]
  if (adminToken) tokens.push({ name: 'admin', token: adminToken, scopes: ['admin'] })

  const cacheOptions: CacheOptions = {}
  const closeables: { close(): unknown }[] = []
  if (redisUrl) {
    const redis = await import('../redis/index.ts')
    cacheOptions.l2 = redis.redisStore({ url: redisUrl })
    cacheOptions.log = redis.redisLog({ url: redisUrl })
  }
  let gw: ReturnType<typeof createGateway>
  try {
    const auth = createAuthorizer(tokens)
    const cache = createCache(cacheOptions)
    closeables.push(cache)
    const refresh = args.values['refresh-on-invalidation'] === true || env.LARDER_REFRESH_ON_INVALIDATION === '1' || file.cache?.refresh_on_invalidation === true
    const refresher = refresh ? createInvalidationRefresher({ cache }) : undefined
    if (refresher) closeables.unshift(refresher)
    if (file.forwarders?.length) closeables.unshift(createForwarders(cache.log, file.forwarders as unknown as ForwarderSpec[], { onError: (err, f) => console.error(`[gateway] ${f} purge forwarding failed: ${(err as Error).message}`) }))
    // Filled once the gateway (and its HTTP engine) exists; the gateway reads this array per request.
    const routes: LarderRoute[] = []
    gw = createGateway({
      origin,
      cache,
      auth: tokens.length > 0 ? auth : undefined,
      tenantHeader,
      hosts: file.hosts,
      refresher,
      keyHost: (args.values['key-host'] as string | undefined) ?? (env.LARDER_KEY_HOST || undefined),
      defaultTenant: file.default_tenant,
      policies: file.routes,
      routes,
      headersTimeout: file.timeouts?.headers,
      bodyTimeout: file.timeouts?.body,
      ...limits,
      http: {
        maxBodyBytes: file.cache?.max_body_bytes,
        keepStale: file.cache?.keep_stale,
        targets: file.cache?.targets,
        name: file.cache?.name,
        etag: file.cache?.etag,
      },
      closeables,
      onError: (err, where) => {
        if (env.LARDER_DEBUG) console.error(`[gateway] ${where}:`, err)
      },
    })
    const parts = mountParts(routes, cache, auth, gw, file, closeables, stream)
    // The config's event sources (a stream consumer group, pub/sub channels) feed the parts' processor; they close first.
    // Bad messages come from outside: one line per source per 10 s, with a count of the rest.
    const onEventError = limitReports((err, where, suppressed) => console.error(`[gateway] ${where}: ${(err as Error).message}${suppressed > 0 ? ` (and ${suppressed} more since the last report)` : ''}`))
    closeables.unshift(...startEventSources(file.event_sources ?? {}, { redisUrl, processor: parts.processor, cache, onError: onEventError }))
  } catch (err) {
    console.error((err as Error).message)
    // What was opened (the cache's Redis connections) must not keep the process alive.
    for (const c of closeables) await Promise.resolve(c.close()).catch(() => {})
    return 2
  }
  let addr: Awaited<ReturnType<typeof gw.listen>>
  try {
    addr = await gw.listen(port, host)
  } catch (err) {
    console.error(`larder gateway: ${listenErrorMessage(err, port, host)}`)
    await gw.close().catch(() => {})
    if (cluster.isWorker) process.disconnect()
    return 1
  }
  if (cluster.isWorker) process.send?.({ larder: 'listening', address: addr.address, port: addr.port })
  else console.log(`larder gateway on http://${addr.address}:${addr.port} → ${origin}${redisUrl ? ` (redis ${redisUrl})` : ''}`)
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      gw.close().then(resolve, resolve)
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  // A cluster worker stays alive while its IPC channel is open.
  if (cluster.isWorker) process.disconnect()
  return 0
}

/** Cluster primary: forks the workers (they share the port), reports once all listen, stops them on SIGINT/SIGTERM. */
async function primary(n: number, origin: string, redisUrl: string): Promise<number> {
  const ready: Promise<{ address: string; port: number }>[] = []
  for (let i = 0; i < n; i++) {
    const w = cluster.fork()
    ready.push(
      new Promise((resolve, reject) => {
        w.on('message', (m: { larder?: string; address: string; port: number }) => {
          if (m?.larder === 'listening') resolve(m)
        })
        w.once('exit', (code) => reject(new Error(`worker exited with ${code} before listening`)))
      }),
    )
  }
  let addr: { address: string; port: number }
  try {
    addr = (await Promise.all(ready))[0] as { address: string; port: number }
  } catch (err) {
    console.error((err as Error).message)
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM')
    return 2
  }
  console.log(`larder gateway on http://${addr.address}:${addr.port} → ${origin} (${n} workers, redis ${redisUrl})`)
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      const alive = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined)
      let left = alive.length
      if (left === 0) return resolve()
      for (const w of alive) {
        w.once('exit', () => {
          if (--left === 0) resolve()
        })
        w.process.kill('SIGTERM')
      }
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  return 0
}

function parse(argv: string[]) {
  return parseArgs({
    args: joinNegativeValues(argv),
    options: {
      origin: { type: 'string' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      redis: { type: 'string' },
      config: { type: 'string', short: 'c' },
      'tenant-header': { type: 'string' },
      'admin-token': { type: 'string' },
      workers: { type: 'string', short: 'w' },
      // The SSE stream's tokens.
      'stream-secret': { type: 'string' },
      'stream-anonymous': { type: 'boolean' },
      // Request safety (gateway/forwarded.ts, gateway/limits.ts).
      'trust-proxy': { type: 'string' },
      'key-host': { type: 'string' },
      'client-headers-timeout': { type: 'string' },
      'client-request-timeout': { type: 'string' },
      'max-connections-per-client': { type: 'string' },
      // Re-fetch recently read responses an invalidation removed (gateway/refresh-on-invalidation.ts).
      'refresh-on-invalidation': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  })
}

/**
 * Mounts the other parts on the gateway (gateway/assemble.ts): the SSE hub, the admin API
 * and dashboard, the Prometheus exporter and event ingest with the config's `rules` plus
 * one rule per `invalidate_on` event of the route policies.
 */
function mountParts(routes: LarderRoute[], cache: Cache, auth: Authorizer, gw: Gateway, file: GatewayConfigFile, closeables: { close(): unknown }[], stream: StreamSettings): GatewayParts {
  const parts = assembleGateway({ cache, gateway: gw, auth, routes, stream, rules: rulesFor(file, gw.http) })
  closeables.unshift(parts)
  return parts
}

interface RequestLimits {
  trustProxy?: string | readonly string[]
  clientHeadersTimeout?: number
  clientRequestTimeout?: number
  maxConnectionsPerClient?: number
}

/** Trusted proxies and client limits: flag, then env, then config; each validated with the flag's name. */
function requestLimits(v: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv, file: GatewayConfigFile): RequestLimits {
  const int = (flag: string, envName: string, fromFile: number | undefined): number | undefined => {
    const text = (v[flag] as string | undefined) ?? (env[envName] || undefined)
    if (text === undefined) return fromFile
    if (!/^\d+$/.test(text.trim())) throw new Error(`--${flag} (${envName}) must be a non-negative integer, got "${text}"`)
    return Number(text)
  }
  const trustProxy = (v['trust-proxy'] as string | undefined) ?? (env.LARDER_TRUST_PROXY || undefined) ?? file.trust_proxy
  parseTrustProxy(trustProxy, '--trust-proxy (LARDER_TRUST_PROXY, trust_proxy)')
  const clientHeadersTimeout = int('client-headers-timeout', 'LARDER_CLIENT_HEADERS_TIMEOUT', file.timeouts?.client_headers)
  if (clientHeadersTimeout === 0) throw new Error('--client-headers-timeout (LARDER_CLIENT_HEADERS_TIMEOUT, timeouts.client_headers) must be positive')
  return {
    trustProxy,
    clientHeadersTimeout,
    clientRequestTimeout: int('client-request-timeout', 'LARDER_CLIENT_REQUEST_TIMEOUT', file.timeouts?.client_request),
    maxConnectionsPerClient: int('max-connections-per-client', 'LARDER_MAX_CONNECTIONS_PER_CLIENT', file.max_connections_per_client),
  }
}

interface StreamSettings {
  secret: string | undefined
  anonymous: boolean
}

/**
 * The stream's token secret and whether anonymous streams are allowed (flag, then env, then
 * config). Anonymous streams are allowed by default only without a secret: with one, a
 * client could otherwise skip the token and pick any tenant with the tenant header.
 */
function streamSettings(flagSecret: string | undefined, flagAnonymous: boolean | undefined, env: NodeJS.ProcessEnv, file: GatewayConfigFile): StreamSettings {
  const secret = flagSecret ?? (env.LARDER_STREAM_SECRET || undefined) ?? file.stream?.secret
  if (secret !== undefined && secret.length < 16) throw new Error('--stream-secret (LARDER_STREAM_SECRET, stream.secret) must be at least 16 characters')
  const envAnon = env.LARDER_STREAM_ANONYMOUS || undefined
  if (envAnon !== undefined && !/^(1|0|true|false)$/i.test(envAnon)) throw new Error(`LARDER_STREAM_ANONYMOUS must be 1, 0, true or false, got "${envAnon}"`)
  const anonymous = flagAnonymous ?? (envAnon !== undefined ? /^(1|true)$/i.test(envAnon) : undefined) ?? file.stream?.anonymous ?? secret === undefined
  if (!anonymous && secret === undefined) throw new Error('anonymous streams are off but no --stream-secret (LARDER_STREAM_SECRET, stream.secret) is set: no stream could be opened')
  return { secret, anonymous }
}

/** The config's rules (inline or a file path) merged with the routes' `invalidate_on` events. */
function rulesFor(file: GatewayConfigFile, http: HttpCache): RulesSpec | undefined {
  let spec: RulesSpec | undefined
  if (typeof file.rules === 'string') spec = parseYaml(readFileSync(file.rules, 'utf8')) as RulesSpec
  else if (file.rules) spec = file.rules as RulesSpec
  const fromRoutes = http.eventTags()
  if (!spec && Object.keys(fromRoutes).length === 0) return undefined
  const out: RulesSpec = { version: 1, events: { ...(spec?.events ?? {}) } }
  for (const [event, tags] of Object.entries(fromRoutes)) {
    const rule = { ...(out.events[event] ?? {}) }
    const prev = rule.invalidate
    const prevTags = prev === undefined ? [] : Array.isArray(prev) ? prev : ((prev as { tags?: readonly string[] }).tags ?? [])
    const prevKeys = prev !== undefined && !Array.isArray(prev) ? (prev as { keys?: readonly string[] }).keys : undefined
    rule.invalidate = prevKeys ? { tags: [...prevTags, ...tags], keys: prevKeys } : [...prevTags, ...tags]
    out.events[event] = rule
  }
  return out
}
