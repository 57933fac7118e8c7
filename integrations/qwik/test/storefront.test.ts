/**
 * The Qwik storefront example end to end, nothing mocked: a real Vendure server (two
 * channels, @larder/vendure on Redis), the Larder gateway in front of its Shop API, the built
 * Qwik City app, and headless Chromium. A price changed through Vendure's Admin API appears in
 * two open windows of the product page without a reload; the other channel's page keeps its
 * price. Records mutation response → DOM change latency (docs/benchmarks.md). The gateway
 * refreshes the invalidated answers before the event goes out (larder/gateway refresh on
 * invalidation), so the pages' refetches are hits.
 *
 * LARDER_QWIK_CHANGES (default 40) sets the number of price changes; SEED the price sequence.
 */
import assert from 'node:assert/strict'
import { mkdirSync, writeFileSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { freePort, mulberry32, type RedisServerHandle, startRedis } from 'larder/testing'
import { type Browser, chromium, type Page } from 'playwright-core'
import { gql, startTestVendure, type TestProduct, type TestVendure } from '../../vendure/src/testing/index.ts'
import { armWatch, buildStorefront, changedSinceArmed, type Storefront, startStorefront, summary, watched } from './storefront-helpers.ts'

const CHANGES = Number(process.env.LARDER_QWIK_CHANGES ?? 40)
const SEED = Number(process.env.SEED ?? Date.now() % 2 ** 31)
const REFRESH = process.env.LARDER_QWIK_REFRESH !== '0'
const ARTIFACTS = new URL('../../../test-artifacts/', import.meta.url).pathname

let redis: RedisServerHandle
let vendure: TestVendure
let storefront: Storefront
let browser: Browser

before(async () => {
  console.log(`# seed ${SEED}, ${CHANGES} price changes`)
  buildStorefront()
  redis = await startRedis()
  // Vendure with the plugin on Redis (L2 and the invalidation log), and the Larder gateway in
  // front sharing the plugin's cache and serving its SSE hub: the hub hears an invalidation after
  // the gateway's cache applied it, so a page's refetch cannot get the old answer.
  // LARDER_QWIK_REFRESH=0 turns the gateway's refresh on invalidation off (for comparison).
  vendure = await startTestVendure({ larder: { redis: redis.url, shopApiCache: true }, gateway: true, refreshOnInvalidation: REFRESH })
  storefront = await startStorefront({ LARDER_GATEWAY: vendure.gatewayUrl as string })
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
})

after(async () => {
  await browser?.close()
  await storefront?.close()
  await vendure?.close()
  await redis?.stop()
})

type RefreshStats = ReturnType<NonNullable<TestVendure['refresher']>['stats']>
function diffStats(a: RefreshStats | undefined, b: RefreshStats | undefined): RefreshStats | undefined {
  return a && b ? { refreshed: b.refreshed - a.refreshed, skipped: b.skipped - a.skipped, failed: b.failed - a.failed } : undefined
}

interface Shown {
  page: Page
  errors: string[]
}

async function open(channel: string, path: string): Promise<Shown> {
  const page = await browser.newPage()
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()))
  page.on('response', (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`))
  await page.goto(`${storefront.url}/${channel}/${path}`)
  await page.waitForSelector('main[data-stream="open"]')
  // A reload would lose this mark.
  await page.evaluate(() => Object.assign(window, { __notReloaded: true }))
  return { page, errors }
}

/** The price text the page should show: Vendure's own answer (straight from Vendure, not through the gateway). */
async function expectedText(channel: string, product: TestProduct, variantId: string): Promise<string> {
  vendure.shop.setChannelToken(channel)
  const r = await vendure.shop.query<{ product: { variants: { id: string; priceWithTax: number; currencyCode: string }[] } }>(
    gql`query ($id: ID!) { product(id: $id) { variants { id priceWithTax currencyCode } } }`,
    { id: product.id },
  )
  const v = r.product.variants.find((x) => x.id === variantId)
  assert.ok(v)
  return `${(v.priceWithTax / 100).toFixed(2)} ${v.currencyCode}`
}

test('a price change made in the Admin API appears in both windows and the filtered list without reload; the other channel keeps its price', async () => {
  const product = vendure.products.find((p) => p.variants.length > 0)
  assert.ok(product)
  const variant = product.variants[0]
  assert.ok(variant)
  const { default: chA, second: chB } = vendure.channels
  const a1 = await open(chA, `products/${product.slug}/`)
  const a2 = await open(chA, `products/${product.slug}/`)
  const b = await open(chB, `products/${product.slug}/`)
  // The product list, filtered by a search: the filter must survive the refreshes.
  const list = await open(chA, '')
  const search = product.name.slice(0, 4)
  await list.page.fill('#search', search)
  await list.page.waitForFunction((n) => document.querySelectorAll('#products li').length < n, vendure.products.length)
  const shown = await list.page.$$eval('#products li', (els) => els.length)
  assert.ok(shown >= 1 && shown < vendure.products.length, `the search narrows the list (${shown} shown)`)
  // UI state on one window that a refresh must keep: the quantity typed in.
  await a2.page.fill('#quantity', '3')
  const bText = await b.page.textContent('#price')
  await armWatch(b.page)

  const refreshedBefore = vendure.refresher?.stats()
  const random = mulberry32(SEED)
  let price = variant.price
  const fromResponse: number[] = []
  const fromRequest: number[] = []
  const eventToDom: number[] = []
  const directRead: number[] = []
  const eventToFetch: number[] = []
  const fetchMs: number[] = []
  // Server-side timestamps (test process, same wall clock as the pages): when this process's log
  // reader delivered the change's invalidation, and when the hub's log delivered it (the SSE frame).
  const wall = () => performance.timeOrigin + performance.now()
  let logAt = 0
  let sentAt = 0
  const isChange = (es: readonly { kind: string; tenant: string }[]) => es.some((e) => e.kind === 'hard' && e.tenant === chA)
  let lastLogAt = 0
  let logBatches = 0
  const offLog = vendure.cache?.log.subscribe(
    {
      entries(es) {
        if (!isChange(es)) return
        lastLogAt = wall()
        logBatches++
        if (logAt === 0) logAt = lastLogAt
      },
      gap() {},
    },
    'now',
  )
  const offHub = (vendure.refresher?.log ?? vendure.cache?.log)?.subscribe({ entries: (es) => void (sentAt === 0 && isChange(es) && (sentAt = wall())), gap() {} }, 'now')
  const logToResponse: number[] = []
  const logSpread: number[] = []
  const hold: number[] = []
  const sentToEvent: number[] = []
  for (let i = 0; i < CHANGES; i++) {
    let next = price
    while (next === price) next = 1_00 + Math.floor(random() * 9_900_00)
    price = next
    await Promise.all([armWatch(a1.page), armWatch(a2.page)])
    logAt = 0
    sentAt = 0
    lastLogAt = 0
    const sent = performance.timeOrigin + performance.now()
    await vendure.setPrice(variant.id, price, chA)
    const answered = performance.timeOrigin + performance.now()
    const [w1, w2] = await Promise.all([watched(a1.page), watched(a2.page)])
    if (logAt > 0) logToResponse.push(answered - logAt)
    if (logAt > 0) logSpread.push(lastLogAt - logAt)
    if (logAt > 0 && sentAt > 0) hold.push(sentAt - logAt)
    const readStart = performance.now()
    const want = await expectedText(chA, product, variant.id)
    directRead.push(performance.now() - readStart)
    for (const w of [w1, w2]) {
      assert.equal(w.text, want, `change ${i}: the page shows Vendure's new price`)
      fromResponse.push(w.at - answered)
      fromRequest.push(w.at - sent)
      if (w.eventAt > 0) eventToDom.push(w.at - w.eventAt)
      if (w.eventAt > 0 && sentAt > 0) sentToEvent.push(w.eventAt - sentAt)
      if (w.eventAt > 0 && w.fetchStart > 0) eventToFetch.push(w.fetchStart - w.eventAt)
      if (w.fetchMs > 0) fetchMs.push(w.fetchMs)
    }
  }

  offLog?.()
  offHub?.()
  // The other channel's window did not change (its price is its own), and was not reloaded.
  assert.equal(await b.page.textContent('#price'), bText)
  assert.equal(await b.page.evaluate(() => document.getElementById('price')?.textContent), bText)
  assert.equal(await changedSinceArmed(b.page), undefined, "the other channel's price changed")
  // The windows were not reloaded, and the typed quantity stayed (the total follows the new price).
  for (const s of [a1, a2, b, list]) assert.equal(await s.page.evaluate(() => (window as unknown as { __notReloaded?: boolean }).__notReloaded), true)
  assert.equal(await a2.page.inputValue('#quantity'), '3')
  const unit = Number((await a2.page.textContent('#price'))?.split(' ')[0])
  assert.equal(await a2.page.textContent('#total'), `${(unit * 3).toFixed(2)} ${(await a2.page.textContent('#price'))?.split(' ')[1]}`)
  const result = {
    date: new Date().toISOString(),
    seed: SEED,
    changes: CHANGES,
    windows: 2,
    refreshOnInvalidation: REFRESH,
    responseToDom: summary(fromResponse),
    requestToDom: summary(fromRequest),
    eventToDom: summary(eventToDom),
    eventToFetchStart: summary(eventToFetch),
    // Log delivered here → mutation answered; log delivered → hub's log delivered (the refresh hold); hub → page.
    logToResponse: summary(logToResponse),
    refreshHold: summary(hold),
    // A change's invalidations reach the log in several batches: first → last, and batches per change.
    logSpread: summary(logSpread),
    logBatchesPerChange: logBatches / CHANGES,
    hubToPage: summary(sentToEvent),
    refetch: summary(fetchMs),
    // The anchor: the same product query straight to Vendure's Shop API, same run.
    vendureRead: summary(directRead),
    // The gateway's refresh on invalidation during the run: entries re-fetched before the event went out.
    refresher: diffStats(refreshedBefore, vendure.refresher?.stats()),
  }
  console.log(`# latency ${JSON.stringify(result)}`)
  mkdirSync(ARTIFACTS, { recursive: true })
  writeFileSync(`${ARTIFACTS}qwik-storefront-latency.json`, `${JSON.stringify(result, null, 2)}\n`)
  // The list followed (its first-variant price is the product page's), and kept its search.
  const finalText = (await a1.page.textContent('#price')) ?? ''
  await list.page.waitForFunction(
    ([id, text]) => document.querySelector(`#products li[data-product="${id}"] .price`)?.textContent === text,
    [product.id, finalText] as const,
  )
  assert.equal(await list.page.inputValue('#search'), search)
  assert.equal(await list.page.$$eval('#products li', (els) => els.length), shown)
  for (const s of [a1, a2, b, list]) assert.deepEqual(s.errors, [])
  // A loose bound that still catches a page that polls or reloads instead of following the stream.
  assert.ok(result.responseToDom.p50 < 500, `p50 ${result.responseToDom.p50} ms`)
  // Every change re-fetched the product page's query (and the list's) before its event went out,
  // so the pages' refetches found a fresh entry instead of waiting on Vendure.
  if (REFRESH) assert.ok((result.refresher?.refreshed ?? 0) >= CHANGES, `refreshed ${result.refresher?.refreshed} for ${CHANGES} changes`)
  if (REFRESH) assert.equal(result.refresher?.failed, 0)
})

