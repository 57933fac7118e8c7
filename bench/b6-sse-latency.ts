/**
 * B6: invalidation → SSE client latency, p50/p99 (benchmark plan target: p99 ≤ 10 ms on one
 * instance, ≤ 25 ms across two instances via Redis).
 *
 * Scenarios, each with the same raw-socket SSE clients on loopback, one event at a time
 * (the next is sent once every client has the previous one):
 * - one instance: `cache.tenant('acme').invalidateTags([tag])` on an embedded log → hub → clients;
 *   anchor: a bare node:http server writing the same bytes with `res.write` (no cache, log, hub);
 * - two instances via Redis: invalidate on instance A (its own RedisLog), clients on the hub
 *   of instance B (its own RedisLog reader); anchor: Redis PUBLISH → SUBSCRIBE on another
 *   connection → bare `res.write` to the clients (the floor of one Redis hop).
 *
 * - the same two larder paths to one headless Chromium page running `larder/realtime/client`
 *   (the clock stops in the page's `subscribe` callback; page and bench share the wall clock).
 *
 * Run: npm run bench -- b6-sse-latency, or node --import tsx --conditions=larder-src bench/b6-sse-latency.ts [events=500] [clients=10]
 */
import { once } from 'node:events'
import { createServer, type Server, type ServerResponse } from 'node:http'
import { connect, type Socket } from 'node:net'
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { type Browser, chromium } from 'playwright-core'
import { createCache } from '../packages/larder/src/core/cache.ts'
import { connect as redisConnect } from '../packages/larder/src/redis/connection.ts'
import { redisLog } from '../packages/larder/src/redis/index.ts'
import { createSseHub, type SseHub } from '../packages/larder/src/realtime/index.ts'
import { startRedis } from '../packages/larder/src/testing/servers.ts'

const EVENTS = Number(process.argv[2] ?? 500)
const CLIENTS = Number(process.argv[3] ?? 10)

interface Clients {
  /** Resolves with each client's receive time of event `n` (tag `product:<n>`). */
  expect(n: number): Promise<number[]>
  close(): void
}

async function openClients(port: number, count: number): Promise<Clients> {
  const sockets: Socket[] = []
  let want = 0
  let times: number[] = []
  let got = 0
  let done: ((t: number[]) => void) | undefined
  const opened: Promise<void>[] = []
  for (let i = 0; i < count; i++) {
    const s = connect({ port, host: '127.0.0.1' })
    s.setNoDelay(true)
    s.setEncoding('utf8')
    let ready = false
    let top = 0
    opened.push(
      new Promise((resolve, reject) => {
        s.on('error', reject)
        s.on('data', (chunk: string) => {
          if (!ready && chunk.includes('retry:')) {
            ready = true
            resolve()
          }
          for (const m of chunk.matchAll(/product:(\d+)"/g)) {
            const n = Number(m[1])
            if (n !== want || n <= top) continue
            top = n
            times[i] = performance.now()
            if (++got === count) done?.(times)
          }
        })
      }),
    )
    s.on('connect', () => s.write('GET /_larder/stream?topics=product:* HTTP/1.1\r\nHost: x\r\nx-tenant: acme\r\n\r\n'))
    sockets.push(s)
  }
  await Promise.all(opened)
  return {
    expect(n) {
      want = n
      got = 0
      times = new Array(count)
      return new Promise((resolve) => (done = resolve))
    },
    close() {
      for (const s of sockets) s.destroy()
    },
  }
}

async function listen(server: Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as { port: number }).port
}

let clientJs = ''
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
import { createRealtimeClient } from '/client.js'
const rt = createRealtimeClient({ url: '/_larder/stream', topics: ['product:*'], headers: { 'x-tenant': 'acme' } })
rt.subscribe('product:*', (e) => {
  if (e.type === 'invalidate') window.report(Number(e.tags[0].slice(8)), performance.timeOrigin + performance.now())
})
rt.ready(10000).then(() => window.report(0, 0))
</script>`

/** The hub, plus the page and the bundled client for the browser rows. */
function hubServer(hub: SseHub): Server {
  return createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    if (hub.route(req, res, { tenant: String(req.headers['x-tenant'] ?? ''), url })) return
    if (url.pathname === '/') res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
    else if (url.pathname === '/client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(clientJs)
    else res.writeHead(404).end()
  })
}

/** One Chromium page as the client; its receive times come back on the wall clock. */
async function openBrowserClient(browser: Browser, port: number): Promise<Clients> {
  const page = await browser.newPage()
  let want = -1
  let done: ((t: number[]) => void) | undefined
  let opened: () => void = () => {}
  const isOpen = new Promise<void>((r) => (opened = r))
  await page.exposeFunction('report', (n: number, wall: number) => {
    if (n === 0) opened()
    else if (n === want) done?.([wall - performance.timeOrigin])
  })
  await page.goto(`http://127.0.0.1:${port}/`)
  await isOpen
  return {
    expect(n) {
      want = n
      return new Promise((resolve) => (done = resolve))
    },
    close() {
      void page.close()
    },
  }
}

/** The anchor: a bare SSE server that writes whatever it is given to every response. */
function bareServer(): { server: Server; write(n: number): void } {
  const set = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' })
    req.socket.setNoDelay(true)
    res.write('retry: 2000\n\n')
    set.add(res)
    res.on('close', () => set.delete(res))
  })
  return {
    server,
    write(n) {
      const b = Buffer.from(`id: ${n}\nevent: invalidate\ndata: ${JSON.stringify({ tags: [`product:${n}`], keys: [], soft: false })}\n\n`)
      for (const r of set) r.write(b)
    },
  }
}

