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
 * @module
 */
import type { IncomingMessage } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Cache } from '../../core/api.ts'
import { isLarderError } from '../../core/errors.ts'
import { validateTenant } from '../../core/keys.ts'
import type { CacheControl } from '../cache-control.ts'
import { createHttpCache, type HttpCache, type HttpCacheOptions, type Lookup, type RequestInfo } from '../engine.ts'
import { type HeaderRecord, requestDirectives, reuseDecision } from '../freshness.ts'
import { cacheStatus, SURROGATE_FIELDS } from '../headers.ts'
import { invalidationTargets, isSafeMethod } from '../invalidation.ts'

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
}

const PENDING = Symbol('larder.http')
type WithPending = FastifyRequest & { [PENDING]?: Pending }

async function plugin(fastify: FastifyInstance, opts: FastifyCacheOptions): Promise<void> {
  if (opts.http === undefined && opts.cache === undefined) throw new TypeError('larderHttpCache needs { cache } or { http }')
  const http = opts.http ?? createHttpCache({ ...opts, cache: opts.cache as Cache })
  const tenantOf = opts.tenant ?? (() => undefined)
  if (!fastify.hasDecorator('larderHttp')) fastify.decorate('larderHttp', http)

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
      const d = reuseDecision(lk.found.facts, reqCc, http.now())
      if (d.use === 'fresh' || d.use === 'stale-ok') {
        p.lk = undefined
        reply.hijack()
        http.serve(reply.raw, method, info.headers, lk.found, d.use === 'fresh' ? 'HIT' : 'STALE')
      }
    }
  })

  fastify.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const p = (request as WithPending)[PENDING]
    if (p?.lk === undefined) return payload
    const snapshot: HeaderRecord = {}
    for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) snapshot[k] = Array.isArray(v) ? v.map(String) : String(v)
    if (opts.stripSurrogateKeys !== false) for (const f of SURROGATE_FIELDS) reply.removeHeader(f)
    reply.header('x-cache', 'MISS')
    reply.header('cache-status', cacheStatus(http.name, 'MISS'))
    p.headers = snapshot
    if (typeof payload === 'string') p.body = Buffer.from(payload)
    else if (Buffer.isBuffer(payload)) p.body = payload
    return payload
  })

  fastify.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const p = (request as WithPending)[PENDING]
    if (p === undefined) return
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
  })
}

/** The plugin (encapsulation skipped, as fastify-plugin would). */
export const larderHttpCache = Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'larder-http-cache' })
export default larderHttpCache
