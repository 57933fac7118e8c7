/**
 * `larder gateway --origin URL --port N [--host H] [--redis URL] [--config larder.yaml]
 *  [--tenant-header X-Tenant-Id] [--admin-token T]`
 * Every flag also reads an environment variable (LARDER_ORIGIN, LARDER_PORT, LARDER_HOST,
 * LARDER_REDIS_URL, LARDER_CONFIG, LARDER_TENANT_HEADER, LARDER_ADMIN_TOKEN); flags win
 * over the environment, which wins over the config file.
 * @module
 */
import { parseArgs } from 'node:util'
import type { CacheOptions } from '../core/api.ts'
import { createAuthorizer, type TokenConfig, tokensFromEnv } from '../core/auth.ts'
import { createCache } from '../core/cache.ts'
import type { LarderRoute } from '../core/route.ts'
import { type GatewayConfigFile, loadGatewayConfig } from '../gateway/config.ts'
import { createGateway } from '../gateway/index.ts'
import { createForwarders, type ForwarderSpec } from '../http/cdn/index.ts'

const USAGE = `usage: larder gateway --origin http://127.0.0.1:3000 [--port 8080] [--host 127.0.0.1]
                      [--redis redis://127.0.0.1:6379] [--config larder.yaml]
                      [--tenant-header X-Tenant-Id] [--admin-token TOKEN]`

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
  const port = Number(portText)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be an integer 0-65535, got "${portText}"`)
    return 2
  }
  const host = args.values.host ?? env.LARDER_HOST ?? file.host ?? '127.0.0.1'
  const tenantHeader = args.values['tenant-header'] ?? env.LARDER_TENANT_HEADER ?? file.tenant_header
  const redisUrl = args.values.redis ?? env.LARDER_REDIS_URL ?? file.redis
  const adminToken = args.values['admin-token'] ?? env.LARDER_ADMIN_TOKEN
  const tokens: TokenConfig[] = [...(file.tokens ?? []), ...tokensFromEnv({ ...env, LARDER_ADMIN_TOKEN: undefined })]
  if (adminToken) tokens.push({ name: 'admin', token: adminToken, scopes: ['admin'] })

  const cacheOptions: CacheOptions = {}
  const closeables: { close(): unknown }[] = []
  if (redisUrl) {
    const redis = await import('../redis/index.ts')
    cacheOptions.l2 = redis.redisStore({ url: redisUrl } as never)
    cacheOptions.log = redis.redisLog({ url: redisUrl } as never)
  }
  let gw: ReturnType<typeof createGateway>
  try {
    const auth = createAuthorizer(tokens)
    const cache = createCache(cacheOptions)
    closeables.push(cache)
    if (file.forwarders?.length) closeables.unshift(createForwarders(cache.log, file.forwarders as unknown as ForwarderSpec[], { onError: (err, f) => console.error(`[gateway] ${f} purge forwarding failed: ${(err as Error).message}`) }))
    const routes: LarderRoute[] = await optionalRoutes(cache, auth, closeables)
    gw = createGateway({
      origin,
      cache,
      auth: tokens.length > 0 ? auth : undefined,
      tenantHeader,
      hosts: file.hosts,
      defaultTenant: file.default_tenant,
      policies: file.routes,
      routes,
      headersTimeout: file.timeouts?.headers,
      bodyTimeout: file.timeouts?.body,
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
  } catch (err) {
    console.error((err as Error).message)
    return 2
  }
  const addr = await gw.listen(port, host)
  console.log(`larder gateway on http://${addr.address}:${addr.port} → ${origin}${redisUrl ? ` (redis ${redisUrl})` : ''}`)
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      gw.close().then(resolve, resolve)
    }
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  return 0
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    options: {
      origin: { type: 'string' },
      port: { type: 'string', short: 'p' },
      host: { type: 'string' },
      redis: { type: 'string' },
      config: { type: 'string', short: 'c' },
      'tenant-header': { type: 'string' },
      'admin-token': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  })
}

/** Mounts the other parts (SSE hub, admin API, metrics) when present in this build. */
async function optionalRoutes(_cache: unknown, _auth: unknown, _closeables: { close(): unknown }[]): Promise<LarderRoute[]> {
  return []
}
