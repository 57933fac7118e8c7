/**
 * useLarderTopics in real headless Chromium: the fixture page (built by Qwik's optimizer,
 * server-rendered by renderToString) resumes in the browser, opens one shared stream for its
 * two components, follows invalidations, and after the connection is cut resumes from the last
 * event id so an invalidation made while it was down still arrives.
 */
import assert from 'node:assert/strict'
import { EventEmitter, once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { join, normalize } from 'node:path'
import { after, before, type TestContext, test } from 'node:test'
import { createCache } from 'larder'
import { createSseHub, type SseHub } from 'larder/realtime'
import { type Browser, chromium, type Page } from 'playwright-core'
import { buildSsrFixture } from './build-fixture.ts'

interface Fixture {
  renderPage(url: string): Promise<string>
}

const cache = createCache()
let hub: SseHub
let fixture: Fixture
let clientDir: string
let remove = () => {}
let server: Server
let base: string
let browser: Browser
/** Every stream request the page made (URL), and the sockets of the open ones. */
const streamRequests: URL[] = []
const streamSockets = new Set<Socket>()
const streams = new EventEmitter()
/** `/data` requests: (version, answer) — the test decides when each is answered. */
const dataRequests = new EventEmitter()

before(async () => {
  const built = await buildSsrFixture()
  remove = built.remove
  clientDir = built.clientDir
  fixture = (await import(built.entry)) as Fixture
  hub = createSseHub({ log: cache.log, heartbeatMs: 60_000 })
  server = createServer((req: IncomingMessage, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname === '/_larder/stream') {
      streamRequests.push(url)
      streams.emit('request', url)
      streamSockets.add(req.socket)
      req.socket.once('close', () => streamSockets.delete(req.socket))
      hub.route(req, res, { tenant: String(req.headers['vendure-token'] ?? ''), url })
      return
    }
    if (url.pathname === '/data') {
      dataRequests.emit('request', url.searchParams.get('v'), (body: string) => res.writeHead(200, { 'content-type': 'text/plain' }).end(body))
      return
    }
    if (url.pathname === '/favicon.ico') return void res.writeHead(204).end()
    if (url.pathname === '/') {
      void fixture.renderPage('/_larder/stream').then((html) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><html><head><title>fixture</title></head><body>${html}</body></html>`)
      })
      return
    }
    const file = normalize(join(clientDir, url.pathname))
    if (!file.startsWith(clientDir)) return void res.writeHead(404).end()
    readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': file.endsWith('.js') ? 'text/javascript' : 'application/json' }).end(body),
      () => res.writeHead(404).end(),
    )
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
})

after(async () => {
  await browser?.close()
  hub?.close()
  server?.closeAllConnections()
  await new Promise((resolve) => server?.close(resolve))
  await cache.close()
  remove()
})

/** Opens the fixture page and waits until its components are live on the stream. */
async function openLive(t: TestContext): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage()
  t.after(() => page.close())
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(String(e)))
  // An aborted refetch logs nothing; any other console error fails the test.
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
  await page.goto(`${base}/`)
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('.price')].every((e) => e.dataset.state === 'open'))
  return { page, errors }
}

const versions = (page: Page) => page.$$eval('.price', (els) => els.map((e) => (e as HTMLElement).dataset.version))

test('the page resumes, shares one stream, follows invalidations and catches up after a cut', async (t) => {
  const { page, errors } = await openLive(t)
  await page.evaluate(() => Object.assign(window, { __notReloaded: true }))
  // The components went live on one connection.
  assert.equal(streamRequests.length, 1, 'the four components share one stream')
  assert.deepEqual(streamRequests[0]?.searchParams.getAll('topic').sort(), ['Collection:1', 'Product:1', 'ProductVariant:*', 'Stock:1'])

  // An invalidation of a followed tag in the page's tenant reaches both components once.
  const tenant = cache.tenant('ch-a')
  await tenant.invalidateTags(['Product:1'])
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('.price')].every((e) => e.dataset.version === '1'))
  assert.equal(await page.getAttribute('.price', 'data-last'), 'invalidate:Product:1')
  // onEvent$ ran once per component, in the browser.
  await page.waitForFunction(() => (window as unknown as { __onEvent?: string[] }).__onEvent?.length === 2)
  assert.deepEqual(await page.evaluate('window.__onEvent'), ['invalidate:Product:1', 'invalidate:Product:1'])
  // Another tenant's invalidation of the same tag, and an unfollowed tag, do not arrive.
  await cache.tenant('ch-b').invalidateTags(['Product:1'])
  await tenant.invalidateTags(['Product:2'])
  await tenant.invalidateTags(['ProductVariant:7'])
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('.price')].every((e) => e.dataset.version === '2'))
  assert.equal(await page.getAttribute('.price', 'data-last'), 'invalidate:ProductVariant:7')

  // Cut the connection, invalidate while it is down: the reconnect resumes from the last id.
  const lastId = await page.getAttribute('.price', 'data-id')
  assert.ok(lastId)
  const replaysBefore = hub.stats().replays
  for (const s of streamSockets) s.destroy()
  await tenant.invalidateTags(['Product:1', 'ProductVariant:8'])
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('.price')].every((e) => e.dataset.version === '3' && e.dataset.state === 'open'))
  assert.equal(await page.getAttribute('.price', 'data-last'), 'invalidate:Product:1,ProductVariant:8')
  assert.equal(streamRequests.length, 2)
  assert.equal(streamRequests[1]?.searchParams.get('lastEventId'), lastId, 'the reconnect resumed from the last event id')
  assert.equal(hub.stats().replays, replaysBefore + 1, 'the missed invalidation came from a replay')
  assert.deepEqual(await versions(page), ['3', '3'])
  assert.equal(await page.evaluate(() => (window as unknown as { __notReloaded?: boolean }).__notReloaded), true, 'the page was not reloaded')
  // The cut stream is the one expected error.
  assert.deepEqual(
    errors.filter((e) => !e.includes('ERR_INCOMPLETE_CHUNKED_ENCODING')),
    [],
  )
})

test('a topics signal re-subscribes on the same connection, resuming, and the page keeps its other state', async (t) => {
  const { page, errors } = await openLive(t)
  const opened = streamRequests.length
  const tenant = cache.tenant('ch-a')
  await tenant.invalidateTags(['Collection:1'])
  await page.waitForFunction(() => document.getElementById('picker')?.dataset.version === '1')
  const lastId = await page.getAttribute('#picker', 'data-id')
  assert.ok(lastId)

  await page.fill('#note', 'kept')
  const reconnect = once(streams, 'request', { signal: AbortSignal.timeout(10_000) })
  await page.click('#next')
  const [url] = (await reconnect) as [URL]
  assert.ok(url.searchParams.getAll('topic').includes('Collection:2'), 'the stream now follows the new topic')
  assert.equal(url.searchParams.get('lastEventId'), lastId, 'and resumed where it was')
  assert.equal(streamRequests.length, opened + 1, 'one reconnect, no second connection')
  await page.waitForFunction(() => [...document.querySelectorAll<HTMLElement>('.price')].every((e) => e.dataset.state === 'open'))

  // The old topic no longer counts for the picker; the new one does.
  await tenant.invalidateTags(['Collection:1'])
  await tenant.invalidateTags(['Collection:2'])
  await page.waitForFunction(() => document.getElementById('picker')?.dataset.last === 'invalidate:Collection:2')
  assert.equal(await page.getAttribute('#picker', 'data-version'), '2')
  assert.equal(await page.inputValue('#note'), 'kept')
  assert.deepEqual(errors, [])
})

test('useLarderRefetch: a newer event aborts the older refetch, whose late answer never overwrites the newer one', async (t) => {
  const { page, errors } = await openLive(t)
  // Every text #fresh shows, in order (kept as text: tsx helpers do not exist in the page).
  await page.evaluate(`(() => {
    const el = document.getElementById('fresh')
    window.__texts = []
    new MutationObserver(() => window.__texts.push(el.textContent)).observe(el, { childList: true, characterData: true, subtree: true })
  })()`)
  const tenant = cache.tenant('ch-a')
  const first = once(dataRequests, 'request', { signal: AbortSignal.timeout(10_000) })
  await tenant.invalidateTags(['Stock:1'])
  const [v1, answer1] = (await first) as [string, (body: string) => void]
  assert.equal(v1, '1')
  // The first refetch is still out when the second event comes: the second one wins.
  const second = once(dataRequests, 'request', { signal: AbortSignal.timeout(10_000) })
  await tenant.invalidateTags(['Stock:1'])
  const [v2, answer2] = (await second) as [string, (body: string) => void]
  assert.equal(v2, '2')
  answer2('second')
  await page.waitForFunction(() => document.getElementById('fresh')?.textContent === 'second')
  answer1('first (late)')
  // A third event with an immediate answer: once it shows, the late first answer has had its chance.
  const third = once(dataRequests, 'request', { signal: AbortSignal.timeout(10_000) })
  await tenant.invalidateTags(['Stock:1'])
  const [, answer3] = (await third) as [string, (body: string) => void]
  answer3('third')
  await page.waitForFunction(() => document.getElementById('fresh')?.textContent === 'third')
  const texts = (await page.evaluate('window.__texts')) as string[]
  assert.ok(!texts.includes('first (late)'), `the late answer was shown: ${texts.join(' → ')}`)
  assert.deepEqual([...new Set(texts)], ['second', 'third'])
  assert.deepEqual(errors, [])
})
