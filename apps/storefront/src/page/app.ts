/**
 * The storefront page (browser code, bundled by esbuild in page/serve.ts). Every read goes
 * through the gateway's cache; the realtime client follows the tenant's invalidations over
 * SSE and the page refetches what it shows when one of its tags is invalidated. The admin
 * panel writes to the origin (the database); nothing here invalidates anything itself.
 */
import { createRealtimeClient, type RealtimeEvent } from 'larder/realtime/client'

interface Product {
  id: number
  name: string
  priceCents: number
  stock: number
  version: number
}
interface Variant extends Product {
  sku: string
}
interface Seller {
  id: number
  name: string
  priceCents: number
  stock: number
}

const params = new URLSearchParams(location.search)
const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T
const tenantSelect = $<HTMLSelectElement>('tenant')
let tenant = params.get('tenant') ?? 'acme'
tenantSelect.value = tenant
let page = 1
let productId = Number(params.get('product') ?? 1)
let variantId: number | undefined
let shownProducts = new Set<number>()
let shownVariants = new Set<number>()

const dollars = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD' })
const count = new Intl.NumberFormat('en-US')
/** Cents as dollars with thousands separators: 157592556 → $1,575,925.56. */
const money = (c: number) => dollars.format(c / 100)

async function api<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(path, { ...init, cache: 'no-store', headers: { 'x-tenant-id': tenant, 'content-type': 'application/json', ...init.headers } })
  const body = await res.json()
  if (!res.ok) throw new Error(body?.error?.message ?? `HTTP ${res.status}`)
  return body as T
}

function flash(el: Element | null) {
  if (!el) return
  el.classList.remove('flash')
  void (el as HTMLElement).offsetWidth
  el.classList.add('flash')
}

async function renderList() {
  const data = await api<{ items: Product[] }>(`/api/v1/products?page=${page}&per_page=15`)
  const tbody = $('products')
  const before = new Map([...tbody.querySelectorAll('tr')].map((tr) => [tr.dataset.productId, tr.dataset.version]))
  tbody.replaceChildren(
    ...data.items.map((p) => {
      const tr = document.createElement('tr')
      tr.dataset.productId = String(p.id)
      tr.dataset.version = String(p.version)
      if (p.id === productId) tr.classList.add('selected')
      for (const [cls, text] of [['id', String(p.id)], ['name', p.name], ['price', money(p.priceCents)], ['stock', count.format(p.stock)], ['version', String(p.version)]]) {
        const td = document.createElement('td')
        td.className = cls as string
        td.textContent = text as string
        tr.append(td)
      }
      tr.onclick = () => selectProduct(p.id)
      if (before.has(String(p.id)) && before.get(String(p.id)) !== String(p.version)) flash(tr)
      return tr
    }),
  )
  shownProducts = new Set(data.items.map((p) => p.id))
  $('page').textContent = String(page)
}

async function renderProduct() {
  const data = await api<{ product: Product; variants: Variant[] }>(`/api/v1/products/${productId}`)
  const changed = $('p-version').textContent !== String(data.product.version) && $('p-name').dataset.id === String(productId)
  $('p-name').textContent = data.product.name
  $('p-name').dataset.id = String(productId)
  $('p-price').textContent = money(data.product.priceCents)
  $('p-stock').textContent = count.format(data.product.stock)
  $('p-version').textContent = String(data.product.version)
  if (changed) flash($('p-price').parentElement)
  $<HTMLInputElement>('admin-price').placeholder = String(data.product.priceCents)
  $<HTMLInputElement>('admin-stock').placeholder = String(data.product.stock)
  shownVariants = new Set(data.variants.map((v) => v.id))
  if (variantId === undefined || !shownVariants.has(variantId)) variantId = data.variants[0]?.id
  $('variants').replaceChildren(
    ...data.variants.map((v) => {
      const li = document.createElement('li')
      const b = document.createElement('button')
      b.textContent = `${v.name} · ${money(v.priceCents)} · ${v.stock > 0 ? `stock ${count.format(v.stock)}` : 'out of stock'}`
      b.onclick = () => {
        variantId = v.id
        void renderSellers()
      }
      li.append(b)
      return li
    }),
  )
  await renderSellers()
}

