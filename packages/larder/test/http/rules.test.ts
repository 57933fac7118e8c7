import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  cacheStatus,
  compileRoutes,
  eventTags,
  freshnessLifetime,
  hopByHop,
  initialAge,
  invalidationTargets,
  isStorable,
  matchRoute,
  notModified,
  parseAge,
  parseCacheControl,
  parseEtagList,
  parseHttpDate,
  parseTargeted,
  parseVary,
  requestDirectives,
  responseDirectives,
  reuseDecision,
  routeTags,
  type StoredFacts,
  surrogateKeys,
  updateHeaders,
  validatorsMatch,
  varyKey,
  weakMatch,
} from '../../src/http/index.ts'
import { ifRangeMatches, parseRange } from '../../src/http/range.ts'
import { keyQuery } from '../../src/http/routes.ts'

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0)
const httpDate = (ms: number) => new Date(ms).toUTCString()

describe('Cache-Control parsing (RFC 9111 §5.2)', () => {
  it('reads directives case-insensitively, with quoted and token arguments', () => {
    const cc = parseCacheControl('Public, MAX-AGE="60", s-maxage=30, stale-while-revalidate=5, no-cache="set-cookie, x-a"')
    assert.equal(cc.public, true)
    assert.equal(cc.maxAge, 60)
    assert.equal(cc.sMaxAge, 30)
    assert.equal(cc.staleWhileRevalidate, 5)
    assert.equal(cc.noCache, true)
    assert.deepEqual(cc.noCacheFields, ['set-cookie', 'x-a'])
  })
  it('marks malformed numbers invalid instead of guessing', () => {
    assert.equal(parseCacheControl('max-age=-1').maxAge, -1)
    assert.equal(parseCacheControl('max-age=1.5').maxAge, -1)
    assert.equal(parseCacheControl('max-age=abc').maxAge, -1)
    assert.equal(parseCacheControl('max-age').maxAge, -1)
    assert.equal(parseCacheControl('max-age=99999999999999').maxAge, 2147483648)
  })
  it('keeps the most cautious value when a directive repeats', () => {
    assert.equal(parseCacheControl('max-age=3600, max-age=1').maxAge, 1)
    assert.equal(parseCacheControl(['max-age=3600', 'max-age=x']).maxAge, -1)
  })
  it('never throws on garbage and ignores unknown extensions', () => {
    for (const junk of ['', ',,,', '"', '=', 'max-age="', 'a=b=c, ,', '\u0000\u0001', 'x'.repeat(10000)]) parseCacheControl(junk)
    assert.deepEqual(parseCacheControl('foo=bar, community="UCI"'), {})
  })
  it('treats an invalid max-age as stale', () => {
    const dirs = responseDirectives({ 'cache-control': 'max-age=abc' })
    assert.equal(freshnessLifetime(200, {}, dirs, T0).seconds, 0)
  })
  it('request directives: max-stale without value and Pragma without Cache-Control (§5.4)', () => {
    assert.equal(requestDirectives({ 'cache-control': 'max-stale' }).maxStale, 2147483648)
    assert.equal(requestDirectives({ pragma: 'no-cache' }).noCache, true)
    assert.equal(requestDirectives({ pragma: 'no-cache', 'cache-control': 'max-age=5' }).noCache, undefined)
  })
})

