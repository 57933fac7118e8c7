/**
 * `larder/http/node` (also `larder/http/express`): response caching for node:http
 * handlers and Express/Connect apps, in process.
 *
 * ```ts
 * import { createCache } from 'larder'
 * import { httpCache } from 'larder/http/express'
 * const cache = createCache()
 * app.use(httpCache({ cache, tenant: (req) => req.headers['x-tenant-id'] as string, routes: { '/api/v1/products': { ttl: '5m' } } }))
 * // node:http: createServer(httpCache({ cache }).wrap((req, res) => { … }))
 * ```
 *
 * A hit is answered before the app runs; a miss runs the app, streams its answer to the
 * client unchanged (surrogate-key fields removed) and stores a copy when RFC 9111 allows.
 * Stale entries: within stale-while-revalidate the request is answered stale and the next
 * one refreshes (see refresh.ts); otherwise the app runs, and when it fails (5xx or a
 * throw) within stale-if-error the stored response answers instead (RFC 5861 §4).
 * @module
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Cache } from '../../core/api.ts'
import { isLarderError } from '../../core/errors.ts'
import { validateTenant } from '../../core/keys.ts'
import { sendError } from '../../core/route.ts'
import { createHttpCache, type HttpCache, type HttpCacheOptions, type Prepared, type RequestInfo } from '../engine.ts'
import { type HeaderRecord, requestDirectives, reuseDecision } from '../freshness.ts'
import { type CacheOutcome, cacheStatus, SURROGATE_FIELDS } from '../headers.ts'
import { invalidationTargets, isSafeMethod } from '../invalidation.ts'
import { RefreshMarks, refreshKey } from '../refresh.ts'

export interface NodeCacheOptions extends Omit<HttpCacheOptions, 'cache'> {
  /** The tiered cache (or pass `http` to share an engine with a gateway/other adapter). */
  cache?: Cache
  http?: HttpCache
  /** Tenant of a request. Default: always `default`. Invalid ids get a 400. */
  tenant?: (req: IncomingMessage) => string | undefined
}

export type Next = (err?: unknown) => void
export interface NodeCacheMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: Next): void
  /** Wraps a plain node:http handler. */
  wrap(handler: (req: IncomingMessage, res: ServerResponse) => void): (req: IncomingMessage, res: ServerResponse) => void
  readonly http: HttpCache
}

export function httpCache(opts: NodeCacheOptions): NodeCacheMiddleware {
  const http = opts.http ?? createHttpCache({ ...opts, cache: opts.cache as Cache })
  if (opts.http === undefined && opts.cache === undefined) throw new TypeError('httpCache needs { cache } or { http }')
  const tenantOf = opts.tenant ?? (() => undefined)
  const inflight = new Map<string, Promise<void>>()
  const marks = new RefreshMarks()

  async function run(req: IncomingMessage, res: ServerResponse, next: Next): Promise<void> {
    let tenant: string
    try {
      tenant = validateTenant(tenantOf(req) ?? 'default')
    } catch (err) {
      return sendError(res, isLarderError(err) ? err.code : 'E_BAD_REQUEST', `tenant: ${(err as Error).message}`)
    }
    const method = req.method ?? 'GET'
    const target = req.url ?? '/'
    const info: RequestInfo = { method, host: (req.headers.host ?? '').toLowerCase(), target, headers: req.headers as HeaderRecord }
    if (!isSafeMethod(method)) {
      // RFC 9111 §4.4: after the app answers an unsafe request, drop the target (and same-origin Location/Content-Location).
      res.once('finish', () => {
        const base = new URL(target, `http://${info.host || 'localhost'}`)
        const urls = invalidationTargets(method, res.statusCode, base, res.getHeaders() as HeaderRecord)
        if (urls.length) http.purge(tenant, { urls: urls.map((u) => u.href) }).catch(() => {})
      })
      return next()
    }
    if ((method !== 'GET' && method !== 'HEAD') || req.headers.range !== undefined || http.bypassed(target)) return next()
    const reqCc = requestDirectives(info.headers)
    let lk = await http.lookup(tenant, info)
    const fk = `${tenant}\u001f${lk.primary}`
    if (lk.found === undefined && inflight.has(fk)) {
      await inflight.get(fk)
      lk = await http.lookup(tenant, info)
    }
    // The stored response that may answer if the app fails (RFC 5861 §4), and the refresh mark this request holds.
    let fallback: Prepared | undefined
    let release = () => {}
    if (lk.found !== undefined) {
      const now = http.now()
      const d = reuseDecision(lk.found.facts, reqCc, now)
      if (d.use === 'fresh' || d.use === 'stale-ok') return http.serve(res, method, info.headers, lk.found, d.use === 'fresh' ? 'HIT' : 'STALE')
      if (d.use === 'stale-while-revalidate') {
        // RFC 5861 §3: answer stale; the request after the one that found it stale refreshes it (one at a time).
        const mk = refreshKey(tenant, lk)
        if (method === 'HEAD' || !marks.claim(mk, lk.found, now)) return http.serve(res, method, info.headers, lk.found, 'STALE')
        release = () => marks.release(mk)
        // Within the window the stale response may answer anyway, so it also covers a failed refresh.
        fallback = lk.found
      } else if (d.staleIfError) fallback = lk.found
    }
    if (reqCc.onlyIfCached) return sendError(res, 'E_NOT_CACHED', 'only-if-cached and no stored response')
    if (method === 'HEAD') return next()
    let settle!: () => void
    if (!inflight.has(fk))
      inflight.set(
        fk,
        new Promise<void>((r) => {
          settle = () => {
            inflight.delete(fk)
            r()
          }
        }),
      )
    else settle = () => {}
    const done = () => {
      release()
      settle()
    }
    capture(res, http, lk, info, reqCc, done, opts.stripSurrogateKeys !== false, fallback)
    next()
  }

  const mw = ((req, res, next) => {
    run(req, res, next).catch(next)
  }) as NodeCacheMiddleware
  mw.wrap = (handler) => (req, res) =>
    mw(req, res, (err) => {
      if (err) {
        if (!res.headersSent) sendError(res, 'E_INTERNAL', 'internal error')
        return
      }
      handler(req, res)
    })
  Object.defineProperty(mw, 'http', { value: http })
  return mw
}

