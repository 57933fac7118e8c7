/**
 * The request as the origin will see it: the client's fields without hop-by-hop ones,
 * without the fields a client could use to rewrite what the origin believes (its address,
 * scheme, host, URL) and without the gateway's own Authorization token; plus the forwarding
 * fields a reverse proxy sets (nginx/Varnish conventions). The gateway computes the cache
 * key (Vary'd fields included) from this same view, so what is stored is keyed by exactly
 * what was sent upstream.
 *
 * - From a peer that is not a trusted proxy every `X-Forwarded-*`, `Forwarded` and
 *   `X-Real-IP` field is dropped; the gateway sets `X-Forwarded-For: <peer>`,
 *   `X-Forwarded-Proto: <its own scheme>`, `X-Forwarded-Host: <Host>` and
 *   `Forwarded: for=<peer>;host="<Host>";proto=<scheme>` (RFC 7239).
 * - From a trusted proxy (`trustProxy`: IPs / CIDRs) the fields are kept; the peer is
 *   appended to `X-Forwarded-For` and `Forwarded`, its `X-Forwarded-Proto` is kept when it is
 *   `http` or `https`. `X-Forwarded-Host` is always the Host the gateway received (the
 *   cache key's host).
 * - `X-Original-URL` and `X-Rewrite-URL` (IIS / Symfony / Laravel routing overrides) are
 *   always dropped.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { BlockList, isIP } from 'node:net'
import { LarderError } from '../core/errors.ts'
import { headerValue } from '../http/cache-control.ts'
import type { HeaderRecord } from '../http/freshness.ts'
import { hopByHop } from '../http/headers.ts'

/** Dropped from every client: they override the URL the origin routes on. */
const REWRITE_FIELDS: ReadonlySet<string> = new Set(['x-original-url', 'x-rewrite-url'])

export interface ForwardingOptions {
  /** Peers whose forwarding fields are believed (`parseTrustProxy`). */
  trust?: BlockList
  /** True for an Authorization value that is one of the gateway's own tokens (never forwarded). */
  ownToken?: (authorization: string) => boolean
}

/**
 * Parses a trusted-proxy list: IPs and CIDRs (`10.0.0.0/8`, `::1`, `fd00::/8`), as an array
 * or one comma-separated string. Throws E_INVALID_OPTION naming the bad entry.
 */
export function parseTrustProxy(spec: string | readonly string[] | undefined, source = 'trustProxy'): BlockList | undefined {
  if (spec === undefined) return undefined
  const items = (typeof spec === 'string' ? spec.split(',') : spec).map((s) => (typeof s === 'string' ? s.trim() : s))
  const list = new BlockList()
  let n = 0
  for (const item of items) {
    if (item === '') continue
    if (typeof item !== 'string') throw new LarderError('E_INVALID_OPTION', `${source}: entries must be IP addresses or CIDRs, got ${JSON.stringify(item)}`)
    const slash = item.indexOf('/')
    const addr = slash < 0 ? item : item.slice(0, slash)
    const family = isIP(addr)
    if (family === 0) throw new LarderError('E_INVALID_OPTION', `${source}: "${item}" is not an IP address or CIDR`)
    const type = family === 4 ? 'ipv4' : 'ipv6'
    if (slash < 0) list.addAddress(addr, type)
    else {
      const bits = item.slice(slash + 1)
      const max = family === 4 ? 32 : 128
      if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) throw new LarderError('E_INVALID_OPTION', `${source}: "${item}" has a prefix length outside 0-${max}`)
      list.addSubnet(addr, Number(bits), type)
    }
    n++
  }
  return n === 0 ? undefined : list
}

/** The peer's address, IPv4-mapped IPv6 (`::ffff:1.2.3.4`) shown as IPv4. */
export function peerAddress(remote: string | undefined): string {
  if (remote === undefined) return ''
  return remote.startsWith('::ffff:') && remote.includes('.') ? remote.slice(7) : remote
}

/** Whether `addr` (from `peerAddress`) is in `trust`. */
export function isTrusted(trust: BlockList | undefined, addr: string): boolean {
  if (trust === undefined || addr === '') return false
  const family = isIP(addr)
  return family !== 0 && trust.check(addr, family === 4 ? 'ipv4' : 'ipv6')
}

function forwardedFamily(name: string): boolean {
  return name.startsWith('x-forwarded-') || name === 'forwarded' || name === 'x-real-ip'
}

/** The request fields the origin gets (and the cache key reads); see the module comment. */
export function upstreamView(req: IncomingMessage, o: ForwardingOptions): HeaderRecord {
  const src = req.headers as HeaderRecord
  const hop = hopByHop(src)
  const peer = peerAddress(req.socket.remoteAddress)
  const trusted = isTrusted(o.trust, peer)
  const out: HeaderRecord = {}
  for (const k in src) {
    const v = src[k]
    if (v === undefined || hop.has(k) || REWRITE_FIELDS.has(k) || (!trusted && forwardedFamily(k))) continue
    out[k] = v
  }
  const auth = src.authorization
  if (typeof auth === 'string' && o.ownToken?.(auth) === true) delete out.authorization
  const own = (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : 'http'
  let proto = own
  if (trusted) {
    const p = headerValue(out['x-forwarded-proto'])?.split(',')[0]?.trim().toLowerCase()
    if (p === 'http' || p === 'https') proto = p
  }
  const host = typeof src.host === 'string' ? src.host : ''
  const xff = trusted ? headerValue(out['x-forwarded-for']) : undefined
  out['x-forwarded-for'] = xff ? `${xff}, ${peer}` : peer
  out['x-forwarded-proto'] = proto
  if (host) out['x-forwarded-host'] = host
  else delete out['x-forwarded-host']
  // RFC 7239 §6: an IPv6 node is quoted and bracketed; the host (validated) is quoted.
  const node = peer.includes(':') ? `"[${peer}]"` : peer || 'unknown'
  const element = `for=${node}${host ? `;host="${host}"` : ''};proto=${proto}`
  const fwd = trusted ? headerValue(out.forwarded) : undefined
  out.forwarded = fwd ? `${fwd}, ${element}` : element
  return out
}