async function renderSellers() {
  if (variantId === undefined) return
  const data = await api<{ variant: Variant; sellerCount: number; sellers: Seller[]; excluded: Record<string, number> }>(`/api/v1/variants/${variantId}/sellers`)
  $('v-sku').textContent = data.variant.sku
  $('seller-count').textContent = count.format(data.sellerCount)
  $('seller-excluded').textContent =
    Object.entries(data.excluded)
      .map(([k, n]) => `${n} ${k.replace(/_/g, ' ')}`)
      .join(', ') || 'none excluded'
  $('sellers').replaceChildren(
    ...data.sellers.slice(0, 25).map((s) => {
      const li = document.createElement('li')
      li.dataset.sellerId = String(s.id)
      if (s.stock > 0) li.textContent = `${s.name} — ${money(s.priceCents)} (${count.format(s.stock)} left)`
      else {
        li.classList.add('out-of-stock')
        li.textContent = `${s.name} — ${money(s.priceCents)} (out of stock)`
      }
      return li
    }),
  )
  const select = $<HTMLSelectElement>('admin-seller')
  const keep = select.value
  select.replaceChildren(
    ...data.sellers.map((s) => {
      const o = document.createElement('option')
      o.value = String(s.id)
      o.textContent = s.name
      return o
    }),
  )
  if (keep && data.sellers.some((s) => String(s.id) === keep)) select.value = keep
}

interface Analytics {
  orders30d: { count: number; revenueCents: number }
  sellers: { byStatus: Record<string, number>; inactive6Months: number }
  listingsChurn: { hour: string; added: number; removed: number }[]
}

// Marketplace churn: seller status distribution and listings added/removed per hour.
async function renderAnalytics() {
  const a = await api<Analytics>('/api/v1/analytics/dashboard')
  const last = a.listingsChurn[a.listingsChurn.length - 1]
  const day = a.listingsChurn.reduce((acc, h) => ({ added: acc.added + h.added, removed: acc.removed + h.removed }), { added: 0, removed: 0 })
  const status = Object.entries(a.sellers.byStatus)
    .map(([k, n]) => `${n} ${k.replace(/_/g, ' ')}`)
    .join(', ')
  $('analytics').textContent =
    `Sellers: ${status} (${a.sellers.inactive6Months} inactive > 6 months). ` +
    `Listings this hour: +${last?.added ?? 0} / −${last?.removed ?? 0}; last 24 h: +${day.added} / −${day.removed}. ` +
    `Orders (30 d): ${count.format(a.orders30d.count)}, ${money(a.orders30d.revenueCents)}.`
}

async function selectProduct(id: number) {
  productId = id
  variantId = undefined
  const u = new URL(location.href)
  u.searchParams.set('product', String(id))
  history.replaceState(null, '', u)
  for (const tr of $('products').querySelectorAll('tr')) tr.classList.toggle('selected', tr.dataset.productId === String(id))
  await renderProduct()
}

// Live: one stream per tenant; every invalidated tag the page shows triggers a refetch.
let rt = connect()
function connect() {
  const client = createRealtimeClient({
    url: '/_larder/stream',
    topics: ['product:*', 'variant:*', 'seller:*', 'analytics'],
    headers: { 'x-tenant-id': tenant },
    onState: (s) => {
      $('status').textContent = s === 'open' ? 'live' : s
      $('status').className = `status ${s}`
    },
    onReset: () => void refreshAll(),
  })
  client.subscribe('product:*', onEvent)
  client.subscribe('variant:*', onEvent)
  client.subscribe('seller:*', onEvent)
  client.subscribe('analytics', onEvent)
  return client
}

