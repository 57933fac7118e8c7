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
 * The decisions are larder/http's shared flow (http/handler.ts); this file only tees the
 * app's writes. A hit is answered before the app runs; a miss runs the app (concurrent misses
 * wait for it), streams its answer to the client unchanged (surrogate-key fields removed,
 * Cache-Status/X-Cache and the generated ETag added) and stores a copy when RFC 9111 allows.
 * Stale entries: within stale-while-revalidate the request is answered stale and the next
 * one refreshes (see refresh.ts); otherwise the app runs, and when it fails (5xx or a
 * throw) within stale-if-error the stored response answers instead (RFC 5861 §4).
 * @module
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { Cache } from '../../core/api.ts'
import { sendError } from '../../core/route.ts'
import { createHttpCache, type HttpCache, type HttpCacheOptions, type Prepared, type RequestInfo } from '../engine.ts'
import { first, type HeaderRecord } from '../freshness.ts'
import { adapterTenant, CacheFlow, type Load } from '../handler.ts'
import { SURROGATE_FIELDS } from '../headers.ts'
import { isSafeMethod } from '../invalidation.ts'

export interface NodeCacheOptions extends Omit<HttpCacheOptions, 'cache'> {
  /** The tiered cache (or pass `http` to share an engine with a gateway/other adapter). */
  cache?: Cache
  http?: HttpCache
  /** Tenant of a request. Default: always `default`. Invalid ids get a 400. */
  tenant?: (req: IncomingMessage) => string | undefined
  /** Cache failures (lookup, store, invalidation): reported here, never failing the request. Default: a process warning. */
  onError?: (err: unknown, context: string) => void
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
  const flow = new CacheFlow(http, { onError: opts.onError })
  const strip = opts.stripSurrogateKeys !== false

  async function run(req: IncomingMessage, res: ServerResponse, next: Next): Promise<void> {
    const t = adapterTenant(tenantOf(req))
    if (!('tenant' in t)) return sendError(res, t.code, t.message)
    const tenant = t.tenant
    const method = req.method ?? 'GET'
    const info: RequestInfo = { method, host: (req.headers.host ?? '').toLowerCase(), target: req.url ?? '/', headers: req.headers as HeaderRecord }
    if (!isSafeMethod(method)) {
      // RFC 9111 §4.4: after the app answers an unsafe request, drop the target (and same-origin Location/Content-Location).
      res.once('finish', () => void flow.invalidateAfter(tenant, info, res.statusCode, res.getHeaders() as HeaderRecord))
      return next()
    }
    const step = await flow.begin(tenant, info)
    switch (step.kind) {
      case 'serve':
        return flow.serve(res, tenant, info, step.entry, step.outcome)
      case 'refuse':
        return sendError(res, step.code, step.message)
      case 'pass':
        return next()
      case 'load':
        capture(res, flow, step.load, strip)
        return next()
    }
  }

  const mw = ((req, res, next) => {
    let called = false
    const once: Next = (err) => {
      if (called) return
      called = true
      next(err)
    }
    // begin() never throws; anything else is a bug of ours: report it and let the app answer.
    run(req, res, once).catch((err) => {
      flow.report(err, 'middleware')
      if (!res.headersSent) once()
    })
  }) as NodeCacheMiddleware
  mw.wrap = (handler) => (req, res) =>
    mw(req, res, (err) => {
      if (err === undefined) {
        try {
          return handler(req, res)
        } catch (thrown) {
          err = thrown
        }
      }
      // A throw is answered like an error handler would: a 500 (stale-if-error may answer instead).
      if (!res.headersSent) sendError(res, 'E_INTERNAL', 'internal error')
    })
  Object.defineProperty(mw, 'http', { value: http })
  return mw
}

/**
 * Tees what the app writes: the client gets it as written (plus the flow's Cache-Status,
 * X-Cache and generated ETag), the cache a copy (bounded). With a stale fallback, a 5xx
 * from the app (an explicit status, or the 500 an error handler writes after a throw) is
 * replaced by the stored response before anything is sent.
 */
function capture(res: ServerResponse, flow: CacheFlow, load: Load, strip: boolean): void {
  const http = flow.http
  const info = load.info
  const fallback = load.staleIfError ? load.stale : undefined
  const chunks: Buffer[] = []
  let size = 0
  // Collected from the start (a body written with end() before the implicit header counts); dropped at writeHead when not storable.
  let keep = true
  let snapshot: HeaderRecord | undefined
  const origWriteHead = res.writeHead
  const origWrite = res.write
  const origEnd = res.end
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
      flow.serve(self, load.tenant, info, stale, 'STALE', status)
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
    const cl = Number(first(snapshot['content-length']) ?? Number.NaN)
    delete snapshot['content-length']
    const answer = flow.respond(load, status, snapshot, cl)
    if (answer.useStale && fallback !== undefined && !this.headersSent) {
      divert(this, status, fallback)
      return this
    }
    if (!answer.store) {
      keep = false
      chunks.length = 0
    }
    for (let i = 0; i + 1 < answer.lines.length; i += 2) this.setHeader(answer.lines[i] as string, answer.lines[i + 1] as string)
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
    if (!res.writableFinished || !keep || snapshot === undefined) return load.done()
    flow.store(load, res.statusCode, snapshot, Buffer.concat(chunks, size)).finally(load.done)
  })
}