describe('CDN-Cache-Control (RFC 9213)', () => {
  it('wins over Cache-Control and Expires when valid', () => {
    const h = { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=600', expires: httpDate(T0 - 1000) }
    const dirs = responseDirectives(h)
    assert.equal(dirs.targeted, true)
    assert.equal(freshnessLifetime(200, h, dirs, T0).seconds, 600)
    assert.equal(isStorable('GET', {}, 200, h, dirs, {}).ok, true)
  })
  it('falls back to Cache-Control when the targeted field is not a valid dictionary', () => {
    assert.equal(parseTargeted('max-age=1.5x'), undefined)
    assert.equal(parseTargeted('Max-Age=5'), undefined)
    assert.equal(responseDirectives({ 'cdn-cache-control': 'max-age="abc"', 'cache-control': 'max-age=7' }).cc.maxAge, 7)
  })
  it('follows the configured target list order', () => {
    const h = { 'cdn-cache-control': 'max-age=10', 'larder-cache-control': 'max-age=99' }
    assert.equal(responseDirectives(h, ['larder-cache-control', 'cdn-cache-control']).cc.maxAge, 99)
    assert.equal(responseDirectives(h, ['cdn-cache-control']).cc.maxAge, 10)
  })
  it('honours private / no-store in the targeted field', () => {
    const h = { 'cdn-cache-control': 'private', 'cache-control': 'max-age=60' }
    assert.equal(isStorable('GET', {}, 200, h, responseDirectives(h), {}).ok, false)
  })
})

describe('storability (RFC 9111 §3)', () => {
  const ok = (req: Record<string, string>, status: number, res: Record<string, string>) => isStorable('GET', req, status, res, responseDirectives(res), requestDirectives(req))
  it('refuses no-store, private, Vary: *, 206 and unknown statuses without freshness', () => {
    assert.equal(ok({}, 200, { 'cache-control': 'no-store, max-age=60' }).reason, 'no-store')
    assert.equal(ok({}, 200, { 'cache-control': 'private, max-age=60' }).reason, 'private')
    assert.equal(ok({}, 200, { 'cache-control': 'max-age=60', vary: 'accept, *' }).reason, 'vary-star')
    assert.equal(ok({}, 206, { 'cache-control': 'max-age=60' }).ok, false)
    assert.equal(ok({}, 302, {}).ok, false)
    assert.equal(ok({}, 302, { 'cache-control': 'max-age=60' }).ok, true)
    assert.equal(ok({ 'cache-control': 'no-store' }, 200, { 'cache-control': 'max-age=60' }).ok, false)
  })
  it('stores Authorization responses only with public, s-maxage or must-revalidate (§3.5)', () => {
    const auth = { authorization: 'Bearer x' }
    assert.equal(ok(auth, 200, { 'cache-control': 'max-age=60' }).reason, 'authorization')
    assert.equal(ok(auth, 200, { 'cache-control': 'public, max-age=60' }).ok, true)
    assert.equal(ok(auth, 200, { 'cache-control': 's-maxage=60' }).ok, true)
    assert.equal(ok(auth, 200, { 'cache-control': 'max-age=60, must-revalidate' }).ok, true)
  })
  it('stores answers to Cookie requests only when the origin or the route marks them shared (stricter than §3.5)', () => {
    const cookie = { cookie: 'sid=alice' }
    assert.equal(ok(cookie, 200, {}).reason, 'cookie')
    assert.equal(ok(cookie, 200, { 'cache-control': 'max-age=60' }).reason, 'cookie')
    assert.equal(ok(cookie, 200, { 'cache-control': 'public, max-age=60' }).ok, true)
    assert.equal(ok(cookie, 200, { 'cache-control': 's-maxage=60' }).ok, true)
    assert.equal(ok(cookie, 200, { 'cache-control': 'max-age=60, must-revalidate' }).ok, true)
    // A route default folded into cc is not the origin saying "shared"; the route's own opt-in is.
    const h = { 'cache-control': 'max-age=60' }
    const folded = { cc: { maxAge: 60, sMaxAge: 60 }, targeted: false, origin: { maxAge: 60 } }
    assert.equal(isStorable('GET', cookie, 200, h, folded, {}).reason, 'cookie')
    assert.equal(isStorable('GET', { authorization: 'Bearer x' }, 200, h, folded, {}).reason, 'authorization')
    assert.equal(isStorable('GET', cookie, 200, h, { ...folded, routeShared: true }, {}).ok, true)
    // routeShared never makes Set-Cookie shareable.
    assert.equal(isStorable('GET', cookie, 200, { ...h, 'set-cookie': 'sid=2' }, { ...folded, routeShared: true }, {}).reason, 'set-cookie')
  })
  it('stores Set-Cookie responses only when the origin marked them shared', () => {
    assert.equal(ok({}, 200, { 'cache-control': 'max-age=60', 'set-cookie': 'sid=1' }).reason, 'set-cookie')
    assert.equal(ok({}, 200, { 'cache-control': 'public, max-age=60', 'set-cookie': 'sid=1' }).ok, true)
  })
  it('must-understand overrides no-store for understood statuses only (§5.2.2.3)', () => {
    assert.equal(ok({}, 200, { 'cache-control': 'must-understand, no-store, max-age=60' }).ok, true)
    assert.equal(ok({}, 299, { 'cache-control': 'must-understand, no-store, max-age=60' }).ok, false)
  })
  it('only GET is stored', () => {
    const h = { 'cache-control': 'max-age=60' }
    assert.equal(isStorable('POST', {}, 200, h, responseDirectives(h), {}).ok, false)
  })
})

describe('freshness lifetime (§4.2.1) and heuristics (§4.2.2)', () => {
  it('s-maxage > max-age > Expires - Date', () => {
    const h = { 'cache-control': 'max-age=100, s-maxage=5', date: httpDate(T0), expires: httpDate(T0 + 1e6) }
    assert.equal(freshnessLifetime(200, h, responseDirectives(h), T0).seconds, 5)
    const h2 = { 'cache-control': 'max-age=100', date: httpDate(T0), expires: httpDate(T0 + 1e6) }
    assert.equal(freshnessLifetime(200, h2, responseDirectives(h2), T0).seconds, 100)
    const h3 = { date: httpDate(T0), expires: httpDate(T0 + 50_000) }
    assert.equal(freshnessLifetime(200, h3, responseDirectives(h3), T0).seconds, 50)
  })
  it('an invalid Expires means already expired (§5.3)', () => {
    for (const expires of ['0', '-1', 'yesterday', 'Thu, 01 Foo 2026 00:00:00 GMT']) {
      const h = { date: httpDate(T0), expires, 'last-modified': httpDate(T0 - 1e9) }
      assert.equal(freshnessLifetime(200, h, responseDirectives(h), T0).seconds, 0, expires)
    }
  })
  it('heuristic: 10% of Date - Last-Modified, capped, only for heuristically cacheable statuses', () => {
    const h = { date: httpDate(T0), 'last-modified': httpDate(T0 - 100_000_000) }
    const l = freshnessLifetime(200, h, responseDirectives(h), T0)
    assert.deepEqual(l, { seconds: 10_000, heuristic: true })
    assert.equal(freshnessLifetime(200, { date: httpDate(T0), 'last-modified': httpDate(T0 - 1e12) }, responseDirectives({}), T0).seconds, 86400)
    assert.equal(freshnessLifetime(302, h, responseDirectives(h), T0).seconds, 0)
  })
  it('parses the three HTTP-date formats and rejects others', () => {
    const want = Date.UTC(1994, 10, 6, 8, 49, 37)
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), want)
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), want)
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), want)
    assert.equal(parseHttpDate('2026-11-21T00:00:00Z'), undefined)
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 PST'), undefined)
  })
})

