/**
 * The caching reverse proxy: the request-side decisions (lookup, reuse, revalidation,
 * collapsing of concurrent misses) are larder/http's shared flow (http/handler.ts); this
 * file forwards to the origin through an undici Pool with keep-alive, revalidates with the
 * stored validators, and streams the origin's body to the client while it fills the cache.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Pool } from 'undici'
import { channels, traces } from '../core/diagnostics.ts'
import { sendError } from '../core/route.ts'
import { notModified, validatorsMatch } from '../http/conditional.ts'
import type { HttpCache, Prepared, RequestInfo } from '../http/engine.ts'
import { first, type HeaderRecord } from '../http/freshness.ts'
import { CacheFlow, type Load } from '../http/handler.ts'
import { cacheStatus, hopByHop, SURROGATE_FIELDS } from '../http/headers.ts'
import { isSafeMethod } from '../http/invalidation.ts'
import { matchRoute, type RouteMatch } from '../http/routes.ts'
import { type ForwardingOptions, upstreamView } from './forwarded.ts'

export interface ProxyOptions {
  origin: string
  http: HttpCache
  /** Keep-alive connections to the origin. Default 64. */
  connections?: number
  /** Origin must send headers within this (ms), else 504 (or stale-if-error). Default 30s. */
  headersTimeout?: number
  /** Max idle time between body chunks (ms). Default 30s. */
  bodyTimeout?: number
  /** Send the client's Host upstream instead of the origin's. Default false. */
  preserveHost?: boolean
  /** Strip surrogate-key fields from responses. Default true. */
  stripSurrogateKeys?: boolean
  /** The host part of a tenant's cache keys (GatewayOptions.keyHost); undefined: the request's Host. */
  keyHost?: (tenant: string) => string | undefined
  /** Trusted proxies and the gateway's own tokens, for the request the origin sees (gateway/forwarded.ts). */
  forwarding?: ForwardingOptions
  /** Told of every cacheable GET/HEAD answered (the refresh-on-invalidation recorder). */
  onRead?: (tenant: string, info: RequestInfo) => void
  onError?: (err: unknown, context: string) => void
}

/** Request fields the cache rewrites when it fetches for storage (it evaluates the client's conditionals itself). */
const CLIENT_CONDITIONALS = ['if-none-match', 'if-modified-since', 'if-match', 'if-unmodified-since', 'if-range']

interface OriginResponse {
  statusCode: number
  headers: HeaderRecord
  body: AsyncIterable<Buffer> & { destroy(err?: Error): void; resume(): void }
}

export class CachingProxy {
  readonly pool: Pool
  readonly #o: ProxyOptions
  readonly #http: HttpCache
  readonly #originHost: string
  readonly #flow: CacheFlow

  constructor(o: ProxyOptions) {
    this.#o = o
    this.#http = o.http
    this.#flow = new CacheFlow(o.http, { background: true, onError: o.onError })
    const u = new URL(o.origin)
    this.#originHost = u.host
    this.pool = new Pool(u.origin, {
      connections: o.connections ?? 64,
      keepAliveTimeout: 30_000,
      headersTimeout: o.headersTimeout ?? 30_000,
      bodyTimeout: o.bodyTimeout ?? 30_000,
      pipelining: 1,
    })
  }

  /**
   * Handles a proxied request for `tenant`. `target` is origin-form (path + query). The
   * request fields are the upstream view (forwarded.ts): the cache key's Vary'd fields are
   * read from exactly what the origin is sent.
   */
  handle(req: IncomingMessage, res: ServerResponse, tenant: string, target: string): Promise<void> {
    const method = req.method as string
    const headers = upstreamView(req, this.#o.forwarding ?? {})
    const info: RequestInfo = { method, host: this.#o.keyHost?.(tenant) ?? (req.headers.host ?? '').toLowerCase(), target, headers }
    const matched = this.#http.match(target)
    if ((method === 'GET' || method === 'HEAD') && !this.#http.bypassed(target, matched)) {
      return this.#cacheable(req, res, tenant, info, matched)
    }
    return this.#passThrough(req, res, tenant, info)
  }

  /** GET/HEAD: the shared read-side decision (http/handler.ts), then bytes. */
  #cacheable(req: IncomingMessage, res: ServerResponse, tenant: string, info: RequestInfo, matched: RouteMatch | null): Promise<void> {
    this.#o.onRead?.(tenant, info)
    return this.#flow.begin(tenant, info, matched).then((step) => {
      switch (step.kind) {
        case 'serve':
          return this.#flow.serve(res, tenant, info, step.entry, step.outcome)
        case 'refuse':
          return sendError(res, step.code, step.message)
        case 'pass':
          return this.#passThrough(req, res, tenant, info)
        case 'load': {
          const load = step.load
          if (load.background) {
            // RFC 5861 §3: serve stale now, revalidate once in the background.
            this.#flow.serve(res, tenant, info, load.stale as Prepared, 'STALE')
            this.#load(null, load)
              .catch((err) => this.#flow.report(err, 'refresh'))
              .finally(load.done)
            return
          }
          return this.#load(res, load).finally(load.done)
        }
      }
    })
  }