/**
 * Tees what the app writes: the client gets it as written, the cache a copy (bounded).
 * With a `fallback`, a 5xx from the app (an explicit status, or the 500 an error handler
 * writes after a throw) is replaced by the stored response before anything is sent.
 */
function capture(
  res: ServerResponse,
  http: HttpCache,
  lk: Awaited<ReturnType<HttpCache['lookup']>>,
  info: RequestInfo,
  reqCc: ReturnType<typeof requestDirectives>,
  done: () => void,
  strip: boolean,
  fallback: Prepared | undefined,
): void {
  const requestTime = http.now()
  const began = http.cache.log.lastId()
  const chunks: Buffer[] = []
  let size = 0
  let keep = true
  let snapshot: HeaderRecord | undefined
  const origWriteHead = res.writeHead
  const origWrite = res.write
  const origEnd = res.end
  const outcome: CacheOutcome = lk.found === undefined ? 'MISS' : 'REVALIDATED'
  res.setHeader('x-cache', 'MISS')
  res.setHeader('cache-status', cacheStatus(http.name, outcome))
  // 'serving': our own writes of the stored response; 'diverted': the app's writes are dropped.
  let serving = false
  let diverted = false
  const divert = (self: ServerResponse, status: number, stale: Prepared): void => {
    diverted = true
    keep = false
    chunks.length = 0
    for (const n of self.getHeaderNames()) self.removeHeader(n)
    serving = true
    try {
      http.serve(self, info.method, info.headers, stale, 'STALE', status)
    } finally {
      serving = false
    }
  }
  /** Swallows an app write after a divert, still calling its callback. */
  const dropped = (args: unknown[]) => {
    const cb = args.find((a) => typeof a === 'function') as (() => void) | undefined
    if (cb) process.nextTick(cb)
  }
  res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
    if (serving) return (origWriteHead as (...a: unknown[]) => ServerResponse).call(this, status, ...rest)
    if (diverted) return this
    if (fallback !== undefined && status >= 500 && !this.headersSent) {
      divert(this, status, fallback)
      return this
    }
    let headers = rest[rest.length - 1]
    const message = typeof rest[0] === 'string' ? rest[0] : undefined
    if (headers !== undefined && typeof headers === 'object') {
      if (Array.isArray(headers)) {
        for (let i = 0; i + 1 < headers.length; i += 2) this.appendHeader(String(headers[i]), headers[i + 1] as string)
      } else for (const [k, v] of Object.entries(headers as OutgoingHttpHeaders)) if (v !== undefined) this.setHeader(k, v as string)
    }
    headers = undefined
    snapshot = {}
    for (const [k, v] of Object.entries(this.getHeaders())) if (v !== undefined) snapshot[k] = Array.isArray(v) ? v : String(v)
    if (strip) for (const f of SURROGATE_FIELDS) this.removeHeader(f)
    return message === undefined ? origWriteHead.call(this, status) : (origWriteHead as (s: number, m: string) => ServerResponse).call(this, status, message)
  } as typeof res.writeHead
  const take = (chunk: unknown, enc?: unknown) => {
    if (!keep || chunk === undefined || chunk === null || typeof chunk === 'function') return
    const b = Buffer.isBuffer(chunk) ? chunk : typeof chunk === 'string' ? Buffer.from(chunk, typeof enc === 'string' ? (enc as BufferEncoding) : 'utf8') : Buffer.from(chunk as Uint8Array)
    size += b.length
    if (size > http.maxBodyBytes) {
      keep = false
      chunks.length = 0
    } else chunks.push(b)
  }
  // An implicit header (write/end without writeHead) is checked before node writes it, so a divert never nests in node's end().
  const mustDivert = (self: ServerResponse) => fallback !== undefined && !diverted && !self.headersSent && self.statusCode >= 500
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    if (serving) return (origWrite as (...a: unknown[]) => boolean).call(this, chunk, ...rest)
    if (fallback !== undefined && mustDivert(this)) divert(this, this.statusCode, fallback)
    if (diverted) {
      dropped(rest)
      return true
    }
    take(chunk, rest[0])
    return (origWrite as (...a: unknown[]) => boolean).call(this, chunk, ...rest)
  } as typeof res.write
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (serving) return (origEnd as (...a: unknown[]) => ServerResponse).apply(this, args)
    if (fallback !== undefined && mustDivert(this)) divert(this, this.statusCode, fallback)
    if (diverted) {
      dropped(args)
      return this
    }
    take(args[0], args[1])
    return (origEnd as (...a: unknown[]) => ServerResponse).apply(this, args)
  } as typeof res.end
  res.once('close', () => {
    if (!res.writableFinished || !keep || snapshot === undefined) return done()
    const headers = snapshot
    delete headers['x-cache']
    delete headers['cache-status']
    http
      .store(lk, info, reqCc, { status: res.statusCode, headers, body: Buffer.concat(chunks, size), requestTime, responseTime: http.now(), began })
      .catch(() => undefined)
      .finally(done)
  })
}
