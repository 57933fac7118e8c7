/**
 * Request-side safety of the gateway, items 1, 2 and 4: the cache key (tenant, Host, target,
 * Vary'd fields) is computed from exactly what is sent upstream (docs/http.md, "Requests the
 * gateway refuses or rewrites"). Raw bytes over loopback (node:net) against a real gateway
 * and a real node:http origin. Items 7 and 9: security-limits.test.ts.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { createCache } from '../../src/core/cache.ts'
import { createGateway } from '../../src/gateway/index.ts'
import { createHttpCache } from '../../src/http/engine.ts'
import { httpCache } from '../../src/http/node/index.ts'
import { varyKey } from '../../src/http/vary.ts'
import { get, rawRequest, type Rig, startRig } from './helpers.ts'

interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
}

/** Sends raw bytes on a fresh connection (closed after one answer) and parses the first response. */
function raw(base: string, text: string): Promise<RawAnswer> {
  return rawRequest(base, text).then(parse)
}

function parse(out: string): RawAnswer {
  const end = out.indexOf('\r\n\r\n')
  const head = out.slice(0, end < 0 ? out.length : end).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of head.slice(1)) {
    const c = line.indexOf(':')
    headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim()
  }
  let body = end < 0 ? '' : out.slice(end + 4)
  if (headers['transfer-encoding'] === 'chunked') {
    let plain = ''
    for (let rest = body; ; ) {
      const nl = rest.indexOf('\r\n')
      const n = Number.parseInt(rest.slice(0, nl), 16)
      if (!(n > 0)) break
      plain += rest.slice(nl + 2, nl + 2 + n)
      rest = rest.slice(nl + 2 + n + 2)
    }
    body = plain
  }
  return { status: Number(head[0]?.split(' ')[1]), headers, body }
}

/** A GET with the given extra header lines; the connection closes after the answer. */
function rawGet(base: string, target: string, lines: string[], host = new URL(base).host): Promise<RawAnswer> {
  return raw(base, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\n${lines.map((l) => `${l}\r\n`).join('')}Connection: close\r\n\r\n`)
}

function origin(req: IncomingMessage, res: ServerResponse): void {
  const p = new URL(req.url as string, 'http://x').pathname
  if (p === '/tenant') {
    res.writeHead(200, { 'cache-control': 'max-age=60' })
    return void res.end(`tenant=${req.headers['x-tenant-id'] ?? 'default'}`)
  }
  if (p === '/lang') {
    res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'accept-language' })
    return void res.end(`lang=${req.headers['accept-language'] ?? 'en'}`)
  }
  if (p === '/login-redirect') {
    res.writeHead(301, { 'cache-control': 'max-age=60', location: `${req.headers['x-forwarded-proto'] ?? 'http'}://${req.headers['x-forwarded-host'] ?? 'origin'}/login` })
    return void res.end()
  }
  if (p === '/by-proto') {
    res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'x-forwarded-proto' })
    return void res.end(`proto=${req.headers['x-forwarded-proto']}`)
  }
  if (p === '/echo') {
    res.writeHead(200, { 'cache-control': 'no-store', 'content-type': 'application/json' })
    return void res.end(JSON.stringify(req.headers))
  }
  res.writeHead(200, { 'cache-control': 'max-age=60' })
  res.end(`path=${req.url}`)
}

