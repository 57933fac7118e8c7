// Two gateways of one shop reached under different host:port share entries when the key's
// host is the configured public host (keyHost), and a purge by path reaches those entries.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import { createAuthorizer } from '../../src/core/auth.ts'
import { createCache } from '../../src/core/cache.ts'
import { createGateway, type Gateway, keyHostOf } from '../../src/gateway/index.ts'
import { ADMIN, get, type Origin, startOrigin } from './helpers.ts'

describe('keyHost: a fleet shares its cache whatever name each instance is reached by', () => {
  let origin: Origin
  let fetches = 0
  const cache = createCache()
  const auth = createAuthorizer([{ name: 'admin', token: ADMIN, scopes: ['admin'] }])
  const gws: Gateway[] = []
  const bases: string[] = []
  before(async () => {
    origin = await startOrigin((req, res) => {
      fetches++
      res.writeHead(200, { 'cache-control': 'public, max-age=600' })
      res.end(`page ${req.url} #${fetches}`)
    })
  })
  after(async () => {
    for (const g of gws) await g.close()
    await cache.close()
    await origin.close()
  })
  async function gateway(keyHost?: string): Promise<string> {
    const gw = createGateway({ origin: origin.url, cache, auth, tenantHeader: 'x-tenant-id', keyHost, logger: pino({ level: 'silent' }) })
    gws.push(gw)
    const addr = await gw.listen(0)
    const base = `http://127.0.0.1:${addr.port}`
    bases.push(base)
    return base
  }

  it('without keyHost each instance keys by its own Host; with it they share, and a path purge reaches the shared entry', async () => {
    const h = { 'x-tenant-id': 'acme' }
    const a = await gateway()
    const b = await gateway()
    assert.equal((await get(`${a}/p/1`, h)).headers.get('x-cache'), 'MISS')
    assert.equal((await get(`${b}/p/1`, h)).headers.get('x-cache'), 'MISS', 'different Host, different key (the documented default)')

    const c = await gateway('shop.example')
    const d = await gateway('shop.example')
    assert.equal((await get(`${c}/p/2`, h)).headers.get('x-cache'), 'MISS')
    const hit = await get(`${d}/p/2`, h)
    assert.equal(hit.headers.get('x-cache'), 'HIT', 'the second instance answers from the entry the first stored')

    const purge = await get(`${d}/_larder/purge`, { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ tenant: 'acme', urls: ['/p/2'] }))
    assert.equal(purge.status, 200, purge.text)
    assert.equal(JSON.parse(purge.text).host, 'shop.example')
    assert.equal((await get(`${c}/p/2`, h)).headers.get('x-cache'), 'MISS', 'the path purge resolved against the key host')
  })

  it('a keyHost that is not a host[:port] is refused with a message', () => {
    assert.throws(() => keyHostOf('shop.example/a'), /keyHost must be a host name/)
    assert.throws(() => keyHostOf({ acme: 'bad host' }), /keyHost\.acme/)
    assert.equal(keyHostOf({ acme: 'Shop.Example:8443' })?.('acme'), 'shop.example:8443')
  })
})
