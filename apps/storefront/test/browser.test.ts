import assert from 'node:assert/strict'
import { mkdirSync } from 'node:fs'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type Browser, chromium } from 'playwright-core'
import { type Demo, startDemo } from '../src/demo.ts'

// The real page in real headless Chromium, through the real gateway, hub and dashboard.
const TENANTS = [
  { id: 'acme', name: 'Acme Outfitters', products: 400 },
  { id: 'globex', name: 'Globex Market', products: 200 },
]
// Screenshots go to test-artifacts/ (gitignored); UPDATE_SCREENSHOTS=1 refreshes the ones in docs/img/.
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url))
const IMG = process.env.UPDATE_SCREENSHOTS === '1' ? fileURLToPath(new URL('../../../docs/img/', import.meta.url)) : ARTIFACTS

let demo: Demo
let browser: Browser
let url: string

before(async () => {
  demo = await startDemo({ port: 0, tenants: TENANTS })
  url = (demo.instances[0] as { url: string }).url
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
})

after(async () => {
  await browser?.close()
  await demo?.close()
})

async function openShop(product: number) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } })
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(String(e)))
  await page.goto(`${url}/?tenant=acme&product=${product}`)
  await page.waitForSelector('body[data-ready="true"]')
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live')
  return { page, errors }
}

const money = (c: number) => new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' }).format(c / 100)

