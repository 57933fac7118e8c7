/**
 * `larder/gateway`: a caching reverse proxy in front of any origin (Rails, Go, Odoo,
 * Vendure …) with tenant resolution, the purge API and mountable Larder routes.
 *
 * ```ts
 * import { createCache } from 'larder'
 * import { createGateway } from 'larder/gateway'
 * import { createAuthorizer } from 'larder/…'
 * const gw = createGateway({ origin: 'http://127.0.0.1:3000', cache: createCache(), auth, tenantHeader: 'x-tenant-id' })
 * await gw.listen(8080)
 * ```
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { pino, type Logger } from 'pino'
import type { Purger } from '../admin/purge.ts'
import type { Cache } from '../core/api.ts'
import type { Authorizer } from '../core/auth.ts'
import { traces } from '../core/diagnostics.ts'
import { isLarderError } from '../core/errors.ts'
import { type LarderRoute, sendError } from '../core/route.ts'
import { createHttpCache, type HttpCache, type HttpCacheOptions } from '../http/engine.ts'
import type { RoutePolicy } from '../http/routes.ts'
import { clientServerOptions, limitConnectionsPerClient } from './limits.ts'
import { isTrusted, parseTrustProxy, peerAddress } from './forwarded.ts'
import { createGatewayPurger } from './purge.ts'
import { CachingProxy } from './proxy.ts'
import { reservedTarget } from './request-guard.ts'
import { isAuthority } from '../http/headers.ts'
import { checkRequestHead } from './request-head.ts'
import { createTenantResolver } from './tenant.ts'
import type { InvalidationRefresher } from './refresh-on-invalidation.ts'

export { createTenantResolver, type TenantResolver, type TenantResolverOptions } from './tenant.ts'
export { loadGatewayConfig, type GatewayConfigFile } from './config.ts'
export { createInvalidationRefresher, type InvalidationRefresher, type RefresherOptions } from './refresh-on-invalidation.ts'
export { assembleGateway, type GatewayParts, type GatewayPartsOptions } from './assemble.ts'

export interface GatewayOptions {
  /** Origin base URL, e.g. `http://127.0.0.1:3000`. */
  origin: string
  cache: Cache
  /** Header carrying the tenant id. Default: none. */
  tenantHeader?: string
  /** Host → tenant map (`*.shop.example` matches one subdomain level). */
  hosts?: Record<string, string>
  /**
   * The host part of every cache key and of URL purges given as paths: the shop's public host
   * (one for every tenant, or tenant → host). Default: the request's Host, so instances reached
   * under different names or ports keep separate entries; set it so a fleet shares them.
   */
  keyHost?: string | Record<string, string>
  /** Tenant when neither header nor host map gives one. Default `default`. */
  defaultTenant?: string
  /** Mounted handlers (SSE hub, admin API, event ingest, metrics), tried in order before proxying. */
  routes?: LarderRoute[]
  /** Only paths starting with one of these are offered to `routes` (keeps the hit path short). Default `['/_larder/', '/metrics']`. */
  routePrefixes?: string[]
  /** Tokens for purge (401 without, 403 without the scope). Without it purging is refused. */
  auth?: Authorizer
  /** Audit log of purges (pino). Default: pino to stdout, name `larder-gateway`. */
  logger?: Logger
  /** Per-route cache policies. */
  policies?: readonly RoutePolicy[] | Record<string, Omit<RoutePolicy, 'path'>>
  /** Engine options (name, maxBodyBytes, targets, keepStale, etag, xCache, heuristics). */
  http?: Omit<HttpCacheOptions, 'cache' | 'routes'>
  /** Longer request targets get 414. Default 8192. */
  maxUrlLength?: number
  /** Larger request header blocks get 431 (node's parser). Default 16384. */
  maxHeaderSize?: number
  /** A client must send its whole header block within this (ms), else 408 and close. Default 20 000. */
  clientHeadersTimeout?: number
  /** A client must send its whole request (headers and body) within this (ms), else 408. Default 60 000; 0 disables. */
  clientRequestTimeout?: number
  /** Open connections one client address may hold; past it 503 and close. Default 256; 0 disables. */
  maxConnectionsPerClient?: number
  /** Origin header / body-idle timeouts (ms). Default 30s each. */
  headersTimeout?: number
  bodyTimeout?: number
  /** Keep-alive connections to the origin. Default 64. */
  connections?: number
  preserveHost?: boolean
  /**
   * Proxies (IPs / CIDRs, a list or one comma-separated string) whose X-Forwarded-*,
   * Forwarded and X-Real-IP fields are believed. From any other peer they are replaced by the
   * gateway's own view (gateway/forwarded.ts). Default: none.
   */
  trustProxy?: string | readonly string[]
  /**
   * Refresh on invalidation (gateway/refresh-on-invalidation.ts): recently read entries that an
   * invalidation removed are fetched again at once; give its `log` to the SSE hub so events go
   * out after those refreshes. Built on the same `cache`.
   */
  refresher?: InvalidationRefresher
  /** Closed with the gateway (CDN forwarders, SSE hub …). */
  closeables?: { close(): unknown }[]
  onError?: (err: unknown, context: string) => void
}

