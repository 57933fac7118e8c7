/**
 * `larder/http/fastify`: a Fastify plugin that caches responses per RFC 9111.
 *
 * ```ts
 * import { createCache } from 'larder'
 * import { larderHttpCache } from 'larder/http/fastify'
 * await app.register(larderHttpCache, { cache: createCache(), tenant: (req) => req.headers['x-tenant-id'] as string })
 * ```
 *
 * The decisions are larder/http's shared flow (http/handler.ts); this file only maps them
 * onto Fastify's hooks. Hits (GET and HEAD) are answered from `onRequest` (the route handler
 * never runs), and concurrent misses wait there for the one running the route; misses are
 * captured in `onSend` (string/Buffer payloads; streams pass through uncached) and stored in
 * `onResponse`. Like fastify-plugin, the plugin skips encapsulation so it covers every route
 * of the instance it is registered on.
 *
 * Stale entries: within stale-while-revalidate the request is answered stale and the next
 * one runs the route to refresh it (see refresh.ts); when the route fails (5xx or a throw)
 * within stale-if-error, `onSend` swaps the error for the stored response (RFC 5861 §4).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Cache } from '../../core/api.ts'
import { httpStatus } from '../../core/errors.ts'
import { createHttpCache, type HttpCache, type HttpCacheOptions, type Prepared, type RequestInfo } from '../engine.ts'
import { first, type HeaderRecord } from '../freshness.ts'
import { adapterTenant, CacheFlow, type Load } from '../handler.ts'
import { SURROGATE_FIELDS } from '../headers.ts'
import { isSafeMethod } from '../invalidation.ts'

export interface FastifyCacheOptions extends Omit<HttpCacheOptions, 'cache'> {
  cache?: Cache
  http?: HttpCache
  tenant?: (req: IncomingMessage) => string | undefined
  /** Cache failures (lookup, store, invalidation): reported here, never failing the request. Default: the instance's logger (warn). */
  onError?: (err: unknown, context: string) => void
}

interface Pending {
  tenant: string
  info: RequestInfo
  /** The load this request runs the route for (a miss, or a refresh of a stale entry). */
  load?: Load
  /** What onSend kept for storing. */
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
  const flow = new CacheFlow(http, { onError: opts.onError ?? ((err, context) => fastify.log.warn({ err, context }, 'larder http cache failure')) })
  const strip = opts.stripSurrogateKeys !== false

  fastify.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const req = request.raw
    const t = adapterTenant(tenantOf(req))
    if (!('tenant' in t)) return reply.code(httpStatus(t.code)).send({ error: { code: t.code, message: t.message } })
    const info: RequestInfo = { method: req.method ?? 'GET', host: (req.headers.host ?? '').toLowerCase(), target: req.url ?? '/', headers: req.headers as HeaderRecord }
    const p: Pending = { tenant: t.tenant, info }
    ;(request as WithPending)[PENDING] = p
    if (!isSafeMethod(info.method)) return
    const step = await flow.begin(t.tenant, info)
    switch (step.kind) {
      case 'serve':
        reply.hijack()
        return flow.serve(reply.raw, t.tenant, info, step.entry, step.outcome)
      case 'refuse':
        return reply.code(httpStatus(step.code)).send({ error: { code: step.code, message: step.message } })
      case 'pass':
        return
      case 'load': {
        const load = step.load
        p.load = load
        // An aborted request never reaches onResponse: end the load so collapsed requests go on.
        reply.raw.once('close', () => {
          if (!reply.raw.writableFinished) load.done()
        })
      }
    }
  })

  fastify.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const p = (request as WithPending)[PENDING]
    if (p === undefined) return payload
    // RFC 9111 §4.4, before the answer reaches the client.
    if (!isSafeMethod(p.info.method)) {
      await flow.invalidateAfter(p.tenant, p.info, reply.statusCode, reply.getHeaders() as HeaderRecord)
      return payload
    }
    const load = p.load
    if (load === undefined) return payload
    const snapshot: HeaderRecord = {}
    for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) snapshot[k] = Array.isArray(v) ? v.map(String) : String(v)
    const cl = Number(first(snapshot['content-length']) ?? Number.NaN)
    delete snapshot['content-length']
    const answer = flow.respond(load, reply.statusCode, snapshot, cl)
    if (answer.useStale && load.stale !== undefined) {
      // The route failed: answer the stored response instead, and store nothing.
      const out = rendered(flow, p, load.stale, reply.statusCode)
      for (const n of Object.keys(reply.getHeaders())) reply.removeHeader(n)
      reply.code(out.status)
      for (const [k, v] of Object.entries(out.headers)) reply.header(k, v)
      return out.body === undefined ? null : Buffer.from(out.body, 'latin1')
    }
    for (let i = 0; i + 1 < answer.lines.length; i += 2) reply.header(answer.lines[i] as string, answer.lines[i + 1] as string)
    if (strip) for (const f of SURROGATE_FIELDS) reply.removeHeader(f)
    if (answer.store) {
      p.headers = snapshot
      // String/Buffer payloads only; streams pass through uncached.
      if (typeof payload === 'string') p.body = Buffer.from(payload)
      else if (Buffer.isBuffer(payload)) p.body = payload
    }
    return payload
  })

  fastify.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
    const p = (request as WithPending)[PENDING]
    const load = p?.load
    if (p === undefined || load === undefined) return
    try {
      if (p.body !== undefined && p.headers !== undefined) await flow.store(load, reply.statusCode, p.headers, p.body)
    } finally {
      load.done()
    }
  })
}

/**
 * The engine's own rendering of a stored response (`serve`: Age, Cache-Status with
 * fwd-status, X-Cache, a 304 for a matching conditional), captured so Fastify sends it.
 */
function rendered(flow: CacheFlow, pending: Pending, p: Prepared, fwdStatus: number): { status: number; headers: Record<string, string | string[]>; body: string | undefined } {
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
  flow.serve(sink as unknown as ServerResponse, pending.tenant, pending.info, p, 'STALE', fwdStatus)
  return out
}

/** The plugin (encapsulation skipped, as fastify-plugin would). */
export const larderHttpCache = Object.assign(plugin, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'larder-http-cache' })
export default larderHttpCache