let scheduled = false
const dirty = { list: false, product: false, sellers: false, analytics: false }
let lastEventId = ''
function onEvent(e: RealtimeEvent) {
  // One event can match several of our prefix topics; handle it once.
  if (e.type !== 'invalidate' || e.id === lastEventId) return
  lastEventId = e.id
  logEvent(`invalidate ${e.tags.slice(0, 4).join(' ')}${e.tags.length > 4 ? ` +${e.tags.length - 4}` : ''}`)
  for (const t of e.tags) {
    const m = /^(product|variant):(\d+)(:sellers)?$/.exec(t)
    if (!m) continue
    const id = Number(m[2])
    if (m[1] === 'product' && shownProducts.has(id)) dirty.list = true
    if (m[1] === 'product' && id === productId) dirty.product = true
    if (m[1] === 'variant' && id === variantId) dirty.sellers = true
    if (m[1] === 'variant' && shownVariants.has(id) && !m[3]) dirty.product = true
  }
  if (e.tags.includes('products:by-price')) dirty.list = true
  if (e.tags.includes('analytics')) dirty.analytics = true
  if (!scheduled) {
    scheduled = true
    queueMicrotask(() => void flush())
  }
}

async function flush() {
  const d = { ...dirty }
  dirty.list = dirty.product = dirty.sellers = dirty.analytics = false
  scheduled = false
  await Promise.all([d.list && renderList(), d.product ? renderProduct() : d.sellers && renderSellers(), d.analytics && renderAnalytics()])
}

function logEvent(text: string) {
  const li = document.createElement('li')
  li.textContent = `${new Date().toLocaleTimeString()} ${text}`
  const ol = $('events')
  ol.prepend(li)
  while (ol.children.length > 30) ol.lastElementChild?.remove()
}

async function refreshAll() {
  await Promise.all([renderList(), renderProduct(), renderAnalytics()])
}

async function write(path: string, method: string, body: unknown, what: string) {
  const out = $('admin-result')
  try {
    const started = performance.now()
    await api(path, { method, body: JSON.stringify(body) })
    out.textContent = `${what}: saved in ${Math.round(performance.now() - started)} ms`
  } catch (err) {
    out.textContent = `${what}: ${(err as Error).message}`
  }
}

$('admin-price-btn').onclick = () => {
  const v = $<HTMLInputElement>('admin-price').valueAsNumber
  void write(`/api/v1/products/${productId}`, 'PATCH', { priceCents: v }, `price of #${productId}`)
}
$('admin-stock-btn').onclick = () => {
  const v = $<HTMLInputElement>('admin-stock').valueAsNumber
  void write(`/api/v1/products/${productId}`, 'PATCH', { stock: v }, `stock of #${productId}`)
}
$('admin-seller-btn').onclick = () => {
  const id = $<HTMLSelectElement>('admin-seller').value
  const status = $<HTMLSelectElement>('admin-seller-status').value
  void write(`/api/v1/sellers/${id}`, 'PATCH', { status }, `seller ${id} → ${status}`)
}
$('prev').onclick = () => {
  page = Math.max(1, page - 1)
  void renderList()
}
$('next').onclick = () => {
  page++
  void renderList()
}
tenantSelect.onchange = () => {
  tenant = tenantSelect.value
  rt.close()
  // The previous shop's events are not this shop's: start an empty list.
  $('events').replaceChildren()
  lastEventId = ''
  rt = connect()
  productId = 1
  variantId = undefined
  page = 1
  // The address bar names the shop shown (a reload or a shared link opens this shop).
  const u = new URL(location.href)
  u.searchParams.set('tenant', tenant)
  u.searchParams.set('product', String(productId))
  history.replaceState(null, '', u)
  void refreshAll()
}

await refreshAll()
document.body.dataset.ready = 'true'