test('read paths, for the latency breakdown: Vendure direct, through the gateway, through the storefront', async () => {
  const product = vendure.products.find((p) => p.variants.length > 0) as TestProduct
  const query = 'query ($slug: String!) { product(slug: $slug) { __typename id name variants { __typename id priceWithTax currencyCode } } }'
  const search = `?query=${encodeURIComponent(query)}&variables=${encodeURIComponent(JSON.stringify({ slug: product.slug }))}`
  const read = async (base: string) => {
    const t = performance.now()
    const r = await fetch(`${base}/shop-api${search}`, { headers: { 'vendure-token': vendure.channels.default } })
    const text = await r.text()
    assert.equal(r.status, 200, text)
    return { ms: performance.now() - t, cache: r.headers.get('x-cache') ?? '' }
  }
  const gw = vendure.gatewayUrl as string
  const rows: Record<string, ReturnType<typeof summary> & { cache?: string }> = {}
  for (const [name, base] of [['vendure', vendure.url], ['gateway', gw], ['storefront proxy', storefront.url]] as const) {
    const samples: number[] = []
    const caches = new Set<string>()
    for (let i = 0; i < 30; i++) {
      const r = await read(base)
      if (i >= 5) samples.push(r.ms)
      caches.add(r.cache)
    }
    rows[name] = { ...summary(samples), cache: [...caches].join(',') }
  }
  console.log(`# read paths ${JSON.stringify(rows)}`)
})

test('bad input answers 404, not 500: an invalid or unknown channel token, an unknown product', async () => {
  const product = vendure.products[0] as TestProduct
  for (const path of [`/a%20b/products/${product.slug}/`, `/no-such-channel/products/${product.slug}/`, `/${vendure.channels.default}/products/no-such-product/`, '/no-such-channel/']) {
    const r = await fetch(`${storefront.url}${path}`)
    await r.text()
    assert.equal(r.status, 404, path)
  }
})

test('gateway down: pages answer 502 with a message, the forwarded Shop API 502 too', async () => {
  const port = await freePort()
  const down = await startStorefront({ LARDER_GATEWAY: `http://127.0.0.1:${port}` })
  try {
    const page = await fetch(`${down.url}/${vendure.channels.default}/`)
    assert.equal(page.status, 502)
    assert.match(await page.text(), /the shop is unavailable/)
    const api = await fetch(`${down.url}/shop-api?query=%7B__typename%7D`)
    assert.equal(api.status, 502)
    assert.equal(await api.text(), 'upstream unavailable')
  } finally {
    await down.close()
  }
})
