/**
 * `larder/http/fastify`: a Fastify plugin that caches responses per RFC 9111.
 *
 * ```ts
 * import { createCache } from 'larder'
 * import { larderHttpCache } from 'larder/http/fastify'
 * await app.register(larderHttpCache, { cache: createCache(), tenant: (req) => req.headers['x-tenant-id'] as string })
 * ```
 *
 * Hits are answered from `onRequest` (the route handler never runs); misses are captured
 * in `onSend` (string/Buffer payloads; streams pass through uncached) and stored in
 * `onResponse`. Like fastify-plugin, the plugin skips encapsulation so it covers every
 * route of the instance it is registered on.
 *
 * Stale entries: within stale-while-revalidate the request is answered stale and the next
 * one runs the route to refresh it (see refresh.ts); when the route fails (5xx or a throw)
 * within stale-if-error, `onSend` swaps the error for the stored response (RFC 5861 §4).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Cache } from '../../core/api.ts'
import { isLarderError } from '../../core/errors.ts'
import { validateTenant } from '../../core/keys.ts'
import type { CacheControl } from '../cache-control.ts'
import { createHttpCache, type HttpCache, type HttpCacheOptions, type Lookup, type Prepared, type RequestInfo } from '../engine.ts'
import { type HeaderRecord, requestDirectives, reuseDecision } from '../freshness.ts'
import { cacheStatus, SURROGATE_FIELDS } from '../headers.ts'
import { invalidationTargets, isSafeMethod } from '../invalidation.ts'
import { RefreshMarks, refreshKey } from '../refresh.ts'

export interface FastifyCacheOptions extends Omit<HttpCacheOptions, 'cache'> {
  cache?: Cache
  http?: HttpCache
  tenant?: (req: IncomingMessage) => string | undefined
}

interface Pending {
  tenant: string
  lk?: Lookup
  info: RequestInfo
  reqCc?: CacheControl
  requestTime: number
  /** Log id before the handler ran (store fence). */
  began: number
  headers?: HeaderRecord
  body?: Buffer
  /** Stored response that answers if the route fails (RFC 5861 §4, or a refresh inside §3's window). */
  fallback?: Prepared
  /** Gives back the stale-while-revalidate refresh this request holds. */
  release?: () => void
}

const PENDING = Symbol('larder.http')
type WithPending = FastifyRequest & { [PENDING]?: Pending }