describe('Age (§4.2.3, §5.1)', () => {
  it('ignores malformed values and uses the first of several', () => {
    assert.equal(parseAge('abc'), 0)
    assert.equal(parseAge('-10'), 0)
    assert.equal(parseAge('1.5'), 0)
    assert.equal(parseAge('7200, 0'), 7200)
    assert.equal(parseAge(['0', '7200']), 0)
    assert.equal(parseAge('99999999999'), 2147483648)
  })
  it('corrected initial age takes the larger of apparent age and Age + delay', () => {
    assert.equal(initialAge({ date: httpDate(T0 - 10_000), age: '3' }, T0 - 2000, T0), 10)
    assert.equal(initialAge({ date: httpDate(T0), age: '30' }, T0 - 2000, T0), 32)
  })
})

describe('reuse decision (§4.2, §4.2.4, RFC 5861)', () => {
  const facts = (o: Partial<StoredFacts> = {}): StoredFacts => ({ responseTime: T0, initialAge: 0, lifetime: 60, noCache: false, mustRevalidate: false, swr: 0, sie: 0, ...o })
  it('fresh, then stale', () => {
    assert.equal(reuseDecision(facts(), {}, T0 + 59_000).use, 'fresh')
    assert.equal(reuseDecision(facts(), {}, T0 + 61_000).use, 'revalidate')
  })
  it('stale-while-revalidate window, and must-revalidate forbidding it', () => {
    assert.equal(reuseDecision(facts({ swr: 30 }), {}, T0 + 80_000).use, 'stale-while-revalidate')
    assert.equal(reuseDecision(facts({ swr: 30 }), {}, T0 + 95_000).use, 'revalidate')
    assert.deepEqual(reuseDecision(facts({ swr: 30, mustRevalidate: true }), {}, T0 + 80_000), { use: 'revalidate', staleIfError: false, staleIfDisconnected: false })
  })
  it('stale-if-error window', () => {
    const d = reuseDecision(facts({ sie: 100 }), {}, T0 + 120_000)
    assert.deepEqual(d, { use: 'revalidate', staleIfError: true, staleIfDisconnected: true })
    assert.equal((reuseDecision(facts({ sie: 10 }), {}, T0 + 120_000) as { staleIfError: boolean }).staleIfError, false)
  })
  it('request directives: no-cache, max-age, min-fresh, max-stale', () => {
    assert.equal(reuseDecision(facts(), { noCache: true }, T0).use, 'revalidate')
    assert.equal(reuseDecision(facts(), { maxAge: 5 }, T0 + 10_000).use, 'revalidate')
    assert.equal(reuseDecision(facts(), { minFresh: 30 }, T0 + 40_000).use, 'revalidate')
    assert.equal(reuseDecision(facts(), { maxStale: 100 }, T0 + 100_000).use, 'stale-ok')
    assert.equal(reuseDecision(facts(), { maxStale: 10 }, T0 + 100_000).use, 'revalidate')
  })
  it('a response that was never fresh is only revalidated: no max-stale, stale-if-error or disconnected reuse', () => {
    const never = facts({ lifetime: 0, neverFresh: true, sie: 3600 })
    assert.deepEqual(reuseDecision(never, { maxStale: 3600 }, T0 + 10_000), { use: 'revalidate', staleIfError: false, staleIfDisconnected: false })
    assert.deepEqual(reuseDecision(never, { staleIfError: 3600 }, T0 + 10_000), { use: 'revalidate', staleIfError: false, staleIfDisconnected: false })
    // The origin's explicit stale-while-revalidate still applies (max-age=0, stale-while-revalidate=N).
    assert.equal(reuseDecision(facts({ lifetime: 0, neverFresh: true, swr: 30 }), { maxStale: 3600 }, T0 + 10_000).use, 'stale-while-revalidate')
  })
  it('response no-cache always revalidates', () => {
    assert.equal(reuseDecision(facts({ noCache: true }), {}, T0).use, 'revalidate')
  })
})

