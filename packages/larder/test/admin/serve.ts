// Serves LarderRoutes on a real node:http server on a free port (tests only).
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { LarderRoute } from '../../src/core/route.ts'

export interface Served {
  url: string
  server: Server
  close(): Promise<void>
  /** fetch relative to the server with an optional bearer token. */
  call(path: string, init?: RequestInit & { token?: string; json?: unknown }): Promise<{ status: number; body: any; text: string; headers: Headers }>
}

export async function serve(routes: LarderRoute[], tenant = 'acme'): Promise<Served> {
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    try {
      for (const r of routes) if (await r(req, res, { tenant, url })) return
      res.writeHead(404).end('not found')
    } catch (err) {
      if (!res.headersSent) res.writeHead(500)
      res.end(String(err))
    }
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url,
    server,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
    },
    async call(path, init = {}) {
      const headers = new Headers(init.headers)
      if (init.token) headers.set('authorization', `Bearer ${init.token}`)
      let body = init.body
      if (init.json !== undefined) {
        headers.set('content-type', 'application/json')
        body = JSON.stringify(init.json)
      }
      const res = await fetch(url + path, { ...init, headers, body })
      const text = await res.text()
      let parsed: any
      try {
        parsed = JSON.parse(text)
      } catch {
        parsed = undefined
      }
      return { status: res.status, body: parsed, text, headers: res.headers }
    },
  }
}
