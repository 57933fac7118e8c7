/**
 * Checks on a request's head the gateway makes before any route or cache lookup, so the
 * cache key (tenant, Host, target, Vary'd fields) is computed from exactly what is sent
 * upstream (docs/http.md, "Requests the gateway refuses or rewrites"):
 *
 * - exactly one Host field (RFC 9112 §3.2), holding `uri-host [ ":" port ]` (RFC 9110 §7.2,
 *   RFC 3986 §3.2.2): a path, query, userinfo or stray byte in Host would make one URL's
 *   key another's;
 * - Connection (RFC 9110 §7.6.1) lists only connection options and the fields HTTP defines
 *   as hop-by-hop: any other name (the tenant header, Host, a field a Vary may select on)
 *   would be stripped before forwarding while the key still holds it.
 * @module
 */
import type { IncomingMessage } from 'node:http'
import { isAuthority, isConnectionOption } from '../http/headers.ts'

/** The 400's message, or undefined when the head is acceptable. */
export function checkRequestHead(req: IncomingMessage): string | undefined {
  const raw = req.rawHeaders
  let hosts = 0
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string
    if (n.length === 4 && n.toLowerCase() === 'host') hosts++
  }
  if (hosts > 1) return 'more than one Host field (RFC 9112 §3.2)'
  const host = req.headers.host
  if (host !== undefined && !isAuthority(host)) {
    return `the Host field must be a host name or IP address with an optional :port (RFC 9110 §7.2, RFC 3986 §3.2.2), got ${JSON.stringify(host.slice(0, 100))}`
  }
  const conn = req.headers.connection
  if (conn !== undefined) {
    for (const part of conn.split(',')) {
      const name = part.trim().toLowerCase()
      if (name === '' || isConnectionOption(name)) continue
      return `the Connection field names "${name.slice(0, 100)}": it may list only keep-alive, close, upgrade, te, trailer, transfer-encoding, http2-settings and proxy-* (RFC 9110 §7.6.1). A proxy strips every field Connection names, so the origin would answer a different request than the one the cache key describes; send the field without listing it in Connection`
    }
  }
  return undefined
}