describe('conditional requests (RFC 9110 §13)', () => {
  const stored = { etag: 'W/"v1"', 'last-modified': httpDate(T0 - 60_000), date: httpDate(T0) }
  it('If-None-Match lists with weak comparison, and *', () => {
    assert.equal(notModified('GET', { 'if-none-match': '"x", "v1"' }, stored, T0), true)
    assert.equal(notModified('GET', { 'if-none-match': '"x", W/"v2"' }, stored, T0), false)
    assert.equal(notModified('HEAD', { 'if-none-match': '*' }, stored, T0), true)
    assert.equal(notModified('POST', { 'if-none-match': '*' }, stored, T0), false)
    assert.equal(weakMatch('W/"a"', '"a"'), true)
    assert.deepEqual(parseEtagList('"a", bogus, W/"b"'), ['"a"', 'W/"b"'])
  })
  it('If-None-Match wins over If-Modified-Since (§13.2.2)', () => {
    assert.equal(notModified('GET', { 'if-none-match': '"nope"', 'if-modified-since': httpDate(T0) }, stored, T0), false)
  })
  it('If-Modified-Since against Last-Modified, else Date', () => {
    assert.equal(notModified('GET', { 'if-modified-since': httpDate(T0 - 30_000) }, stored, T0), true)
    assert.equal(notModified('GET', { 'if-modified-since': httpDate(T0 - 90_000) }, stored, T0), false)
    assert.equal(notModified('GET', { 'if-modified-since': 'garbage' }, stored, T0), false)
    assert.equal(notModified('GET', { 'if-modified-since': httpDate(T0) }, { date: httpDate(T0) }, T0), true)
  })
  it('304 updates replace stored fields except Content-Length (§3.2)', () => {
    const merged = updateHeaders({ 'content-length': '10', 'cache-control': 'max-age=1', a: '1', b: '1' }, { 'content-length': '0', 'cache-control': 'max-age=60', a: '2', connection: 'x', x: 'y' }, hopByHop({ connection: 'x' }))
    assert.deepEqual(merged, { 'content-length': '10', 'cache-control': 'max-age=60', a: '2', b: '1' })
  })
  it('selects the stored response by validator (§4.3.4)', () => {
    assert.equal(validatorsMatch({ etag: '"a"' }, { etag: '"a"' }), true)
    assert.equal(validatorsMatch({ etag: '"a"' }, { etag: '"b"' }), false)
    assert.equal(validatorsMatch({ 'last-modified': 'x' }, { 'last-modified': 'y' }), false)
    assert.equal(validatorsMatch({ etag: '"a"' }, {}), true)
  })
})

