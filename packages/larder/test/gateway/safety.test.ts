import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { get, rawRequest as raw, type Rig, startRig } from './helpers.ts'

/** Sends raw bytes and resolves everything the server answered before closing (or the first response). */

describe('gateway: bad input and failing origins', () => {
  let rig: Rig
  let slow = false
  let origin5xx = false
  let releaseStream: (() => void) | undefined
  const bodies: string[] = []
  before(async () => {
    rig = await startRig(
      (req, res, body) => {
        if (req.method === 'POST') bodies.push(body.toString())
        const path = (req.url as string).split('?')[0]
        if (path === '/slow' && slow) return // never answers: the gateway must time out
        if (path === '/stream') {
          // First chunk now, the rest when the test says so.
          res.writeHead(200, { 'cache-control': 'max-age=60' })
          res.write('first;')
          const wait = new Promise<void>((r) => {
            releaseStream = r
          })
          wait.then(() => res.end('rest'))
          return
        }
        if (path === '/big') {
          res.writeHead(200, { 'cache-control': 'max-age=60', 'content-type': 'application/octet-stream' })
          // Streamed in chunks without Content-Length: larger than maxBodyBytes.
          let n = 0
          const push = () => {
            while (n < 64) {
              n++
              if (!res.write(Buffer.alloc(1024, n % 256))) return res.once('drain', push)
            }
            res.end()
          }
          return push()
        }
        if (origin5xx) {
          res.writeHead(500)
          return res.end('boom')
        }
        res.writeHead(200, {
          'cache-control': path === '/bad-age' ? 'max-age=60' : path === '/bad-max-age' ? 'max-age=abc' : 'max-age=60',
          ...(path === '/bad-age' ? { age: 'abc' } : {}),
          ...(path === '/bad-expires' ? { 'cache-control': 'public', expires: 'not a date' } : {}),
          'x-n': String(Date.now()),
        })
        res.end(`ok ${path} ${Math.random()}`)
      },
      { headersTimeout: 300, maxUrlLength: 2048, http: { maxBodyBytes: 16 * 1024 } },
    )
  })
  after(() => rig.close())

  it('invalid tenant ids are a 400 naming the problem', async () => {
    const r = await get(`${rig.base}/x`, { 'x-tenant-id': '@public' })
    assert.equal(r.status, 400)
    assert.match(JSON.parse(r.text).error.message, /reserved/)
    const long = await get(`${rig.base}/x`, { 'x-tenant-id': 't'.repeat(500) })
    assert.equal(long.status, 400)
  })

  it('a request target longer than the limit gets 414', async () => {
    const r = await get(`${rig.base}/${'a'.repeat(3000)}`)
    assert.equal(r.status, 414)
  })

  it('a header block larger than the limit gets 431', async () => {
    const out = await raw(rig.base, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`)
    assert.match(out, /^HTTP\/1\.1 431/)
  })

  it('request smuggling: Content-Length with Transfer-Encoding is refused with 400 and never reaches the origin', async () => {
    const before = rig.origin.seen.length
    const out = await raw(
      rig.base,
      'POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: x\r\n\r\n',
    )
    assert.match(out, /^HTTP\/1\.1 400/)
    assert.equal(out.match(/HTTP\/1\.1/g)?.length, 1)
    assert.equal(rig.origin.seen.length, before)
  })

  it('request smuggling: two different Content-Length values are refused with 400', async () => {
    const out = await raw(rig.base, 'POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 12\r\n\r\nabcGET / HTTP/1.1\r\n\r\n')
    assert.match(out, /^HTTP\/1\.1 400/)
  })

  it('a chunked request body is streamed to the origin intact', async () => {
    const out = await raw(rig.base, 'POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n')
    assert.match(out, /^HTTP\/1\.1 200/)
    assert.equal(bodies.at(-1), 'hello world')
  })

  it('malformed Age, max-age and Expires never crash and are read cautiously', async () => {
    // Age: abc is ignored → fresh; max-age=abc → stale (not reused); bad Expires → stale.
    await get(`${rig.base}/bad-age`)
    assert.equal((await get(`${rig.base}/bad-age`)).headers.get('x-cache'), 'HIT')
    const a = await get(`${rig.base}/bad-max-age`)
    const b = await get(`${rig.base}/bad-max-age`)
    assert.notEqual(a.text, b.text)
    const c = await get(`${rig.base}/bad-expires`)
    const d = await get(`${rig.base}/bad-expires`)
    assert.notEqual(c.text, d.text)
  })

  it('a body larger than maxBodyBytes is streamed whole but not stored', async () => {
    const a = await get(`${rig.base}/big`)
    assert.equal(a.text.length, 64 * 1024)
    const b = await get(`${rig.base}/big`)
    assert.equal(b.headers.get('x-cache'), 'MISS')
    assert.equal(b.text.length, 64 * 1024)
  })

  it('a client that disconnects mid-body neither hangs the fetch nor the requests collapsed onto it', async () => {
    const { request } = await import('node:http')
    await new Promise<void>((resolve, reject) => {
      const q = request(`${rig.base}/stream`, (res) => {
        res.once('data', () => {
          q.destroy()
          resolve()
        })
      })
      q.on('error', () => {})
      q.once('error', reject)
      q.end()
    })
    // A second request collapses onto the running fetch; the origin then finishes.
    const second = get(`${rig.base}/stream`)
    releaseStream?.()
    const r = await second
    assert.equal(r.status, 200)
    assert.equal(r.text, 'first;rest')
    assert.equal(r.headers.get('x-cache'), 'HIT')
  })

  it('concurrent misses for one URL are collapsed into one origin request', async () => {
    const before = rig.origin.seen.filter((s) => s.url === '/collapse').length
    const all = await Promise.all(Array.from({ length: 20 }, () => get(`${rig.base}/collapse`)))
    assert.equal(new Set(all.map((r) => r.text)).size, 1)
    assert.equal(rig.origin.seen.filter((s) => s.url === '/collapse').length - before, 1)
  })

  it('a slow origin gives 504 after headersTimeout; a stale copy is served instead when one exists', async () => {
    slow = true
    const r = await get(`${rig.base}/slow`)
    assert.equal(r.status, 504)
    assert.equal(JSON.parse(r.text).error.code, 'E_ORIGIN_TIMEOUT')
    slow = false
    const fresh = await get(`${rig.base}/slow`)
    await rig.clock.advance(120_000)
    slow = true
    const stale = await get(`${rig.base}/slow`)
    assert.equal(stale.status, 200)
    assert.equal(stale.text, fresh.text)
    assert.equal(stale.headers.get('x-cache'), 'STALE', `${stale.headers.get('cache-status')} age=${stale.headers.get('age')}`)
    slow = false
  })

  it('an origin that is down gives 502 with a message', async () => {
    const { createGateway } = await import('../../src/gateway/index.ts')
    const { createCache } = await import('../../src/core/cache.ts')
    const cache = createCache()
    const gw = createGateway({ origin: 'http://127.0.0.1:1', cache })
    const addr = await gw.listen(0)
    try {
      const r = await get(`http://127.0.0.1:${addr.port}/x`)
      assert.equal(r.status, 502)
      assert.equal(JSON.parse(r.text).error.code, 'E_ORIGIN_UNAVAILABLE')
    } finally {
      await gw.close()
      await cache.close()
    }
  })

  it('rejects a non-http origin at start', async () => {
    const { createGateway } = await import('../../src/gateway/index.ts')
    const { createCache } = await import('../../src/core/cache.ts')
    const cache = createCache()
    assert.throws(() => createGateway({ origin: 'ftp://x', cache }), /origin must be an http/)
    await cache.close()
  })
})
