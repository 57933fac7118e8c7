import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { type Browser, chromium } from 'playwright-core'
import { createAdminApi } from '../../src/admin/index.ts'
import type { Cache } from '../../src/core/api.ts'
import { createAuthorizer } from '../../src/core/auth.ts'
import { varyKey } from '../../src/http/vary.ts'
import { createCache } from '../../src/index.ts'
import { createWarmer, type Warmer } from '../../src/warm/index.ts'
import { type Served, serve } from './serve.ts'

const TOKEN = 'dashboard-reader-token'
const ARTIFACTS = new URL('../../../../test-artifacts/', import.meta.url).pathname
const XSS = '<img src=x onerror="window.__pwned=1">'
const VARIED = 'shop.test/api/v1/products/1'

let cache: Cache
let admin: ReturnType<typeof createAdminApi>
let warmer: Warmer
let s: Served
let browser: Browser
let running = true
let loadLoop: Promise<void>

/** Storefront-like load: mostly hits on a few hot products, some misses, a few invalidations. */
async function load(): Promise<void> {
  const tenants = ['acme', 'globex', 'initech']
  let n = 0
  while (running) {
    for (let i = 0; i < 50; i++) {
      n++
      const t = cache.tenant(tenants[n % 3]!)
      const id = n % 7 === 0 ? `${n}` : `${n % 5}`
      await t.getOrSet(`product:${id}`, () => ({ id, price: n }), { ttl: '1m', tags: [`product:${id}`] })
      if (n % 97 === 0) await t.invalidateTags([`product:${n % 5}`])
    }
    await new Promise((r) => setTimeout(r, 5))
  }
}

before(async () => {
  cache = createCache({ instanceId: 'dash-1', policies: { catalog: { ttl: '1m', adaptive: { min: '30s', max: '1h' } } } })
  warmer = createWarmer({
    cache,
    ratePerSec: 20,
    plans: [{ name: 'catalog', items: () => Array.from({ length: 30 }, (_, i) => ({ tenant: 'acme', key: `category:${i}`, loader: () => ({ i }) })) }],
  })
  admin = createAdminApi({
    cache,
    warmer,
    auth: createAuthorizer([{ name: 'grafana', token: TOKEN, scopes: ['read:stats'] }]),
    tickMs: 250,
    // Count every read toward the top keys: with one in eight, which of two alternating reads
    // (a varied URL's marker and its variant) is counted depends on the phase of the shared
    // counter, so one extra read anywhere flipped the "varied key" check below.
    sampleEvery: 1,
    // Fire at once so the page shows a firing alert within the test.
    alerts: { LarderInvalidationStorm: { threshold: 10, forMs: 0 } },
    logger: (await import('pino')).pino({ level: 'silent' }),
  })
  s = await serve([admin.route])
  // A tenant id and key holding markup (valid: they are data) must be shown as text.
  await cache.tenant(XSS).set(XSS, 1)
  for (let i = 0; i < 20; i++) await cache.tenant(XSS).get(XSS)
  // An HTTP response stored with Vary: X-Tenant-Id (a marker at the URL, the variant below it).
  await cache.tenant('acme').set(VARIED, { vary: ['x-tenant-id'] }, { tags: [`@url ${VARIED}`] })
  await cache.tenant('acme').set(VARIED + varyKey(['x-tenant-id'], { 'x-tenant-id': 'acme' }), { status: 200 }, { tags: [`@url ${VARIED}`] })
  await cache.tenant('acme').set('catalog:1', 1, { policy: 'catalog' })
  loadLoop = load()
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})

after(async () => {
  running = false
  await loadLoop
  await browser?.close()
  await s.close()
  await admin.close()
  await warmer.close()
  await cache.close()
})

