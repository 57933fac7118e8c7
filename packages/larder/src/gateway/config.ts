/**
 * Gateway config file (YAML or JSON): origin, port, tenant header, host → tenant map,
 * tokens and per-route policies. Validated at load with messages naming the field.
 * @module
 */
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'
import type { TokenConfig } from '../core/auth.ts'
import { LarderError } from '../core/errors.ts'
import type { RoutePolicy } from '../http/routes.ts'
import { checkEventSources, type EventSourcesConfig } from './event-sources.ts'
import { parseTrustProxy } from './forwarded.ts'

export interface GatewayConfigFile {
  origin?: string
  port?: number
  host?: string
  redis?: string
  tenant_header?: string
  default_tenant?: string
  hosts?: Record<string, string>
  tokens?: TokenConfig[]
  routes?: Record<string, Omit<RoutePolicy, 'path'>> | RoutePolicy[]
  cache?: { max_body_bytes?: number; keep_stale?: string | number; targets?: string[]; name?: string; etag?: boolean; refresh_on_invalidation?: boolean }
  /** Origin timeouts `headers` / `body`; client timeouts `client_headers` / `client_request` (ms, gateway/limits.ts). */
  timeouts?: { headers?: number; body?: number; client_headers?: number; client_request?: number }
  /** Proxies in front of the gateway whose X-Forwarded-* / Forwarded fields are believed: IPs / CIDRs, a list or one comma-separated string. */
  trust_proxy?: string | string[]
  /** Open connections one client address may hold (0: no cap). Default 256. */
  max_connections_per_client?: number
  /** CDN purge forwarders (larder/http cdn): `{ type: fastly, serviceId, token }`, `{ type: cloudflare, zoneId, token }`, `{ type: webhook, url, headers? }`. */
  /** Event rules for POST /_larder/events: a file path or an inline `{ events: … }` (larder/events). */
  rules?: string | { version?: 1; events: Record<string, unknown> }
  /** Event sources feeding the rules over the gateway's Redis: a stream consumer group and/or pub/sub channels (gateway/event-sources.ts). */
  event_sources?: EventSourcesConfig
  forwarders?: { type: 'fastly' | 'cloudflare' | 'webhook'; [k: string]: unknown }[]
  /** The SSE stream (GET /_larder/stream): `secret` signs stream tokens; `anonymous` allows streams without one (default: only when no secret). */
  stream?: { secret?: string; anonymous?: boolean }
}

const KNOWN = new Set(['origin', 'port', 'host', 'redis', 'tenant_header', 'default_tenant', 'hosts', 'tokens', 'routes', 'cache', 'timeouts', 'forwarders', 'rules', 'event_sources', 'stream', 'trust_proxy', 'max_connections_per_client'])
const TIMEOUTS = ['headers', 'body', 'client_headers', 'client_request']