export interface Gateway {
  server: Server
  http: HttpCache
  /** The purge handler (POST /_larder/purge and PURGE); give it to the admin API mounted here. */
  purger: Purger
  /** The `refresher` option (refresh on invalidation), if given. */
  refresher: InvalidationRefresher | undefined
  listen(port: number, host?: string): Promise<AddressInfo>
  close(): Promise<void>
}

export function createGateway(o: GatewayOptions): Gateway {
  if (typeof o.origin !== 'string' || !/^https?:\/\//.test(o.origin)) throw new TypeError(`origin must be an http(s) URL, got ${JSON.stringify(o.origin)}`)
  const serverOptions = clientServerOptions(o)
  const http = createHttpCache({ ...o.http, cache: o.cache, routes: o.policies })
  const keyHost = keyHostOf(o.keyHost)
  const proxy = new CachingProxy({
    origin: o.origin,
    http,
    keyHost,
    connections: o.connections,
    headersTimeout: o.headersTimeout,
    bodyTimeout: o.bodyTimeout,
    preserveHost: o.preserveHost,
    forwarding: { trust: parseTrustProxy(o.trustProxy), ownToken: o.auth === undefined ? undefined : (h) => (o.auth as Authorizer).authenticate(h) !== null },
    stripSurrogateKeys: o.http?.stripSurrogateKeys,
    onRead: o.refresher ? (tenant, info) => o.refresher?.record(tenant, info) : undefined,
    onError: o.onError,
  })
  o.refresher?.attach((tenant, info) => proxy.refresh(tenant, info))
  const purger = createGatewayPurger({ http, auth: o.auth, logger: o.logger ?? pino({ name: 'larder-gateway' }), hosts: o.hosts, keyHost })
  const resolve = createTenantResolver({ header: o.tenantHeader, hosts: o.hosts, fallback: o.defaultTenant })
  const routes = o.routes ?? []
  const prefixes = o.routePrefixes ?? ['/_larder/', '/metrics']
  const maxUrl = o.maxUrlLength ?? 8192

  // Not async: the common (proxied) path returns the proxy's promise without another wrapper.
  function handle(req: IncomingMessage, res: ServerResponse): Promise<void> | void {
    // Host and Connection first: every route and the cache key read them (request-head.ts).
    const badHead = checkRequestHead(req)
    if (badHead !== undefined) return sendError(res, 'E_BAD_REQUEST', badHead)
    let target = req.url ?? '/'
    if (target.length > maxUrl) return sendError(res, 'E_URI_TOO_LONG', `the request target is ${target.length} characters long; the limit is ${maxUrl}`)
    if (!target.startsWith('/')) {
      // absolute-form (RFC 9112 §3.2.2): keep path and query only.
      if (/^https?:\/\//i.test(target)) {
        try {
          const u = new URL(target)
          target = u.pathname + u.search
        } catch {
          return sendError(res, 'E_BAD_REQUEST', 'malformed request target')
        }
      } else if (!(target === '*' && req.method === 'OPTIONS')) return sendError(res, 'E_BAD_REQUEST', 'malformed request target')
    }
    // The reserved /_larder namespace in any spelling is answered here, never forwarded.
    const reserved = reservedTarget(target)
    if (reserved !== undefined) target = reserved
    let tenant: string
    try {
      tenant = resolve(req)
    } catch (err) {
      // A mounted route may not need the request's tenant (a signed stream token names its
      // own, which wins over any header): it gets no tenant and refuses what needs one.
      if (routes.length > 0 && req.method !== 'PURGE' && underPrefix(target) && !target.startsWith('/_larder/purge')) return mounted(req, res, '', target, err)
      return sendError(res, isLarderError(err) ? err.code : 'E_BAD_REQUEST', `tenant: ${(err as Error).message}`)
    }
    if (req.method === 'PURGE') return purger.method(req, res, tenant, target)
    if (target === '/_larder/purge' || target.startsWith('/_larder/purge?')) {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST')
        return sendError(res, 'E_METHOD_NOT_ALLOWED', 'use POST /_larder/purge')
      }
      return purger.post(req, res, tenant)
    }
    if (routes.length > 0 && underPrefix(target)) return mounted(req, res, tenant, target)
    if (reserved !== undefined) return notFound(res, target)
    return proxy.handle(req, res, tenant, target)
  }

  function underPrefix(target: string): boolean {
    for (let i = 0; i < prefixes.length; i++) if (target.startsWith(prefixes[i] as string)) return true
    return false
  }

  async function mounted(req: IncomingMessage, res: ServerResponse, tenant: string, target: string, tenantError?: unknown): Promise<void> {
    const url = new URL(target, `http://${req.headers.host || 'localhost'}`)
    for (const r of routes) if (await r(req, res, { tenant, url })) return
    // Never proxied without a valid tenant.
    if (tenantError !== undefined) return sendError(res, isLarderError(tenantError) ? tenantError.code : 'E_BAD_REQUEST', `tenant: ${(tenantError as Error).message}`)
    if (reservedTarget(target) !== undefined) return notFound(res, target)
    return proxy.handle(req, res, tenant, target)
  }

  function notFound(res: ServerResponse, target: string): void {
    const q = target.indexOf('?')
    sendError(res, 'E_NOT_FOUND', `nothing answers ${JSON.stringify((q < 0 ? target : target.slice(0, q)).slice(0, 200))}: paths under /_larder are the gateway's own and never forwarded to the origin`)
  }

  function fail(res: ServerResponse, err: unknown): void {
    o.onError?.(err, 'gateway')
    if (!res.headersSent) sendError(res, 'E_INTERNAL', 'internal error')
    else res.destroy()
  }

  const server = createServer({ maxHeaderSize: o.maxHeaderSize ?? 16384, ...serverOptions, keepAliveTimeout: 5_000 }, (req, res) => {
    // No named closure per request: under tsx every named function costs a __name() call.
    try {
      // A span per request (larder/tracing) when someone listens to the request channel.
      const done = traces.request.hasSubscribers ? traces.request.tracePromise(async () => handle(req, res), { method: req.method ?? '', target: req.url ?? '', res }) : handle(req, res)
      done?.catch((err) => fail(res, err))
    } catch (err) {
      fail(res, err)
    }
  })
  // Trusted proxies carry many clients on their connections: not capped per address.
  const trustedPeers = parseTrustProxy(o.trustProxy)
  limitConnectionsPerClient(server, o.maxConnectionsPerClient, (addr) => isTrusted(trustedPeers, peerAddress(addr)))
  // Malformed requests (smuggling attempts, oversized headers) are rejected by node's
  // parser; answer with the status it chose instead of dropping the socket silently.
  server.on('clientError', (err: NodeJS.ErrnoException & { bytesParsed?: number }, socket) => {
    if (!socket.writable) return socket.destroy()
    // ERR_HTTP_REQUEST_TIMEOUT: clientHeadersTimeout / clientRequestTimeout passed (gateway/limits.ts).
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'HPE_URI_OVERFLOW' ? 414 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
    const text = status === 431 ? 'Request Header Fields Too Large' : status === 414 ? 'URI Too Long' : status === 408 ? 'Request Timeout' : 'Bad Request'
    socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`)
  })

  return {
    server,
    http,
    purger,
    refresher: o.refresher,
    listen(port, host = '127.0.0.1') {
      return new Promise((resolveListen, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => {
          server.off('error', reject)
          resolveListen(server.address() as AddressInfo)
        })
      })
    },
    async close() {
      await new Promise<void>((r) => {
        server.close(() => r())
        server.closeAllConnections()
      })
      await proxy.close()
      for (const c of o.closeables ?? []) await c.close()
    },
  }
}

/** Validates `keyHost` (each an RFC 3986 authority) into tenant → host, or undefined for the request's Host. */
export function keyHostOf(v: string | Record<string, string> | undefined): ((tenant: string) => string | undefined) | undefined {
  if (v === undefined) return undefined
  const check = (h: unknown, where: string): string => {
    if (typeof h !== 'string' || !isAuthority(h)) throw new TypeError(`${where} must be a host name or IP address with an optional :port, got ${JSON.stringify(h)}`)
    return h.toLowerCase()
  }
  if (typeof v === 'string') {
    const h = check(v, 'keyHost')
    return () => h
  }
  if (v === null || typeof v !== 'object') throw new TypeError('keyHost must be a host or a { tenant: host } map')
  const m = new Map(Object.entries(v).map(([t, h]) => [t, check(h, `keyHost.${t}`)]))
  return (tenant) => m.get(tenant)
}