describe('gateway security: the key is what goes upstream', () => {
  let rig: Rig
  before(async () => {
    // One mounted route that never answers: the gateway's route step runs for /_larder/…
    rig = await startRig(origin, { routes: [async () => false] })
  })
  after(() => rig.close())

  it('Connection naming the tenant header is refused, never stored under the named tenant (item 1)', async () => {
    const r = await rawGet(rig.base, '/tenant', ['X-Tenant-Id: victim', 'Connection: x-tenant-id'])
    assert.equal(r.status, 400)
    assert.match(JSON.parse(r.body).error.message, /x-tenant-id/)
    const victim = await get(`${rig.base}/tenant`, { 'x-tenant-id': 'victim' })
    assert.equal(victim.text, 'tenant=victim')
  })

  it('Connection naming a Vary field is refused: German users never get the default page (item 1)', async () => {
    const r = await rawGet(rig.base, '/lang', ['Accept-Language: de', 'Connection: keep-alive, Accept-Language'])
    assert.equal(r.status, 400)
    assert.match(JSON.parse(r.body).error.message, /accept-language/)
    const de = await get(`${rig.base}/lang`, { 'accept-language': 'de' })
    assert.equal(de.text, 'lang=de')
    assert.equal(de.headers.get('x-cache'), 'MISS')
  })

  it('Connection naming Host or any other field is refused; the standard hop-by-hop names pass (item 1)', async () => {
    assert.equal((await rawGet(rig.base, '/c1', ['Connection: host'])).status, 400)
    assert.equal((await rawGet(rig.base, '/c2', ['Connection: x-not-sent'])).status, 400)
    const ok = await rawGet(rig.base, '/c3', ['TE: trailers', 'Connection: keep-alive, TE, Upgrade, Proxy-Connection'])
    assert.equal(ok.status, 200)
    assert.equal(ok.body, 'path=/c3')
  })

  it('a path inside Host is a 400, and never collides with another URL (item 2)', async () => {
    const host = new URL(rig.base).host
    const bad = await rawGet(rig.base, '/b', [], `${host}/a`)
    assert.equal(bad.status, 400)
    assert.match(JSON.parse(bad.body).error.message, /Host/)
    const ab = await get(`${rig.base}/a/b`)
    assert.equal(ab.text, 'path=/a/b')
    assert.equal(ab.headers.get('x-cache'), 'MISS')
  })

  it('Host is validated as an RFC 3986 authority before any gateway route (item 2)', async () => {
    // Used to answer 500 (new URL() on the mounted-route path).
    const bracket = await rawGet(rig.base, '/_larder/stream', [], '[')
    assert.equal(bracket.status, 400)
    assert.equal(JSON.parse(bracket.body).error.code, 'E_BAD_REQUEST')
    for (const h of ['a b', 'user@shop.example', 'shop.example:80x', 'shop.example?x', 'shop.example#x', '[::1', '[zz::1]:80', 'shop.example:123456']) {
      assert.equal((await rawGet(rig.base, '/h', [], h)).status, 400, h)
    }
    // Two Host lines (RFC 9112 §3.2).
    assert.equal((await rawGet(rig.base, '/h', [`Host: ${new URL(rig.base).host}`])).status, 400)
    for (const h of ['shop.example', 'shop.example:8080', '127.0.0.1:1', '[::1]:80', 'xn--bcher-kva.example', 'a-b_c~d.example']) {
      assert.equal((await rawGet(rig.base, '/h', [], h)).status, 200, h)
    }
  })

  it('client X-Forwarded-Proto / -Host never reach a cached redirect (item 4)', async () => {
    const host = new URL(rig.base).host
    const r = await rawGet(rig.base, '/login-redirect', ['X-Forwarded-Proto: javascript', 'X-Forwarded-Host: evil.example'])
    assert.equal(r.status, 301)
    assert.equal(r.headers.location, `http://${host}/login`)
    const hit = await get(`${rig.base}/login-redirect`)
    assert.equal(hit.headers.get('x-cache'), 'HIT')
    assert.equal(hit.headers.get('location'), `http://${host}/login`)
  })

  it('forwarding fields are the gateway’s own view from an untrusted peer; rewrite fields are dropped (item 4)', async () => {
    const host = new URL(rig.base).host
    const r = await rawGet(rig.base, '/echo', [
      'X-Forwarded-For: 6.6.6.6',
      'Forwarded: for=6.6.6.6;proto=https',
      'X-Forwarded-Proto: https',
      'X-Forwarded-Prefix: /evil',
      'X-Real-IP: 6.6.6.6',
      'X-Original-URL: /admin',
      'X-Rewrite-URL: /admin',
    ])
    const seen = JSON.parse(r.body)
    assert.equal(seen['x-forwarded-for'], '127.0.0.1')
    assert.equal(seen['x-forwarded-proto'], 'http')
    assert.equal(seen['x-forwarded-host'], host)
    assert.equal(seen.forwarded, `for=127.0.0.1;host="${host}";proto=http`)
    assert.equal(seen['x-forwarded-prefix'], undefined)
    assert.equal(seen['x-real-ip'], undefined)
    assert.equal(seen['x-original-url'], undefined)
    assert.equal(seen['x-rewrite-url'], undefined)
  })

  it('Vary: X-Forwarded-Proto keys on the value sent upstream, not the one the client sent (item 4)', async () => {
    const first = await rawGet(rig.base, '/by-proto', ['X-Forwarded-Proto: https'])
    assert.equal(first.body, 'proto=http')
    const plain = await rawGet(rig.base, '/by-proto', [])
    assert.equal(plain.body, 'proto=http')
    assert.equal(plain.headers['x-cache'], 'HIT')
  })
})

