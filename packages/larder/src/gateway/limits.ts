/**
 * Client-side limits of the gateway's listening server: how long a client may take to send
 * its header block and its whole request (node's `headersTimeout` / `requestTimeout`, checked
 * every `connectionsCheckingInterval`; past them node answers 408 and closes), and how many
 * connections one client address may hold at once (past it: 503 and close, before any byte
 * is parsed). Slowloris-style clients (one header line per second) and one address opening
 * thousands of idle sockets otherwise hold the gateway's file descriptors indefinitely.
 * @module
 */
import type { Server, ServerOptions } from 'node:http'
import { LarderError } from '../core/errors.ts'

export interface ClientLimits {
  /** A client must send its complete header block within this (ms). Default 20 000. */
  clientHeadersTimeout?: number
  /** A client must send its complete request (headers and body) within this (ms). Default 60 000; 0 disables. */
  clientRequestTimeout?: number
  /** Open connections one client address may hold. Default 256; 0 disables. */
  maxConnectionsPerClient?: number
}

export const CLIENT_LIMIT_DEFAULTS = { clientHeadersTimeout: 20_000, clientRequestTimeout: 60_000, maxConnectionsPerClient: 256 } as const

function positive(name: string, v: number | undefined, dflt: number, allowZero: boolean): number {
  if (v === undefined) return dflt
  if (!Number.isInteger(v) || v < 0 || (!allowZero && v === 0)) throw new LarderError('E_INVALID_OPTION', `${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(v)}`)
  return v
}

/** The node:http server options for `o` (validated; throws E_INVALID_OPTION naming the option). */
export function clientServerOptions(o: ClientLimits): Pick<ServerOptions, 'headersTimeout' | 'requestTimeout' | 'connectionsCheckingInterval'> {
  const headers = positive('clientHeadersTimeout', o.clientHeadersTimeout, CLIENT_LIMIT_DEFAULTS.clientHeadersTimeout, false)
  let request = positive('clientRequestTimeout', o.clientRequestTimeout, CLIENT_LIMIT_DEFAULTS.clientRequestTimeout, true)
  // node requires headersTimeout <= requestTimeout (0 = no request timeout).
  if (request !== 0 && request < headers) request = headers
  // Expired connections are found by a periodic sweep: a fraction of the shortest timeout, at most 1 s.
  const interval = Math.max(25, Math.min(1000, Math.floor(headers / 4)))
  return { headersTimeout: headers, requestTimeout: request, connectionsCheckingInterval: interval }
}

/**
 * Caps concurrent connections per client address on `server`: a connection past the cap is
 * answered `503` with `Connection: close` and closed at once (the counter drops when a
 * connection closes). Addresses `exempt` accepts (trusted proxies) are not capped. Returns the current count per address (for tests and diagnostics).
 */
export function limitConnectionsPerClient(server: Server, max: number | undefined, exempt?: (address: string) => boolean): Map<string, number> {
  const limit = positive('maxConnectionsPerClient', max, CLIENT_LIMIT_DEFAULTS.maxConnectionsPerClient, true)
  const open = new Map<string, number>()
  if (limit === 0) return open
  server.on('connection', (socket) => {
    const addr = socket.remoteAddress ?? ''
    // A trusted proxy in front carries many clients on its connections.
    if (exempt?.(addr)) return
    const n = (open.get(addr) ?? 0) + 1
    if (n > limit) {
      const body = `{"error":{"code":"E_TOO_MANY_CONNECTIONS","message":"this client address holds ${limit} connections, the limit"}}`
      socket.end(`HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\ncontent-type: application/json\r\nretry-after: 1\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
      socket.destroySoon()
      return
    }
    open.set(addr, n)
    socket.once('close', () => {
      const left = (open.get(addr) ?? 1) - 1
      if (left <= 0) open.delete(addr)
      else open.set(addr, left)
    })
  })
  return open
}