export function parseGatewayConfig(text: string, source = 'config'): GatewayConfigFile {
  let doc: unknown
  try {
    doc = parse(text)
  } catch (err) {
    throw new LarderError('E_INVALID_OPTION', `${source}: not valid YAML/JSON: ${(err as Error).message}`, { cause: err })
  }
  if (doc === null || doc === undefined) return {}
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new LarderError('E_INVALID_OPTION', `${source}: the top level must be a mapping`)
  const c = doc as Record<string, unknown>
  for (const k of Object.keys(c)) if (!KNOWN.has(k)) throw new LarderError('E_INVALID_OPTION', `${source}: unknown field "${k}" (known: ${[...KNOWN].join(', ')})`)
  if (c.origin !== undefined && (typeof c.origin !== 'string' || !/^https?:\/\//.test(c.origin))) throw new LarderError('E_INVALID_OPTION', `${source}: origin must be an http(s) URL`)
  if (c.port !== undefined && !(Number.isInteger(c.port) && (c.port as number) >= 0 && (c.port as number) < 65536)) throw new LarderError('E_INVALID_OPTION', `${source}: port must be an integer 0-65535`)
  if (c.hosts !== undefined) {
    if (typeof c.hosts !== 'object' || c.hosts === null || Array.isArray(c.hosts)) throw new LarderError('E_INVALID_OPTION', `${source}: hosts must map host names to tenant ids`)
    for (const [h, t] of Object.entries(c.hosts)) if (typeof t !== 'string') throw new LarderError('E_INVALID_OPTION', `${source}: hosts["${h}"] must be a tenant id string`)
  }
  if (c.tokens !== undefined && !Array.isArray(c.tokens)) throw new LarderError('E_INVALID_OPTION', `${source}: tokens must be a list of { name, token, scopes }`)
  if (c.forwarders !== undefined) {
    if (!Array.isArray(c.forwarders)) throw new LarderError('E_INVALID_OPTION', `${source}: forwarders must be a list`)
    for (const [i, f] of (c.forwarders as Record<string, unknown>[]).entries()) {
      const need = f?.type === 'fastly' ? ['serviceId', 'token'] : f?.type === 'cloudflare' ? ['zoneId', 'token'] : f?.type === 'webhook' ? ['url'] : undefined
      if (!need) throw new LarderError('E_INVALID_OPTION', `${source}: forwarders[${i}].type must be fastly, cloudflare or webhook`)
      for (const k of need) if (typeof f[k] !== 'string' || !f[k]) throw new LarderError('E_INVALID_OPTION', `${source}: forwarders[${i}] (${f.type}) needs "${k}"`)
    }
  }
  if (c.stream !== undefined) {
    const st = c.stream as Record<string, unknown> | null
    if (typeof st !== 'object' || st === null || Array.isArray(st)) throw new LarderError('E_INVALID_OPTION', `${source}: stream must be a mapping { secret?, anonymous? }`)
    for (const k of Object.keys(st)) if (k !== 'secret' && k !== 'anonymous') throw new LarderError('E_INVALID_OPTION', `${source}: unknown field "stream.${k}" (known: secret, anonymous)`)
    if (st.secret !== undefined && (typeof st.secret !== 'string' || st.secret.length < 16)) throw new LarderError('E_INVALID_OPTION', `${source}: stream.secret must be a string of at least 16 characters`)
    if (st.anonymous !== undefined && typeof st.anonymous !== 'boolean') throw new LarderError('E_INVALID_OPTION', `${source}: stream.anonymous must be true or false`)
  }
  if (c.timeouts !== undefined) {
    const t = c.timeouts as Record<string, unknown> | null
    if (typeof t !== 'object' || t === null || Array.isArray(t)) throw new LarderError('E_INVALID_OPTION', `${source}: timeouts must be a mapping { ${TIMEOUTS.join(', ')} }`)
    for (const [k, v] of Object.entries(t)) {
      if (!TIMEOUTS.includes(k)) throw new LarderError('E_INVALID_OPTION', `${source}: unknown field "timeouts.${k}" (known: ${TIMEOUTS.join(', ')})`)
      if (!Number.isInteger(v) || (v as number) < 0) throw new LarderError('E_INVALID_OPTION', `${source}: timeouts.${k} must be a non-negative integer (ms)`)
    }
  }
  if (c.trust_proxy !== undefined) {
    if (typeof c.trust_proxy !== 'string' && !Array.isArray(c.trust_proxy)) throw new LarderError('E_INVALID_OPTION', `${source}: trust_proxy must be a list of IP addresses / CIDRs or one comma-separated string`)
    parseTrustProxy(c.trust_proxy as string | string[], `${source}: trust_proxy`)
  }
  if (c.max_connections_per_client !== undefined && !(Number.isInteger(c.max_connections_per_client) && (c.max_connections_per_client as number) >= 0)) {
    throw new LarderError('E_INVALID_OPTION', `${source}: max_connections_per_client must be a non-negative integer (0: no cap)`)
  }
  if (c.event_sources !== undefined) checkEventSources(c.event_sources, source)
  if (c.routes !== undefined && (typeof c.routes !== 'object' || c.routes === null)) throw new LarderError('E_INVALID_OPTION', `${source}: routes must map paths to policies`)
  return c as GatewayConfigFile
}

export function loadGatewayConfig(path: string): GatewayConfigFile {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new LarderError('E_INVALID_OPTION', `cannot read config file ${path}: ${(err as Error).message}`, { cause: err })
  }
  return parseGatewayConfig(text, path)
}
