/**
 * One table of read-side cases (store/reuse decisions, validators, HEAD, collapsing,
 * invalidation, the error policy) run against all three front ends over the same app:
 * the gateway (the app is its origin), the node:http middleware and the Fastify plugin.
 * Every front end decides through larder/http's one flow (http/handler.ts), so a case
 * that passes for one and fails for another is a bug in a thin caller.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setImmediate as tick } from 'node:timers/promises'
import Fastify from 'fastify'
import type { Cache } from '../../src/core/api.ts'
import { createCache } from '../../src/core/cache.ts'
import { larderHttpCache } from '../../src/http/fastify/index.ts'
import { httpCache } from '../../src/http/node/index.ts'
import type { RoutePolicy } from '../../src/http/routes.ts'
import { FakeClock } from '../../src/testing/fake-clock.ts'
import { get, startRig } from '../gateway/helpers.ts'

interface AppRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
}
interface AppResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/** The app every front end caches. Paths select behaviour; `?cc=` sets Cache-Control. */
function makeApp(clock: FakeClock) {
  const state = {
    runs: new Map<string, number>(),
    failing: new Set<string>(),
    gate: undefined as { opened: Promise<void>; open(): void; reached: Promise<void>; enter(): void } | undefined,
  }
  async function app(req: AppRequest): Promise<AppResponse> {
    const u = new URL(req.url, 'http://app')
    state.runs.set(u.pathname, (state.runs.get(u.pathname) ?? 0) + 1)
    const n = state.runs.get(u.pathname)
    const date = new Date(clock.now()).toUTCString()
    if (req.method === 'POST') return { status: 204, headers: { date }, body: '' }
    if (state.failing.has(u.pathname)) return { status: 500, headers: { date, 'content-type': 'text/plain' }, body: 'broken' }
    const gate = state.gate
    if (u.pathname.startsWith('/slow') && gate !== undefined) {
      gate.enter()
      await gate.opened
    }
    const headers: Record<string, string> = { date, 'content-type': 'text/plain' }
    const cc = u.searchParams.get('cc')
    if (cc !== null) headers['cache-control'] = cc
    const user = /sid=(\w+)/.exec(req.headers.cookie ?? '')?.[1] ?? req.headers.authorization ?? 'anon'
    return { status: 200, headers, body: `${u.pathname} for ${user} #${n}` }
  }
  function gate() {
    let open!: () => void
    let enter!: () => void
    const g = {
      opened: new Promise<void>((r) => {
        open = r
      }),
      reached: new Promise<void>((r) => {
        enter = r
      }),
      open: () => open(),
      enter: () => enter(),
    }
    state.gate = g
    return g
  }
  return { app, state, gate, runs: (path: string) => state.runs.get(path) ?? 0 }
}

const ROUTES: RoutePolicy[] = [
  { path: '/route-ttl/*', ttl: '60s' },
  { path: '/route-shared/*', ttl: '60s', shared: true },
]

