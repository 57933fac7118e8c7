/**
 * HTTP event ingest: `POST /_larder/events`, mountable on the gateway or any node server
 * (a {@link LarderRoute}). Bearer token checked by core/auth.ts `requireScope` (action
 * `publish`: `events:publish@<tenant>`, or the older `events:publish` + `tenant:<id>`): the
 * token fixes the tenants: an event naming another tenant → 403, an event without a tenant
 * takes the token's tenant when it may publish for exactly one.
 *
 * Body: one event, an array of events, or `{ "events": [...] }`. The batch is all-or-nothing:
 * every event is validated and planned before any is applied.
 * Answers: 200 `{ results: [{ id, outcome, logId? }] }`; 400 malformed JSON or body shape;
 * 401/403 auth; 413 body or batch too large; 422 invalid event (unknown type, bad or
 * missing field: `error.field`, `error.index`); 503 when the cache could not apply it.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { type Authorizer, requireScope, SOME_TENANT } from '../core/auth.ts'
import { type ErrorCode, isLarderError, LarderError } from '../core/errors.ts'
import { type LarderRoute, readBody, sendError, sendJson } from '../core/route.ts'
import type { EventProcessor } from './processor.ts'

export interface EventIngestOptions {
  processor: EventProcessor
  auth: Authorizer
  /** Default `/_larder/events`. */
  path?: string
  /** Largest request body. Default 1 MiB. */
  maxBodyBytes?: number
  /** Most events per request. Default 1000. */
  maxBatch?: number
}

export interface EventIngest {
  route: LarderRoute
}

function fail(res: ServerResponse, code: ErrorCode, message: string, extra?: Record<string, unknown>): true {
  sendError(res, code, message, extra)
  return true
}

export function createEventIngest(options: EventIngestOptions): EventIngest {
  const { processor, auth } = options
  const path = options.path ?? '/_larder/events'
  const maxBody = options.maxBodyBytes ?? 1024 * 1024
  const maxBatch = options.maxBatch ?? 1000

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<true> {
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST')
      return fail(res, 'E_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}; use POST`)
    }
    // 401/403 before the body is read: the token must be able to publish for some tenant.
    const principal = requireScope(req, res, auth, 'publish', SOME_TENANT)
    if (!principal) {
      req.resume()
      return true
    }
    const declared = Number(req.headers['content-length'])
    if (Number.isFinite(declared) && declared > maxBody) {
      req.resume()
      return fail(res, 'E_BODY_TOO_LARGE', `request body is ${declared} bytes; the limit is ${maxBody}`, { limit: maxBody })
    }
    let body: Buffer
    try {
      body = await readBody(req, maxBody)
    } catch (err) {
      if (isLarderError(err, 'E_BODY_TOO_LARGE')) {
        req.resume()
        return fail(res, 'E_BODY_TOO_LARGE', err.message, { limit: maxBody })
      }
      throw err
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(body.toString('utf8'))
    } catch (err) {
      return fail(res, 'E_BAD_REQUEST', `body is not valid JSON: ${(err as Error).message}`)
    }
    const events: unknown[] = Array.isArray(parsed)
      ? parsed
      : parsed !== null && typeof parsed === 'object' && Array.isArray((parsed as { events?: unknown }).events)
        ? (parsed as { events: unknown[] }).events
        : [parsed]
    if (events.length === 0) return fail(res, 'E_BAD_REQUEST', 'the batch holds no events')
    if (events.length > maxBatch) return fail(res, 'E_BODY_TOO_LARGE', `the batch holds ${events.length} events; the limit is ${maxBatch}`, { limit: maxBatch })
    // The token fixes the tenant: fill it in when absent and unambiguous, refuse another tenant.
    const mine = auth.tenantsFor(principal, 'publish')
    const only = mine !== 'all' && mine.length === 1 ? mine[0] : undefined
    const prepared: unknown[] = []
    for (let i = 0; i < events.length; i++) {
      const e = events[i]
      if (e === null || typeof e !== 'object' || Array.isArray(e)) return fail(res, 'E_INVALID_EVENT', `event ${i}: must be a JSON object`, { field: '(root)', index: i })
      const ev = e as Record<string, unknown>
      const withTenant = ev.tenant === undefined && only !== undefined ? { ...ev, tenant: only } : ev
      if (typeof withTenant.tenant === 'string' && !auth.can(principal, 'publish', withTenant.tenant)) {
        return fail(res, 'E_FORBIDDEN', `event ${i}: token "${principal.name}" may not publish events for tenant "${withTenant.tenant.slice(0, 128)}"`, { index: i })
      }
      prepared.push(withTenant)
    }
    try {
      const results = await processor.publishBatch(prepared)
      sendJson(res, 200, { results: results.map((r) => ({ id: r.id, type: r.type, outcome: r.outcome, logId: r.logId })) })
    } catch (err) {
      if (err instanceof LarderError && err.code === 'E_INVALID_EVENT') {
        const index = err.details?.index
        return fail(res, err.code, typeof index === 'number' ? `event ${index}: ${err.message}` : err.message, { field: err.details?.field, index })
      }
      // Other LarderErrors answer with their own status (E_QUEUE_FULL 429, E_LOG_UNAVAILABLE 503 …).
      const code = err instanceof LarderError ? err.code : 'E_LOG_UNAVAILABLE'
      return fail(res, code, `the events could not be applied: ${(err as Error).message}`)
    }
    return true
  }

  return {
    route(req, res, ctx) {
      if (ctx.url.pathname !== path) return false
      return handle(req, res).catch((err) => {
        if (!res.headersSent) fail(res, 'E_INTERNAL', `internal error: ${(err as Error).message}`)
        else res.destroy()
        return true
      })
    },
  }
}
