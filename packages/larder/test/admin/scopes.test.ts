// Issue 13 "Auth and errors": one requireScope for every route (401 with WWW-Authenticate,
// 403 without the scope) and scopes that bind one action to one tenant.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import { createAdminApi } from '../../src/admin/index.ts'
import type { Cache } from '../../src/core/api.ts'
import { createAuthorizer } from '../../src/core/auth.ts'
import { createEventIngest } from '../../src/events/ingest.ts'
import { createEventProcessor, type EventProcessor } from '../../src/events/processor.ts'
import { createCache } from '../../src/index.ts'
import { createMetrics, type Metrics } from '../../src/metrics/index.ts'
import { type Served, serve } from './serve.ts'

const T = {
  admin: 'scopes-admin-0001',
  publisher: 'scopes-publish-01',
  stats: 'scopes-stats-0001',
  purger: 'scopes-purge-0001',
  legacy: 'scopes-legacy-001',
  reader: 'scopes-reader-001',
}

const RULES = { version: 1 as const, events: { 'product.updated': { fields: ['productId'], invalidate: ['product:{productId}'] } } }

describe('scopes and one requireScope across the admin API, metrics and event ingest', () => {
  let cache: Cache
  let admin: ReturnType<typeof createAdminApi>
  let metrics: Metrics
  let processor: EventProcessor
  let s: Served
  const auth = createAuthorizer([
    { name: 'ops', token: T.admin, scopes: ['admin'] },
    { name: 'acme-publisher', token: T.publisher, scopes: ['events:publish@acme'] },
    { name: 'acme-dashboard', token: T.stats, scopes: ['read:stats@acme'] },
    { name: 'acme-purger', token: T.purger, scopes: ['purge@acme'] },
    { name: 'acme-legacy', token: T.legacy, scopes: ['events:publish', 'tenant:acme'] },
    { name: 'grafana', token: T.reader, scopes: ['read:stats'] },
  ])

  before(async () => {
    cache = createCache({ instanceId: 'scopes-test' })
    admin = createAdminApi({ cache, auth, logger: pino({ level: 'silent' }) })
    metrics = createMetrics({ auth })
    processor = createEventProcessor({ cache, rules: RULES })
    s = await serve([createEventIngest({ processor, auth }).route, metrics.route, admin.route], 'acme')
  })
  after(async () => {
    await s.close()
    await admin.close()
    metrics.close()
    await processor.close()
    await cache.close()
  })

  const purge = (token: string, tenant = 'acme') => s.call('/_larder/purge', { method: 'POST', token, json: { tenant, tags: ['x'] } })
  const publish = (token: string, tenant = 'acme') => s.call('/_larder/events', { method: 'POST', token, json: { id: `e-${Math.random()}`, type: 'product.updated', tenant, data: { productId: 1 } } })

  test('every route answers 401 with WWW-Authenticate: Bearer without a valid token', async () => {
    const calls = [
      () => s.call('/_larder/stats'),
      () => s.call('/_larder/stats', { token: 'not-a-token-at-all' }),
      () => s.call('/_larder/purge', { method: 'POST', json: { tags: ['x'] } }),
      () => s.call('/_larder/clear', { method: 'POST', json: { tenant: 'acme' } }),
      () => s.call('/_larder/keys?tenant=acme'),
      () => s.call('/_larder/warm', { method: 'POST', json: { plan: 'x' } }),
      () => s.call('/metrics'),
      () => s.call('/_larder/events', { method: 'POST', json: [] }),
    ]
    for (const [i, call] of calls.entries()) {
      const r = await call()
      assert.equal(r.status, 401, `call ${i}`)
      assert.equal(r.headers.get('www-authenticate'), 'Bearer', `call ${i}`)
      assert.equal(r.body.error.code, 'E_UNAUTHORIZED')
    }
  })

  test('events:publish@acme publishes acme events and nothing else', async () => {
    assert.equal((await publish(T.publisher)).status, 200)
    const noTenant = await s.call('/_larder/events', { method: 'POST', token: T.publisher, json: { id: 'nt-1', type: 'product.updated', data: { productId: 2 } } })
    assert.equal(noTenant.status, 200, 'an event without a tenant takes the one the token may publish for')
    assert.equal((await publish(T.publisher, 'globex')).status, 403)
    for (const r of [await purge(T.publisher), await s.call('/_larder/clear', { method: 'POST', token: T.publisher, json: { tenant: 'acme' } }), await s.call('/_larder/keys?tenant=acme', { token: T.publisher }), await s.call('/_larder/stats?tenant=acme', { token: T.publisher })]) {
      assert.equal(r.status, 403)
      assert.equal(r.headers.get('www-authenticate'), null, 'a 403 is not an authentication challenge')
      assert.match(r.body.error.message, /acme-publisher/)
    }
  })

  test('read:stats@acme reads acme stats only', async () => {
    assert.equal((await s.call('/_larder/stats?tenant=acme', { token: T.stats })).status, 200)
    assert.equal((await s.call('/_larder/stats?tenant=globex', { token: T.stats })).status, 403)
    assert.equal((await s.call('/_larder/stats', { token: T.stats })).status, 403)
    assert.equal((await s.call('/metrics', { token: T.stats })).status, 403, 'metrics span every tenant')
    assert.equal((await purge(T.stats)).status, 403)
    assert.equal((await publish(T.stats)).status, 403)
  })

  test('purge@acme purges acme only', async () => {
    assert.equal((await purge(T.purger)).status, 200)
    const other = await purge(T.purger, 'globex')
    assert.equal(other.status, 403)
    assert.match(other.body.error.message, /may not purge tenant "globex" \(needs purge@globex/)
    assert.equal((await s.call('/_larder/clear', { method: 'POST', token: T.purger, json: { tenant: 'acme' } })).status, 403)
    assert.equal((await publish(T.purger)).status, 403)
  })

  test('tenant:<id> keeps its old meaning (with events:publish: publish too)', async () => {
    assert.equal((await purge(T.legacy)).status, 200)
    assert.equal((await s.call('/_larder/clear', { method: 'POST', token: T.legacy, json: { tenant: 'acme' } })).status, 200)
    assert.equal((await s.call('/_larder/stats?tenant=acme', { token: T.legacy })).status, 200)
    assert.equal((await publish(T.legacy)).status, 200)
    assert.equal((await purge(T.legacy, 'globex')).status, 403)
  })

  test('read:stats reads global stats and metrics but purges nothing', async () => {
    assert.equal((await s.call('/_larder/stats', { token: T.reader })).status, 200)
    assert.equal((await s.call('/metrics', { token: T.reader })).status, 200)
    assert.equal((await purge(T.reader)).status, 403)
  })

  test('unknown or malformed scopes are refused at start-up', () => {
    assert.throws(() => createAuthorizer([{ name: 'x', token: 'abcdefgh1', scopes: ['purge'] }]), { code: 'E_INVALID_OPTION' })
    assert.throws(() => createAuthorizer([{ name: 'x', token: 'abcdefgh1', scopes: ['delete@acme'] }]), /unknown scope "delete@acme"/)
    assert.throws(() => createAuthorizer([{ name: 'x', token: 'abcdefgh1', scopes: ['purge@@bad'] }]), /valid tenant id/)
  })
})