describe('gateway security: trusted proxies (item 4)', () => {
  let rig: Rig
  before(async () => {
    rig = await startRig(origin, { trustProxy: ['10.0.0.0/8', '127.0.0.1'] })
  })
  after(() => rig.close())

  it('a trusted peer’s forwarding fields are kept and extended', async () => {
    const host = new URL(rig.base).host
    const r = await rawGet(rig.base, '/echo', ['X-Forwarded-For: 6.6.6.6', 'Forwarded: for=6.6.6.6', 'X-Forwarded-Proto: https', 'X-Original-URL: /admin'])
    const seen = JSON.parse(r.body)
    assert.equal(seen['x-forwarded-for'], '6.6.6.6, 127.0.0.1')
    assert.equal(seen['x-forwarded-proto'], 'https')
    assert.equal(seen['x-forwarded-host'], host)
    assert.equal(seen.forwarded, `for=6.6.6.6, for=127.0.0.1;host="${host}";proto=https`)
    assert.equal(seen['x-original-url'], undefined)
    // Only http and https are schemes a proxy can have seen.
    const bad = JSON.parse((await rawGet(rig.base, '/echo', ['X-Forwarded-Proto: javascript'])).body)
    assert.equal(bad['x-forwarded-proto'], 'http')
  })

  it('a bad trust list is refused at startup, naming the entry', async () => {
    const cache = createCache()
    assert.throws(() => createGateway({ origin: rig.origin.url, cache, trustProxy: ['10.0.0.0/33'] }), /10\.0\.0\.0\/33/)
    assert.throws(() => createGateway({ origin: rig.origin.url, cache, trustProxy: '10.0.0.1, not-an-ip' }), /not-an-ip/)
    await cache.close()
  })
})

describe('HTTP engine keys are unambiguous (item 2)', () => {
  it('host and path parts cannot shift into each other; ordinary keys read as host+path', () => {
    const http = createHttpCache({ cache: createCache() })
    assert.notEqual(http.primaryKey('shop.example/a', '/b').primary, http.primaryKey('shop.example', '/a/b').primary)
    assert.notEqual(http.primaryKey('shop.example?a', '/b').primary, http.primaryKey('shop.example', '?a/b').primary)
    assert.notEqual(http.primaryKey('shop.example%2fa', '/b').primary, http.primaryKey('shop.example/a', '/b').primary)
    assert.notEqual(http.primaryKey('a', 'http://b/c').primary, http.primaryKey('ahttp:', '//b/c').primary)
    assert.equal(http.primaryKey('shop.example:8080', '/p?q=1').primary, 'shop.example:8080/p?q=1')
  })

  it('Vary values cannot imitate another field or an absent one', () => {
    assert.notEqual(varyKey(['a', 'b'], { a: '1\nb:2', b: '3' }), varyKey(['a', 'b'], { a: '1', b: '2\nb:3' }))
    assert.notEqual(varyKey(['a'], { a: '\u0000' }), varyKey(['a'], {}))
    assert.notEqual(varyKey(['a'], { a: '%0A' }), varyKey(['a'], { a: '\n' }))
    assert.equal(varyKey(['a'], { a: 'x ,  y' }), varyKey(['a'], { a: ['x', 'y'] }))
  })

  it('the node:http middleware does not serve /b under Host x/a for /a/b', async () => {
    const cache = createCache()
    const mw = httpCache({ cache })
    const server = createServer(
      mw.wrap((req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=60' })
        res.end(`path=${req.url}`)
      }),
    )
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const host = new URL(base).host
      assert.equal((await rawGet(base, '/b', [], `${host}/a`)).body, 'path=/b')
      assert.equal((await rawGet(base, '/a/b', [])).body, 'path=/a/b')
    } finally {
      server.closeAllConnections()
      await new Promise<void>((r) => server.close(() => r()))
      await cache.close()
    }
  })
})