async function plugin(fastify: FastifyInstance, opts: FastifyCacheOptions): Promise<void> {
  if (opts.http === undefined && opts.cache === undefined) throw new TypeError('larderHttpCache needs { cache } or { http }')
  const http = opts.http ?? createHttpCache({ ...opts, cache: opts.cache as Cache })
  const tenantOf = opts.tenant ?? (() => undefined)
  if (!fastify.hasDecorator('larderHttp')) fastify.decorate('larderHttp', http)
  const marks = new RefreshMarks()

  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const req = request.raw
    let tenant: string
    try {
      tenant = validateTenant(tenantOf(req) ?? 'default')
    } catch (err) {
      return reply.code(400).send({ error: { code: isLarderError(err) ? err.code : 'E_BAD_REQUEST', message: `tenant: ${(err as Error).message}` } })
    }
    const method = req.method ?? 'GET'
    const target = req.url ?? '/'
    const info: RequestInfo = { method, host: (req.headers.host ?? '').toLowerCase(), target, headers: req.headers as HeaderRecord }
    const p: Pending = { tenant, info, requestTime: http.now(), began: http.cache.log.lastId() }
    ;(request as WithPending)[PENDING] = p
    if (!isSafeMethod(method) || method !== 'GET' || req.headers.range !== undefined || http.bypassed(target)) return
    const reqCc = requestDirectives(info.headers)
    const lk = await http.lookup(tenant, info)
    p.lk = lk
    p.reqCc = reqCc
    if (lk.found !== undefined) {
      const now = http.now()
      const d = reuseDecision(lk.found.facts, reqCc, now)
      let answer: 'HIT' | 'STALE' | undefined = d.use === 'fresh' ? 'HIT' : d.use === 'stale-ok' ? 'STALE' : undefined
      if (d.use === 'stale-while-revalidate') {
        // RFC 5861 §3: answer stale; the request after the one that found it stale refreshes it (one at a time).
        const mk = refreshKey(tenant, lk)
        if (!marks.claim(mk, lk.found, now)) answer = 'STALE'
        else {
          p.release = () => marks.release(mk)
          p.fallback = lk.found
        }
      } else if (d.use === 'revalidate' && d.staleIfError) p.fallback = lk.found
      if (answer !== undefined) {
        p.lk = undefined
        reply.hijack()
        http.serve(reply.raw, method, info.headers, lk.found, answer)
      }
    }
  })

  fastify.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const p = (request as WithPending)[PENDING]
    if (p?.lk === undefined) return payload
    if (p.fallback !== undefined && reply.statusCode >= 500) {
      // The route failed: answer the stored response instead, and store nothing.
      const out = rendered(http, p.info, p.fallback, reply.statusCode)
      p.lk = undefined
      for (const n of Object.keys(reply.getHeaders())) reply.removeHeader(n)
      reply.code(out.status)
      for (const [k, v] of Object.entries(out.headers)) reply.header(k, v)
      return out.body === undefined ? null : Buffer.from(out.body, 'latin1')
    }
    const snapshot: HeaderRecord = {}
    for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) snapshot[k] = Array.isArray(v) ? v.map(String) : String(v)
    if (opts.stripSurrogateKeys !== false) for (const f of SURROGATE_FIELDS) reply.removeHeader(f)
    reply.header('x-cache', 'MISS')
    reply.header('cache-status', cacheStatus(http.name, p.lk.found === undefined ? 'MISS' : 'REVALIDATED'))
    p.headers = snapshot
    if (typeof payload === 'string') p.body = Buffer.from(payload)
    else if (Buffer.isBuffer(payload)) p.body = payload
    return payload
  })

  fastify.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const p = (request as WithPending)[PENDING]
    if (p === undefined) return
    try {
      await finish(p, reply)
    } finally {
      p.release?.()
    }
  })

  async function finish(p: Pending, reply: FastifyReply): Promise<void> {
    const { method, target, host } = { ...p.info }
    if (!isSafeMethod(method)) {
      const base = new URL(target, `http://${host || 'localhost'}`)
      const urls = invalidationTargets(method, reply.statusCode, base, reply.getHeaders() as HeaderRecord)
      if (urls.length) await http.purge(p.tenant, { urls: urls.map((u) => u.href) })
      return
    }
    if (p.lk === undefined || p.body === undefined || p.headers === undefined || p.reqCc === undefined) return
    delete p.headers['content-length']
    await http.store(p.lk, p.info, p.reqCc, { status: reply.statusCode, headers: p.headers, body: p.body, requestTime: p.requestTime, responseTime: http.now(), began: p.began }).catch(() => undefined)
  }
}

/**
 * The engine's own rendering of a stored response (`serve`: Age, Cache-Status with
 * fwd-status, X-Cache, a 304 for a matching conditional), captured so Fastify sends it.
 */
function rendered(http: HttpCache, info: RequestInfo, p: Prepared, fwdStatus: number): { status: number; headers: Record<string, string | string[]>; body: string | undefined } {
  const out = { status: 0, headers: {} as Record<string, string | string[]>, body: undefined as string | undefined }
  const sink = {
    writeHead(status: number, lines: string[]) {
      out.status = status
      for (let i = 0; i + 1 < lines.length; i += 2) {
        const k = (lines[i] as string).toLowerCase()
        const v = lines[i + 1] as string
        const prev = out.headers[k]
        out.headers[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v]
      }
      return sink
    },
    end(body?: string) {
      out.body = body
      return sink
    },
  }
  http.serve(sink as unknown as ServerResponse, info.method, info.headers, p, 'STALE', fwdStatus)
  return out
}

/** The plugin (encapsulation skipped, as fastify-plugin would). */
export const larderHttpCache = Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'larder-http-cache' })
export default larderHttpCache
