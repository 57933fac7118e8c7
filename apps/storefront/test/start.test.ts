import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../../../', import.meta.url))

// The README's first command is `npm install && npm start`; `npm start` runs scripts/start.mjs.
test('npm start (scripts/start.mjs) reaches a healthy state, serves through the gateway and stops cleanly on Ctrl-C', async () => {
  // Its own process group, as in a terminal: Ctrl-C sends SIGINT to every process of the group.
  const child = spawn(process.execPath, ['scripts/start.mjs', '--port', '0'], { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, REDIS_URL: '', DATABASE_URL: '' } })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  try {
    // Wait for the "ready" line (an event, not a sleep); the test runner's timeout bounds it.
    while (!/ready \(/.test(output)) {
      if (child.exitCode !== null || child.signalCode !== null) assert.fail(`start exited early with ${child.exitCode}:\n${output}`)
      await Promise.race([once(child.stdout, 'data'), once(child, 'exit')])
    }
    const gateway = /storefront\s+(http:\/\/[^/\s]+)\//.exec(output)?.[1]
    assert.ok(gateway, `no storefront URL in:\n${output}`)
    const dashboard = /dashboard\s+(\S+)/.exec(output)?.[1]
    assert.match(dashboard ?? '', /\/_larder\/dashboard#token=/)

    const page = await fetch(`${gateway}/`)
    assert.equal(page.status, 200)
    assert.match(await page.text(), /Larder <span>storefront/)
    const first = await fetch(`${gateway}/api/v1/products/1`, { headers: { 'x-tenant-id': 'acme' } })
    assert.equal(first.status, 200)
    const v1 = (await first.json()).product.version
    const second = await fetch(`${gateway}/api/v1/products/1`, { headers: { 'x-tenant-id': 'acme' } })
    assert.equal(second.headers.get('x-cache'), 'HIT')
    await second.arrayBuffer()
    // A write reaches the database only; the trigger → rules → log path purges the cached copy.
    const w = await fetch(`${gateway}/api/v1/products/1`, { method: 'PATCH', headers: { 'x-tenant-id': 'acme', 'content-type': 'application/json' }, body: '{"stock":7}' })
    assert.equal(w.status, 200)
    assert.equal(w.headers.get('x-invalidation'), 'applied')
    await w.arrayBuffer()
    const third = await fetch(`${gateway}/api/v1/products/1`, { headers: { 'x-tenant-id': 'acme' } })
    const body = await third.json()
    assert.equal(body.product.version, v1 + 1)
    assert.equal(body.product.stock, 7)
    const metrics = await fetch(`${gateway}/metrics`)
    assert.equal(metrics.status, 200)
    const text = await metrics.text()
    assert.match(text, /larder_cache_hits_total/)
    // The entries gauge reads the gateways' caches (the product above is held in L1).
    assert.match(text, /\nlarder_cache_entries [1-9]/)
  } finally {
    // Ctrl-C: the demo hears it from the terminal and again from each parent that forwards it.
    if (child.exitCode === null) process.kill(-(child.pid as number), 'SIGINT')
  }
  const [code] = await once(child, 'exit')
  assert.equal(code, 0, output)
  assert.match(output, /\nSIGINT: stopping…\n[\s\S]*stopped\./)
})
