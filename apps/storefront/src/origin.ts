/**
 * The origin shop API (node:http, no framework): a marketplace's endpoints for three tenants,
 * chosen by the `X-Tenant-Id` header (the gateway's --tenant-header). Every GET says how
 * long a shared cache may keep it (`Cache-Control: s-maxage`) and which tags purge it
 * (`Surrogate-Key`); writes only touch the database.
 * @module
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cacheControl } from './api/cache-policy.ts'
import { HttpError } from './api/http-error.ts'
import * as reads from './api/reads.ts'
import * as writes from './api/writes.ts'
import type { Db } from './db/connect.ts'

export const TENANT_HEADER = 'x-tenant-id'
const MAX_BODY = 16 * 1024

export interface OriginOptions {
  db: Db
  /** Tenants this shop serves; any other X-Tenant-Id answers 404. */
  tenants: readonly string[]
  /**
   * Called after a write committed, with its commit-marker token; the write is acknowledged
   * once it resolves (true: its invalidation is applied; false: timed out).
   */
  awaitInvalidation?: (token: string) => Promise<boolean>
  /** Extra routes tried before the API (the storefront page and its script). */
  routes?: ((req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>)[]
}

export interface OriginStats {
  requests: number
  reads: number
  writes: number
  errors: number
}

export interface Origin {
  readonly server: Server
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>
  listen(port?: number, host?: string): Promise<{ port: number; url: string }>
  stats(): OriginStats
  close(): Promise<void>
}

type Handler = (m: RegExpExecArray, ctx: { tenant: string; url: URL; body: unknown }) => Promise<reads.ReadResult | writes.WriteResult>

interface Route {
  method: string
  path: RegExp
  write: boolean
  run: Handler
}