describe('Vary (§4.1)', () => {
  it('normalizes names and values; absent differs from empty', () => {
    assert.deepEqual(parseVary('Accept-Language, accept-encoding, ACCEPT-language'), ['accept-encoding', 'accept-language'])
    assert.equal(parseVary('a, *'), '*')
    assert.equal(varyKey(['accept'], { accept: 'a,   b' }), varyKey(['accept'], { accept: 'a, b' }))
    assert.notEqual(varyKey(['accept'], {}), varyKey(['accept'], { accept: '' }))
  })
})

describe('invalidation after unsafe methods (§4.4)', () => {
  const u = new URL('http://shop.test/p/1')
  it('target, Location and Content-Location, same origin only, non-error only', () => {
    const got = invalidationTargets('POST', 201, u, { location: '/p/2', 'content-location': 'http://evil.test/p/1' }).map((x) => x.href)
    assert.deepEqual(got, ['http://shop.test/p/1', 'http://shop.test/p/2'])
    assert.deepEqual(invalidationTargets('DELETE', 500, u, {}), [])
    assert.deepEqual(invalidationTargets('GET', 200, u, {}), [])
    assert.equal(invalidationTargets('PATCH', 204, u, { location: 'http://[bad' }).length, 1)
  })
})

describe('headers', () => {
  it('Connection-listed fields are hop-by-hop (RFC 9110 §7.6.1)', () => {
    const hop = hopByHop({ connection: 'close, X-Secret' })
    assert.equal(hop.has('x-secret'), true)
    assert.equal(hop.has('transfer-encoding'), true)
  })
  it('surrogate keys keep pattern characters as data', () => {
    assert.deepEqual(surrogateKeys({ 'surrogate-key': 'product:* cat:[1] a?b', 'cache-tag': 'x, y' }), ['product:*', 'cat:[1]', 'a?b', 'x', 'y'])
    assert.equal(surrogateKeys({ xkey: Array.from({ length: 100 }, (_, i) => `k${i}`).join(' ') }).length, 64)
  })
  it('Cache-Status members (RFC 9211)', () => {
    assert.equal(cacheStatus('larder', 'HIT', { ttl: 12.7 }), 'larder; hit; ttl=12')
    assert.equal(cacheStatus('larder', 'MISS', { fwdStatus: 200, stored: true }), 'larder; fwd=uri-miss; fwd-status=200; stored')
  })
})

