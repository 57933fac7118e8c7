import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ACME, ADMIN, get, type Rig, startRig } from './helpers.ts'

describe('gateway purge API', () => {
  let rig: Rig
  let version = 1
  before(async () => {
    rig = await startRig(
      (req, res) => {
        const path = (req.url as string).split('?')[0] as string
        const keys = path === '/star' ? 'product:* shared' : path === '/lit' ? 'product:1 shared' : `page${path.replace(/\//g, ':')} shared`
        const cc = path === '/swr' ? 'max-age=600, stale-while-revalidate=60' : 'max-age=600'
        res.writeHead(200, { 'cache-control': cc, 'surrogate-key': keys, 'cache-tag': 'ct-a, ct-b' })
        res.end(`${path}@${version}`)
      },
      { hosts: { 'acme.shop.test': 'acme', '*.globex.test': 'globex' } },
    )
  })
  after(() => rig.close())

  const post = (body: unknown, token?: string, headers: Record<string, string> = {}) =>
    get(`${rig.base}/_larder/purge`, { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers }, 'POST', typeof body === 'string' ? body : JSON.stringify(body))
  const fill = async (path: string, tenant: string) => {
    await get(`${rig.base}${path}`, { 'x-tenant-id': tenant })
    return (await get(`${rig.base}${path}`, { 'x-tenant-id': tenant })).headers.get('x-cache')
  }

  it('401 without or with an unknown token, 403 for another tenant', async () => {
    assert.equal((await post({ tags: ['shared'] })).status, 401)
    assert.equal((await post({ tags: ['shared'] }, 'wrong-token-000000')).status, 401)
    const r = await post({ tenant: 'globex', tags: ['shared'] }, ACME)
    assert.equal(r.status, 403)
    assert.match(JSON.parse(r.text).error.message, /may not purge tenant "globex"/)
  })

  it('400 with a clear message for malformed bodies', async () => {
    assert.match(JSON.parse((await post('{nope', ADMIN)).text).error.message, /purge body/)
    assert.match(JSON.parse((await post({ tags: 'x' }, ADMIN)).text).error.message, /"tags" must be an array/)
    assert.match(JSON.parse((await post({}, ADMIN)).text).error.message, /at least one/)
    assert.equal((await post({ tenant: '@nope', tags: ['x'] }, ADMIN)).status, 400)
    assert.equal((await get(`${rig.base}/_larder/purge`, { authorization: `Bearer ${ADMIN}` })).status, 405)
  })

  it('a tenant-scoped token purges its own tenant by surrogate key; other tenants keep their entries', async () => {
    version = 1
    assert.equal(await fill('/a', 'acme'), 'HIT')
    assert.equal(await fill('/a', 'globex'), 'HIT')
    const r = await post({ tenant: 'acme', tags: ['shared'] }, ACME)
    assert.equal(r.status, 200)
    const body = JSON.parse(r.text)
    assert.equal(body.tenant, 'acme')
    assert.ok(body.purged >= 1, `purged ${body.purged}`)
    version = 2
    assert.equal((await get(`${rig.base}/a`, { 'x-tenant-id': 'acme' })).text, '/a@2')
    assert.equal((await get(`${rig.base}/a`, { 'x-tenant-id': 'globex' })).text, '/a@1')
  })

  it('the tenant defaults to the resolved one (host map) and Cache-Tag keys work too', async () => {
    version = 3
    await get(`${rig.base}/b`, { host: 'acme.shop.test' })
    assert.equal((await get(`${rig.base}/b`, { host: 'acme.shop.test' })).text, '/b@3')
    version = 4
    const r = await post({ tags: ['ct-b'] }, ACME, { host: 'acme.shop.test' })
    assert.equal(JSON.parse(r.text).tenant, 'acme')
    assert.equal((await get(`${rig.base}/b`, { host: 'acme.shop.test' })).text, '/b@4')
    // Wildcard host map: www.globex.test → globex, untouched by acme's purge of the same key.
    await get(`${rig.base}/e`, { host: 'www.globex.test' })
    await post({ tags: ['shared'] }, ACME, { host: 'acme.shop.test' })
    assert.equal((await post({ tags: ['shared'] }, ACME, { host: 'www.globex.test' })).status, 403)
    version = 5
    const e = await get(`${rig.base}/e`, { host: 'www.globex.test' })
    assert.equal(e.text, '/e@4')
    assert.equal(e.headers.get('x-cache'), 'HIT')
  })

  it('a surrogate key with pattern characters is data: "product:*" purges only that key', async () => {
    version = 50
    assert.equal(await fill('/star', 'acme'), 'HIT')
    assert.equal(await fill('/lit', 'acme'), 'HIT')
    await post({ tenant: 'acme', tags: ['product:*'] }, ACME)
    version = 6
    assert.equal((await get(`${rig.base}/star`, { 'x-tenant-id': 'acme' })).text, '/star@6')
    assert.equal((await get(`${rig.base}/lit`, { 'x-tenant-id': 'acme' })).text, '/lit@50')
  })

  it('purges by URL (path or absolute) and with the PURGE method', async () => {
    version = 7
    assert.equal(await fill('/c?x=1', 'acme'), 'HIT')
    const host = rig.base.slice('http://'.length)
    await post({ tenant: 'acme', urls: [`http://${host}/c?x=1`] }, ACME)
    version = 8
    assert.equal((await get(`${rig.base}/c?x=1`, { 'x-tenant-id': 'acme' })).text, '/c@8')
    assert.equal((await get(`${rig.base}/c?x=1`, { 'x-tenant-id': 'acme' }, 'PURGE')).status, 401)
    const p = await get(`${rig.base}/c?x=1`, { 'x-tenant-id': 'acme', authorization: `Bearer ${ACME}` }, 'PURGE')
    assert.equal(p.status, 200)
    assert.equal(JSON.parse(p.text).purged >= 1, true)
    version = 9
    assert.equal((await get(`${rig.base}/c?x=1`, { 'x-tenant-id': 'acme' })).text, '/c@9')
  })

  it('soft purge is accepted and the next read goes to the origin', async () => {
    version = 10
    assert.equal(await fill('/d', 'acme'), 'HIT')
    const r = await post({ tenant: 'acme', tags: ['page:d'], soft: true }, ADMIN)
    assert.equal(JSON.parse(r.text).soft, true)
    version = 11
    assert.equal((await get(`${rig.base}/d`, { 'x-tenant-id': 'acme' })).text, '/d@11')
  })

  it('soft purge of a response that allows stale-while-revalidate serves it stale once while it revalidates', async () => {
    version = 12
    assert.equal(await fill('/swr', 'acme'), 'HIT')
    await post({ tenant: 'acme', tags: ['page:swr'], soft: true }, ADMIN)
    version = 13
    const stale = await get(`${rig.base}/swr`, { 'x-tenant-id': 'acme' })
    assert.equal(stale.text, '/swr@12', 'served from cache, not refetched first')
    assert.equal(stale.headers.get('x-cache'), 'STALE')
    // The background revalidation stores the new response; later reads get it.
    let text = ''
    for (let i = 0; i < 100 && text !== '/swr@13'; i++) {
      text = (await get(`${rig.base}/swr`, { 'x-tenant-id': 'acme' })).text
      if (text !== '/swr@13') await new Promise((r) => setTimeout(r, 10))
    }
    assert.equal(text, '/swr@13')
    // A hard purge never serves stale.
    await post({ tenant: 'acme', tags: ['page:swr'] }, ADMIN)
    version = 14
    assert.equal((await get(`${rig.base}/swr`, { 'x-tenant-id': 'acme' })).text, '/swr@14')
  })
})
