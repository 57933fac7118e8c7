/**
 * Stale responses in the in-process adapters (node:http, Express, Fastify):
 * RFC 5861 §3 stale-while-revalidate (answered stale, the next request refreshes, one at a
 * time), RFC 5861 §4 stale-if-error (a 5xx or a throw from the app answered with the
 * stored copy inside the window only), and soft purges served stale under SWR.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, afterEach, before, describe, it } from 'node:test'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import type { Cache } from '../../src/core/api.ts'
import { createCache } from '../../src/core/cache.ts'
import { larderHttpCache } from '../../src/http/fastify/index.ts'
import { httpCache } from '../../src/http/node/index.ts'
import { FakeClock } from '../../src/testing/fake-clock.ts'
import { get } from '../gateway/helpers.ts'

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}
async function stop(server: Server): Promise<void> {
  server.closeAllConnections()
  await new Promise<void>((r) => server.close(() => r()))
}

/** A gate the app handler can wait on, and a signal for when it got there. */
function gate() {
  let open!: () => void
  let entered!: () => void
  const g = {
    opened: new Promise<void>((r) => {
      open = r
    }),
    reached: new Promise<void>((r) => {
      entered = r
    }),
    open: () => open(),
    enter: () => entered(),
  }
  return g
}

const SWR = 'max-age=10, stale-while-revalidate=60'
const SIE = 'max-age=10, stale-if-error=60'

describe('node:http adapter: stale responses', { timeout: 20_000 }, () => {
  let cache: Cache
  let clock: FakeClock
  let server: Server
  let base: string
  let calls = 0
  let mode: 'ok' | 'fail' | 'throw' = 'ok'
  let wait: ReturnType<typeof gate> | undefined
  before(async () => {
    clock = new FakeClock(Date.UTC(2026, 10, 22, 1, 0, 0))
    cache = createCache({ clock })
    const mw = httpCache({ cache, now: () => clock.now() })
    server = createServer(
      mw.wrap((req: IncomingMessage, res: ServerResponse) => {
        calls++
        const n = calls
        if (mode === 'throw') throw new Error('app failed')
        if (mode === 'fail') {
          res.writeHead(500, { 'content-type': 'text/plain' })
          return res.end('broken')
        }
        const send = () => {
          res.setHeader('surrogate-key', (req.url as string).slice(1))
          res.writeHead(200, { 'cache-control': req.url?.startsWith('/sie') ? SIE : SWR, 'content-type': 'text/plain' })
          res.end(`v${n}`)
        }
        if (wait !== undefined) {
          wait.enter()
          wait.opened.then(send)
        } else send()
      }),
    )
    base = await listen(server)
  })
  after(async () => {
    await stop(server)
    await cache.close()
  })
  // A failed test must not leave the gate closed for the next one.
  afterEach(() => {
    wait?.open()
    wait = undefined
  })

  it('stale-while-revalidate: answers stale once, the next request runs the app and stores a fresh response', async () => {
    mode = 'ok'
    const a = await get(`${base}/swr`)
    assert.equal(a.headers.get('x-cache'), 'MISS')
    assert.equal(a.text, 'v1')
    await clock.advance(15_000)
    const before = calls
    const b = await get(`${base}/swr`)
    assert.equal(b.headers.get('x-cache'), 'STALE')
    assert.match(b.headers.get('cache-status') as string, /^larder; hit; fwd=stale/)
    assert.equal(b.text, 'v1')
    assert.equal(calls, before, 'the stale answer does not run the app')
    const c = await get(`${base}/swr`)
    assert.equal(calls, before + 1)
    assert.equal(c.text, `v${calls}`)
    assert.match(c.headers.get('cache-status') as string, /^larder; fwd=stale/)
    const d = await get(`${base}/swr`)
    assert.equal(d.headers.get('x-cache'), 'HIT')
    assert.equal(d.text, c.text)
    assert.equal(calls, before + 1)
  })

  // Without collapsing, every request would wait at the gate: the timeout turns that into a failure.
  it('stale-while-revalidate: concurrent stale requests cause one app run; the others are answered stale without waiting', { timeout: 5_000 }, async () => {
    mode = 'ok'
    await get(`${base}/swr-c`)
    await clock.advance(15_000)
    const before = calls
    wait = gate()
    const w = wait
    const pair = Promise.all([get(`${base}/swr-c`), get(`${base}/swr-c`)])
    await w.reached
    // While the refresh is held at the gate, another stale request is answered at once.
    const third = await get(`${base}/swr-c`)
    assert.equal(third.headers.get('x-cache'), 'STALE')
    assert.equal(third.text, `v${before}`)
    w.open()
    const [x, y] = await pair
    wait = undefined
    assert.equal(calls, before + 1)
    assert.deepEqual([x.headers.get('x-cache'), y.headers.get('x-cache')].sort(), ['MISS', 'STALE'])
    const after = await get(`${base}/swr-c`)
    assert.equal(after.headers.get('x-cache'), 'HIT')
    assert.equal(after.text, `v${before + 1}`)
  })

  it('stale-if-error: a 500 or a throw inside the window is answered with the stored copy; outside it the 500 passes', async () => {
    mode = 'ok'
    const a = await get(`${base}/sie`)
    await clock.advance(15_000)
    mode = 'fail'
    const before = calls
    const b = await get(`${base}/sie`)
    assert.equal(calls, before + 1, 'the app ran')
    assert.equal(b.status, 200)
    assert.equal(b.text, a.text)
    assert.equal(b.headers.get('x-cache'), 'STALE')
    assert.match(b.headers.get('cache-status') as string, /fwd=stale; fwd-status=500/)
    assert.equal(b.headers.get('content-type'), 'text/plain')
    mode = 'throw'
    const c = await get(`${base}/sie`)
    assert.equal(c.status, 200)
    assert.equal(c.text, a.text)
    await clock.advance(60_000)
    mode = 'fail'
    const d = await get(`${base}/sie`)
    assert.equal(d.status, 500)
    assert.equal(d.text, 'broken')
    mode = 'ok'
  })

  it('a soft purge of an SWR response serves it stale once, then the next request refreshes it', async () => {
    mode = 'ok'
    const a = await get(`${base}/soft`)
    assert.equal((await get(`${base}/soft`)).headers.get('x-cache'), 'HIT')
    await cache.invalidate('default', { tags: ['soft'], soft: true })
    const before = calls
    const b = await get(`${base}/soft`)
    assert.equal(b.headers.get('x-cache'), 'STALE')
    assert.equal(b.text, a.text)
    const c = await get(`${base}/soft`)
    assert.equal(calls, before + 1)
    assert.equal(c.text, `v${calls}`)
    assert.equal((await get(`${base}/soft`)).headers.get('x-cache'), 'HIT')
  })
})

