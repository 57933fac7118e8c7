/**
 * The Go service flow: examples/producers/invalidate_product_caches.go (the file
 * docs/events.md shows verbatim, standard library only) posts product.updated to
 * POST /_larder/events with a publish-only token. Built once per run (GOCACHE under the
 * ignored .tmp/, GOPROXY=off: nothing is downloaded).
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { requireBinary } from '../../src/testing/servers.ts'
import { hasTag } from './helpers.ts'
import { assertInvalidationReachesEverything, EXAMPLES, type ProducerRig, ROOT, run, startProducerRig } from './producer-rig.ts'

const TOKEN = 'catalog-publish-token-1'

describe('producers: Go (invalidateProductCaches over POST /_larder/events)', () => {
  let rig: ProducerRig
  let dir: string
  let bin: string
  before(async () => {
    const go = requireBinary('go', 'golang-go')
    dir = mkdtempSync(join(tmpdir(), 'larder-go-'))
    bin = join(dir, 'invalidate_product_caches')
    // A Go without a prebuilt standard library compiles it into GOCACHE on the first run (kept in .tmp/ for the next).
    const built = await run(go, ['build', '-o', bin, `${EXAMPLES}invalidate_product_caches.go`], { GOCACHE: `${ROOT}.tmp/go-build`, GOPROXY: 'off', GOFLAGS: '', CGO_ENABLED: '0' }, 300_000)
    assert.equal(built.code, 0, `go build failed: ${built.stderr}`)
    rig = await startProducerRig([{ name: 'catalog', token: TOKEN, scopes: ['events:publish@acme'] }])
  }, { timeout: 330_000 })
  after(async () => {
    await rig?.close()
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  /** Runs the program against `url` (default: the gateway) with the publish token. */
  const invalidate = (args: string[], env: Record<string, string> = {}) => run(bin, args, { LARDER_URL: rig.base, LARDER_TOKEN: TOKEN, ...env })

  it('a product update reaches the cache, the gateway and SSE', async () => {
    await assertInvalidationReachesEverything(rig, 'acme', 'product:42', async () => {
      const r = await invalidate(['-tenant', 'acme', '-product', '42', '-category', 'shoes', '-category', 'boots'])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(JSON.parse(r.stdout).outcome, 'applied')
    })
    const entry = rig.watch.entries.find(hasTag('acme', 'product:42'))
    assert.deepEqual(entry?.tags?.filter((t) => t.startsWith('category:')).sort(), ['category:boots', 'category:shoes'])
  })

  it('the same change retried with its id is a duplicate: applied once', async () => {
    const args = ['-tenant', 'acme', '-product', '43', '-id', 'go:product:43:v2']
    const first = await invalidate(args)
    const second = await invalidate(args)
    assert.equal(JSON.parse(first.stdout).outcome, 'applied', first.stderr)
    assert.equal(JSON.parse(second.stdout).outcome, 'duplicate', second.stderr)
    assert.equal(rig.watch.entries.filter(hasTag('acme', 'product:43')).length, 1)
  })

  it('a bad event gets a 4xx with the Larder error, and nothing is applied', async () => {
    const hardBefore = rig.watch.entries.filter((e) => e.kind === 'hard').length
    const cases: [args: string[], env: Record<string, string>, expected: RegExp][] = [
      [['-tenant', 'acme', '-product', ''], {}, /422 E_INVALID_EVENT: .*data\.productId/],
      [['-tenant', 'acme', '-product', '44', '-category', ''], {}, /422 E_INVALID_EVENT: .*data\.categoryIds\[0\]/],
      [['-tenant', 'globex', '-product', '44'], {}, /403 E_FORBIDDEN: .*may not publish events for tenant "globex"/],
      [['-tenant', 'acme', '-product', '44'], { LARDER_TOKEN: 'not-a-token-at-all' }, /401 E_UNAUTHORIZED/],
    ]
    for (const [args, env, expected] of cases) {
      const r = await invalidate(args, env)
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}`)
      assert.match(r.stderr, expected)
    }
    assert.equal(rig.watch.entries.filter((e) => e.kind === 'hard').length, hardBefore)
  })

  it('a 503 and a dropped connection are retried with the same id; applied once', async () => {
    // A proxy in front of the gateway answers the first POST with 503, drops the second, forwards the third.
    let posts = 0
    const bodies: string[] = []
    const proxy: Server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', async () => {
        bodies.push(Buffer.concat(chunks).toString())
        if (++posts === 1) {
          res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"E_LOG_UNAVAILABLE","message":"try again"}}')
          return
        }
        if (posts === 2) return void req.socket.destroy()
        const answer = await fetch(`${rig.base}${req.url}`, { method: 'POST', headers: { authorization: req.headers.authorization ?? '', 'content-type': 'application/json' }, body: Buffer.concat(chunks) })
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text())
      })
    })
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r))
    try {
      const r = await invalidate(['-tenant', 'acme', '-product', '45'], { LARDER_URL: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` })
      assert.equal(r.code, 0, r.stderr)
      assert.equal(JSON.parse(r.stdout).outcome, 'applied')
      assert.equal(posts, 3)
      assert.ok(bodies.every((b) => b === bodies[0]), 'every retry sends the same events (same ids)')
      assert.equal(rig.watch.entries.filter(hasTag('acme', 'product:45')).length, 1)
    } finally {
      proxy.closeAllConnections()
      await new Promise((r) => proxy.close(r))
    }
  })
})
