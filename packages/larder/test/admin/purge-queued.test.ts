// docs/invariants.md R1: an invalidation the shared log did not take is never answered with
// the 200 of an applied purge. A log that queues every append stands in for an unreachable
// Redis (the real thing: test/gateway/outage.test.ts).
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createAdminApi } from '../../src/admin/index.ts'
import type { Cache } from '../../src/core/api.ts'
import { createAuthorizer } from '../../src/core/auth.ts'
import type { LogAppend, LogEntry } from '../../src/core/types.ts'
import { createCache } from '../../src/index.ts'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { type Served, serve } from './serve.ts'

/** Takes appends locally but says they did not reach the shared log (like RedisLog during an outage). */
class QueueingLog extends MemoryLog {
  override async appendMany(inputs: readonly LogAppend[]): Promise<LogEntry[]> {
    return (await super.appendMany(inputs)).map((e) => ({ ...e, queued: true as const }))
  }
}

const TOKEN = 'admin-token-0001'

describe('admin purge and clear when the invalidation is only queued', () => {
  let cache: Cache
  let s: Served
  before(async () => {
    cache = createCache({ log: new QueueingLog() })
    const admin = createAdminApi({ cache, auth: createAuthorizer([{ name: 'ops', token: TOKEN, scopes: ['admin'] }]) })
    s = await serve([admin.route])
  })
  after(async () => {
    await s.close()
    await cache.close()
  })

  test('the library says queued; POST /_larder/purge and /_larder/clear answer 202 with queued: true', async () => {
    await cache.tenant('acme').set('k', 1, { tags: ['t'] })
    const r = await cache.tenant('acme').invalidateTags(['t'])
    assert.equal(r.queued, true)
    assert.equal(await cache.tenant('acme').get('k'), undefined, 'applied on this instance all the same')
    const p = await s.call('/_larder/purge', { method: 'POST', token: TOKEN, json: { tenant: 'acme', tags: ['t'] } })
    assert.equal(p.status, 202, p.text)
    assert.equal(p.body.queued, true)
    const c = await s.call('/_larder/clear', { method: 'POST', token: TOKEN, json: { tenant: 'acme' } })
    assert.equal(c.status, 202, c.text)
    assert.equal(c.body.queued, true)
  })
})