describe('Express middleware: stale responses', { timeout: 20_000 }, () => {
  let cache: Cache
  let clock: FakeClock
  let server: Server
  let base: string
  let calls = 0
  let mode: 'ok' | 'fail' | 'throw' = 'ok'
  before(async () => {
    clock = new FakeClock(Date.UTC(2026, 10, 22, 1, 0, 0))
    cache = createCache({ clock })
    const app = express()
    app.use(httpCache({ cache, now: () => clock.now(), routes: { '/api/items': { ttl: '10s', grace: '60s' }, '/api/sie': { ttl: '10s', staleIfError: '60s' } } }))
    const handler = (_req: express.Request, res: express.Response) => {
      calls++
      if (mode === 'throw') throw new Error('app failed')
      if (mode === 'fail') return res.status(503).json({ error: 'down' })
      res.json({ calls })
    }
    app.get('/api/items', handler)
    app.get('/api/sie', handler)
    // Express's own error handler would print the stack; answer the 500 quietly.
    app.use((_err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).send('internal error')
    })
    server = createServer(app)
    base = await listen(server)
  })
  after(async () => {
    await stop(server)
    await cache.close()
  })

  it('route grace = stale-while-revalidate: stale once, then refreshed by the next request', async () => {
    mode = 'ok'
    const a = await get(`${base}/api/items`)
    await clock.advance(15_000)
    const b = await get(`${base}/api/items`)
    assert.equal(b.headers.get('x-cache'), 'STALE')
    assert.equal(b.text, a.text)
    const c = await get(`${base}/api/items`)
    assert.notEqual(c.text, a.text)
    assert.equal((await get(`${base}/api/items`)).text, c.text)
  })

  it('stale-if-error: 503 and a thrown error answered from the stored copy inside the window only', async () => {
    mode = 'ok'
    const a = await get(`${base}/api/sie`)
    await clock.advance(15_000)
    mode = 'fail'
    const b = await get(`${base}/api/sie`)
    assert.equal(b.status, 200)
    assert.equal(b.text, a.text)
    assert.match(b.headers.get('cache-status') as string, /fwd-status=503/)
    assert.equal(b.headers.get('content-type'), 'application/json; charset=utf-8')
    mode = 'throw'
    const c = await get(`${base}/api/sie`)
    assert.equal(c.status, 200)
    assert.equal(c.text, a.text)
    assert.match(c.headers.get('cache-status') as string, /fwd-status=500/)
    await clock.advance(60_000)
    const d = await get(`${base}/api/sie`)
    assert.equal(d.status, 500)
    assert.equal(d.text, 'internal error')
    mode = 'ok'
  })
})