async function measure(name: string, clients: Clients, fire: (n: number) => unknown): Promise<{ name: string; p50: number; p99: number; max: number }> {
  const lat: number[] = []
  const warm = Math.min(50, Math.floor(EVENTS / 10))
  for (let n = 1; n <= EVENTS + warm; n++) {
    const got = clients.expect(n)
    const t0 = performance.now()
    await fire(n)
    const times = await got
    if (n > warm) for (const t of times) lat.push(t - t0)
  }
  lat.sort((a, b) => a - b)
  const at = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] as number
  return { name, p50: at(0.5), p99: at(0.99), max: lat[lat.length - 1] as number }
}

async function main() {
  const rows: { name: string; p50: number; p99: number; max: number }[] = []
  const entry = fileURLToPath(new URL('../packages/larder/src/realtime/client/index.ts', import.meta.url))
  clientJs = (await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false })).outputFiles[0]?.text ?? ''
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  const browserRows: typeof rows = []

  // ---- one instance
  {
    const bare = bareServer()
    const c = await openClients(await listen(bare.server), CLIENTS)
    rows.push(await measure('anchor: bare node:http res.write', c, (n) => bare.write(n)))
    c.close()
    bare.server.closeAllConnections()
    bare.server.close()
  }
  {
    const cache = createCache()
    const hub = createSseHub({ log: cache.log })
    const server = hubServer(hub)
    const c = await openClients(await listen(server), CLIENTS)
    const shop = cache.tenant('acme')
    rows.push(await measure('larder: invalidateTags → embedded log → hub', c, (n) => shop.invalidateTags([`product:${n}`])))
    c.close()
    const page = await openBrowserClient(browser, (server.address() as { port: number }).port)
    browserRows.push(await measure('larder: invalidateTags → embedded log → hub → Chromium page (realtime client callback)', page, (n) => shop.invalidateTags([`product:${n}`])))
    page.close()
    await hub.close()
    server.closeAllConnections()
    server.close()
    await cache.close()
  }

  // ---- two instances via Redis
  const redis = await startRedis()
  try {
    {
      const bare = bareServer()
      const c = await openClients(await listen(bare.server), CLIENTS)
      // ioredis clients built the way larder builds them (the bench workspace does not depend on ioredis).
      const pub = redisConnect({ url: redis.url }, 'b6').client
      const sub = redisConnect({ url: redis.url }, 'b6').client
      await sub.subscribe('b6')
      sub.on('message', (_ch, msg) => bare.write(Number(msg)))
      rows.push(await measure('anchor: Redis PUBLISH → SUBSCRIBE → bare res.write', c, (n) => pub.publish('b6', String(n))))
      c.close()
      pub.disconnect()
      sub.disconnect()
      bare.server.closeAllConnections()
      bare.server.close()
    }
    {
      const a = createCache({ instanceId: 'A', log: redisLog({ url: redis.url, source: 'A' }) })
      const b = createCache({ instanceId: 'B', log: redisLog({ url: redis.url, source: 'B' }) })
      const hub = createSseHub({ log: b.log })
      const server = hubServer(hub)
      const c = await openClients(await listen(server), CLIENTS)
      const shop = a.tenant('acme')
      rows.push(await measure('larder: invalidateTags on A → Redis stream → hub on B', c, (n) => shop.invalidateTags([`product:${n}`])))
      c.close()
      const page = await openBrowserClient(browser, (server.address() as { port: number }).port)
      browserRows.push(await measure('larder: invalidateTags on A → Redis stream → hub on B → Chromium page', page, (n) => shop.invalidateTags([`product:${n}`])))
      page.close()
      await hub.close()
      server.closeAllConnections()
      server.close()
      await a.close()
      await b.close()
    }
  } finally {
    await redis.stop()
    await browser.close()
  }

  console.log(`B6 invalidation → SSE client latency, ${EVENTS} events × ${CLIENTS} clients (node ${process.version}, load ${loadavg().map((x) => x.toFixed(1)).join(' ')} on 2 cores)`)
  console.log('| path | p50 | p99 | max |')
  console.log('|---|---|---|---|')
  for (const r of [...rows, ...browserRows]) console.log(`| ${r.name} | ${r.p50.toFixed(2)} ms | ${r.p99.toFixed(2)} ms | ${r.max.toFixed(2)} ms |`)
  const [a1, l1, a2, l2] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0], (typeof rows)[0]]
  console.log(`ratios vs anchor: one instance p50 ${(l1.p50 / a1.p50).toFixed(2)}×, p99 ${(l1.p99 / a1.p99).toFixed(2)}×; via Redis p50 ${(l2.p50 / a2.p50).toFixed(2)}×, p99 ${(l2.p99 / a2.p99).toFixed(2)}×`)
  console.log(`targets (raw clients): one instance p99 ≤ 10 ms → ${l1.p99 <= 10 ? 'met' : 'MISSED'}; two instances p99 ≤ 25 ms → ${l2.p99 <= 25 ? 'met' : 'MISSED'}`)
  const [b1, b2] = browserRows as [(typeof rows)[0], (typeof rows)[0]]
  console.log(`targets (Chromium page): one instance p99 ≤ 10 ms → ${b1.p99 <= 10 ? 'met' : 'MISSED'}; two instances p99 ≤ 25 ms → ${b2.p99 <= 25 ? 'met' : 'MISSED'}`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
