import { type ChildProcess, spawn } from 'node:child_process'
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { pino } from 'pino'
import { createAuthorizer } from '../../src/core/auth.ts'
import type { Cache } from '../../src/core/api.ts'
import { createCache } from '../../src/core/cache.ts'
import { createGateway, type Gateway, type GatewayOptions } from '../../src/gateway/index.ts'
import { FakeClock } from '../../src/testing/fake-clock.ts'

export type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void

export interface Origin {
  url: string
  server: Server
  /** Requests the origin saw (method, url, headers). */
  seen: { method: string; url: string; headers: IncomingMessage['headers'] }[]
  handler: Handler
  close(): Promise<void>
}

export async function startOrigin(handler: Handler): Promise<Origin> {
  const o: Origin = {
    url: '',
    seen: [],
    handler,
    server: createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        o.seen.push({ method: req.method as string, url: req.url as string, headers: req.headers })
        o.handler(req, res, Buffer.concat(chunks))
      })
    }),
    async close() {
      o.server.closeAllConnections()
      await new Promise<void>((r) => o.server.close(() => r()))
    },
  }
  await new Promise<void>((r) => o.server.listen(0, '127.0.0.1', r))
  o.url = `http://127.0.0.1:${(o.server.address() as AddressInfo).port}`
  return o
}

export const ADMIN = 'admin-token-123456'
export const ACME = 'acme-token-1234567'

export interface Rig {
  origin: Origin
  gw: Gateway
  cache: Cache
  base: string
  clock: FakeClock
  close(): Promise<void>
}

export async function startRig(handler: Handler, opts: Partial<GatewayOptions> = {}): Promise<Rig> {
  const origin = await startOrigin(handler)
  const clock = new FakeClock(Date.UTC(2026, 10, 21, 12, 0, 0))
  const cache = createCache({ clock })
  const auth = createAuthorizer([
    { name: 'admin', token: ADMIN, scopes: ['admin'] },
    { name: 'acme', token: ACME, scopes: ['tenant:acme'] },
  ])
  // The purge audit log is silent unless a test passes its own logger.
  const gw = createGateway({ origin: origin.url, cache, auth, tenantHeader: 'x-tenant-id', logger: pino({ level: 'silent' }), ...opts, http: { now: () => clock.now(), ...opts.http } })
  const addr = await gw.listen(0)
  return {
    origin,
    gw,
    cache,
    clock,
    base: `http://127.0.0.1:${addr.port}`,
    async close() {
      await gw.close()
      await cache.close()
      await origin.close()
    },
  }
}

/**
 * One request with node:http (fetch() would add `Cache-Control: no-cache` to conditional
 * requests and refuses Connection headers, which hides what these tests check).
 */
export function get(url: string, headers: Record<string, string> = {}, method = 'GET', body?: string): Promise<{ status: number; headers: { get(name: string): string | null }; text: string; raw: Buffer }> {
  return new Promise((resolve, reject) => {
    const q = request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (d: Buffer) => chunks.push(d))
      res.on('error', reject)
      res.on('end', () =>
        resolve({
          status: res.statusCode as number,
          headers: {
            get(name: string) {
              const v = res.headers[name.toLowerCase()]
              return v === undefined ? null : Array.isArray(v) ? v.join(', ') : String(v)
            },
          },
          text: Buffer.concat(chunks).toString(),
          raw: Buffer.concat(chunks),
        }),
      )
    })
    q.on('error', reject)
    q.end(body)
  })
}

/** Sends `text` as is on a fresh connection and resolves everything the server answered until it closes. */
export function rawRequest(base: string, text: string): Promise<string> {
  const { hostname, port } = new URL(base)
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), hostname, () => s.write(text))
    let out = ''
    s.on('data', (d) => {
      out += d
    })
    s.on('error', (err) => (out ? resolve(out) : reject(err)))
    s.on('close', () => resolve(out))
  })
}

const BIN = new URL('../../bin/larder.mjs', import.meta.url).pathname

/** A running `larder gateway` child: `ready` resolves with its output once it listens, rejects if it exits first. */
export interface GatewayChild {
  child: ChildProcess
  ready: Promise<string>
  exit: Promise<number | null>
  out(): string
}

/** Starts `larder gateway ...args` (from source) with `env` over this process's environment. */
export function runGateway(args: string[], env: Record<string, string> = {}): GatewayChild {
  const child = spawn(process.execPath, ['--conditions=larder-src', BIN, 'gateway', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const exit = new Promise<number | null>((r) => child.once('exit', (code) => r(code)))
  const ready = new Promise<string>((resolve, reject) => {
    const on = (d: Buffer) => {
      out += d
      if (out.includes('larder gateway on')) resolve(out)
    }
    child.stdout?.on('data', on)
    child.stderr?.on('data', on)
    exit.then((code) => reject(new Error(`exited ${code}: ${out}`)))
  })
  ready.catch(() => {}) // a test that expects an exit never awaits `ready`
  return { child, ready, exit, out: () => out }
}
