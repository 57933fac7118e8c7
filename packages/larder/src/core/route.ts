import type { IncomingMessage, ServerResponse } from 'node:http'

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

export function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendJson(res, status, { error: { code, message } })
}

/** Reads a request body up to `limit` bytes; rejects with a 413-worthy error past it. */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) throw Object.assign(new Error(`request body is larger than ${limit} bytes`), { status: 413 })
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks)
}