interface Target {
  base: string
  clock: FakeClock
  cache: Cache
  server: Server
  app: ReturnType<typeof makeApp>
  errors: { err: unknown; context: string }[]
  close(): Promise<void>
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const START = Date.UTC(2026, 10, 21, 12, 0, 0)

const targets: Record<string, () => Promise<Target>> = {
  async gateway() {
    let a!: ReturnType<typeof makeApp>
    const errors: Target['errors'] = []
    const rig = await startRig(
      (req, res) => {
        a.app({ method: req.method as string, url: req.url as string, headers: req.headers }).then((r) => {
          res.writeHead(r.status, r.headers)
          res.end(r.body)
        })
      },
      { policies: ROUTES, onError: (err, context) => errors.push({ err, context }) },
    )
    a = makeApp(rig.clock)
    return { base: rig.base, clock: rig.clock, cache: rig.gw.http.cache, server: rig.gw.server, app: a, errors, close: () => rig.close() }
  },
  async node() {
    const clock = new FakeClock(START)
    const cache = createCache({ clock })
    const a = makeApp(clock)
    const errors: Target['errors'] = []
    const mw = httpCache({ cache, routes: ROUTES, now: () => clock.now(), onError: (err, context) => errors.push({ err, context }) })
    const server = createServer(
      mw.wrap((req, res) => {
        a.app({ method: req.method as string, url: req.url as string, headers: req.headers }).then((r) => {
          res.writeHead(r.status, r.headers)
          res.end(r.body)
        })
      }),
    )
    const base = await listen(server)
    return {
      base,
      clock,
      cache,
      server,
      app: a,
      errors,
      async close() {
        server.closeAllConnections()
        await new Promise<void>((r) => server.close(() => r()))
        await cache.close()
      },
    }
  },
  async fastify() {
    const clock = new FakeClock(START)
    const cache = createCache({ clock })
    const a = makeApp(clock)
    const errors: Target['errors'] = []
    const f = Fastify()
    await f.register(larderHttpCache, { cache, routes: ROUTES, now: () => clock.now(), onError: (err, context) => errors.push({ err, context }) })
    f.route({
      method: ['GET', 'POST'],
      url: '/*',
      handler: async (req, reply) => {
        const r = await a.app({ method: req.method, url: req.url, headers: req.headers })
        reply.code(r.status).headers(r.headers)
        return r.body === '' ? reply.send() : r.body
      },
    })
    await f.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(f.server.address() as AddressInfo).port}`
    return {
      base,
      clock,
      cache,
      server: f.server,
      app: a,
      errors,
      async close() {
        await f.close()
        await cache.close()
      },
    }
  },
}

type Case = [name: string, run: (t: Target) => Promise<void>]

/** Run in order; the last one closes the cache. */
const cases: Case[] = [
  [
    'a response to a request with Cookie and no explicit shared caching is not stored: an anonymous max-stale request never gets it',
    async (t) => {
      const alice = await get(`${t.base}/account/settings.css`, { cookie: 'sid=alice' })
      assert.equal(alice.status, 200)
      assert.match(alice.text, /alice/)
      const anon = await get(`${t.base}/account/settings.css`, { 'cache-control': 'max-stale=3600' })
      assert.equal(anon.status, 200)
      assert.doesNotMatch(anon.text, /alice/)
      assert.equal(anon.headers.get('x-cache'), 'MISS')
      assert.equal(t.app.runs('/account/settings.css'), 2)
    },
  ],
  [
    'a response to a request with Cookie is not served when the app fails, even under the request stale-if-error',
    async (t) => {
      await get(`${t.base}/account`, { cookie: 'sid=bob' })
      t.app.state.failing.add('/account')
      const r = await get(`${t.base}/account`, { 'cache-control': 'stale-if-error=3600' })
      t.app.state.failing.delete('/account')
      assert.equal(r.status, 500)
      assert.doesNotMatch(r.text, /bob/)
    },
  ],
  [
    'a never-fresh response (lifetime 0) is kept for revalidation only: max-stale and stale-if-error do not serve it',
    async (t) => {
      const first = await get(`${t.base}/never-fresh`)
      assert.equal(first.status, 200)
      const stale = await get(`${t.base}/never-fresh`, { 'cache-control': 'max-stale=3600' })
      assert.notEqual(stale.headers.get('x-cache'), 'STALE')
      assert.equal(t.app.runs('/never-fresh'), 2)
      t.app.state.failing.add('/never-fresh')
      const failed = await get(`${t.base}/never-fresh`, { 'cache-control': 'stale-if-error=3600' })
      t.app.state.failing.delete('/never-fresh')
      assert.equal(failed.status, 500)
    },
  ],
  [
    'a response that was fresh once is still served under max-stale (RFC 9111 §5.2.1.2)',
    async (t) => {
      await get(`${t.base}/fresh-once?cc=max-age=10`)
      await t.clock.advance(20_000)
      const r = await get(`${t.base}/fresh-once?cc=max-age=10`, { 'cache-control': 'max-stale=3600' })
      assert.equal(r.headers.get('x-cache'), 'STALE')
      assert.equal(t.app.runs('/fresh-once'), 1)
    },
  ],
  [
    'a once-fresh response answers inside its stale-if-error window when the app/origin fails with a 5xx (RFC 5861 §4)',
    async (t) => {
      const first = await get(`${t.base}/sie?cc=max-age=10,stale-if-error=60`)
      await t.clock.advance(20_000)
      t.app.state.failing.add('/sie')
      const r = await get(`${t.base}/sie?cc=max-age=10,stale-if-error=60`)
      t.app.state.failing.delete('/sie')
      assert.equal(r.status, 200)
      assert.equal(r.text, first.text)
      assert.equal(r.headers.get('x-cache'), 'STALE')
      assert.match(r.headers.get('cache-status') as string, /fwd-status=500/)
    },
  ],
  [
    'only-if-cached with nothing stored is a 504 and does not run the app (RFC 9111 §5.2.1.7)',
    async (t) => {
      const r = await get(`${t.base}/oic`, { 'cache-control': 'only-if-cached' })
      assert.equal(r.status, 504)
      assert.equal(JSON.parse(r.text).error.code, 'E_NOT_CACHED')
      assert.equal(t.app.runs('/oic'), 0)
    },
  ],
  [
    'a response to a request with Cookie that says public or s-maxage is stored and shared',
    async (t) => {
      await get(`${t.base}/public?cc=public,max-age=60`, { cookie: 'sid=carol' })
      const r = await get(`${t.base}/public?cc=public,max-age=60`)
      assert.equal(r.headers.get('x-cache'), 'HIT')
      await get(`${t.base}/smaxage?cc=s-maxage=60`, { cookie: 'sid=carol' })
      assert.equal((await get(`${t.base}/smaxage?cc=s-maxage=60`)).headers.get('x-cache'), 'HIT')
    },
  ],
  [
    'a route ttl alone does not share answers to requests with Cookie or Authorization; a route with shared: true does',
    async (t) => {
      await get(`${t.base}/route-ttl/a`, { cookie: 'sid=dave' })
      const a = await get(`${t.base}/route-ttl/a`)
      assert.equal(a.headers.get('x-cache'), 'MISS')
      assert.doesNotMatch(a.text, /dave/)
      await get(`${t.base}/route-ttl/b`, { authorization: 'Bearer dave' })
      assert.doesNotMatch((await get(`${t.base}/route-ttl/b`)).text, /dave/)
      await get(`${t.base}/route-shared/a`, { cookie: 'sid=erin' })
      const b = await get(`${t.base}/route-shared/a`)
      assert.equal(b.headers.get('x-cache'), 'HIT')
    },
  ],
  [
    'the MISS carries the validator its stored copy has: If-None-Match with it gets a 304 on the next request',
    async (t) => {
      const miss = await get(`${t.base}/etag?cc=max-age=60`)
      assert.equal(miss.headers.get('x-cache'), 'MISS')
      const etag = miss.headers.get('etag')
      assert.ok(etag, 'the MISS has an ETag')
      const hit = await get(`${t.base}/etag?cc=max-age=60`, { 'if-none-match': etag })
      assert.equal(hit.status, 304)
      assert.equal(hit.headers.get('etag'), etag)
      assert.equal(t.app.runs('/etag'), 1)
    },
  ],
  [
    'a response that will not be stored gets no generated ETag',
    async (t) => {
      const r = await get(`${t.base}/nostore?cc=no-store`)
      assert.equal(r.headers.get('etag'), null)
    },
  ],
  [
    'HEAD is answered from the stored GET response',
    async (t) => {
      const g = await get(`${t.base}/head?cc=max-age=60`)
      const h = await get(`${t.base}/head?cc=max-age=60`, {}, 'HEAD')
      assert.equal(h.status, 200)
      assert.equal(h.headers.get('x-cache'), 'HIT')
      assert.equal(h.headers.get('content-length'), String(Buffer.byteLength(g.text)))
      assert.equal(h.text, '')
      assert.equal(t.app.runs('/head'), 1)
    },
  ],
  [
    'concurrent misses for one URL run the app once; the others are answered from what it stored',
    async (t) => {
      const g = t.app.gate()
      let seen = 0
      const arrived = new Promise<void>((r) => {
        const on = (req: { url?: string }) => {
          if (req.url?.startsWith('/slow') && ++seen === 3) {
            t.server.off('request', on)
            r()
          }
        }
        t.server.on('request', on)
      })
      const all = Promise.all([0, 1, 2].map(() => get(`${t.base}/slow?cc=max-age=60`)))
      await g.reached
      await arrived
      for (let i = 0; i < 5; i++) await tick()
      g.open()
      const answers = await all
      t.app.state.gate = undefined
      assert.equal(t.app.runs('/slow'), 1)
      assert.deepEqual(new Set(answers.map((a) => a.text)).size, 1)
      assert.deepEqual(answers.map((a) => a.headers.get('x-cache')).sort(), ['HIT', 'HIT', 'MISS'])
    },
  ],
  [
    'an unsafe method invalidates the target (RFC 9111 §4.4)',
    async (t) => {
      await get(`${t.base}/unsafe?cc=max-age=60`)
      assert.equal((await get(`${t.base}/unsafe?cc=max-age=60`)).headers.get('x-cache'), 'HIT')
      assert.equal((await get(`${t.base}/unsafe?cc=max-age=60`, {}, 'POST')).status, 204)
      assert.equal((await get(`${t.base}/unsafe?cc=max-age=60`)).headers.get('x-cache'), 'MISS')
    },
  ],
  [
    'when the cache fails, the app answers the request and the failure is reported (never a 500 of our own)',
    async (t) => {
      await t.cache.close()
      const r = await get(`${t.base}/after-close?cc=max-age=60`)
      assert.equal(r.status, 200)
      assert.match(r.text, /after-close for anon/)
      assert.ok(t.errors.length > 0, 'reported through onError')
      const p = await get(`${t.base}/after-close?cc=max-age=60`, {}, 'POST')
      assert.equal(p.status, 204)
    },
  ],
]

for (const [name, start] of Object.entries(targets)) {
  describe(`read-side flow: ${name}`, { timeout: 30_000 }, () => {
    let t: Target
    before(async () => {
      t = await start()
    })
    after(() => t.close())
    for (const [title, run] of cases) it(title, () => run(t))
  })
}

describe('gateway: origin down', { timeout: 30_000 }, () => {
  it('serves a once-fresh stale response (RFC 9111 §4.2.4) but never a never-fresh one', async () => {
    const rig = await startRig((req, res) => {
      const date = new Date(rig.clock.now()).toUTCString()
      res.writeHead(200, req.url === '/once' ? { date, 'cache-control': 'max-age=10' } : { date })
      res.end(`body of ${req.url}`)
    })
    try {
      await get(`${rig.base}/once`)
      await get(`${rig.base}/never`)
      await get(`${rig.base}/account`, { cookie: 'sid=bob' })
      await rig.clock.advance(20_000)
      await rig.origin.close()
      const once = await get(`${rig.base}/once`)
      assert.equal(once.status, 200)
      assert.equal(once.headers.get('x-cache'), 'STALE')
      const never = await get(`${rig.base}/never`)
      assert.equal(never.status, 502)
      const account = await get(`${rig.base}/account`)
      assert.equal(account.status, 502)
      assert.doesNotMatch(account.text, /account/)
    } finally {
      await rig.gw.close()
      await rig.gw.http.cache.close()
    }
  })
})
