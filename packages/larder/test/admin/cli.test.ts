import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import { createAdminApi } from '../../src/admin/index.ts'
import type { Cache } from '../../src/core/api.ts'
import { createAuthorizer } from '../../src/core/auth.ts'
import { createCache } from '../../src/index.ts'
import { createWarmer, type Warmer } from '../../src/warm/index.ts'
import { type Served, serve } from './serve.ts'

const BIN = new URL('../../bin/larder.mjs', import.meta.url).pathname
const ADMIN = 'cli-admin-token-1'
const ACME = 'cli-acme-token-01'

/** Runs the real `larder` binary in a child process. */
function larder(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, LARDER_ADMIN_TOKEN: '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

describe('larder stats | purge | warm against a running admin API', () => {
  let cache: Cache
  let warmer: Warmer
  let admin: ReturnType<typeof createAdminApi>
  let s: Served
  let loads = 0

  before(async () => {
    cache = createCache({ instanceId: 'cli-test' })
    warmer = createWarmer({
      cache,
      ratePerSec: 200,
      plans: [
        {
          name: 'hot',
          items: () =>
            Array.from({ length: 40 }, (_, i) => ({
              tenant: 'acme',
              key: `hot:${i}`,
              loader: () => {
                loads++
                return i
              },
            })),
        },
      ],
    })
    admin = createAdminApi({
      cache,
      warmer,
      auth: createAuthorizer([
        { name: 'ops', token: ADMIN, scopes: ['admin'] },
        { name: 'acme', token: ACME, scopes: ['tenant:acme'] },
      ]),
      logger: pino({ level: 'silent' }),
    })
    s = await serve([admin.route])
  })

  after(async () => {
    await s.close()
    await admin.close()
    await warmer.close()
    await cache.close()
  })

  test('purge --tenant --tag drops the entry and prints what it did', async () => {
    await cache.tenant('acme').set('product:42', { price: 1 }, { tags: ['product:42'] })
    await cache.tenant('globex').set('product:42', { price: 2 }, { tags: ['product:42'] })
    const r = await larder(['purge', '--url', s.url, '--tenant', 'acme', '--tag', 'product:42'], { LARDER_ADMIN_TOKEN: ADMIN })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /purged 1 entry on this instance for tenant acme \(log id \d+/)
    assert.equal(await cache.tenant('acme').get('product:42'), undefined)
    assert.deepEqual(await cache.tenant('globex').get('product:42'), { price: 2 })
  })

  test('purge errors are one clear line with a non-zero exit code', async () => {
    const forbidden = await larder(['purge', '--url', s.url, '--token', ACME, '--tenant', 'globex', '--tag', 'product:42'])
    assert.equal(forbidden.code, 1)
    assert.match(forbidden.stderr, /403 token "acme" may not purge tenant "globex"/)
    const noToken = await larder(['purge', '--url', s.url, '--tenant', 'acme', '--tag', 'x'])
    assert.match(noToken.stderr, /401 .*LARDER_ADMIN_TOKEN/)
    const usage = await larder(['purge', '--url', s.url, '--tenant', 'acme'])
    assert.equal(usage.code, 2)
    assert.match(usage.stderr, /at least one --tag, --key or --url-path/)
    const badFlag = await larder(['purge', '--bogus'])
    assert.equal(badFlag.code, 2)
    const down = await larder(['stats', '--url', 'http://127.0.0.1:1', '--token', ADMIN])
    assert.equal(down.code, 1)
    assert.match(down.stderr, /cannot reach http:\/\/127\.0\.0\.1:1/)
  })

  test('stats prints rates and totals; --json prints the raw answer; --tenant for a tenant token', async () => {
    for (let i = 0; i < 5; i++) await cache.tenant('acme').getOrSet('product:1', () => 1)
    const r = await larder(['stats', '--url', s.url, '--token', ADMIN])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /instance cli-test/)
    assert.match(r.stdout, /hit ratio \(1m\)/)
    assert.match(r.stdout, /entries \/ bytes +\d+ \/ \d+/)
    const j = await larder(['stats', '--url', s.url, '--token', ADMIN, '--json'])
    const parsed = JSON.parse(j.stdout)
    assert.equal(parsed.instanceId, 'cli-test')
    assert.ok(parsed.cache.hits >= 4)
    const t = await larder(['stats', '--url', s.url, '--token', ACME, '--tenant', 'acme'])
    assert.equal(t.code, 0, t.stderr)
    assert.match(t.stdout, /tenant acme\n {2}hits \d+/)
    const denied = await larder(['stats', '--url', s.url, '--token', ACME])
    assert.equal(denied.code, 1)
  })

  test('stats --ttl prints the TTL report per group; with --json the report; with --tenant the tenant\'s own', async () => {
    const none = await larder(['stats', '--url', s.url, '--token', ADMIN, '--ttl'])
    assert.equal(none.code, 0, none.stderr)
    assert.match(none.stdout, /TTL effectiveness per group \(entries followed: \d+ of 4096\)/)
    // One entry invalidated and replaced, in acme.
    const acme = cache.tenant('acme')
    await acme.set('ttl:1', 1, { tags: ['ttl:1'] })
    await acme.invalidateTags(['ttl:1'])
    await acme.set('ttl:1', 2, { tags: ['ttl:1'] })
    const r = await larder(['stats', '--url', s.url, '--token', ADMIN, '--ttl'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /group +ttl +ended +expired unchanged +invalidated before expiry +read after expiry +change interval/)
    assert.match(r.stdout, /\n {2}default +1m +1 +0\.0 % +100\.0 % +0\.0 % +\S+/)
    const j = JSON.parse((await larder(['stats', '--url', s.url, '--token', ADMIN, '--ttl', '--json'])).stdout)
    assert.equal(j.groups.find((g: any) => g.group === 'default').invalidatedBeforeExpiry, 1)
    const t = await larder(['stats', '--url', s.url, '--token', ACME, '--tenant', 'acme', '--ttl'])
    assert.equal(t.code, 0, t.stderr)
    assert.match(t.stdout, /^tenant acme\nTTL effectiveness/)
    assert.match(t.stdout, /default +1m +1 /)
  })

  test('warm --plan runs the plan and draws a progress bar until done', async () => {
    const r = await larder(['warm', '--url', s.url, '--token', ADMIN, '--plan', 'hot'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stderr, /hot \[#{30}\] 40\/40 {2}loaded 40/)
    assert.match(r.stdout, /warm plan hot done: 40\/40, loaded 40, already cached 0, failed 0/)
    assert.equal(loads, 40)
    const again = await larder(['warm', '--url', s.url, '--token', ADMIN, '--plan', 'hot'])
    assert.match(again.stdout, /loaded 0, already cached 40/)
    const unknown = await larder(['warm', '--url', s.url, '--token', ADMIN, '--plan', 'nope'])
    assert.equal(unknown.code, 1)
    assert.match(unknown.stderr, /"plan" must name a warm plan \(plans: hot\)/)
    const list = await larder(['warm', '--url', s.url, '--token', ADMIN])
    assert.match(list.stdout, /plans: hot\n {2}hot: done/)
  })
})
