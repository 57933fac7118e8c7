import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import { displayKey, displayTag } from '../../src/admin/display.ts'
import { createAdminApi } from '../../src/admin/index.ts'
import type { Cache } from '../../src/core/api.ts'
import { createAuthorizer } from '../../src/core/auth.ts'
import { varyKey } from '../../src/http/vary.ts'
import { createCache } from '../../src/index.ts'
import { type Served, serve } from './serve.ts'

const BIN = new URL('../../bin/larder.mjs', import.meta.url).pathname
const ADMIN = 'display-admin-token'
// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is that none are shown
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/

function larder(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, LARDER_ADMIN_TOKEN: '' }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

test('displayKey splits the URL from the Vary values; displayTag names @url tags; no control character survives', () => {
  const key = `shop.test/api/v1/products/1${varyKey(['accept-language', 'x-tenant-id'], { 'x-tenant-id': 'acme' })}`
  assert.deepEqual(displayKey(key), { key: 'shop.test/api/v1/products/1', vary: 'accept-language: (none), x-tenant-id: acme' })
  assert.deepEqual(displayKey('product:1'), { key: 'product:1' })
  assert.equal(displayKey('a\u001fb\u0007').key, 'a\\x1fb\\x07')
  assert.equal(displayTag('@url shop.test/p/1'), 'URL shop.test/p/1')
  assert.equal(displayTag('product:1'), 'product:1')
})

describe('top keys and tags as users know them (admin API, larder stats)', () => {
  let cache: Cache
  let admin: ReturnType<typeof createAdminApi>
  let s: Served
  const url = '127.0.0.1:8080/api/v1/products/1'

  before(async () => {
    cache = createCache({ instanceId: 'display-test' })
    admin = createAdminApi({ cache, auth: createAuthorizer([{ name: 'ops', token: ADMIN, scopes: ['admin'] }]), logger: pino({ level: 'silent' }), sampleEvery: 1 })
    s = await serve([admin.route])
    // What the HTTP cache does for a response with `Vary: X-Tenant-Id`: a marker at the URL,
    // the response at URL + the Vary'd values, both tagged `@url <URL>`; each request reads both.
    const t = cache.tenant('acme')
    const variant = url + varyKey(['x-tenant-id'], { 'x-tenant-id': 'acme' })
    await t.set(url, { vary: ['x-tenant-id'] }, { tags: [`@url ${url}`] })
    await t.set(variant, { status: 200 }, { tags: [`@url ${url}`, 'product:1'] })
    for (let i = 0; i < 20; i++) {
      await t.get(url)
      await t.get(variant)
    }
    await t.invalidateTags([`@url ${url}`])
    admin.monitor.tick()
  })

  after(async () => {
    await s.close()
    await admin.close()
    await cache.close()
  })

  test('GET /_larder/stats lists the URL once, with its Vary values apart, and the @url tag as "URL …"', async () => {
    const r = await s.call('/_larder/stats', { token: ADMIN })
    assert.equal(r.status, 200)
    const keys = r.body.monitor.topKeys as { tenant: string; key: string; vary?: string; count: number }[]
    assert.deepEqual(
      keys.map((k) => [k.tenant, k.key, k.vary]),
      [['acme', url, 'x-tenant-id: acme']],
    )
    assert.ok(keys[0]!.count >= 20)
    const tags = (r.body.monitor.topTags as { tag: string }[]).map((t) => t.tag)
    assert.ok(tags.includes(`URL ${url}`), tags.join(','))
    assert.ok(!tags.some((t) => t.startsWith('@url')))
    assert.doesNotMatch(JSON.stringify(r.body.monitor.topKeys) + JSON.stringify(r.body.monitor.topTags), /\\n|\\u00/)
  })

  test('larder stats prints each top key on one line, URL then Vary values; the tenant view too', async () => {
    const r = await larder(['stats', '--url', s.url, '--token', ADMIN])
    assert.equal(r.code, 0, r.stderr)
    assert.doesNotMatch(r.stdout, CONTROL)
    const lines = r.stdout.split('\n')
    const i = lines.indexOf('top keys:')
    assert.match(lines[i + 1] ?? '', new RegExp(`^\\s+\\d+  acme  ${url.replace(/[./]/g, '\\$&')}  \\[x-tenant-id: acme\\]$`))
    assert.ok(!/^\s*x-tenant-id/.test(lines[i + 2] ?? ''), 'the Vary part is not on a line of its own')
    const t = await larder(['stats', '--url', s.url, '--token', ADMIN, '--tenant', 'acme'])
    assert.equal(t.code, 0, t.stderr)
    assert.doesNotMatch(t.stdout, CONTROL)
    assert.match(t.stdout, /\[x-tenant-id: acme\]/)
  })
})