describe('Fastify plugin: stale responses', { timeout: 20_000 }, () => {
  let cache: Cache
  let clock: FakeClock
  let app: FastifyInstance
  let calls = 0
  let mode: 'ok' | 'fail' | 'throw' = 'ok'
  let wait: ReturnType<typeof gate> | undefined
  before(async () => {
    clock = new FakeClock(Date.UTC(2026, 10, 22, 1, 0, 0))
    cache = createCache({ clock })
    app = Fastify()
    await app.register(larderHttpCache, { cache, now: () => clock.now() })
    app.get('/p/:id', async (req, reply) => {
      calls++
      const n = calls
      if (mode === 'throw') throw new Error('route failed')
      if (mode === 'fail') return reply.code(503).send({ down: true })
      if (wait !== undefined) {
        wait.enter()
        await wait.opened
      }
      const id = (req.params as { id: string }).id
      reply.header('cache-control', id.startsWith('sie') ? SIE : SWR)
      return { id, n }
    })
  })
  after(async () => {
    await app.close()
    await cache.close()
  })
  // A failed test must not leave the gate closed for the next one.
  afterEach(() => {
    wait?.open()
    wait = undefined
  })

  it('stale-while-revalidate: stale once, the next request runs the route and stores a fresh response', async () => {
    mode = 'ok'
    const a = await app.inject({ method: 'GET', url: '/p/swr' })
    assert.equal(a.headers['x-cache'], 'MISS')
    await clock.advance(15_000)
    const before = calls
    const b = await app.inject({ method: 'GET', url: '/p/swr' })
    assert.equal(b.headers['x-cache'], 'STALE')
    assert.equal(b.body, a.body)
    assert.equal(calls, before)
    const c = await app.inject({ method: 'GET', url: '/p/swr' })
    assert.equal(calls, before + 1)
    assert.equal(JSON.parse(c.body).n, calls)
    const d = await app.inject({ method: 'GET', url: '/p/swr' })
    assert.equal(d.headers['x-cache'], 'HIT')
    assert.equal(d.body, c.body)
  })

  it('stale-while-revalidate: concurrent stale requests cause one route run', { timeout: 5_000 }, async () => {
    mode = 'ok'
    await app.inject({ method: 'GET', url: '/p/swr-c' })
    await clock.advance(15_000)
    const before = calls
    wait = gate()
    const w = wait
    const pair = Promise.all([app.inject({ method: 'GET', url: '/p/swr-c' }), app.inject({ method: 'GET', url: '/p/swr-c' })])
    await w.reached
    const third = await app.inject({ method: 'GET', url: '/p/swr-c' })
    assert.equal(third.headers['x-cache'], 'STALE')
    w.open()
    const [x, y] = await pair
    wait = undefined
    assert.equal(calls, before + 1)
    assert.deepEqual([x.headers['x-cache'], y.headers['x-cache']].sort(), ['MISS', 'STALE'])
    assert.equal((await app.inject({ method: 'GET', url: '/p/swr-c' })).headers['x-cache'], 'HIT')
  })

  it('stale-if-error: a 503 or a throw inside the window is answered with the stored copy; outside it the error passes', async () => {
    mode = 'ok'
    const a = await app.inject({ method: 'GET', url: '/p/sie' })
    await clock.advance(15_000)
    mode = 'fail'
    const before = calls
    const b = await app.inject({ method: 'GET', url: '/p/sie' })
    assert.equal(calls, before + 1)
    assert.equal(b.statusCode, 200)
    assert.equal(b.body, a.body)
    assert.equal(b.headers['x-cache'], 'STALE')
    assert.match(b.headers['cache-status'] as string, /fwd=stale; fwd-status=503/)
    assert.equal(b.headers['content-type'], a.headers['content-type'])
    mode = 'throw'
    const c = await app.inject({ method: 'GET', url: '/p/sie' })
    assert.equal(c.statusCode, 200)
    assert.equal(c.body, a.body)
    await clock.advance(60_000)
    mode = 'fail'
    const d = await app.inject({ method: 'GET', url: '/p/sie' })
    assert.equal(d.statusCode, 503)
    assert.deepEqual(JSON.parse(d.body), { down: true })
    mode = 'ok'
  })
})
