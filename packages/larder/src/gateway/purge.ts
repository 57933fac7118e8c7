/**
 * The purge API: `POST /_larder/purge` with `{ tenant?, tags?, keys?, urls?, soft? }` and
 * the `PURGE <url>` method, both behind Bearer tokens (core/auth.ts). A token scoped to
 * `tenant:<id>` purges only that tenant; the answer says how many entries were dropped.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Authorizer } from '../core/auth.ts'
import { isLarderError } from '../core/errors.ts'
import { validateTag, validateTenant } from '../core/keys.ts'
import { readBody, sendError, sendJson } from '../core/route.ts'
import type { HttpCache } from '../http/engine.ts'

const MAX_BODY = 1024 * 1024
const MAX_ITEMS = 10_000

function strings(v: unknown, field: string): string[] | undefined {
  if (v === undefined) return undefined
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x.length === 0)) throw new TypeError(`"${field}" must be an array of non-empty strings`)
  if (v.length > MAX_ITEMS) throw new TypeError(`"${field}" has ${v.length} items; the limit is ${MAX_ITEMS}`)
  return v as string[]
}

function authorize(req: IncomingMessage, res: ServerResponse, auth: Authorizer | undefined, tenant: string): boolean {
  if (auth === undefined) {
    sendError(res, 401, 'E_UNAUTHORIZED', 'purging needs a token: start the gateway with --admin-token or LARDER_TOKENS')
    return false
  }
  const p = auth.authenticate(req.headers.authorization)
  if (p === null) {
    res.setHeader('www-authenticate', 'Bearer')
    sendError(res, 401, 'E_UNAUTHORIZED', 'missing or unknown bearer token')
    return false
  }
  if (!auth.can(p, 'purge', tenant)) {
    sendError(res, 403, 'E_FORBIDDEN', `token "${p.name}" may not purge tenant "${tenant}"`)
    return false
  }
  return true
}

/** POST /_larder/purge. `tenant` defaults to the request's resolved tenant. */
export async function handlePurgeApi(req: IncomingMessage, res: ServerResponse, http: HttpCache, auth: Authorizer | undefined, resolved: string): Promise<void> {
  let body: Record<string, unknown>
  try {
    const raw = await readBody(req, MAX_BODY)
    body = raw.length === 0 ? {} : JSON.parse(raw.toString('utf8'))
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new TypeError('the body must be a JSON object')
  } catch (err) {
    const status = (err as { status?: number }).status === 413 ? 413 : 400
    return sendError(res, status, 'E_BAD_REQUEST', `purge body: ${(err as Error).message}`)
  }
  let tenant: string
  let input: { tags?: string[]; keys?: string[]; urls?: string[]; soft?: boolean }
  try {
    tenant = body.tenant === undefined ? resolved : validateTenant(body.tenant)
    input = { tags: strings(body.tags, 'tags'), keys: strings(body.keys, 'keys'), urls: strings(body.urls, 'urls') }
    for (const t of input.tags ?? []) validateTag(t)
    for (const u of input.urls ?? []) if (!u.startsWith('/')) new URL(u)
    if (body.soft !== undefined && typeof body.soft !== 'boolean') throw new TypeError('"soft" must be a boolean')
    input.soft = body.soft === true
    if (!input.tags?.length && !input.keys?.length && !input.urls?.length) throw new TypeError('give at least one of "tags", "keys" or "urls"')
  } catch (err) {
    return sendError(res, 400, isLarderError(err) ? err.code : 'E_BAD_REQUEST', (err as Error).message)
  }
  if (!authorize(req, res, auth, tenant)) return
  try {
    const r = await http.purge(tenant, input, (req.headers.host ?? '').toLowerCase())
    // 202: applied here but queued for the shared log (other instances do not have it yet).
    sendJson(res, r.queued ? 202 : 200, { tenant, purged: r.purged, id: r.id, soft: input.soft, ...(r.queued ? { queued: true } : {}) })
  } catch (err) {
    sendError(res, isLarderError(err) && err.code !== 'E_LOG_UNAVAILABLE' ? 400 : 503, isLarderError(err) && err.code !== 'E_LOG_UNAVAILABLE' ? err.code : 'E_PURGE_FAILED', (err as Error).message)
  }
}

/** `PURGE /path` (Varnish/Squid style): purges that URL for the request's tenant. */
export async function handlePurgeMethod(req: IncomingMessage, res: ServerResponse, http: HttpCache, auth: Authorizer | undefined, tenant: string, target: string): Promise<void> {
  req.resume()
  if (!authorize(req, res, auth, tenant)) return
  const soft = /^(1|true|soft)$/i.test(String(req.headers['x-purge-soft'] ?? ''))
  try {
    const r = await http.purge(tenant, { urls: [target], soft }, (req.headers.host ?? '').toLowerCase())
    sendJson(res, r.queued ? 202 : 200, { tenant, purged: r.purged, id: r.id, soft, ...(r.queued ? { queued: true } : {}) })
  } catch (err) {
    sendError(res, isLarderError(err) && err.code !== 'E_LOG_UNAVAILABLE' ? 400 : 503, isLarderError(err) && err.code !== 'E_LOG_UNAVAILABLE' ? err.code : 'E_PURGE_FAILED', (err as Error).message)
  }
}
