import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { test } from 'node:test'
import { StaleChecker, versionsOf } from '../src/load/checker.ts'
import { prng, zipf } from '../src/load/random.ts'
import { runWorkload } from '../src/load/workload.ts'

test('a read that started after an acknowledged write must carry at least its version', () => {
  const c = new StaleChecker()
  const early = c.tick() // this read started before the write was acknowledged
  c.acknowledged('acme/product:1', 5)
  const late = c.tick()
  assert.deepEqual(c.read(early, '/a', [['acme/product:1', 4]]), [], 'a read in flight during the write may see the old version')
  const stale = c.read(late, '/b', [['acme/product:1', 4]])
  assert.equal(stale.length, 1)
  assert.deepEqual(stale[0], { entity: 'acme/product:1', seen: 4, required: 5, url: '/b' })
  assert.deepEqual(c.read(late, '/c', [['acme/product:1', 5], ['acme/product:2', 1], ['globex/product:1', 1]]), [])
  assert.equal(c.stale.length, 1)
})

test('versionsOf reads every versioned row of the API shapes, per tenant', () => {
  const rows = versionsOf('acme', {
    items: [{ id: 1, version: 2 }],
    product: { id: 3, version: 4 },
    variants: [{ id: 7, version: 1 }],
    variant: { id: 8, version: 9 },
    sellers: [{ id: 5, version: 6 }],
  })
  assert.deepEqual(rows, [
    ['acme/product:1', 2],
    ['acme/product:3', 4],
    ['acme/variant:7', 1],
    ['acme/variant:8', 9],
    ['acme/seller:5', 6],
  ])
})

test('zipf draws follow the rank order', () => {
  const draw = zipf(100, 1.1, prng(7))
  const counts = new Array(101).fill(0)
  for (let i = 0; i < 20_000; i++) counts[draw()]++
  assert.ok(counts[1] > counts[2] && counts[2] > counts[10] && counts[10] > counts[90])
  assert.equal(counts[0], 0)
})

// The injected fault: a "cache" that acknowledges writes but keeps answering the version it
// first saw. The workload's checker must report those reads as stale (the checker can fail).
test('the workload catches a cache that serves a value older than an acknowledged write', async () => {
  const versions = new Map<string, number>()
  const frozen = new Map<string, number>()
  const server = createServer((req, res) => {
    const tenant = String(req.headers['x-tenant-id'])
    const m = /\/api\/v1\/products\/(\d+)/.exec(req.url ?? '')
    const id = Number(m?.[1] ?? 1)
    const key = `${tenant}/${id}`
    const current = versions.get(key) ?? 1
    if (req.method === 'PATCH') {
      versions.set(key, current + 1)
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(JSON.stringify({ product: { id, version: current + 1 } }))
    }
    // Stale injection: the first version seen for a product is served forever.
    if (!frozen.has(key)) frozen.set(key, current)
    res.writeHead(200, { 'content-type': 'application/json', 'x-cache': 'HIT' })
    res.end(JSON.stringify({ product: { id, version: frozen.get(key) } }))
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    // Every op is a product read or a product write (the fake only knows products).
    const report = await runWorkload({
      url,
      tenants: [{ id: 'acme', products: 5, sellers: 1 }],
      requests: 600,
      warmup: 0,
      writeRatio: 0.2,
      concurrency: 4,
      seed: 3,
      filter: (op) => op.path.startsWith('/api/v1/products/') && !op.path.includes('?'),
    })
    assert.ok(report.writes > 0)
    assert.ok(report.staleReads > 0, 'the injected stale values were caught')
    assert.match(report.staleExamples[0]?.entity ?? '', /^acme\/product:\d$/)
    assert.ok((report.staleExamples[0]?.seen ?? 0) < (report.staleExamples[0]?.required ?? 0))

    // Control: the same traffic against an honest origin (no freezing) finds nothing.
    frozen.clear()
    versions.clear()
    const honest = createServer((req, res) => {
      const m = /\/api\/v1\/products\/(\d+)/.exec(req.url ?? '')
      const id = Number(m?.[1] ?? 1)
      const key = String(id)
      const v = versions.get(key) ?? 1
      if (req.method === 'PATCH') versions.set(key, v + 1)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ product: { id, version: req.method === 'PATCH' ? v + 1 : v } }))
    })
    await new Promise<void>((r) => honest.listen(0, '127.0.0.1', r))
    try {
      const ok = await runWorkload({
        url: `http://127.0.0.1:${(honest.address() as AddressInfo).port}`,
        tenants: [{ id: 'acme', products: 5, sellers: 1 }],
        requests: 600,
        warmup: 0,
        writeRatio: 0.2,
        concurrency: 4,
        seed: 3,
        filter: (op) => op.path.startsWith('/api/v1/products/') && !op.path.includes('?'),
      })
      assert.equal(ok.staleReads, 0)
      assert.ok(ok.checkedRows > 0)
    } finally {
      honest.closeAllConnections()
      await new Promise((r) => honest.close(r))
    }
  } finally {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  }
})
