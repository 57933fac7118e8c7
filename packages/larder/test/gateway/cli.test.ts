import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { connect } from 'node:net'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { freePort, startRedis } from '../../src/testing/servers.ts'
import { ADMIN, get, type Origin, runGateway, startOrigin } from './helpers.ts'


describe('larder gateway CLI', () => {
  let origin: Origin
  let dir: string
  before(async () => {
    origin = await startOrigin((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=60', 'surrogate-key': 'cli' })
      res.end(`${req.url} ${origin.seen.length}`)
    })
    dir = mkdtempSync(join(tmpdir(), 'larder-cli-'))
  })
  after(async () => {
    await origin.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('reads flags, env and the config file; serves, purges with the admin token, mounts /metrics; stops on SIGTERM', async () => {
    const port = await freePort()
    const config = join(dir, 'larder.yaml')
    writeFileSync(
      config,
      `hosts:\n  shop.acme.test: acme\nroutes:\n  /api/v1/products/{id}:\n    ttl: 1h\n    tags: ["product:{id}"]\n    invalidate_on: [product_update]\n`,
    )
    const gw = runGateway(['--port', String(port)], { LARDER_ORIGIN: origin.url, LARDER_CONFIG: config, LARDER_ADMIN_TOKEN: ADMIN, LARDER_TENANT_HEADER: 'x-shop' })
    await gw.ready
    const base = `http://127.0.0.1:${port}`
    try {
      await get(`${base}/api/v1/products/7`, { host: 'shop.acme.test' })
      const hit = await get(`${base}/api/v1/products/7`, { host: 'shop.acme.test' })
      assert.equal(hit.headers.get('x-cache'), 'HIT')
      // x-shop header names another tenant: its own miss.
      assert.equal((await get(`${base}/api/v1/products/7`, { host: 'shop.acme.test', 'x-shop': 'globex' })).headers.get('x-cache'), 'MISS')
      const purge = await get(`${base}/_larder/purge`, { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ tenant: 'acme', tags: ['product:7'] }))
      assert.equal(purge.status, 200)
      assert.equal((await get(`${base}/api/v1/products/7`, { host: 'shop.acme.test' })).headers.get('x-cache'), 'MISS')
      // route:<path> tags from invalidate_on reach the events ingest.
      const ev = await get(`${base}/_larder/events`, { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ type: 'product_update', tenant: 'acme', id: 'e1', data: {} }))
      assert.ok(ev.status < 300, `events answered ${ev.status}: ${ev.text}`)
      assert.equal((await get(`${base}/api/v1/products/7`, { host: 'shop.acme.test' })).headers.get('x-cache'), 'MISS')
      const m = await get(`${base}/metrics`, { authorization: `Bearer ${ADMIN}` })
      assert.equal(m.status, 200)
    } finally {
      gw.child.kill('SIGTERM')
    }
    assert.equal(await gw.exit, 0)
  })

  it('--refresh-on-invalidation: after a purge the gateway re-fetches the recently read response itself; the next read gets the new body without an origin request of its own', async () => {
    for (const refresh of [true, false]) {
      const port = await freePort()
      const gw = runGateway(['--port', String(port), ...(refresh ? ['--refresh-on-invalidation'] : [])], { LARDER_ORIGIN: origin.url, LARDER_ADMIN_TOKEN: ADMIN, LARDER_TENANT_HEADER: 'x-shop' })
      await gw.ready
      const base = `http://127.0.0.1:${port}`
      const path = `/refresh/${refresh}`
      const asked = () => origin.seen.filter((r) => r.url === path).length
      try {
        await get(`${base}${path}`, { 'x-shop': 'acme' })
        assert.equal((await get(`${base}${path}`, { 'x-shop': 'acme' })).headers.get('x-cache'), 'HIT')
        const before = asked()
        const purge = await get(`${base}/_larder/purge`, { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ tenant: 'acme', tags: ['cli'] }))
        assert.equal(purge.status, 200)
        if (refresh) {
          // The refresh is the gateway's own origin request, made with no client asking.
          for (const deadline = Date.now() + 5000; asked() === before; ) {
            assert.ok(Date.now() < deadline, 'the gateway did not re-fetch the purged response')
            await new Promise((r) => setImmediate(r))
          }
          // The origin numbers its answers: the refresh was its latest one.
          const refreshed = `${path} ${origin.seen.length}`
          const next = await get(`${base}${path}`, { 'x-shop': 'acme' })
          assert.equal(next.text, refreshed, 'the refreshed body, not the purged one')
          // Served from the refresh (stored, or joined while it ran): no origin request of its own.
          assert.equal(asked(), before + 1)
        } else {
          assert.equal((await get(`${base}${path}`, { 'x-shop': 'acme' })).headers.get('x-cache'), 'MISS')
        }
      } finally {
        gw.child.kill('SIGTERM')
      }
      assert.equal(await gw.exit, 0)
    }
  })

  it('--workers 2 with --redis: one port, a purge through any worker reaches the other', async () => {
    const redis = await startRedis()
    const port = await freePort()
    let version = 1
    origin.handler = (req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': 'w' })
      res.end(`${req.url} v${version}`)
    }
    const gw = runGateway(['--port', String(port), '--workers', '2', '--redis', redis.url, '--admin-token', ADMIN], { LARDER_ORIGIN: origin.url, LARDER_CONFIG: '' })
    try {
      const line = await gw.ready
      assert.match(line, /2 workers/)
      const base = `http://127.0.0.1:${port}`
      // Enough requests that both workers (round-robin) hold the entry in L1.
      for (let i = 0; i < 6; i++) assert.equal((await get(`${base}/w`)).text, '/w v1')
      version = 2
      const p = await get(`${base}/_larder/purge`, { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ tags: ['w'] }))
      assert.equal(p.status, 200)
      // The other worker converges within the bus delay: poll (bounded), then every read is new.
      const deadline = Date.now() + 5000
      let texts: string[] = []
      do texts = await Promise.all(Array.from({ length: 4 }, () => get(`${base}/w`).then((r) => r.text)))
      while (texts.some((t) => t !== '/w v2') && Date.now() < deadline)
      assert.deepEqual(texts, Array(4).fill('/w v2'))
    } finally {
      gw.child.kill('SIGTERM')
      await gw.exit
      await redis.stop()
    }
  })

  it('--trust-proxy, client timeouts and --max-connections-per-client reach the gateway; bad values exit 2', async () => {
    const port = await freePort()
    origin.handler = (req, res) => {
      res.writeHead(200, { 'cache-control': 'no-store' })
      res.end(`proto=${req.headers['x-forwarded-proto']}`)
    }
    const gw = runGateway(['--port', String(port), '--trust-proxy', '10.0.0.0/8, 127.0.0.1', '--client-headers-timeout', '300', '--max-connections-per-client', '0'], { LARDER_ORIGIN: origin.url, LARDER_CONFIG: '' })
    try {
      await gw.ready
      const base = `http://127.0.0.1:${port}`
      assert.equal((await get(`${base}/p`, { 'x-forwarded-proto': 'https' })).text, 'proto=https')
      // A header block not finished within 300 ms: 408 and closed.
      const out = await new Promise<string>((resolve) => {
        const s = connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\r\nHost: x\r\n'))
        let text = ''
        s.on('data', (d) => {
          text += d
        })
        s.on('error', () => {})
        s.on('close', () => resolve(text))
      })
      assert.match(out, /^HTTP\/1\.1 408/)
    } finally {
      gw.child.kill('SIGTERM')
      await gw.exit
    }
    for (const args of [['--trust-proxy', 'nope'], ['--client-request-timeout', '-5'], ['--max-connections-per-client', 'lots']]) {
      const bad = runGateway(args, { LARDER_ORIGIN: origin.url, LARDER_CONFIG: '' })
      assert.equal(await bad.exit, 2, args.join(' '))
    }
  })

  it('--workers without --redis is refused', async () => {
    const r = runGateway(['--workers', '2'], { LARDER_ORIGIN: origin.url, LARDER_CONFIG: '' })
    assert.equal(await r.exit, 2)
  })

  it('exits 2 with a message for a missing origin or a bad config', async () => {
    const a = runGateway([], { LARDER_ORIGIN: '', LARDER_CONFIG: '' })
    assert.equal(await a.exit, 2)
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'origin: http://x\nnope: 1\n')
    const b = runGateway(['--config', bad], { LARDER_ORIGIN: '' })
    assert.equal(await b.exit, 2)
  })
})