export function createOrigin(options: OriginOptions): Origin {
  const { db } = options
  const tenants = new Set(options.tenants)
  const counters: OriginStats = { requests: 0, reads: 0, writes: 0, errors: 0 }
  const id = (m: RegExpExecArray, i: number, what: string) => reads.idParam(m[i] as string, what)

  const routes: Route[] = [
    { method: 'GET', path: /^\/api\/v1\/products$/, write: false, run: (_m, c) => reads.listProducts(db, c.tenant, c.url) },
    { method: 'GET', path: /^\/api\/v1\/products\/([^/]+)$/, write: false, run: (m, c) => reads.getProduct(db, c.tenant, id(m, 1, 'product')) },
    { method: 'GET', path: /^\/api\/v1\/categories$/, write: false, run: (_m, c) => reads.listCategories(db, c.tenant) },
    { method: 'GET', path: /^\/api\/v1\/categories\/([^/]+)\/products$/, write: false, run: (m, c) => reads.listCategoryProducts(db, c.tenant, id(m, 1, 'category'), c.url) },
    { method: 'GET', path: /^\/api\/v1\/search$/, write: false, run: (_m, c) => reads.search(db, c.tenant, c.url) },
    { method: 'GET', path: /^\/api\/v1\/variants\/([^/]+)\/sellers$/, write: false, run: (m, c) => reads.variantSellers(db, c.tenant, id(m, 1, 'variant')) },
    { method: 'GET', path: /^\/api\/v1\/analytics\/dashboard$/, write: false, run: (_m, c) => reads.analyticsDashboard(db, c.tenant) },
    { method: 'PATCH', path: /^\/api\/v1\/products\/([^/]+)$/, write: true, run: (m, c) => writes.patchProduct(db, c.tenant, id(m, 1, 'product'), c.body) },
    { method: 'PATCH', path: /^\/api\/v1\/variants\/([^/]+)$/, write: true, run: (m, c) => writes.patchVariant(db, c.tenant, id(m, 1, 'variant'), c.body) },
    { method: 'PATCH', path: /^\/api\/v1\/sellers\/([^/]+)$/, write: true, run: (m, c) => writes.patchSeller(db, c.tenant, id(m, 1, 'seller'), c.body) },
    {
      method: 'PUT',
      path: /^\/api\/v1\/variants\/([^/]+)\/sellers\/([^/]+)$/,
      write: true,
      run: (m, c) => writes.putOffer(db, c.tenant, id(m, 1, 'variant'), id(m, 2, 'seller'), c.body),
    },
    {
      method: 'DELETE',
      path: /^\/api\/v1\/variants\/([^/]+)\/sellers\/([^/]+)$/,
      write: true,
      run: (m, c) => writes.removeOffer(db, c.tenant, id(m, 1, 'variant'), id(m, 2, 'seller')),
    },
    { method: 'POST', path: /^\/api\/v1\/orders$/, write: true, run: (_m, c) => writes.createOrder(db, c.tenant, c.body) },
  ]

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counters.requests++
    try {
      const url = new URL(req.url ?? '/', 'http://origin')
      if (url.pathname === '/healthz') return send(res, 200, { ok: true, db: db.kind }, { 'cache-control': 'no-store' })
      for (const r of options.routes ?? []) if (await r(req, res, url)) return
      if (!url.pathname.startsWith('/api/')) throw new HttpError(404, 'E_NOT_FOUND', `no route for ${url.pathname.slice(0, 100)}`)
      const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET')
      const matching = routes.map((r) => ({ r, m: r.path.exec(url.pathname) })).filter((x) => x.m !== null)
      if (matching.length === 0) throw new HttpError(404, 'E_NOT_FOUND', `no route for ${url.pathname.slice(0, 100)}`)
      const hit = matching.find((x) => x.r.method === method)
      if (!hit) {
        res.setHeader('allow', [...new Set(matching.map((x) => x.r.method))].join(', '))
        throw new HttpError(405, 'E_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${url.pathname.slice(0, 100)}`)
      }
      const tenant = tenantOf(req)
      const body = hit.r.write && method !== 'DELETE' ? await readJson(req) : undefined
      const out = await hit.r.run(hit.m as RegExpExecArray, { tenant, url, body })
      if (!hit.r.write) {
        counters.reads++
        const r = out as reads.ReadResult
        return send(res, 200, r.body, {
          'cache-control': cacheControl(r.maxAge),
          'surrogate-key': [...new Set(r.tags)].join(' '),
          vary: 'X-Tenant-Id',
        }, req.method === 'HEAD')
      }
      counters.writes++
      const w = out as writes.WriteResult
      let invalidation = 'none'
      if (options.awaitInvalidation) invalidation = (await options.awaitInvalidation(w.token)) ? 'applied' : 'pending'
      send(res, w.status, w.body, { 'cache-control': 'no-store', 'x-invalidation': invalidation })
    } catch (err) {
      counters.errors++
      if (err instanceof HttpError) return send(res, err.status, { error: { code: err.code, message: err.message } }, { 'cache-control': 'no-store' })
      send(res, 500, { error: { code: 'E_INTERNAL', message: 'internal error' } }, { 'cache-control': 'no-store' })
      process.emitWarning(`storefront origin: ${(err as Error)?.stack ?? String(err)}`)
    }
  }

  function tenantOf(req: IncomingMessage): string {
    const raw = req.headers[TENANT_HEADER]
    if (raw === undefined || raw === '') throw new HttpError(400, 'E_BAD_REQUEST', 'the X-Tenant-Id header is required')
    if (Array.isArray(raw)) throw new HttpError(400, 'E_BAD_REQUEST', 'send one X-Tenant-Id header')
    if (!tenants.has(raw)) throw new HttpError(404, 'E_UNKNOWN_TENANT', `unknown tenant "${raw.slice(0, 64)}"`)
    return raw
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy())
  })
  server.keepAliveTimeout = 30_000

  return {
    server,
    handle,
    async listen(port = 0, host = '127.0.0.1') {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(port, host, () => {
          server.off('error', reject)
          resolve()
        })
      })
      const p = (server.address() as AddressInfo).port
      return { port: p, url: `http://${host}:${p}` }
    },
    stats: () => ({ ...counters }),
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>, headOnly = false): void {
  const buf = Buffer.from(JSON.stringify(body))
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': buf.length, ...headers })
  res.end(headOnly ? undefined : buf)
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) throw new HttpError(413, 'E_TOO_LARGE', `the request body is larger than ${MAX_BODY} bytes`)
    chunks.push(chunk as Buffer)
  }
  const text = Buffer.concat(chunks).toString('utf8')
  if (text.trim() === '') throw new HttpError(400, 'E_BAD_REQUEST', 'the request body must be a JSON object')
  try {
    return JSON.parse(text)
  } catch {
    throw new HttpError(400, 'E_BAD_REQUEST', 'the request body is not valid JSON')
  }
}