  /**
   * Loads `info` with no client when its entry is missing or stale (refresh on invalidation:
   * gateway/refresh-on-invalidation.ts); resolves true when it fetched, false when a stored
   * answer was still usable or the request is not cached.
   */
  async refresh(tenant: string, info: RequestInfo): Promise<boolean> {
    const step = await this.#flow.begin(tenant, info, this.#http.match(info.target))
    if (step.kind !== 'load') return false
    const load = step.load
    await this.#fetch(null, load).finally(load.done)
    return true
  }

  /** The origin request's fields: the upstream view (hop-by-hop fields already gone), without Expect, with the origin's Host. */
  #upstreamHeaders(view: HeaderRecord, forStore: boolean): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(view)) {
      if (v === undefined || k === 'expect') continue
      if (forStore && CLIENT_CONDITIONALS.includes(k)) continue
      out[k] = v as string | string[]
    }
    if (!this.#o.preserveHost) out.host = this.#originHost
    return out
  }

  #request(method: string, target: string, headers: Record<string, string | string[]>, body?: IncomingMessage, res?: ServerResponse | null): Promise<OriginResponse> {
    // Interim responses (RFC 9110 §15.2) are relayed to the client, never stored (RFC 9111 §3).
    const onInfo = res ? (info: { statusCode: number; headers: HeaderRecord }) => relayInterim(res, info.statusCode, info.headers) : undefined
    return this.pool.request({ method, path: target, headers, body: body ?? null, onInfo } as Parameters<Pool['request']>[0]) as unknown as Promise<OriginResponse>
  }

  /** Client-visible response fields from the origin's (hop-by-hop and surrogate keys removed). */
  #clientHeaders(h: HeaderRecord, extra: string[]): string[] {
    const hop = hopByHop(h)
    const strip = this.#o.stripSurrogateKeys !== false
    const lines: string[] = []
    for (const [k, v] of Object.entries(h)) {
      if (v === undefined || hop.has(k) || (strip && (SURROGATE_FIELDS as readonly string[]).includes(k))) continue
      if (Array.isArray(v)) for (const x of v) lines.push(k, x)
      else lines.push(k, v)
    }
    lines.push(...extra)
    return lines
  }

  #originError(res: ServerResponse | null, err: unknown): void {
    this.#o.onError?.(err, 'origin')
    if (res === null || res.headersSent) {
      res?.destroy()
      return
    }
    const code = (err as { code?: string }).code ?? ''
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
      sendError(res, 'E_ORIGIN_TIMEOUT', 'the origin did not answer in time')
    } else sendError(res, 'E_ORIGIN_UNAVAILABLE', `the origin could not be reached (${code || (err as Error).message})`)
  }

  /** The origin fetch for the cache, under a load span (larder/tracing) when someone listens. */
  #load(res: ServerResponse | null, load: Load): Promise<void> {
    if (!traces.load.hasSubscribers) return this.#fetch(res, load)
    return traces.load.tracePromise(() => this.#fetch(res, load), { tenant: load.tenant, key: load.lk.primary, background: res === null, source: 'origin' })
  }

  /**
   * Fetches from the origin for a load (a miss, or a revalidation of `load.stale`), and
   * answers `res` (null for a background revalidation).
   */
  async #fetch(res: ServerResponse | null, load: Load): Promise<void> {
    const { info, stale, tenant } = load
    const headers = this.#upstreamHeaders(info.headers, load.storable)
    if (stale !== undefined) {
      // RFC 9111 §4.3.1: validate with the stored validators (never our generated ETag).
      const etag = first(stale.headers.etag)
      if (etag !== undefined && !stale.entry.ge) headers['if-none-match'] = etag
      const lm = first(stale.headers['last-modified'])
      if (lm !== undefined) headers['if-modified-since'] = lm
    }
    let r: OriginResponse
    try {
      r = await this.#request(info.method, info.target, headers, undefined, res)
    } catch (err) {
      // RFC 5861 §4 / RFC 9111 §4.2.4: a stale response may answer when the origin fails, if allowed.
      if (stale !== undefined && res !== null && (load.staleIfError || load.staleIfDisconnected)) return this.#flow.serve(res, tenant, info, stale, 'STALE')
      return this.#originError(res, err)
    }
    const responseTime = this.#http.now()
    const status = r.statusCode
    if (stale !== undefined && status === 304 && validatorsMatch(stale.headers, r.headers)) {
      r.body.resume()
      const fresh = await this.#flow.freshen(load, r.headers, responseTime)
      if (res !== null) this.#flow.serve(res, tenant, info, fresh, 'REVALIDATED', 304)
      return
    }
    const answer = this.#flow.respond(load, status, r.headers, Number(first(r.headers['content-length']) ?? Number.NaN))
    if (answer.useStale) {
      r.body.resume()
      if (res !== null) this.#flow.serve(res, tenant, info, stale as Prepared, 'STALE', status)
      return
    }
    // The client's own conditional, evaluated against the new response (we removed it upstream).
    const to304 = res !== null && load.storable && status === 200 && notModified(info.method, info.headers, r.headers, responseTime)
    if (res !== null) {
      const lines = this.#clientHeaders(r.headers, answer.lines)
      if (to304) {
        res.writeHead(304, lines.filter((_, i, a) => (i % 2 === 0 ? a[i] !== 'content-length' : a[i - 1] !== 'content-length')))
        res.end()
      } else res.writeHead(status, lines)
    }
    const chunks: Buffer[] = []
    let size = 0
    let keep = answer.store
    try {
      for await (const chunk of r.body) {
        if (keep) {
          size += chunk.length
          if (size > this.#http.maxBodyBytes) {
            keep = false
            chunks.length = 0
          } else chunks.push(chunk)
        }
        // The body is still read to the end for the cache when the client is gone; otherwise stop.
        if (res !== null && res.destroyed && !keep) {
          r.body.destroy()
          return
        }
        if (res !== null && !to304 && !res.destroyed && !res.write(chunk)) await waitDrain(res)
      }
    } catch (err) {
      this.#o.onError?.(err, 'origin body')
      res?.destroy()
      return
    }
    if (keep) await this.#flow.store(load, status, r.headers, Buffer.concat(chunks, size), responseTime)
    if (res !== null && !to304) res.end()
    this.#flow.loaded(load, responseTime - load.requestTime)
  }

  /** Everything not cached: stream the request body up, the response down; invalidate after unsafe methods (RFC 9111 §4.4). */
  async #passThrough(req: IncomingMessage, res: ServerResponse, tenant: string, info: RequestInfo): Promise<void> {
    const headers = this.#upstreamHeaders(info.headers, false)
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
    let r: OriginResponse
    try {
      r = await this.#request(info.method, info.target, headers, hasBody ? req : undefined, res)
    } catch (err) {
      return this.#originError(res, err)
    }
    // RFC 9111 §4.4, before the answer reaches the client.
    if (!isSafeMethod(info.method)) await this.#flow.invalidateAfter(tenant, info, r.statusCode, r.headers)
    res.writeHead(r.statusCode, this.#clientHeaders(r.headers, ['cache-status', cacheStatus(this.#http.name, 'BYPASS', { fwdStatus: r.statusCode }), 'x-cache', 'BYPASS']))
    if (channels.http.hasSubscribers) channels.http.publish({ tenant, status: 'BYPASS', route: route(this.#http, info.target), durationMs: 0 })
    try {
      for await (const chunk of r.body) {
        if (res.destroyed) {
          r.body.destroy()
          break
        }
        if (!res.write(chunk)) await waitDrain(res)
      }
      res.end()
    } catch (err) {
      this.#o.onError?.(err, 'origin body')
      res.destroy()
    }
  }

  close(): Promise<void> {
    return this.pool.close()
  }
}

/** Route pattern of a target (configured patterns only: bounded label cardinality). */
function route(http: HttpCache, target: string): string | undefined {
  if (http.routes.length === 0) return undefined
  const q = target.indexOf('?')
  return matchRoute(http.routes, q < 0 ? target : target.slice(0, q))?.route.policy.path
}

function relayInterim(res: ServerResponse, status: number, headers: HeaderRecord): void {
  if (res.headersSent || res.destroyed) return
  if (status === 103) {
    const hints: Record<string, string | string[]> = {}
    const hop = hopByHop(headers)
    for (const [k, v] of Object.entries(headers)) if (v !== undefined && !hop.has(k)) hints[k] = v
    if (hints.link !== undefined) res.writeEarlyHints(hints)
  } else if (status === 102) res.writeProcessing()
}

function waitDrain(res: ServerResponse): Promise<void> {
  // A client that went away never drains: do not wait for it.
  if (res.destroyed || res.writableEnded) return Promise.resolve()
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done)
      res.off('close', done)
      resolve()
    }
    res.on('drain', done)
    res.on('close', done)
  })
}
