// Issue 11 item 5 at the hub: anonymous streams (tenant chosen by a header) never get live
// values marked `public: false` (event rules' notify payloads), live or replayed; streams
// opened with a signed token do. With a tokenSecret, anonymous streams are off by default.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createCache } from '../../src/core/cache.ts'
import { createEventProcessor } from '../../src/events/processor.ts'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { signStreamToken } from '../../src/realtime/index.ts'
import type { SseMessage } from '../../src/realtime/client/sse-parser.ts'
import { ofType, openStream, payload, startHubServer } from './helpers.ts'

const SECRET = 'hub-secret-0123456789'
const acme = { 'x-tenant': 'acme' }
const updates = (es: SseMessage[]) => es.filter(ofType('update')).map((e) => payload(e).topic)

describe('SSE hub: private live values', () => {
  test('a tokenSecret turns anonymous streams off unless anonymous: true', async () => {
    const log = new MemoryLog()
    const strict = await startHubServer({ log, tokenSecret: SECRET })
    try {
      const none = await openStream(strict.port, '?topics=p', acme)
      assert.equal(none.status, 401)
      assert.equal(none.headers['www-authenticate'], 'Bearer')
    } finally {
      await strict.close()
    }
    const open = await startHubServer({ log, tokenSecret: SECRET, anonymous: true })
    try {
      const s = await openStream(open.port, '?topics=p', acme)
      assert.equal(s.status, 200)
      s.close()
    } finally {
      await open.close()
    }
  })

  test('live and replayed: anonymous streams skip public:false values, token streams get them', async () => {
    const log = new MemoryLog()
    const srv = await startHubServer({ log, tokenSecret: SECRET, anonymous: true })
    const tok = signStreamToken(SECRET, { tenant: 'acme' })
    try {
      const anon = await openStream(srv.port, '?topics=order:*,stock:*', acme)
      const auth = await openStream(srv.port, `?topics=order:*,stock:*&token=${tok}`)
      await Promise.all([anon, auth].map((s) => s.waitFor((es) => es.some(ofType('ready')))))
      const mark = await log.append({ kind: 'hard', tenant: 'acme', tags: ['elsewhere'] })
      await srv.hub.publishLive('acme', 'order:1', { email: 'a@example.test' }, { public: false })
      await srv.hub.publishLive('acme', 'stock:1', { qty: 2 })
      await auth.waitFor((es) => updates(es).includes('stock:1'))
      await anon.waitFor((es) => updates(es).includes('stock:1'))
      assert.deepEqual(updates(auth.events), ['order:1', 'stock:1'])
      assert.deepEqual(updates(anon.events), ['stock:1'])
      // A resume replays the log: the same rule applies.
      const again = await openStream(srv.port, '?topics=order:*,stock:*', { ...acme, 'last-event-id': String(mark.id) })
      await again.waitFor((es) => es.some((e) => e.type === 'ready' && payload(e).resumed === true))
      assert.deepEqual(updates(again.events), ['stock:1'])
      for (const s of [anon, auth, again]) s.close()
    } finally {
      await srv.close()
    }
  })

  test("an event rule's notify is private unless notify_public: true", async () => {
    const log = new MemoryLog()
    const cache = createCache({ log })
    const processor = createEventProcessor({
      cache,
      rules: {
        events: {
          'order.placed': { fields: ['orderId'], notify: ['order:{orderId}'] },
          'stock.changed': { fields: ['productId'], notify: ['stock:{productId}'], notify_public: true },
        },
      },
    })
    const srv = await startHubServer({ log })
    try {
      const anon = await openStream(srv.port, '?topics=order:*,stock:*', acme)
      await anon.waitFor((es) => es.some(ofType('ready')))
      await processor.publish({ id: 'o1', type: 'order.placed', tenant: 'acme', data: { orderId: 5, email: 'b@example.test' } })
      await processor.publish({ id: 's1', type: 'stock.changed', tenant: 'acme', data: { productId: 9, qty: 0 } })
      await anon.waitFor((es) => updates(es).includes('stock:9'))
      assert.deepEqual(updates(anon.events), ['stock:9'])
      assert.ok(!JSON.stringify(anon.events).includes('b@example.test'))
      anon.close()
    } finally {
      await srv.close()
      await processor.close()
      await cache.close()
    }
  })
})
