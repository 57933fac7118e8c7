/**
 * Header plumbing for a proxy: hop-by-hop fields (RFC 9110 §7.6.1), fields a cache does
 * not store (RFC 9111 §3.1), surrogate keys, and the Cache-Status field (RFC 9211).
 * @module
 */
import { isIPv6 } from 'node:net'
import { headerValue } from './cache-control.ts'
import type { HeaderRecord } from './freshness.ts'

/** Always connection-specific (RFC 9110 §7.6.1, plus the legacy fields proxies strip). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
])

/** Hop-by-hop fields of one message: the fixed set plus every name listed in Connection (§7.6.1). */
export function hopByHop(headers: HeaderRecord): Set<string> {
  const conn = headerValue(headers.connection)
  if (!conn) return HOP_BY_HOP as Set<string>
  const out = new Set(HOP_BY_HOP)
  for (const n of conn.split(',')) {
    const t = n.trim().toLowerCase()
    if (t) out.add(t)
  }
  return out
}

/**
 * Names a request's Connection field may list (RFC 9110 §7.6.1): connection options and the
 * fields HTTP itself defines as hop-by-hop. Any other name would make a proxy drop that
 * field before forwarding, after the cache key (tenant, Host, Vary'd fields) was computed
 * with it — the gateway refuses such a request instead (docs/http.md, "Requests the gateway
 * refuses or rewrites").
 */
export const CONNECTION_OPTIONS: ReadonlySet<string> = new Set(['close', 'keep-alive', 'upgrade', 'te', 'trailer', 'transfer-encoding', 'http2-settings'])

/** Whether a (lower-case) name may appear in a request's Connection field: the set above or any `proxy-*` field. */
export function isConnectionOption(name: string): boolean {
  return CONNECTION_OPTIONS.has(name) || name.startsWith('proxy-')
}

const REG_NAME_PORT = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*(?::[0-9]{0,5})?$/
const IP_LITERAL_PORT = /^\[([^\]]*)\](?::[0-9]{0,5})?$/
const IPV_FUTURE = /^v[0-9A-Fa-f]+\.[A-Za-z0-9\-._~!$&'()*+,;=:]+$/

/**
 * Whether a Host value is `uri-host [ ":" port ]` (RFC 9110 §7.2, RFC 3986 §3.2.2): a
 * reg-name (or IPv4 address), or an IP-literal in brackets, then optional port digits. No
 * userinfo, path, query, fragment, whitespace or control characters. Empty is allowed
 * (RFC 9112 §3.2: a target without authority).
 */
export function isAuthority(v: string): boolean {
  if (v.charCodeAt(0) !== 0x5b) return REG_NAME_PORT.test(v)
  const m = IP_LITERAL_PORT.exec(v)
  if (m === null) return false
  const inner = m[1] as string
  return isIPv6(inner) || IPV_FUTURE.test(inner)
}

/** Copies headers without hop-by-hop fields. */
export function stripHopByHop(headers: HeaderRecord): HeaderRecord {
  const hop = hopByHop(headers)
  const out: HeaderRecord = {}
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !hop.has(k)) out[k] = v
  return out
}

/** Response fields that carry surrogate keys (Fastly, Cloudflare, Akamai, Varnish xkey). */
export const SURROGATE_FIELDS = ['surrogate-key', 'cache-tag', 'cache-groups', 'xkey'] as const

/**
 * Surrogate keys of a response. Keys are data: `*`, `?`, `[` are ordinary characters.
 * Surrogate-Key and xkey are space-separated; Cache-Tag and Cache-Groups comma-separated.
 */
export function surrogateKeys(headers: HeaderRecord, maxKeys = 64, maxLength = 256): string[] {
  const out = new Set<string>()
  for (const f of SURROGATE_FIELDS) {
    const v = headerValue(headers[f])
    if (!v) continue
    const sep = f === 'surrogate-key' || f === 'xkey' ? /[\s,]+/ : /\s*,\s*/
    for (const k of v.split(sep)) {
      const t = k.trim().replace(/^"(.*)"$/, '$1')
      if (t && t.length <= maxLength && out.size < maxKeys) out.add(t)
    }
  }
  return [...out]
}

export type CacheOutcome = 'HIT' | 'MISS' | 'STALE' | 'BYPASS' | 'REVALIDATED'

/**
 * Cache-Status member for this cache (RFC 9211 §2): `hit` for a stored response used
 * without going forward, otherwise `fwd=<reason>` with `stored` / `fwd-status` / `ttl`.
 */
export function cacheStatus(name: string, outcome: CacheOutcome, opts: { ttl?: number; stored?: boolean; fwdStatus?: number; detail?: string } = {}): string {
  let s = name
  switch (outcome) {
    case 'HIT':
      s += '; hit'
      break
    case 'STALE':
      s += '; hit; fwd=stale'
      break
    case 'MISS':
      s += '; fwd=uri-miss'
      break
    case 'REVALIDATED':
      s += '; fwd=stale'
      break
    case 'BYPASS':
      s += '; fwd=bypass'
      break
  }
  if (opts.fwdStatus !== undefined && outcome !== 'HIT') s += `; fwd-status=${opts.fwdStatus}`
  if (opts.ttl !== undefined) s += `; ttl=${Math.floor(opts.ttl)}`
  if (opts.stored) s += '; stored'
  if (opts.detail) s += `; detail="${opts.detail.replace(/["\\]/g, '')}"`
  return s
}
