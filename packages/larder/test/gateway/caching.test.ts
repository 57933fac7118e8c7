import assert from 'node:assert/strict'
import { request } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { channels } from '../../src/core/diagnostics.ts'
import { get, type Rig, startRig } from './helpers.ts'

describe('gateway caching', () => {
  let rig: Rig
  let version = 1
  before(async () => {
    rig = await startRig((req, res) => {
      const url = new URL(req.url as string, 'http://x')
      const date = new Date(rig.clock.now()).toUTCString()
      if (url.pathname === '/fresh') {
        res.writeHead(200, { 'cache-control': 'max-age=60', date, 'content-type': 'text/plain', 'surrogate-key': 'product:42 product:* list', 'x-v': String(version) })
        res.end(`v${version}`)
      } else if (url.pathname === '/swr') {
        res.writeHead(200, { 'cache-control': 'max-age=10, stale-while-revalidate=60', date })
        res.end(`swr${version}`)
      } else if (url.pathname === '/sie') {
        if (version > 1) {
          res.writeHead(503, { date })
          res.end('down')
          return
        }
        res.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=60', date })
        res.end('sie1')
      } else if (url.pathname === '/etag') {
        const etag = `"e${version}"`
        if (req.headers['if-none-match'] === etag) {
          res.writeHead(304, { etag, 'cache-control': 'max-age=10', date, 'x-fresh': 'yes' })
          res.end()
          return
        }
        res.writeHead(200, { etag, 'cache-control': 'max-age=10', date, 'x-fresh': 'no' })
        res.end(`etag${version}`)
      } else if (url.pathname === '/bin' || url.pathname === '/utf8') {
        res.writeHead(200, { 'cache-control': 'max-age=600', date })
        res.end(url.pathname === '/bin' ? Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256)) : Buffer.from(`héllo ✓ ${version}\n`))
      } else if (url.pathname === '/private') {
        res.writeHead(200, { 'cache-control': 'private, max-age=60', date })
        res.end(`p${version}`)
      } else if (url.pathname === '/cookie') {
        res.writeHead(200, { 'cache-control': 'max-age=60', 'set-cookie': `sid=${version}`, date })
        res.end(`c${version}`)
      } else if (url.pathname === '/vary') {
        res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'accept-language', date })
        res.end(`${req.headers['accept-language'] ?? 'none'}${version}`)
      } else if (url.pathname === '/hop') {
        res.writeHead(200, { 'cache-control': 'max-age=60', connection: 'x-secret', 'x-secret': 'leak', 'x-ok': '1', date })
        res.end(`seen-te=${req.headers.te ?? 'none'}`)
      } else if (url.pathname === '/post-target') {
        res.writeHead(req.method === 'GET' ? 200 : 204, req.method === 'GET' ? { 'cache-control': 'max-age=60', date } : { location: '/fresh' })
        res.end(req.method === 'GET' ? `pt${version}` : undefined)
      } else {
        res.writeHead(404, { date })
        res.end('nope')
      }
    })
  })
  after(() => rig.close())

  it('MISS then HIT with X-Cache, Cache-Status and Age; surrogate keys never reach the client', async () => {
    version = 1
    const a = await get(`${rig.base}/fresh`)
    assert.equal(a.text, 'v1')
    assert.equal(a.headers.get('x-cache'), 'MISS')
    assert.match(a.headers.get('cache-status') ?? '', /^larder; fwd=uri-miss; fwd-status=200; stored/)
    assert.equal(a.headers.get('surrogate-key'), null)
    version = 2
    await rig.clock.advance(5000)
    const b = await get(`${rig.base}/fresh`)
    assert.equal(b.text, 'v1')
    assert.equal(b.headers.get('x-cache'), 'HIT')
    assert.equal(b.headers.get('age'), '5')
    assert.match(b.headers.get('cache-status') ?? '', /^larder; hit; ttl=55/)
    assert.equal(b.headers.get('surrogate-key'), null)
    assert.equal(b.headers.get('x-v'), '1')
    assert.equal(rig.origin.seen.filter((s) => s.url === '/fresh').length, 1)
  })

  it('generates a weak ETag for stored 200s and answers If-None-Match with 304', async () => {
    const b = await get(`${rig.base}/fresh`)
    const etag = b.headers.get('etag') as string
    assert.match(etag, /^W\/"/)
    const c = await get(`${rig.base}/fresh`, { 'if-none-match': `"other", ${etag}` })
    assert.equal(c.status, 304)
    assert.equal(c.text, '')
    assert.equal(c.headers.get('x-cache'), 'HIT')
  })

  it('entries are per tenant: another tenant gets its own copy', async () => {
    version = 3
    const a = await get(`${rig.base}/fresh`, { 'x-tenant-id': 'other' })
    assert.equal(a.text, 'v3')
    assert.equal(a.headers.get('x-cache'), 'MISS')
    const b = await get(`${rig.base}/fresh`)
    assert.equal(b.text, 'v1')
  })

  it('stale-while-revalidate: serves stale once, refreshes in the background', async () => {
    version = 1
    await get(`${rig.base}/swr`)
    version = 2
    await rig.clock.advance(20_000)
    const before = rig.origin.seen.length
    const stale = await get(`${rig.base}/swr`)
    assert.equal(stale.text, 'swr1')
    assert.equal(stale.headers.get('x-cache'), 'STALE')
    // Wait for the background refresh to reach the origin and be stored.
    for (let i = 0; i < 100 && rig.origin.seen.length === before; i++) await new Promise((r) => setImmediate(r))
    let fresh = await get(`${rig.base}/swr`)
    for (let i = 0; i < 100 && fresh.text !== 'swr2'; i++) fresh = await get(`${rig.base}/swr`)
    assert.equal(fresh.text, 'swr2')
    assert.equal(fresh.headers.get('x-cache'), 'HIT')
  })

  it('stale-if-error: a 503 from the origin is answered with the stale copy', async () => {
    version = 1
    await get(`${rig.base}/sie`)
    version = 2
    await rig.clock.advance(30_000)
    const r = await get(`${rig.base}/sie`)
    assert.equal(r.status, 200)
    assert.equal(r.text, 'sie1')
    assert.equal(r.headers.get('x-cache'), 'STALE')
    await rig.clock.advance(60_000)
    const late = await get(`${rig.base}/sie`)
    assert.equal(late.status, 503)
  })

  it('revalidates stale entries with If-None-Match and freshens headers from the 304', async () => {
    version = 1
    await get(`${rig.base}/etag`)
    await rig.clock.advance(20_000)
    const r = await get(`${rig.base}/etag`)
    assert.equal(r.text, 'etag1')
    assert.equal(r.headers.get('x-fresh'), 'yes')
    assert.match(r.headers.get('cache-status') ?? '', /fwd=stale; fwd-status=304/)
    const last = rig.origin.seen.filter((s) => s.url === '/etag').at(-1)
    assert.equal(last?.headers['if-none-match'], '"e1"')
    const hit = await get(`${rig.base}/etag`)
    assert.equal(hit.headers.get('x-cache'), 'HIT')
  })

  it('concurrent requests for a stale entry share one revalidation', async () => {
    await get(`${rig.base}/etag`)
    await rig.clock.advance(20_000)
    const before = rig.origin.seen.filter((s) => s.url === '/etag').length
    const all = await Promise.all(Array.from({ length: 10 }, () => get(`${rig.base}/etag`)))
    assert.ok(all.every((r) => r.status === 200 && r.text === all[0]?.text))
    assert.equal(rig.origin.seen.filter((s) => s.url === '/etag').length - before, 1)
  })

  it('never stores private or Set-Cookie responses', async () => {
    version = 1
    await get(`${rig.base}/private`)
    await get(`${rig.base}/cookie`)
    version = 2
    assert.equal((await get(`${rig.base}/private`)).text, 'p2')
    const c = await get(`${rig.base}/cookie`)
    assert.equal(c.text, 'c2')
    assert.equal(c.headers.get('set-cookie'), 'sid=2')
  })

  it('Vary selects among stored variants', async () => {
    version = 1
    assert.equal((await get(`${rig.base}/vary`, { 'accept-language': 'fr' })).text, 'fr1')
    assert.equal((await get(`${rig.base}/vary`, { 'accept-language': 'de' })).text, 'de1')
    version = 2
    assert.equal((await get(`${rig.base}/vary`, { 'accept-language': 'fr' })).text, 'fr1')
    assert.equal((await get(`${rig.base}/vary`, { 'accept-language': 'es' })).text, 'es2')
  })

  it('strips hop-by-hop fields, including those Connection lists, both ways', async () => {
    // fetch() refuses to set Connection, so use node:http. A request's Connection may list only
    // the standard hop-by-hop fields (any other name is a 400: security.test.ts).
    const r = await new Promise<{ headers: Record<string, unknown>; text: string }>((resolve, reject) => {
      const q = request(`${rig.base}/hop`, { headers: { connection: 'keep-alive, te', te: 'trailers' } }, (res) => {
        let text = ''
        res.on('data', (d) => {
          text += d
        })
        res.on('end', () => resolve({ headers: res.headers, text }))
      })
      q.on('error', reject)
      q.end()
    })
    assert.equal(r.headers['x-secret'], undefined)
    assert.equal(r.headers['x-ok'], '1')
    assert.equal(r.text, 'seen-te=none')
  })

  it('an unsafe method invalidates the target URI and a same-origin Location (RFC 9111 §4.4)', async () => {
    version = 1
    await get(`${rig.base}/post-target`)
    await get(`${rig.base}/fresh`)
    assert.equal((await get(`${rig.base}/fresh`)).headers.get('x-cache'), 'HIT')
    version = 5
    const p = await get(`${rig.base}/post-target`, {}, 'POST')
    assert.equal(p.status, 204)
    assert.equal((await get(`${rig.base}/post-target`)).text, 'pt5')
    assert.equal((await get(`${rig.base}/fresh`)).text, 'v5')
  })

  it('binary and UTF-8 bodies come back byte for byte from the cache', async () => {
    for (const path of ['/bin', '/utf8']) {
      const a = await get(`${rig.base}${path}`)
      const b = await get(`${rig.base}${path}`)
      assert.equal(b.headers.get('x-cache'), 'HIT')
      assert.deepEqual(b.raw, a.raw)
      assert.equal(b.headers.get('content-length'), String(a.raw.length))
    }
    assert.equal((await get(`${rig.base}/bin`)).raw[255], 255)
  })

  it('publishes every outcome on the larder:http:response diagnostics channel', async () => {
    const seen: { tenant: string; status: string }[] = []
    const listener = (m: unknown) => seen.push(m as { tenant: string; status: string })
    channels.http.subscribe(listener)
    try {
      await get(`${rig.base}/diag`, { 'x-tenant-id': 'diag' })
      await get(`${rig.base}/fresh`, { 'x-tenant-id': 'diag' })
      await get(`${rig.base}/fresh`, { 'x-tenant-id': 'diag' })
      await get(`${rig.base}/post-target`, { 'x-tenant-id': 'diag' }, 'DELETE')
    } finally {
      channels.http.unsubscribe(listener)
    }
    assert.deepEqual(
      seen.map((m) => `${m.tenant}:${m.status}`),
      ['diag:MISS', 'diag:MISS', 'diag:HIT', 'diag:BYPASS'],
    )
  })

  it('only-if-cached with nothing stored answers 504', async () => {
    const r = await get(`${rig.base}/never-seen`, { 'cache-control': 'only-if-cached' })
    assert.equal(r.status, 504)
  })

  it('serves a byte range of a stored response', async () => {
    version = 1
    await rig.clock.advance(120_000)
    await get(`${rig.base}/fresh`)
    const r = await get(`${rig.base}/fresh`, { range: 'bytes=1-1' })
    assert.equal(r.status, 206)
    assert.equal(r.text, '1')
    assert.equal(r.headers.get('content-range'), 'bytes 1-1/2')
  })
})
