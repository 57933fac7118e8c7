/**
 * The caching reverse proxy: request-side decisions (lookup, reuse, revalidation,
 * collapsing of concurrent misses), forwarding to the origin through an undici Pool with
 * keep-alive, and streaming the origin's body to the client while it fills the cache.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Pool } from 'undici'
import { channels } from '../core/diagnostics.ts'
import { sendError } from '../core/route.ts'
import type { CacheControl } from '../http/cache-control.ts'
import { validatorsMatch, notModified } from '../http/conditional.ts'
import type { HttpCache, Lookup, Prepared, RequestInfo } from '../http/engine.ts'
import { first, type HeaderRecord, requestDirectives, reuseDecision } from '../http/freshness.ts'
import { cacheStatus, hopByHop, SURROGATE_FIELDS } from '../http/headers.ts'
import { invalidationTargets, isSafeMethod } from '../http/invalidation.ts'
import { matchRoute, type RouteMatch } from '../http/routes.ts'

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
  readonly #inflight = new Map<string, Promise<void>>()
  /** Keys whose last response was not storable: concurrent requests go straight through (hit-for-pass). */
  readonly #pass = new Map<string, number>()

  constructor(o: ProxyOptions) {
    this.#o = o
    this.#http = o.http
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

  /** Handles a proxied request for `tenant`. `target` is origin-form (path + query). */
  handle(req: IncomingMessage, res: ServerResponse, tenant: string, target: string): Promise<void> {
    const method = req.method as string
    const info: RequestInfo = { method, host: (req.headers.host ?? '').toLowerCase(), target, headers: req.headers as HeaderRecord }
    const matched = this.#http.match(target)
    if ((method === 'GET' || method === 'HEAD') && !this.#http.bypassed(target, matched)) {
      return this.#cacheable(req, res, tenant, info, matched)
    }
    return this.#passThrough(req, res, tenant, info)
  }

  async #cacheable(req: IncomingMessage, res: ServerResponse, tenant: string, info: RequestInfo, matched: RouteMatch | null): Promise<void> {
    const reqCc = requestDirectives(info.headers)
    let lk = await this.#http.lookup(tenant, info, matched)
    if (info.headers.range !== undefined) {
      // Ranges are served from a fresh complete response; anything else goes to the origin as is (206s are not stored).
      const f = lk.found
      if (f !== undefined && reuseDecision(f.facts, reqCc, this.#http.now()).use === 'fresh') return this.#serve(res, info, f, 'HIT', tenant)
      return this.#passThrough(req, res, tenant, info)
    }
    const fk = `${tenant}\u001f${lk.primary}`
    if (lk.found === undefined) {
      // RFC 9111 §5.2.1.7: only-if-cached with nothing stored → 504.
      if (reqCc.onlyIfCached) return sendError(res, 'E_NOT_CACHED', 'only-if-cached and no stored response')
      // Collapse onto a running fetch of the same URL, then read what it stored.
      const pending = this.#inflight.get(fk)
      if (pending !== undefined && !this.#passing(fk)) {
        await pending
        lk = await this.#http.lookup(tenant, info, matched)
      }
    } else {
      // Same for a running revalidation of the stale entry.
      const pending = this.#inflight.get(`${fk}\u001frv`)
      if (pending !== undefined && reuseDecision(lk.found.facts, reqCc, this.#http.now()).use === 'revalidate') {
        await pending
        lk = await this.#http.lookup(tenant, info, matched)
      }
    }
    const found = lk.found
    if (found !== undefined) {
      const d = reuseDecision(found.facts, reqCc, this.#http.now())
      if (d.use === 'fresh' || d.use === 'stale-ok') return this.#serve(res, info, found, d.use === 'fresh' ? 'HIT' : 'STALE', tenant)
      if (d.use === 'stale-while-revalidate') {
        // RFC 5861 §3: serve stale now, revalidate once in the background.
        this.#serve(res, info, found, 'STALE', tenant)
        if (!this.#inflight.has(fk)) this.#lead(fk, () => this.#fetch(req, null, tenant, info, reqCc, lk, found, false).catch((err) => this.#o.onError?.(err, 'background revalidation')))
        return
      }
      // A HEAD never stores, so it never leads a collapse others would wait on.
      if (info.method === 'HEAD') return this.#fetch(req, res, tenant, info, reqCc, lk, found, d.staleIfError, d.staleIfDisconnected)
      return this.#lead(`${fk}\u001frv`, () => this.#fetch(req, res, tenant, info, reqCc, lk, found, d.staleIfError, d.staleIfDisconnected))
    }
    if (reqCc.onlyIfCached) return sendError(res, 'E_NOT_CACHED', 'only-if-cached and no stored response')
    if (info.method === 'HEAD') return this.#fetch(req, res, tenant, info, reqCc, lk, undefined, false)
    return this.#lead(fk, () => this.#fetch(req, res, tenant, info, reqCc, lk, undefined, false))
  }

  #passing(fk: string): boolean {
    const until = this.#pass.get(fk)
    if (until === undefined) return false
    if (until > Date.now()) return true
    this.#pass.delete(fk)
    return false
  }

  async #lead(fk: string, work: () => Promise<void>): Promise<void> {
    if (this.#inflight.has(fk)) return work()
    let done!: () => void
    this.#inflight.set(
      fk,
      new Promise<void>((r) => {
        done = r
      }),
    )
    try {
      await work()
    } finally {
      this.#inflight.delete(fk)
      done()
    }
  }

  #serve(res: ServerResponse, info: RequestInfo, p: Prepared, outcome: 'HIT' | 'STALE' | 'REVALIDATED', tenant: string, fwdStatus?: number): void {
    this.#http.serve(res, info.method, info.headers, p, outcome, fwdStatus)
    if (channels.http.hasSubscribers) channels.http.publish({ tenant, status: outcome, route: info.routePath, durationMs: 0 })
  }

  #upstreamHeaders(req: IncomingMessage, forStore: boolean): Record<string, string | string[]> {
    const src = req.headers as HeaderRecord
    const hop = hopByHop(src)
    const out: Record<string, string | string[]> = {}
    for (const [k, v] of Object.entries(src)) {
      if (v === undefined || hop.has(k) || k === 'expect') continue
      if (forStore && CLIENT_CONDITIONALS.includes(k)) continue
      out[k] = v
    }
    if (!this.#o.preserveHost) out.host = this.#originHost
    const ip = req.socket.remoteAddress ?? ''
    const xff = src['x-forwarded-for']
    out['x-forwarded-for'] = xff ? `${Array.isArray(xff) ? xff.join(', ') : xff}, ${ip}` : ip
    if (src.host !== undefined) out['x-forwarded-host'] = src.host as string
    out['x-forwarded-proto'] ??= 'http'
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

  /**
   * Fetches from the origin for a GET/HEAD (a miss, or a revalidation of `stale`), and
   * answers `res` (null for a background revalidation).
   */
  async #fetch(
    req: IncomingMessage,
    res: ServerResponse | null,
    tenant: string,
    info: RequestInfo,
    reqCc: CacheControl,
    lk: Lookup,
    stale: Prepared | undefined,
    staleIfError: boolean,
    staleIfDisconnected = false,
  ): Promise<void> {
    const storeWanted = info.method === 'GET' && !reqCc.noStore
    const headers = this.#upstreamHeaders(req, storeWanted)
    if (stale !== undefined) {
      // RFC 9111 §4.3.1: validate with the stored validators (never our generated ETag).
      const etag = first(stale.headers.etag)
      if (etag !== undefined && !stale.entry.ge) headers['if-none-match'] = etag
      const lm = first(stale.headers['last-modified'])
      if (lm !== undefined) headers['if-modified-since'] = lm
    }
    const requestTime = this.#http.now()
    // Fence: an invalidation logged after this point makes the answer unstorable.
    const began = this.#http.cache.log.lastId()
    let r: OriginResponse
    try {
      r = await this.#request(info.method, info.target, headers, undefined, res)
    } catch (err) {
      // RFC 5861 §4 / RFC 9111 §4.2.4: a stale response may answer when the origin fails, if allowed.
      if (stale !== undefined && res !== null && (staleIfError || staleIfDisconnected)) return this.#serve(res, info, stale, 'STALE', tenant)
      return this.#originError(res, err)
    }
    const responseTime = this.#http.now()
    const status = r.statusCode
    if (stale !== undefined && status === 304 && validatorsMatch(stale.headers, r.headers)) {
      r.body.resume()
      const fresh = await this.#http.freshen(lk, info, reqCc, stale, r.headers, requestTime, responseTime, began)
      if (res !== null) this.#serve(res, info, fresh, 'REVALIDATED', tenant, 304)
      return
    }
    if (stale !== undefined && status >= 500 && staleIfError && res !== null) {
      r.body.resume()
      return this.#serve(res, info, stale, 'STALE', tenant, status)
    }
    const plan = storeWanted ? this.#http.storePlan(info, reqCc, status, r.headers, lk.route, responseTime) : undefined
    const cl = Number(first(r.headers['content-length']) ?? Number.NaN)
    const collect = plan?.ok === true && !(cl > this.#http.maxBodyBytes)
    if (!collect) this.#pass.set(`${tenant}\u001f${lk.primary}`, Date.now() + 1000)
    if (this.#pass.size > 10_000) this.#pass.clear()
    const outcome = stale !== undefined ? 'REVALIDATED' : 'MISS'
    const cs = cacheStatus(this.#http.name, outcome, { fwdStatus: status, stored: collect, detail: plan && !plan.ok ? plan.reason : undefined })
    // The client's own conditional, evaluated against the new response (we removed it upstream).
    const to304 = res !== null && storeWanted && status === 200 && notModified(info.method, info.headers, r.headers, responseTime)
    if (res !== null) {
      const lines = this.#clientHeaders(r.headers, ['cache-status', cs, 'x-cache', 'MISS'])
      if (to304) {
        res.writeHead(304, lines.filter((_, i, a) => (i % 2 === 0 ? a[i] !== 'content-length' : a[i - 1] !== 'content-length')))
        res.end()
      } else res.writeHead(status, lines)
    }
    const chunks: Buffer[] = []
    let size = 0
    let keep = collect
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
    if (keep) await this.#http.store(lk, info, reqCc, { status, headers: r.headers, body: Buffer.concat(chunks, size), requestTime, responseTime, began })
    if (res !== null && !to304) res.end()
    if (channels.http.hasSubscribers) channels.http.publish({ tenant, status: stale ? 'EXPIRED' : 'MISS', route: lk.route?.route.policy.path, durationMs: responseTime - requestTime })
  }

  /** Everything not cached: stream the request body up, the response down; invalidate after unsafe methods (RFC 9111 §4.4). */
  async #passThrough(req: IncomingMessage, res: ServerResponse, tenant: string, info: RequestInfo): Promise<void> {
    const headers = this.#upstreamHeaders(req, false)
    const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined
    let r: OriginResponse
    try {
      r = await this.#request(info.method, info.target, headers, hasBody ? req : undefined, res)
    } catch (err) {
      return this.#originError(res, err)
    }
    if (!isSafeMethod(info.method)) {
      const base = new URL(info.target, `http://${info.host || 'localhost'}`)
      const urls = invalidationTargets(info.method, r.statusCode, base, r.headers)
      if (urls.length > 0) {
        try {
          await this.#http.purge(tenant, { urls: urls.map((u) => u.href) })
        } catch (err) {
          this.#o.onError?.(err, 'invalidate after unsafe method')
        }
      }
    }
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
