/**
 * Forwards `/shop-api` and `/_larder/` from the storefront's origin to the Larder gateway, so
 * the browser reads the Shop API and the stream on one origin (no CORS preflight on the
 * refresh path). In production a load balancer usually does this; the example keeps it in one process.
 */
import { Agent, type IncomingMessage, request, type ServerResponse } from 'node:http'

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'host'])

export interface ProxyTargets {
  /** Gateway base URL for `/shop-api`. */
  shopApi: string
  /**
   * Base URL for `/_larder/` (the stream): the gateway (its hub follows the log after the
   * gateway's own cache applied each invalidation, so a refetch made on an event never reads
   * the old answer), or Vendure when the stream is mounted there and the gateway caches nothing.
   */
  stream: string
}

const agent = new Agent({ keepAlive: true, maxSockets: 256 })

/** Answers and returns true for the proxied paths. */
export function proxy(req: IncomingMessage, res: ServerResponse, targets: ProxyTargets): boolean {
  const path = req.url ?? '/'
  const base = path === '/shop-api' || path.startsWith('/shop-api?') || path.startsWith('/shop-api/') ? targets.shopApi : path.startsWith('/_larder/') ? targets.stream : undefined
  if (base === undefined) return false
  const target = new URL(path, base)
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
  headers['x-forwarded-host'] = req.headers.host ?? ''
  const upstream = request(target, { method: req.method, headers, agent }, (up) => {
    const out: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(up.headers)) if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
    res.writeHead(up.statusCode ?? 502, out)
    // Stream as it comes (SSE frames must not wait for a buffer to fill).
    res.flushHeaders()
    up.pipe(res)
  })
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' }).end('upstream unavailable')
    else res.destroy()
  })
  // The browser went away (a closed page, a stream the client aborted): drop the upstream request.
  res.on('close', () => upstream.destroy())
  req.pipe(upstream)
  return true
}
