/**
 * Test helpers for the realtime part: a hub mounted on a real node:http server on a
 * free port, a raw SSE stream reader (our own parser over node:http).
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http'
import { once } from 'node:events'
import type { InvalidationLog } from '../../src/core/types.ts'
import { createSseHub, type SseHub, type SseHubOptions } from '../../src/realtime/index.ts'
import { type SseMessage, SseParser } from '../../src/realtime/client/sse-parser.ts'
import { freePort } from '../../src/testing/servers.ts'

export interface HubServer {
  hub: SseHub
  server: Server
  port: number
  close(): Promise<void>
}

/** Serves the hub on node:http; the tenant comes from the `x-tenant` header (the host's resolver). */
export async function startHubServer(options: Partial<SseHubOptions> & { log: InvalidationLog }, port?: number): Promise<HubServer> {
  const hub = createSseHub(options)
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const tenant = typeof req.headers['x-tenant'] === 'string' ? req.headers['x-tenant'] : ''
    if (hub.route(req, res, { tenant, url })) return
    res.writeHead(404).end('not found')
  })
  const p = port ?? (await freePort())
  server.listen(p, '127.0.0.1')
  await once(server, 'listening')
  return {
    hub,
    server,
    port: p,
    async close() {
      await hub.close()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export interface StreamConn {
  status: number
  headers: IncomingMessage['headers']
  /** Body text for non-200 answers. */
  body: string
  events: SseMessage[]
  comments: string[]
  retry: number | undefined
  lastEventId: string
  ended: boolean
  /** Resolves once `pred(events)` holds (checked on every event); rejects after timeoutMs. */
  waitFor(pred: (events: SseMessage[]) => boolean, timeoutMs?: number, what?: string): Promise<void>
  waitEnd(timeoutMs?: number): Promise<void>
  waitComment(n: number, timeoutMs?: number): Promise<void>
  /** Stops reading (the socket buffers fill up, as with a slow client). */
  pause(): void
  close(): void
}

export function openStream(port: number, query: string, headers: Record<string, string> = {}, method = 'GET'): Promise<StreamConn> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: `/_larder/stream${query}`, method, headers, agent: false })
    req.on('error', reject)
    req.on('response', (res) => {
      const listeners = new Set<() => void>()
      const kick = () => {
        for (const l of [...listeners]) l()
      }
      const conn: StreamConn = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        body: '',
        events: [],
        comments: [],
        retry: undefined,
        lastEventId: '',
        ended: false,
        waitFor(pred, timeoutMs = 10_000, what = 'events') {
          return new Promise((ok, fail) => {
            const check = () => {
              if (pred(conn.events)) {
                clearTimeout(t)
                listeners.delete(check)
                ok()
              }
            }
            const t = setTimeout(() => {
              listeners.delete(check)
              fail(new Error(`timed out waiting for ${what}; got ${JSON.stringify(conn.events.map((e) => [e.type, e.data]))}`))
            }, timeoutMs)
            listeners.add(check)
            check()
          })
        },
        waitEnd(timeoutMs = 10_000) {
          return new Promise((ok, fail) => {
            const check = () => {
              if (conn.ended) {
                clearTimeout(t)
                listeners.delete(check)
                ok()
              }
            }
            const t = setTimeout(() => fail(new Error('stream did not end')), timeoutMs)
            listeners.add(check)
            check()
          })
        },
        waitComment(n, timeoutMs = 10_000) {
          return new Promise((ok, fail) => {
            const check = () => {
              if (conn.comments.length >= n) {
                clearTimeout(t)
                listeners.delete(check)
                ok()
              }
            }
            const t = setTimeout(() => fail(new Error('no heartbeat')), timeoutMs)
            listeners.add(check)
            check()
          })
        },
        pause() {
          res.pause()
        },
        close() {
          req.destroy()
        },
      }
      const parser = new SseParser({
        onEvent: (m) => {
          conn.events.push(m)
          kick()
        },
        onRetry: (ms) => {
          conn.retry = ms
        },
        onComment: (c) => {
          conn.comments.push(c)
        },
      })
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        if (conn.status !== 200) conn.body += chunk
        else {
          parser.push(chunk)
          conn.lastEventId = parser.lastEventId
        }
        kick()
      })
      const end = () => {
        conn.ended = true
        kick()
      }
      res.on('end', end)
      res.on('close', end)
      res.on('error', end)
      if (conn.status !== 200) res.on('end', () => resolve(conn))
      else resolve(conn)
    })
    req.end()
  })
}

export function payload(m: SseMessage): Record<string, unknown> {
  return JSON.parse(m.data) as Record<string, unknown>
}

export const ofType = (type: string) => (m: SseMessage) => m.type === type