test('the dashboard loads in Chromium, shows live numbers that change under load, and is screenshotted', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(String(e)))
  await page.goto(`${s.url}/_larder/dashboard#token=${TOKEN}`)
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live', null, { timeout: 10_000 })
  assert.equal(new URL(page.url()).hash, '', 'the token is removed from the address bar')

  const reads = async () => Number(await page.textContent('#reads'))
  await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 2)
  const first = await reads()
  assert.ok(first > 0, `reads shown: ${first}`)
  await page.waitForFunction((before) => Number(document.getElementById('reads')?.textContent) > before, first, { timeout: 10_000 })
  assert.ok((await reads()) > first, 'the numbers change under load')

  const ratio = await page.textContent('#hit-ratio')
  assert.match(ratio ?? '', /^\d+\.\d %$/)
  const pct = Number.parseFloat(ratio!)
  assert.ok(pct > 50 && pct < 100, `hit ratio ${ratio}`)
  assert.ok(Number(await page.textContent('#rps')) > 0)

  // Per-tenant table, top keys and the chart.
  await page.waitForFunction(() => document.querySelectorAll('#tenants tr').length >= 3)
  const tenants = await page.$$eval('#tenants tr td:first-child', (tds) => tds.map((td) => td.textContent))
  assert.ok(['acme', 'globex', 'initech'].every((t) => tenants.includes(t)), tenants.join(','))
  const keys = await page.$$eval('#top-keys tr td:nth-child(2)', (tds) => tds.map((td) => td.textContent))
  assert.ok(keys.some((k) => k?.startsWith('product:')))
  await page.waitForFunction(() => (document.querySelector('#chart-rps polyline')?.getAttribute('points') ?? '').split(' ').length >= 3)

  // Untrusted key text is shown as text, never run as markup.
  assert.ok(tenants.includes(XSS), 'the tenant id with markup is listed verbatim')
  assert.equal(await page.evaluate(() => (window as any).__pwned), undefined)
  assert.equal(await page.$('main img'), null)

  // The in-process alert (threshold lowered for the test) shows as firing.
  await page.waitForFunction(() => /FIRING LarderInvalidationStorm/.test(document.getElementById('alerts')?.textContent ?? ''), null, { timeout: 10_000 })

  // TTL effectiveness per policy: the default policy's entries end (invalidated, reloaded); an adaptive policy shows its ttl.
  await page.waitForFunction(() => [...document.querySelectorAll('#ttl tr')].some((tr) => tr.children[0]?.textContent === 'default' && Number(tr.children[2]?.textContent) > 0), null, { timeout: 10_000 })
  const ttlRows = await page.$$eval('#ttl tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent ?? '')))
  const byGroup = new Map(ttlRows.map((r) => [r[0], r]))
  assert.equal(byGroup.get('catalog')?.[1], 'adaptive 1m')
  const def = byGroup.get('default') ?? []
  assert.equal(def[1], '1m')
  assert.match(def[4] ?? '', /^\d+\.\d %$/)
  assert.ok(Number.parseFloat(def[4] ?? '') > 0, `invalidated before expiry: ${def[4]}`)

  // Warming progress appears once a plan runs.
  const report = await warmer.run('catalog')
  assert.equal(report.loaded, 30)
  await page.waitForFunction(() => /catalog: 30\/30/.test(document.getElementById('warm')?.textContent ?? ''), null, { timeout: 10_000 })

  // Nothing sticks out of its panel (the tenant table once did).
  const over = await page.$$eval('section, .tile', (els) => els.filter((el) => el.scrollWidth > el.clientWidth).map((el) => el.querySelector('h2, .label')?.textContent))
  assert.deepEqual(over, [])

  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: `${ARTIFACTS}dashboard.png`, fullPage: true })
  assert.deepEqual(errors, [])
  await page.close()
})

test('keys as users know them; axes; the tile is the chart; gaps stay gaps; which instance', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text())
  })
  // A second cache with its admin API in this process: the monitor (process-wide channels) covers both, and says so.
  const cache2 = createCache({ instanceId: 'dash-2' })
  const admin2 = createAdminApi({ cache: cache2, auth: createAuthorizer([]), logger: (await import('pino')).pino({ level: 'silent' }) })
  await page.goto(`${s.url}/_larder/dashboard#token=${TOKEN}`)
  await page.waitForFunction(() => Number(document.body.dataset.updates ?? 0) >= 2)
  assert.match((await page.textContent('#instance')) ?? '', /^instances dash-1 \+ dash-2 \(one process: traffic of all; entries\/bytes of dash-1\)$/)
  await admin2.close()
  await cache2.close()
  await page.waitForFunction(() => document.getElementById('instance')?.textContent === 'instance dash-1')

  // The varied URL is listed once, its Vary value in its own column; no cell holds a control character.
  const variant = VARIED + varyKey(['x-tenant-id'], { 'x-tenant-id': 'acme' })
  for (let i = 0; i < 5000; i++) {
    await cache.tenant('acme').get(VARIED)
    await cache.tenant('acme').get(variant)
  }
  await page.waitForFunction((u) => [...document.querySelectorAll('#top-keys td:nth-child(2)')].some((td) => td.textContent === u), VARIED, { timeout: 5_000 })
  const rows = await page.$$eval('#top-keys tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')))
  const varied = rows.filter((r) => r[1] === VARIED)
  assert.deepEqual(
    varied.map((r) => r[2]),
    ['x-tenant-id: acme'],
  )
  // biome-ignore lint/suspicious/noControlCharactersInRegex: none may be shown
  assert.ok(rows.flat().every((c) => !/[\u0000-\u001f]/.test(c)))

  // Both charts have a value axis and a time axis.
  assert.ok(Number(await page.textContent('#chart-rps .y-max')) > 0)
  assert.equal(await page.textContent('#chart-hit .y-max'), '100 %')
  assert.match((await page.textContent('#chart-rps .x-end')) ?? '', /\d{1,2}:\d{2}:\d{2}/)

  // Traffic stops: within a second (ticks are 250 ms) the tile says 0, as the chart's last point does.
  running = false
  await loadLoop
  await page.waitForFunction(() => document.getElementById('rps')?.textContent === '0.0', null, { timeout: 5_000 })
  const lastY = await page.$$eval('#chart-rps polyline', (pls) => pls.at(-1)?.getAttribute('points')?.split(' ').at(-1)?.split(',')[1])
  assert.equal(lastY, '98.0', 'the chart is at 0 too')

  // The interval that read 0 above had no reads, so no hit ratio: a gap. Reads again start a new line, not a diagonal.
  for (let i = 0; i < 100; i++) await cache.tenant('acme').get('product:1')
  await page.waitForFunction(() => document.querySelectorAll('#chart-hit polyline').length >= 2, null, { timeout: 5_000 })
  assert.deepEqual(errors, [])
  await page.close()
})

test('a wrong token shows a clear message and receives no data', async () => {
  const page = await browser.newPage()
  await page.goto(`${s.url}/_larder/dashboard#token=wrong-token-000`)
  await page.waitForFunction(() => /token refused \(401\)/.test(document.getElementById('status')?.textContent ?? ''), null, { timeout: 10_000 })
  assert.equal(await page.textContent('#reads'), '–')
  await page.close()
})
