import type { IncomingMessage, ServerResponse } from 'node:http'
import { type ErrorCode, httpStatus, LarderError } from './errors.ts'

/**
 * A mountable HTTP handler (SSE stream, admin API, event ingest, metrics, dashboard).
 * The gateway and the node/express/fastify adapters call it before their own routing;
 * it answers and returns true when the request was its own, false otherwise.
 * `tenant` is what the host's tenant resolver said for this request.
 */
export type LarderRoute = (req: IncomingMessage, res: ServerResponse, ctx: { tenant: string; url: URL }) => boolean | Promise<boolean>

/** Sends a JSON answer (also for errors: `{ error: { code, message } }`). */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const buf = Buffer.from(JSON.stringify(body))
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': buf.length, 'cache-control': 'no-store' })
  res.end(buf)
}

/**
 * Sends `{ error: { code, message, ...extra } }` with the code's status from the error
 * registry (core/errors.ts); only registry codes are accepted. A 401 carries
 * `WWW-Authenticate: Bearer` (RFC 9110 §11.6.1).
 */
export function sendError(res: ServerResponse, code: ErrorCode, message: string, extra?: Record<string, unknown>): void {
  const status = httpStatus(code)
  if (status === 401) res.setHeader('www-authenticate', 'Bearer')
  sendJson(res, status, { error: { code, message, ...extra } })
}

/** Reads a request body up to `limit` bytes; rejects with E_BODY_TOO_LARGE (413) past it. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw new LarderError('E_BODY_TOO_LARGE', `request body is larger than ${limit} bytes`, { details: { limit } })
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}