test('a price changed in the admin panel appears on a second open page without reload; a banned seller disappears; the dashboard shows it', async () => {
  const a = await openShop(3)
  const b = await openShop(3)
  // Mark page B's document: a reload would lose the mark.
  await b.page.evaluate(() => Object.assign(window, { __noReload: true }))
  const before = (await b.page.textContent('#p-price')) ?? ''
  const price = 12_345 + Math.floor(Math.random() * 1000)
  assert.notEqual(before, money(price))

  await a.page.fill('#admin-price', String(price))
  await a.page.click('#admin-price-btn')
  await a.page.waitForFunction(() => /saved/.test(document.getElementById('admin-result')?.textContent ?? ''))
  await b.page.waitForFunction((text) => document.getElementById('p-price')?.textContent === text, money(price))
  await b.page.waitForFunction((text) => document.querySelector('tr[data-product-id="3"] .price')?.textContent === text, money(price))
  assert.equal(await b.page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload), true, 'page B was not reloaded')

  // A banned seller leaves the variant's sellers list on every open page.
  const bannedCount = async () => Number(/(\d+) permanently banned/.exec((await b.page.textContent('#analytics')) ?? '')?.[1] ?? Number.NaN)
  const bannedBefore = await bannedCount()
  assert.ok(Number.isInteger(bannedBefore), 'the marketplace panel shows the seller status distribution')
  await b.page.waitForSelector('#sellers li[data-seller-id]')
  const sellerId = (await b.page.getAttribute('#sellers li[data-seller-id]', 'data-seller-id')) as string
  await a.page.selectOption('#admin-seller', sellerId)
  await a.page.selectOption('#admin-seller-status', 'permanently_banned')
  await a.page.click('#admin-seller-btn')
  await b.page.waitForSelector(`#sellers li[data-seller-id="${sellerId}"]`, { state: 'detached' })
  assert.match((await b.page.textContent('#seller-excluded')) ?? '', /permanently banned/)
  // The seller status distribution follows on the same page (the analytics tag was purged too).
  await b.page.waitForFunction((n) => new RegExp(`${n} permanently banned`).test(document.getElementById('analytics')?.textContent ?? ''), bannedBefore + 1)
  assert.equal(await b.page.evaluate(() => (window as unknown as { __noReload?: boolean }).__noReload), true)

  // Clicking a row shows that product (variant 1 is a "hot" one with 100+ sellers).
  await b.page.click('tr[data-product-id="1"]')
  await b.page.waitForFunction(() => document.getElementById('p-name')?.dataset.id === '1' && Number(document.getElementById('seller-count')?.textContent) > 50)
  mkdirSync(IMG, { recursive: true })
  mkdirSync(ARTIFACTS, { recursive: true })
  await b.page.screenshot({ path: `${IMG}storefront.png` })

  // Some traffic, so the dashboard has something to show.
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${url}/api/v1/products/${1 + (i % 20)}`, { headers: { 'x-tenant-id': i % 3 ? 'acme' : 'globex' } })
    await res.arrayBuffer()
  }

  // The dashboard (admin token in the fragment) shows the invalidations just made.
  const dash = await browser.newPage({ viewport: { width: 1400, height: 900 } })
  await dash.goto(demo.dashboardUrl)
  await dash.waitForFunction(() => /product:3/.test(document.getElementById('top-tags')?.textContent ?? ''))
  await dash.waitForFunction(() => Number.parseFloat(document.getElementById('inv')?.textContent ?? '0') > 0)
  assert.match((await dash.textContent('#top-tags')) ?? '', new RegExp(`seller:${sellerId}`))
  await dash.waitForFunction(() => Number.parseFloat(document.getElementById('reads')?.textContent?.replace(/[^0-9.]/g, '') ?? '0') >= 200)
  await dash.screenshot({ path: `${IMG}storefront-dashboard.png` })
  assert.deepEqual([...a.errors, ...b.errors], [])
})

test('the page reads right: no console error, nothing clipped or overflowing, amounts with separators, out-of-stock sellers marked, switching shops starts clean', async () => {
  const page = await browser.newPage({ viewport: { width: 1400, height: 860 } })
  const errors: string[] = []
  page.on('pageerror', (e) => errors.push(String(e)))
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${m.text()} ${m.location().url}`)
  })
  const favicon = await fetch(`${url}/favicon.ico`)
  assert.equal(favicon.status, 200)
  assert.match(favicon.headers.get('content-type') ?? '', /^image\//)
  await favicon.arrayBuffer()

  await page.goto(`${url}/?tenant=acme&product=5`)
  await page.waitForSelector('body[data-ready="true"]')
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live')
  const api = async (path: string, method = 'GET', body?: unknown) => {
    const res = await fetch(url + path, { method, headers: { 'x-tenant-id': 'acme', 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) })
    assert.ok(res.ok, `${method} ${path}: ${res.status}`)
    return (await res.json()) as any
  }

  // A big amount has thousands separators.
  await api('/api/v1/products/5', 'PATCH', { priceCents: 99_999_999 })
  await page.waitForFunction(() => document.getElementById('p-price')?.textContent === '$999,999.99')
  const prices = await page.$$eval('#products td.price', (tds) => tds.map((td) => td.textContent ?? ''))
  assert.ok(prices.length > 0 && prices.every((p) => /^\$\d{1,3}(,\d{3})*\.\d{2}$/.test(p)), prices.join(' '))
  assert.match((await page.textContent('#analytics')) ?? '', /\$\d{1,3}(,\d{3})*\.\d{2}/)

  // A seller with nothing left is marked out of stock, not listed as available.
  const product = await api('/api/v1/products/5')
  const variantId = product.variants[0].id as number
  const offers = await api(`/api/v1/variants/${variantId}/sellers`)
  const seller = offers.sellers[0] as { id: number; priceCents: number }
  await api(`/api/v1/variants/${variantId}/sellers/${seller.id}`, 'PUT', { priceCents: seller.priceCents, stock: 0 })
  await page.waitForSelector(`#sellers li.out-of-stock[data-seller-id="${seller.id}"]`)
  const soldOut = (await page.textContent(`#sellers li[data-seller-id="${seller.id}"]`)) ?? ''
  assert.match(soldOut, /out of stock/)
  assert.doesNotMatch(soldOut, /0 left/)

  // More than ten live events: list numbers from 10 up have room in both lists; no panel overflows.
  for (let i = 0; i < 12; i++) await api('/api/v1/products/5', 'PATCH', { stock: 100 + i })
  await page.waitForFunction(() => (document.getElementById('events')?.children.length ?? 0) >= 12, null, { timeout: 15_000 })
  await page.click('tr[data-product-id="1"]')
  await page.waitForFunction(() => (document.getElementById('sellers')?.children.length ?? 0) >= 10)
  const layout = await page.evaluate(() => {
    const ctx = document.createElement('canvas').getContext('2d') as CanvasRenderingContext2D
    const markers = ['events', 'sellers'].map((id) => {
      const ol = document.getElementById(id) as HTMLElement
      const li = ol.lastElementChild as HTMLElement
      const cs = getComputedStyle(li)
      ctx.font = `${cs.fontWeight} ${cs.fontSize} ${cs.fontFamily}`
      return { id, need: ctx.measureText(`${ol.children.length}. `).width, room: Number.parseFloat(getComputedStyle(ol).paddingLeft) }
    })
    const overflowing = [...document.querySelectorAll<HTMLElement>('.panel, .events')].filter((el) => el.scrollWidth > el.clientWidth).map((el) => el.id || el.className)
    return { markers, overflowing }
  })
  for (const m of layout.markers) assert.ok(m.room >= m.need, `#${m.id}: list numbers need ${m.need.toFixed(1)} px, have ${m.room} px`)
  assert.deepEqual(layout.overflowing, [])

  // Switching shops: the previous shop's events go, the address bar names the new shop.
  await page.selectOption('#tenant', 'globex')
  await page.waitForFunction(() => new URL(location.href).searchParams.get('tenant') === 'globex')
  assert.equal(await page.$$eval('#events li', (lis) => lis.length), 0)
  await page.waitForFunction(() => document.getElementById('status')?.textContent === 'live')
  await page.reload()
  await page.waitForSelector('body[data-ready="true"]')
  assert.equal(await page.inputValue('#tenant'), 'globex', 'a reload stays on the shop chosen')
  assert.deepEqual(errors, [])
  await page.close()
})

test('a request for an unknown tenant (404 from the origin) adds no tenant row and no tenant label', async () => {
  const res = await fetch(`${url}/api/v1/products/1`, { headers: { 'x-tenant-id': 'no-such-shop' } })
  assert.equal(res.status, 404)
  await res.arrayBuffer()
  const auth = { authorization: `Bearer ${demo.adminToken}` }
  const stats = (await (await fetch(`${url}/_larder/stats`, { headers: auth })).json()) as { monitor: { tenants: { tenant: string }[] } }
  const rows = stats.monitor.tenants.map((t) => t.tenant)
  assert.ok(!rows.includes('no-such-shop'), rows.join(','))
  assert.ok(rows.includes('acme'), rows.join(','))
  const metrics = await (await fetch(`${url}/metrics`, { headers: auth })).text()
  assert.doesNotMatch(metrics, /no-such-shop/)
  assert.match(metrics, /tenant="acme"/)
})