describe('byte ranges (RFC 9110 §14)', () => {
  it('single ranges, suffixes, unsatisfiable and ignored forms', () => {
    assert.deepEqual(parseRange('bytes=0-1', 10), { kind: 'partial', start: 0, end: 1 })
    assert.deepEqual(parseRange('bytes=5-', 10), { kind: 'partial', start: 5, end: 9 })
    assert.deepEqual(parseRange('bytes=-3', 10), { kind: 'partial', start: 7, end: 9 })
    assert.deepEqual(parseRange('bytes=20-30', 10), { kind: 'unsatisfiable' })
    assert.deepEqual(parseRange('bytes=0-1,3-4', 10), { kind: 'full' })
    assert.deepEqual(parseRange('items=0-1', 10), { kind: 'full' })
  })
  it('If-Range needs a strong match', () => {
    assert.equal(ifRangeMatches({ 'if-range': '"a"' }, { etag: '"a"' }), true)
    assert.equal(ifRangeMatches({ 'if-range': '"a"' }, { etag: 'W/"a"' }), false)
  })
})

describe('route policies (seed 002 endpoint table)', () => {
  const routes = compileRoutes({
    '/api/v1/products': { ttl: '5m', query: ['page', 'sort'], invalidate_on: ['product_update', 'inventory_change'] },
    '/api/v1/products/{id}': { ttl: '1h', tags: ['product:{id}'], invalidate_on: ['product_update'] },
    '/api/v1/analytics/reports/*': { ttl: '6h' },
  })
  it('matches literal, parameter and rest patterns; most specific first', () => {
    const m = matchRoute(routes, '/api/v1/products/42')
    assert.equal(m?.route.policy.path, '/api/v1/products/{id}')
    assert.deepEqual(routeTags(m as NonNullable<typeof m>), ['route:/api/v1/products/:id', 'product:42'])
    assert.equal(matchRoute(routes, '/api/v1/analytics/reports/a/b')?.route.ttlSeconds, 21600)
    assert.equal(matchRoute(routes, '/api/v1/products/42/x'), undefined)
    assert.equal(matchRoute(routes, '/api/v1/products/*')?.route.policy.path, '/api/v1/products/{id}')
  })
  it('keeps only listed query parameters, sorted', () => {
    const r = matchRoute(routes, '/api/v1/products')?.route
    assert.equal(keyQuery('?utm=1&sort=asc&page=2', r), '?page=2&sort=asc')
    assert.equal(keyQuery('?utm=1', r), '')
  })
  it('exposes invalidate_on as event → route tags', () => {
    assert.deepEqual(eventTags(routes).product_update?.sort(), ['route:/api/v1/products', 'route:/api/v1/products/:id'])
  })
  it('rejects bad config with the field name', () => {
    assert.throws(() => compileRoutes([{ path: 'nope' }]), /must start with/)
    assert.throws(() => compileRoutes({ '/x': { ttl: 'soon' } }), /ttl/)
    assert.throws(() => compileRoutes({ '/x': { shared: 'yes' as unknown as boolean } }), /routes\["\/x"\]\.shared must be true or false/)
  })
})
