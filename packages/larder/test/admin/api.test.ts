import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import { createAdminApi } from '../../src/admin/index.ts'
import type { Cache } from '../../src/core/api.ts'
import { createAuthorizer } from '../../src/core/auth.ts'
import { createCache, type LarderRoute } from '../../src/index.ts'
import { assembleGateway, createGateway } from '../../src/gateway/index.ts'
import { createWarmer, type Warmer } from '../../src/warm/index.ts'
import { type Served, serve } from './serve.ts'

const TOKENS = {
  admin: 'admin-token-0001',
  reader: 'reader-token-0001',
  acme: 'acme-token-00001',
  globex: 'globex-token-0001',
}

describe('admin API', () => {
  let cache: Cache
  let s: Served
  let warmer: Warmer
  let admin: ReturnType<typeof createAdminApi>
  const audit: any[] = []
  let origin = 0

  before(async () => {
    cache = createCache({ instanceId: 'admin-test' })
    warmer = createWarmer({
      cache,
      plans: [
        {
          name: 'hot',
          items: () =>
            ['1', '2', '3'].map((id) => ({
              tenant: 'acme',
              key: `warm:${id}`,
              tags: ['warm'],
              loader: () => {
                origin++
                return { id }
              },
            })),
        },
      ],
    })
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const line of String(chunk).split('\n').filter(Boolean)) audit.push(JSON.parse(line))
        cb()
      },
    })
    admin = createAdminApi({
      cache,
      warmer,
      auth: createAuthorizer([
        { name: 'ops', token: TOKENS.admin, scopes: ['admin'] },
        { name: 'grafana', token: TOKENS.reader, scopes: ['read:stats'] },
        { name: 'acme-backend', token: TOKENS.acme, scopes: ['tenant:acme'] },
        { name: 'globex-backend', token: TOKENS.globex, scopes: ['tenant:globex'] },
      ]),
      logger: pino({ level: 'info' }, sink),
      maxKeysPage: 50,
      maxFeeds: 2,
      maxBodyBytes: 4096,
    })
    s = await serve([admin.route])
  })

  after(async () => {
    await s.close()
    await admin.close()
    await warmer.close()
    await cache.close()
  })

  async function seed(tenant: string, key: string, tags: string[] = []) {
    await cache.tenant(tenant).set(key, { tenant, key }, { tags, ttl: '1h' })
  }

  test('stats: 401 without a token, 403 for a tenant token asking for global stats', async () => {
    assert.equal((await s.call('/_larder/stats')).status, 401)
    assert.equal((await s.call('/_larder/stats', { token: 'not-a-real-token' })).status, 401)
    const r = await s.call('/_larder/stats', { token: TOKENS.acme })
    assert.equal(r.status, 403)
    assert.equal(r.body.error.code, 'E_FORBIDDEN')
    assert.match(r.body.error.message, /acme-backend/)
  })

  test('stats: global for read:stats, one tenant for its own token only', async () => {
    await seed('acme', 'product:1')
    await cache.tenant('acme').get('product:1')
    await cache.tenant('acme').get('nope')
    const g = await s.call('/_larder/stats', { token: TOKENS.reader })
    assert.equal(g.status, 200)
    assert.equal(g.body.instanceId, 'admin-test')
    assert.ok(g.body.cache.entries >= 1)
    assert.ok(g.body.monitor.totals.hits >= 1 && g.body.monitor.totals.misses >= 1)
    assert.ok(Array.isArray(g.body.warm))
    const own = await s.call('/_larder/stats?tenant=acme', { token: TOKENS.acme })
    assert.equal(own.status, 200)
    assert.equal(own.body.tenant, 'acme')
    assert.ok(own.body.counters.hits >= 1)
    assert.ok(own.body.monitor.topKeys.every((k: any) => k.tenant === 'acme'))
    assert.equal((await s.call('/_larder/stats?tenant=globex', { token: TOKENS.acme })).status, 403)
    assert.equal((await s.call('/_larder/stats?tenant=', { token: TOKENS.admin })).status, 400, 'an empty tenant is an error, never a wildcard')
  })

  test('stats: the TTL report per group under its own key; a tenant sees only its own figures', async () => {
    // An entry replaced after an invalidation ended "invalidated before expiry": acme once, globex twice.
    for (const [tenant, times] of [['acme', 1], ['globex', 2]] as const) {
      for (let i = 0; i < times; i++) {
        await seed(tenant, 'ttl-report', ['ttl-report'])
        await cache.tenant(tenant).invalidateTags(['ttl-report'])
      }
      await seed(tenant, 'ttl-report', ['ttl-report'])
    }
    const g = await s.call('/_larder/stats', { token: TOKENS.reader })
    assert.equal(g.status, 200)
    // The keys older readers know are unchanged.
    assert.ok(g.body.cache && g.body.monitor && g.body.instanceId)
    const all = g.body.ttl.groups.find((r: any) => r.group === 'default')
    assert.equal(all.invalidatedBeforeExpiry, 3)
    assert.equal(all.shares.invalidatedBeforeExpiry, 1)
    assert.equal(all.policyTtlMs, 60_000)
    assert.ok(g.body.ttl.capacity > 0)
    const own = await s.call('/_larder/stats?tenant=acme', { token: TOKENS.acme })
    assert.equal(own.body.ttl.groups.find((r: any) => r.group === 'default').invalidatedBeforeExpiry, 1)
    const none = await s.call('/_larder/stats?tenant=nobody', { token: TOKENS.admin })
    assert.deepEqual(none.body.ttl.groups, [])
  })

  test('purge: a tenant token cannot purge another tenant (403, nothing dropped)', async () => {
    await seed('globex', 'product:7', ['product:7'])
    const r = await s.call('/_larder/purge', { method: 'POST', token: TOKENS.acme, json: { tenant: 'globex', tags: ['product:7'] } })
    assert.equal(r.status, 403)
    assert.deepEqual(await cache.tenant('globex').get('product:7'), { tenant: 'globex', key: 'product:7' })
  })

  test('purge by tag drops only that tenant, answers { purged, id } and is audited', async () => {
    await seed('acme', 'product:42', ['product:42'])
    await seed('globex', 'product:42', ['product:42'])
    const r = await s.call('/_larder/purge', { method: 'POST', token: TOKENS.acme, json: { tenant: 'acme', tags: ['product:42'] } })
    assert.equal(r.status, 200)
    assert.deepEqual(Object.keys(r.body).sort(), ['id', 'purged', 'soft', 'tenant'])
    assert.equal(r.body.purged, 1)
    assert.ok(r.body.id > 0)
    assert.equal(await cache.tenant('acme').get('product:42'), undefined)
    assert.deepEqual(await cache.tenant('globex').get('product:42'), { tenant: 'globex', key: 'product:42' })
    const line = audit.find((l) => l.action === 'purge' && l.id === r.body.id)
    assert.ok(line, 'the purge is in the audit log')
    assert.equal(line.who, 'acme-backend')
    assert.equal(line.tenant, 'acme')
    assert.equal(line.purged, 1)
    assert.equal(line.tags, 1)
    assert.ok(!JSON.stringify(audit).includes(TOKENS.acme), 'tokens are never logged')
  })

  test('purge without a tenant uses the tenant the host resolved; keys and soft purges work', async () => {
    await seed('acme', 'cart:9')
    const r = await s.call('/_larder/purge', { method: 'POST', token: TOKENS.acme, json: { keys: ['cart:9'], soft: true } })
    assert.equal(r.status, 200)
    const entry = (await cache.log.read(r.body.id - 1, 10)).entries.find((e) => e.id === r.body.id)
    assert.equal(entry?.kind, 'soft')
    assert.deepEqual(entry?.keys, ['cart:9'])
    assert.equal(entry?.tenant, 'acme')
  })

  test('purge rejects bad input with a 4xx that says what is wrong', async () => {
    const bad = async (body: string, re: RegExp, status = 400) => {
      const r = await s.call('/_larder/purge', { method: 'POST', token: TOKENS.admin, body, headers: { 'content-type': 'application/json' } })
      assert.equal(r.status, status, body.slice(0, 60))
      assert.match(r.body.error.message, re)
    }
    await bad('{nope', /not valid JSON/)
    await bad('[1]', /JSON object/)
    await bad('{"tenant":"acme"}', /at least one of/)
    await bad('{"tenant":"acme","tags":"x"}', /"tags" must be an array/)
    await bad('{"tenant":"acme","tags":[""]}', /tags\[0\]/)
    await bad('{"tenant":"acme","tags":["a"],"soft":"yes"}', /"soft"/)
    await bad('{"tenant":"acme","tags":["a"],"pattern":"*"}', /unknown field "pattern"/)
    await bad('{"tenant":"a\\u0000b","tags":["a"]}', /"tenant"/)
    await bad('{"tenant":"acme","urls":["/p/1"]}', /"urls" purges need the HTTP cache/)
    await bad(JSON.stringify({ tenant: 'acme', tags: Array.from({ length: 1001 }, (_, i) => `t${i}`) }), /at most 1000|larger than 4096/, 413)
    await bad(JSON.stringify({ tenant: 'acme', tags: ['x'.repeat(5000)] }), /larger than 4096 bytes/, 413)
    assert.equal((await s.call('/_larder/purge', { token: TOKENS.admin })).status, 405)
  })

  test('a tag with pattern characters is data: purging "*" drops nothing else', async () => {
    await seed('acme', 'star:1', ['product:1'])
    const r = await s.call('/_larder/purge', { method: 'POST', token: TOKENS.admin, json: { tenant: 'acme', tags: ['*', 'product:*', '?'] } })
    assert.equal(r.status, 200)
    assert.equal(r.body.purged, 0)
    assert.ok(await cache.tenant('acme').get('star:1'))
  })

  test('clear bumps the tenant generation; namespace clears only the namespace', async () => {
    const t = cache.tenant('initech')
    await t.set('a', 1)
    await t.namespace('search').set('q:shoes', [1, 2])
    await t.namespace('other').set('x', 3)
    assert.equal((await s.call('/_larder/clear', { method: 'POST', token: TOKENS.acme, json: { tenant: 'initech' } })).status, 403)
    assert.equal((await s.call('/_larder/clear', { method: 'POST', token: TOKENS.admin, json: {} })).status, 400)
    const ns = await s.call('/_larder/clear', { method: 'POST', token: TOKENS.admin, json: { tenant: 'initech', namespace: 'search' } })
    assert.equal(ns.status, 200)
    assert.ok(ns.body.id > 0)
    assert.equal(await t.namespace('search').get('q:shoes'), undefined)
    assert.equal(await t.namespace('other').get('x'), 3)
    assert.equal(await t.get('a'), 1)
    const all = await s.call('/_larder/clear', { method: 'POST', token: TOKENS.admin, json: { tenant: 'initech' } })
    assert.equal(all.status, 200)
    assert.equal(await t.get('a'), undefined)
    assert.equal(await t.namespace('other').get('x'), undefined)
    assert.ok(audit.some((l) => l.action === 'clear' && l.tenant === 'initech' && l.namespace === 'search' && l.who === 'ops'))
  })

  test('keys: bounded pages with a cursor, literal prefixes, tenant-scoped', async () => {
    for (let i = 0; i < 25; i++) await seed('umbrella', `sku:${String(i).padStart(2, '0')}`)
    await seed('umbrella', 'other:1')
    await seed('acme', 'sku:99')
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const q = `/_larder/keys?tenant=umbrella&prefix=sku:&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`
      const r = await s.call(q, { token: TOKENS.admin })
      assert.equal(r.status, 200)
      assert.ok(r.body.keys.length <= 10)
      seen.push(...r.body.keys)
      cursor = r.body.cursor
      pages++
    } while (cursor && pages < 10)
    assert.equal(pages, 3)
    assert.equal(seen.length, 25)
    assert.ok(seen.every((k) => k.startsWith('sku:')))
    assert.equal(new Set(seen).size, 25)
    const star = await s.call('/_larder/keys?tenant=umbrella&prefix=*', { token: TOKENS.admin })
    assert.deepEqual(star.body.keys, [], '"*" is a literal prefix, not a glob')
    assert.equal((await s.call('/_larder/keys?tenant=umbrella&limit=51', { token: TOKENS.admin })).status, 400)
    assert.equal((await s.call('/_larder/keys?tenant=umbrella&limit=abc', { token: TOKENS.admin })).status, 400)
    assert.equal((await s.call('/_larder/keys?prefix=sku', { token: TOKENS.admin })).status, 400)
    assert.equal((await s.call('/_larder/keys?tenant=umbrella', { token: TOKENS.acme })).status, 403)
    const own = await s.call('/_larder/keys?tenant=acme&prefix=sku:', { token: TOKENS.acme })
    assert.deepEqual(own.body.keys, ['sku:99'])
  })

  test('warm: admin only; runs a plan and reports progress', async () => {
    assert.equal((await s.call('/_larder/warm', { method: 'POST', token: TOKENS.acme, json: { plan: 'hot' } })).status, 403)
    assert.equal((await s.call('/_larder/warm', { method: 'POST', token: TOKENS.admin, json: { plan: 'nope' } })).status, 400)
    const r = await s.call('/_larder/warm', { method: 'POST', token: TOKENS.admin, json: { plan: 'hot', wait: true } })
    assert.equal(r.status, 200)
    assert.equal(r.body.total, 3)
    assert.equal(r.body.loaded, 3)
    assert.equal(origin, 3)
    assert.deepEqual(await cache.tenant('acme').get('warm:2'), { id: '2' })
    const again = await s.call('/_larder/warm', { method: 'POST', token: TOKENS.admin, json: { plan: 'hot', wait: true } })
    assert.equal(again.body.skipped, 3, 'already cached: no origin call')
    assert.equal(origin, 3)
    const p = await s.call('/_larder/warm', { token: TOKENS.reader })
    assert.deepEqual(p.body.plans, ['hot'])
    assert.equal(p.body.progress[0].state, 'done')
    assert.ok(audit.some((l) => l.action === 'warm' && l.plan === 'hot' && l.who === 'ops'))
  })

  test('dashboard page is served; the feed streams snapshots and is bounded', async () => {
    const page = await s.call('/_larder/dashboard')
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /text\/html/)
    assert.match(page.text, /<title>Larder dashboard<\/title>/)
    assert.equal((await s.call('/_larder/dashboard/feed')).status, 401)
    assert.equal((await s.call('/_larder/dashboard/feed', { token: TOKENS.acme })).status, 403)
    const controllers = [new AbortController(), new AbortController()]
    const open = async (c: AbortController) => fetch(`${s.url}/_larder/dashboard/feed`, { headers: { authorization: `Bearer ${TOKENS.reader}` }, signal: c.signal })
    const a = await open(controllers[0]!)
    assert.equal(a.status, 200)
    assert.match(a.headers.get('content-type') ?? '', /text\/event-stream/)
    const reader = a.body!.getReader()
    let text = ''
    while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value)
    assert.match(text, /event: stats\ndata: \{/)
    const frame = JSON.parse(text.split('data: ')[1]!.split('\n')[0]!)
    assert.ok('monitor' in frame && 'cache' in frame)
    const b = await open(controllers[1]!)
    assert.equal(b.status, 200)
    const third = await s.call('/_larder/dashboard/feed', { token: TOKENS.reader })
    assert.equal(third.status, 503, 'maxFeeds bounds the feeds')
    for (const c of controllers) c.abort()
    await reader.cancel().catch(() => {})
  })

  test('through the gateway (assembleGateway): the admin purge checks the token, purges the HTTP cache by URL and writes the audit line; another tenant is refused', async () => {
    let asked = 0
    const origin = createServer((_req, res) => {
      asked++
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' })
      res.end(`answer ${asked}`)
    })
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
    const lines: Record<string, unknown>[] = []
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _enc, cb) {
          for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
          cb()
        },
      }),
    )
    const gwCache = createCache({ instanceId: 'admin-through-gateway' })
    const auth = createAuthorizer([{ name: 'acme-backend', token: TOKENS.acme, scopes: ['tenant:acme'] }])
    const routes: LarderRoute[] = []
    const gateway = createGateway({ origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`, cache: gwCache, auth, routes, logger, tenantHeader: 'x-tenant-id' })
    const parts = assembleGateway({ cache: gwCache, gateway, auth, routes })
    const { port } = await gateway.listen(0, '127.0.0.1')
    const base = `http://127.0.0.1:${port}`
    const page = async () => (await fetch(`${base}/products/1`, { headers: { 'x-tenant-id': 'acme' } })).text()
    const purge = (token: string | undefined, json: unknown) =>
      fetch(`${base}/_larder/purge`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(json) })
    try {
      const first = await page()
      assert.equal(await page(), first, 'cached')
      assert.equal((await purge(undefined, { tenant: 'acme', urls: ['/products/1'] })).status, 401)
      const refused = await purge(TOKENS.acme, { tenant: 'globex', urls: ['/products/1'] })
      assert.equal(refused.status, 403)
      assert.equal(await page(), first, 'a refused purge purges nothing')
      assert.equal(lines.filter((l) => l.action === 'purge').length, 0, 'and writes no audit line')
      const ok = await purge(TOKENS.acme, { tenant: 'acme', urls: ['/products/1'] })
      assert.equal(ok.status, 200, await ok.clone().text())
      assert.equal((await ok.json()).tenant, 'acme')
      assert.notEqual(await page(), first, 'the URL was purged from the gateway\'s HTTP cache')
      const audit = lines.filter((l) => l.action === 'purge')
      assert.equal(audit.length, 1)
      assert.equal(audit[0]?.who, 'acme-backend')
      assert.equal(audit[0]?.tenant, 'acme')
      assert.equal(audit[0]?.urls, 1)
    } finally {
      await gateway.close()
      await parts.close()
      await gwCache.close()
      await new Promise<void>((r) => origin.close(() => r()))
    }
  })

  test('a purge delegate (createAdminApi({ purge })) receives urls; auth and audit stay in the admin API', async () => {
    const calls: unknown[] = []
    const delegated = createAdminApi({
      cache,
      auth: createAuthorizer([{ name: 'acme-backend', token: TOKENS.acme, scopes: ['tenant:acme'] }]),
      logger: pino({ level: 'silent' }),
      purge: async (tenant, input, host) => {
        calls.push({ tenant, input, host })
        return { id: 99, purged: 3 }
      },
    })
    const d = await serve([delegated.route])
    try {
      const r = await d.call('/_larder/purge', { method: 'POST', token: TOKENS.acme, json: { urls: ['/products/1', 'https://shop.example/p?x=1'], tags: ['p'], host: 'Shop.Example' } })
      assert.equal(r.status, 200)
      assert.deepEqual(r.body, { tenant: 'acme', purged: 3, id: 99, soft: false, host: 'shop.example', hostFrom: 'body' })
      assert.deepEqual(calls, [{ tenant: 'acme', input: { tags: ['p'], keys: undefined, urls: ['/products/1', 'https://shop.example/p?x=1'], soft: false }, host: 'shop.example' }])
      // Without a host, paths resolve against the request's own Host, and the answer says so.
      const noHost = await d.call('/_larder/purge', { method: 'POST', token: TOKENS.acme, json: { urls: ['/products/1'] } })
      assert.equal(noHost.body.hostFrom, 'request')
      assert.match(noHost.body.host, /^127\.0\.0\.1:\d+$/)
      calls.pop()
      assert.equal((await d.call('/_larder/purge', { method: 'POST', token: TOKENS.acme, json: { tenant: 'globex', urls: ['/x'] } })).status, 403)
      assert.equal(calls.length, 1, 'a refused purge never reaches the delegate')
    } finally {
      await d.close()
      await delegated.close()
    }
  })

  test('other paths fall through to the host', async () => {
    assert.equal((await s.call('/_larder/unknown', { token: TOKENS.admin })).status, 404)
    assert.equal((await s.call('/products', { token: TOKENS.admin })).status, 404)
  })
})
