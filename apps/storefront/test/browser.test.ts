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

const money = (c: number) => `$${(c / 100).toFixed(2)}`

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
