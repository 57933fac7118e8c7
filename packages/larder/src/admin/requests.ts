/**
 * Validation of admin request bodies and queries. Everything here is untrusted input:
 * tenant ids, tags, keys and prefixes are data (never patterns) and every list is bounded.
 * Each function returns the parsed value or throws a {@link BadRequest} (a LarderError,
 * E_BAD_REQUEST, or E_BODY_TOO_LARGE for a list past its limit) whose message says what is
 * wrong.
 * @module
 */
import { type ErrorCode, LarderError } from '../core/errors.ts'
import { isTenantId, MAX_KEY_LENGTH, validateKey, validateTag } from '../core/keys.ts'

export class BadRequest extends LarderError {
  constructor(message: string, code: ErrorCode = 'E_BAD_REQUEST') {
    super(code, message)
  }
}

/** Most tags, keys or urls one purge may name. */
export const MAX_ITEMS = 1000

export function parseJsonObject(buf: Buffer): Record<string, unknown> {
  if (buf.length === 0) throw new BadRequest('the request body is empty; send a JSON object')
  let v: unknown
  try {
    v = JSON.parse(buf.toString('utf8'))
  } catch (err) {
    throw new BadRequest(`the request body is not valid JSON (${(err as Error).message})`)
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadRequest('the request body must be a JSON object')
  return v as Record<string, unknown>
}

export function tenantField(v: unknown, field = 'tenant'): string {
  if (!isTenantId(v)) throw new BadRequest(`"${field}" must be a tenant id (1-128 characters, no control characters, not starting with "@" except "@public")`)
  return v
}

function list(v: unknown, field: string, check: (s: unknown) => string): string[] | undefined {
  if (v === undefined) return undefined
  if (!Array.isArray(v)) throw new BadRequest(`"${field}" must be an array of strings`)
  if (v.length > MAX_ITEMS) throw new BadRequest(`"${field}" has ${v.length} items; at most ${MAX_ITEMS} per request`, 'E_BODY_TOO_LARGE')
  return v.map((x, i) => {
    try {
      return check(x)
    } catch (err) {
      throw new BadRequest(`"${field}[${i}]": ${(err as Error).message}`)
    }
  })
}

export interface PurgeRequest {
  tenant: string
  tags?: string[]
  keys?: string[]
  urls?: string[]
  /** Host (authority) that paths in `urls` resolve against, lower-cased. */
  host?: string
  soft: boolean
}

const PURGE_FIELDS = ['tenant', 'tags', 'keys', 'urls', 'host', 'soft']
/** A host name, IPv4 or [IPv6] literal, with an optional port. */
const HOST = /^(\[[0-9a-f:.]{2,45}\]|[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*)(:\d{1,5})?$/

function url(s: unknown): string {
  if (typeof s !== 'string' || s.length === 0 || s.length > 8192) throw new Error('must be a non-empty string of at most 8192 characters')
  return s
}

/**
 * The one validation of a purge (POST body, PURGE method, CLI): unknown fields first (a
 * misspelt `tenent` must not purge the default tenant), then each field.
 */
export function parsePurge(body: Record<string, unknown>, defaultTenant: string): PurgeRequest {
  for (const k of Object.keys(body)) if (!PURGE_FIELDS.includes(k)) throw new BadRequest(`unknown field "${k.slice(0, 64)}" (allowed: ${PURGE_FIELDS.join(', ')})`)
  const tenant = tenantField(body.tenant ?? defaultTenant)
  const tags = list(body.tags, 'tags', validateTag)
  const keys = list(body.keys, 'keys', validateKey)
  const urls = list(body.urls, 'urls', url)
  if (body.soft !== undefined && typeof body.soft !== 'boolean') throw new BadRequest('"soft" must be true or false')
  if (!tags?.length && !keys?.length && !urls?.length) throw new BadRequest('name at least one of "tags", "keys" or "urls" to purge')
  let host: string | undefined
  if (body.host !== undefined) {
    if (typeof body.host !== 'string' || !HOST.test(body.host.toLowerCase())) throw new BadRequest('"host" must be a host name with an optional port, e.g. "shop.example" or "shop.example:8443"')
    host = body.host.toLowerCase()
  }
  for (const u of urls ?? []) {
    if (u.startsWith('/')) continue
    let parsed: URL
    try {
      parsed = new URL(u)
    } catch {
      throw new BadRequest(`"urls": "${u.slice(0, 100)}" is neither a path (starting with "/") nor an absolute URL`)
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new BadRequest(`"urls": "${u.slice(0, 100)}" must be an http(s) URL or a path`)
  }
  return { tenant, tags, keys, urls, ...(host !== undefined ? { host } : {}), soft: body.soft === true }
}

export interface ClearRequest {
  tenant: string
  namespace?: string
}

export function parseClear(body: Record<string, unknown>): ClearRequest {
  if (body.tenant === undefined) throw new BadRequest('"tenant" is required: clear drops every entry of one tenant')
  const tenant = tenantField(body.tenant)
  if (body.namespace !== undefined && (typeof body.namespace !== 'string' || body.namespace.length === 0 || body.namespace.length > 256)) {
    throw new BadRequest('"namespace" must be a non-empty string of at most 256 characters')
  }
  for (const k of Object.keys(body)) if (k !== 'tenant' && k !== 'namespace') throw new BadRequest(`unknown field "${k}" (allowed: tenant, namespace)`)
  return { tenant, namespace: body.namespace as string | undefined }
}

export interface KeysQuery {
  tenant: string
  prefix: string
  cursor?: string
  limit: number
}

export function parseKeysQuery(q: URLSearchParams, maxPage: number): KeysQuery {
  const t = q.get('tenant')
  if (t === null) throw new BadRequest('"tenant" query parameter is required')
  const tenant = tenantField(t)
  const prefix = q.get('prefix') ?? ''
  if (prefix.length > MAX_KEY_LENGTH) throw new BadRequest(`"prefix" is longer than ${MAX_KEY_LENGTH} characters`)
  const cursor = q.get('cursor') ?? undefined
  if (cursor !== undefined && cursor.length > 1024) throw new BadRequest('"cursor" is longer than 1024 characters')
  const rawLimit = q.get('limit')
  const limit = rawLimit === null ? Math.min(100, maxPage) : Number(rawLimit)
  if (!Number.isInteger(limit) || limit < 1 || limit > maxPage) throw new BadRequest(`"limit" must be an integer from 1 to ${maxPage}`)
  return { tenant, prefix, cursor, limit }
}
