/**
 * End to end in real headless Chromium: a storefront page keeps a product fresh through
 * the hub, the product is changed through the cache API, and the page follows without a
 * reload — also across a server restart during which the change happened.
 */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import { fileURLToPath } from 'node:url'
import { after, before, describe, test } from 'node:test'
import { build } from 'esbuild'
import { type Browser, chromium } from 'playwright-core'
import { createCache } from '../../src/core/cache.ts'
import { createSseHub, type SseHub } from '../../src/realtime/index.ts'
import { freePort } from '../../src/testing/servers.ts'

const CLIENT_ENTRY = fileURLToPath(new URL('../../src/realtime/client/index.ts', import.meta.url))

const PAGE = `<!doctype html>
<meta charset="utf-8">
<title>product</title>
<h1 id="name">loading</h1>
<p>stock: <span id="stock">?</span>, loads: <span id="loads">0</span></p>
<script type="module">
import { createRealtimeClient } from '/client.js'
window.rtEvents = []
window.notReloaded = true
const rt = createRealtimeClient({
  url: '/_larder/stream',
  topics: ['stock:*'],
  backoff: { initialMs: 50, maxMs: 300 },
  onReset: (reason) => window.rtEvents.push('reset:' + reason),
})
window.rt = rt
let loads = 0
async function render() {
  const p = await rt.getCached('product:42', async () => {
    loads++
    const r = await fetch('/api/products/42')
    return r.json()
  }, { tags: ['product:42'] })
  document.querySelector('#name').textContent = p.name
  document.querySelector('#loads').textContent = String(loads)
}
rt.subscribe('product:42', (e) => { window.rtEvents.push(e.type + ':' + e.id); render() })
rt.subscribe('stock:*', (e) => { if (e.type === 'update') document.querySelector('#stock').textContent = String(e.value.qty) })
render()
</script>`

describe('browser end to end (headless Chromium)', () => {
  let browser: Browser
  let clientJs: string
  before(async () => {
    const out = await build({ entryPoints: [CLIENT_ENTRY], bundle: true, format: 'esm', platform: 'browser', target: 'es2022', write: false })
    clientJs = out.outputFiles[0]?.text ?? ''
    // The bundle must not pull in Node built-ins.
    assert.doesNotMatch(clientJs, /from ["']node:/)
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
  })
  after(async () => {
    await browser?.close()
  })

  test('an update through the cache API shows without reload, and a change during a restart is caught up by replay', async () => {
    const cache = createCache()
    const db = { name: 'Widget v1' }
    let dbReads = 0
    const shop = cache.tenant('acme')

    let bad502 = 0
    function serve(hub: SseHub): Server {
      return createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://localhost')
        // A deploy still rolling: the first stream requests after the restart get 502
        // (the native EventSource would give up here for good).
        if (url.pathname === '/_larder/stream' && bad502 > 0) {
          bad502--
          res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway')
          return
        }
        // This storefront has one tenant; a real host resolves it from the Host header or a token.
        if (hub.route(req, res, { tenant: 'acme', url })) return
        if (url.pathname === '/') {
          res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PAGE)
        } else if (url.pathname === '/client.js') {
          res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(clientJs)
        } else if (url.pathname === '/api/products/42') {
          shop
            .getOrSet(
              'product:42',
              () => {
                dbReads++
                return { ...db }
              },
              { tags: ['product:42'] },
            )
            .then((p) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(p)))
        } else res.writeHead(404).end()
      })
    }
    async function start(port: number): Promise<{ hub: SseHub; server: Server }> {
      const hub = createSseHub({ log: cache.log, retryMs: 100 })
      const server = serve(hub)
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
      return { hub, server }
    }
    async function stop(s: { hub: SseHub; server: Server }, kill = false): Promise<void> {
      // A kill cuts every connection mid-stream (no clean end of the SSE response).
      if (kill) s.server.closeAllConnections()
      await s.hub.close()
      s.server.closeAllConnections()
      await new Promise((r) => s.server.close(r))
    }

    const port = await freePort()
    let srv = await start(port)
    const page = await browser.newPage()
    try {
      await page.goto(`http://127.0.0.1:${port}/`)
      await page.waitForFunction(() => document.querySelector('#name')?.textContent === 'Widget v1')
      await page.waitForFunction(() => (window as unknown as { rt: { state: string } }).rt.state === 'open')

      // An admin saves the product: the source changes, the cache API invalidates its tag.
      db.name = 'Widget v2'
      const inv = await shop.invalidateTags(['product:42'])
      await page.waitForFunction(() => document.querySelector('#name')?.textContent === 'Widget v2')
      assert.equal(await page.evaluate(() => (window as unknown as { rtEvents: string[] }).rtEvents.join()), `invalidate:${inv.id}`)

      // Live data over cached base data (seed 001): stock without an invalidation.
      await srv.hub.publishLive('acme', 'stock:42', { qty: 3 })
      await page.waitForFunction(() => document.querySelector('#stock')?.textContent === '3')
      assert.equal(await page.textContent('#loads'), '2')

      // Kill the server; the product changes during the outage; restart on the same port,
      // answering 502 to the first two stream requests.
      await stop(srv, true)
      db.name = 'Widget v3'
      const missed = await shop.invalidateTags(['product:42'])
      await page.waitForFunction(() => (window as unknown as { rt: { state: string } }).rt.state === 'connecting')
      bad502 = 2
      srv = await start(port)
      await page.waitForFunction(() => document.querySelector('#name')?.textContent === 'Widget v3')
      assert.equal(bad502, 0)
      const events = await page.evaluate(() => (window as unknown as { rtEvents: string[] }).rtEvents)
      // Caught up by replay (the missed invalidation with its log id), not by a reset.
      assert.deepEqual(events, [`invalidate:${inv.id}`, `invalidate:${missed.id}`])
      assert.equal(srv.hub.stats().replays, 1)
      assert.equal(await page.evaluate(() => (window as unknown as { notReloaded: boolean }).notReloaded), true)
      assert.equal(dbReads, 3)
    } finally {
      await page.close()
      await stop(srv)
      await cache.close()
    }
  })
})
