/**
 * The gateway's reserved namespace and client limits (docs/http.md, "Requests the gateway
 * refuses or rewrites"): raw HTTP over loopback against a real gateway and a real origin.
 */
import assert from 'node:assert/strict'
import { connect, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { parseGatewayConfig } from '../../src/gateway/config.ts'
import { createGateway } from '../../src/gateway/index.ts'
import { normalizePath } from '../../src/gateway/request-guard.ts'
import { ADMIN, get, rawRequest as raw, type Rig, startRig } from './helpers.ts'

/** Sends raw bytes and resolves everything the server answered before closing. */

const statusOf = (out: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0)
const bodyOf = (out: string) => out.slice(out.indexOf('\r\n\r\n') + 4)

const SPELLINGS = ['/_larder/purge/', '/_larder//purge', '/_larder/purge%2f', '/%5flarder/purge', '/%5Flarder/x', '/_larder', '/_larder/nothing-here', '/a/../_larder/purge', '/_larder/./purge', '//_larder/purge']

for (const mountedRoutes of [true, false]) {
  describe(`gateway: the reserved /_larder prefix (${mountedRoutes ? 'with' : 'without'} mounted routes)`, () => {
    let rig: Rig
    before(async () => {
      rig = await startRig(
        (_req, res) => {
          res.writeHead(200, { 'cache-control': 'max-age=60' })
          res.end('from the origin')
        },
        mountedRoutes ? { routes: [() => false] } : {},
      )
    })
    after(() => rig.close())

    it('is answered by the gateway in every spelling, never forwarded with the token and body', async () => {
      const host = new URL(rig.base).host
      for (const p of SPELLINGS) {
        const out = await raw(rig.base, `POST ${p} HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Bearer ${ADMIN}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`)
        const status = statusOf(out)
        assert.ok(status >= 400 && status < 500, `${p}: ${out}`)
        assert.match(bodyOf(out), /"error"/, p)
      }
      assert.deepEqual(
        rig.origin.seen.map((s) => s.url).filter((u) => /larder/i.test(u)),
        [],
      )
    })

    it('an unknown reserved path is a 404 JSON; a path that only looks alike is proxied', async () => {
      const nf = await get(`${rig.base}/_larder/nothing-here?x=1`)
      assert.equal(nf.status, 404)
      assert.equal(JSON.parse(nf.text).error.code, 'E_NOT_FOUND')
      const other = await get(`${rig.base}/_larderx/page`)
      assert.equal(other.text, 'from the origin')
    })

    it('an Authorization carrying one of the gateway’s tokens is never forwarded; the shop’s own is', async () => {
      await get(`${rig.base}/authz-own`, { authorization: `Bearer ${ADMIN}` })
      assert.equal(rig.origin.seen.find((s) => s.url === '/authz-own')?.headers.authorization, undefined)
      await get(`${rig.base}/authz-other`, { authorization: 'Bearer the-shop-s-own' })
      assert.equal(rig.origin.seen.find((s) => s.url === '/authz-other')?.headers.authorization, 'Bearer the-shop-s-own')
    })

    it('a spelling of /_larder/purge reaches the purge handler (its auth and validation)', async () => {
      const r = await get(`${rig.base}/%5flarder//purge`, { authorization: 'Bearer wrong', 'content-type': 'application/json' }, 'POST', '{"tags":["x"]}')
      assert.equal(r.status, 401)
    })
  })
}

describe('normalizePath', () => {
  it('decodes unreserved characters only, collapses slashes, removes dot segments', () => {
    assert.equal(normalizePath('/%5flarder/%70urge'), '/_larder/purge')
    assert.equal(normalizePath('/_larder/purge%2f'), '/_larder/purge%2F')
    assert.equal(normalizePath('//a///b/'), '/a/b/')
    assert.equal(normalizePath('/a/./b/../c'), '/a/c')
    assert.equal(normalizePath('/../../x'), '/x')
    assert.equal(normalizePath('/a/b/..'), '/a/')
  })
})

describe('gateway: slow and greedy clients', () => {
  let rig: Rig
  before(async () => {
    rig = await startRig(
      (_req, res) => {
        res.writeHead(200, { 'cache-control': 'no-store' })
        res.end('ok')
      },
      { clientHeadersTimeout: 400, clientRequestTimeout: 800, maxConnectionsPerClient: 4 },
    )
  })
  after(() => rig.close())

  function open(): Promise<Socket> {
    const { hostname, port } = new URL(rig.base)
    return new Promise((resolve, reject) => {
      const s = connect(Number(port), hostname, () => resolve(s))
      s.once('error', reject)
    })
  }

  /** Writes `first`, then `line(n)` every 100 ms until the server closes (at most 4 s); resolves what it answered and when. */
  async function drip(first: string, line: (n: number) => string, started: number): Promise<{ out: string; ms: number }> {
    const s = await open()
    let out = ''
    s.on('data', (d) => {
      out += d
    })
    s.on('error', () => {})
    s.write(first)
    let n = 0
    const timer = setInterval(() => {
      // Bounded: a server that never gives up on the client fails the test instead of hanging it.
      if (n >= 40) s.destroy()
      else if (!s.destroyed && s.writable) s.write(line(n++))
    }, 100)
    await new Promise<void>((r) => s.once('close', () => r()))
    clearInterval(timer)
    return { out, ms: Date.now() - started }
  }

  it('three connections sending one header line at a time are answered 408 and closed after clientHeadersTimeout', async () => {
    const started = Date.now()
    const closes = await Promise.all([0, 1, 2].map(() => drip('GET / HTTP/1.1\r\nHost: x\r\n', (n) => `X-Drip-${n}: 1\r\n`, started)))
    for (const c of closes) {
      assert.match(c.out, /^HTTP\/1\.1 408/, c.out)
      assert.ok(c.ms < 4000, `closed after ${c.ms} ms`)
    }
  })

  it('a request body trickled past clientRequestTimeout is answered 408 and closed', async () => {
    const started = Date.now()
    const c = await drip('POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n', () => 'x', started)
    assert.match(c.out, /HTTP\/1\.1 408/, c.out)
    assert.ok(c.ms < 4000, `closed after ${c.ms} ms`)
  })

  it('connections past maxConnectionsPerClient are answered 503 and closed at once; closed ones free their slot', async () => {
    const held = await Promise.all([open(), open(), open(), open()])
    const out = await raw(rig.base, 'GET /refused HTTP/1.1\r\nHost: x\r\n\r\n')
    assert.match(out, /^HTTP\/1\.1 503/, out)
    // A refused connection's request is never handled (nor forwarded).
    assert.equal(rig.origin.seen.filter((s) => s.url === '/refused').length, 0)
    assert.match(bodyOf(out), /E_TOO_MANY_CONNECTIONS/)
    // Closing one held connection frees its slot once the server has seen the close.
    const closed = held.pop() as Socket
    await new Promise<void>((r) => {
      closed.once('close', () => r())
      closed.end()
    })
    let r = await raw(rig.base, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    // The server may see the FIN a moment after the client does: retry until it has.
    for (let i = 0; i < 50 && statusOf(r) === 503; i++) r = await raw(rig.base, 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert.equal(statusOf(r), 200, r)
    for (const h of held) h.destroy()
  })

  it('rejects bad limits at start', () => {
    const base = { origin: 'http://127.0.0.1:9', cache: rig.gw.http.cache }
    assert.throws(() => createGateway({ ...base, clientHeadersTimeout: -1 }), /clientHeadersTimeout/)
    assert.throws(() => createGateway({ ...base, clientRequestTimeout: Number.NaN }), /clientRequestTimeout/)
    assert.throws(() => createGateway({ ...base, maxConnectionsPerClient: 1.5 }), /maxConnectionsPerClient/)
  })
})

describe('gateway config: request-safety fields', () => {
  it('reads trust_proxy, client timeouts and max_connections_per_client, naming the wrong field', () => {
    const c = parseGatewayConfig('trust_proxy: [10.0.0.0/8, "::1"]\ntimeouts: { client_headers: 5000, client_request: 30000 }\nmax_connections_per_client: 64\n')
    assert.deepEqual(c.trust_proxy, ['10.0.0.0/8', '::1'])
    assert.equal(c.timeouts?.client_headers, 5000)
    assert.equal(c.max_connections_per_client, 64)
    assert.equal(parseGatewayConfig('trust_proxy: "10.0.0.1, 192.168.0.0/16"').trust_proxy, '10.0.0.1, 192.168.0.0/16')
    assert.throws(() => parseGatewayConfig('trust_proxy: [nope]'), /trust_proxy.*"nope"/)
    assert.throws(() => parseGatewayConfig('trust_proxy: [10.0.0.0/33]'), /trust_proxy/)
    assert.throws(() => parseGatewayConfig('timeouts: { client_headers: -1 }'), /timeouts\.client_headers/)
    assert.throws(() => parseGatewayConfig('timeouts: { clientHeaders: 1 }'), /unknown field "timeouts\.clientHeaders"/)
    assert.throws(() => parseGatewayConfig('max_connections_per_client: many'), /max_connections_per_client/)
  })
})
