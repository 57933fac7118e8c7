import assert from 'node:assert/strict'
import diagnostics_channel from 'node:diagnostics_channel'
import { after, describe, test } from 'node:test'
import { createCache } from '../../src/core/cache.ts'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { FakeClock } from '../../src/testing/fake-clock.ts'
import { type HubServer, ofType, openStream, payload, startHubServer } from './helpers.ts'

const acme = { 'x-tenant': 'acme' }
const globex = { 'x-tenant': 'globex' }

describe('SSE hub: events from the log', () => {
  const log = new MemoryLog()
  let srv: HubServer
  after(async () => {
    await srv?.close()
  })

  test('an invalidation reaches subscribers of a matching topic, with the log id as SSE id', async () => {
    srv = await startHubServer({ log, retryMs: 1234 })
    const s = await openStream(srv.port, '?topics=product:42,category:7', acme)
    assert.equal(s.status, 200)
    assert.match(String(s.headers['content-type']), /^text\/event-stream/)
    assert.equal(s.headers['cache-control'], 'no-store')
    assert.equal(s.headers['x-accel-buffering'], 'no')
    const other = await openStream(srv.port, '?topics=product:43', acme)
    await s.waitFor((es) => es.some(ofType('ready')))
    assert.equal(s.retry, 1234)

    const entry = await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:42'], keys: ['p42'] })
    await s.waitFor((es) => es.some(ofType('invalidate')))
    const ev = s.events.find(ofType('invalidate'))!
    assert.equal(ev.lastEventId, String(entry.id))
    assert.deepEqual(payload(ev), { tags: ['product:42'], keys: ['p42'], soft: false })

    await log.append({ kind: 'soft', tenant: 'acme', tags: ['category:7'] })
    await s.waitFor((es) => es.filter(ofType('invalidate')).length === 2)
    assert.equal(payload(s.events.filter(ofType('invalidate'))[1]!).soft, true)
    // The product:43 stream saw neither (its first invalidate is its own).
    await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:43'] })
    await other.waitFor((es) => es.some(ofType('invalidate')))
    assert.deepEqual(other.events.filter(ofType('invalidate')).map((e) => payload(e).tags), [['product:43']])
    s.close()
    other.close()
  })

  test('one entry with several matching tags is sent once; prefix topics are literal prefixes', async () => {
    const s = await openStream(srv.port, '?topics=stock:*,product:1,a?b', acme)
    await s.waitFor((es) => es.some(ofType('ready')))
    await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:1', 'stock:1'] })
    await log.append({ kind: 'hard', tenant: 'acme', tags: ['stocks:9'] }) // not under "stock:"
    await log.append({ kind: 'hard', tenant: 'acme', tags: ['axb'] }) // "?" is data, not a wildcard
    await log.append({ kind: 'hard', tenant: 'acme', tags: ['stock:2'] })
    await s.waitFor((es) => es.filter(ofType('invalidate')).length >= 2)
    await log.append({ kind: 'hard', tenant: 'acme', tags: ['a?b'] })
    await s.waitFor((es) => es.filter(ofType('invalidate')).length >= 3)
    assert.deepEqual(
      s.events.filter(ofType('invalidate')).map((e) => payload(e).tags),
      [['product:1', 'stock:1'], ['stock:2'], ['a?b']],
    )
    s.close()
  })

  test('publishLive sends an update with the value; a clear sends reset to that tenant only', async () => {
    const a = await openStream(srv.port, '?topics=stock:42', acme)
    const g = await openStream(srv.port, '?topics=stock:42', globex)
    await Promise.all([a.waitFor((es) => es.some(ofType('ready'))), g.waitFor((es) => es.some(ofType('ready')))])
    const e = await srv.hub.publishLive('acme', 'stock:42', { qty: 3 })
    assert.equal(e.kind, 'live')
    await a.waitFor((es) => es.some(ofType('update')))
    const up = a.events.find(ofType('update'))!
    assert.deepEqual(payload(up), { topic: 'stock:42', value: { qty: 3 } })
    assert.equal(up.lastEventId, String(e.id))

    const cleared = await log.append({ kind: 'clear', tenant: 'acme' })
    await a.waitFor((es) => es.some(ofType('reset')))
    assert.deepEqual(payload(a.events.find(ofType('reset'))!), { reason: 'clear' })
    assert.equal(a.lastEventId, String(cleared.id))
    await srv.hub.publishLive('globex', 'stock:42', { qty: 9 })
    await g.waitFor((es) => es.some(ofType('update')))
    assert.deepEqual(
      g.events.filter((m) => m.type !== 'ready').map((m) => [m.type, payload(m)]),
      [['update', { topic: 'stock:42', value: { qty: 9 } }]],
    )
    a.close()
    g.close()
  })

  test('entries from other producers: live without data, keys only, event records', async () => {
    const s = await openStream(srv.port, '?topics=p', acme)
    await s.waitFor((es) => es.some(ofType('ready')))
    await log.append({ kind: 'live', tenant: 'acme', tags: ['p'] }) // no data: topic from the tag, value null
    await log.append({ kind: 'hard', tenant: 'acme', keys: ['k1'] }) // by key only: no topic to match
    await log.append({ kind: 'event', tenant: 'acme', tags: ['p'], data: { type: 'x' } }) // records never stream
    const last = await log.append({ kind: 'soft', tenant: 'acme', tags: ['p'] })
    await s.waitFor((es) => es.some((e) => e.lastEventId === String(last.id)))
    assert.deepEqual(
      s.events.filter((e) => e.type !== 'ready').map((e) => [e.type, payload(e)]),
      [
        ['update', { topic: 'p', value: null }],
        ['invalidate', { tags: ['p'], keys: [], soft: true }],
      ],
    )
    s.close()
  })

  test('publishLive refuses bad input with clear errors', async () => {
    await assert.rejects(srv.hub.publishLive('', 'stock:1', 1), { code: 'E_INVALID_TENANT' })
    await assert.rejects(srv.hub.publishLive('acme', '', 1), { code: 'E_INVALID_TOPIC' })
    await assert.rejects(srv.hub.publishLive('acme', 'stock:*', 1), { code: 'E_INVALID_TOPIC' })
    await assert.rejects(srv.hub.publishLive('acme', 'stock:1', undefined), { code: 'E_VALUE_UNDEFINED' })
    await assert.rejects(srv.hub.publishLive('acme', 'stock:1', 'x'.repeat(70_000)), { code: 'E_VALUE_TOO_LARGE' })
    const cyclic: Record<string, unknown> = {}
    cyclic.self = cyclic
    await assert.rejects(srv.hub.publishLive('acme', 'stock:1', cyclic), { code: 'E_VALUE_NOT_SERIALIZABLE' })
  })

  test('invalidations through the cache API reach the stream (createCache on the same log)', async () => {
    const cache = createCache({ log })
    try {
      const s = await openStream(srv.port, '?topics=product:42', acme)
      await s.waitFor((es) => es.some(ofType('ready')))
      const r = await cache.tenant('acme').invalidateTags(['product:42'])
      await s.waitFor((es) => es.some(ofType('invalidate')))
      assert.equal(s.events.find(ofType('invalidate'))!.lastEventId, String(r.id))
      s.close()
    } finally {
      await cache.close()
    }
  })
})

describe('SSE hub: wire format', () => {
  test('HTTP/1.1 gets one chunk per event; HTTP/1.0 gets the raw stream until close', async () => {
    const { connect } = await import('node:net')
    const log = new MemoryLog()
    const srv = await startHubServer({ log })
    try {
      const read = async (version: string) => {
        const s = connect({ port: srv.port, host: '127.0.0.1' })
        s.setEncoding('utf8')
        let buf = ''
        const seen = new Promise<void>((resolve) =>
          s.on('data', (d: string) => {
            buf += d
            if (buf.includes('"tags":["p"]')) resolve()
          }),
        )
        const ready = new Promise<void>((resolve) => s.on('data', () => buf.includes('event: ready') && resolve()))
        s.write(`GET /_larder/stream?topics=p HTTP/${version}\r\nHost: x\r\nx-tenant: acme\r\n\r\n`)
        await ready
        const e = await log.append({ kind: 'hard', tenant: 'acme', tags: ['p'] })
        await seen
        s.destroy()
        return { buf, id: e.id }
      }
      const v11 = await read('1.1')
      assert.match(v11.buf, /transfer-encoding: chunked/i)
      const body = `id: ${v11.id}\nevent: invalidate\ndata: {"tags":["p"],"keys":[],"soft":false}\n\n`
      assert.ok(v11.buf.endsWith(`${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n`), v11.buf)
      const v10 = await read('1.0')
      assert.doesNotMatch(v10.buf, /transfer-encoding/i)
      assert.ok(v10.buf.endsWith(`\n\nid: ${v10.id}\nevent: invalidate\ndata: {"tags":["p"],"keys":[],"soft":false}\n\n`), v10.buf)
    } finally {
      await srv.close()
    }
  })
})

describe('SSE hub: tenant isolation', () => {
  test('many clients of two tenants: each sees only its own tenant', async () => {
    const log = new MemoryLog()
    const srv = await startHubServer({ log })
    try {
      const n = 40
      const as = await Promise.all(Array.from({ length: n }, (_, i) => openStream(srv.port, `?topics=${i % 2 ? 'product:*' : 'product:1'}`, acme)))
      const gs = await Promise.all(Array.from({ length: n }, (_, i) => openStream(srv.port, `?topics=${i % 2 ? 'product:*' : 'product:1'}`, globex)))
      await Promise.all([...as, ...gs].map((s) => s.waitFor((es) => es.some(ofType('ready')))))
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:1'] })
      await srv.hub.publishLive('acme', 'product:1', 'acme-secret')
      await log.append({ kind: 'clear', tenant: 'acme' })
      // Then one entry for globex: once it arrived, anything of acme would have arrived before it.
      await log.append({ kind: 'hard', tenant: 'globex', tags: ['product:1'] })
      await Promise.all(as.map((s) => s.waitFor((es) => es.filter((e) => e.type !== 'ready').length === 3)))
      await Promise.all(gs.map((s) => s.waitFor((es) => es.some(ofType('invalidate')))))
      for (const s of gs) {
        assert.deepEqual(s.events.filter((e) => e.type !== 'ready').map((e) => e.type), ['invalidate'])
        assert.ok(!s.events.some((e) => e.data.includes('acme-secret')))
      }
      for (const s of as) assert.deepEqual(s.events.filter((e) => e.type !== 'ready').map((e) => e.type), ['invalidate', 'update', 'reset'])
      assert.equal(srv.hub.stats().clients, 2 * n)
      assert.equal(srv.hub.stats().tenants, 2)
      for (const s of [...as, ...gs]) s.close()
    } finally {
      await srv.close()
    }
  })

  test('a tenant id or topic full of pattern characters matches only itself', async () => {
    const log = new MemoryLog()
    const srv = await startHubServer({ log })
    try {
      const star = await openStream(srv.port, '?topics=*', { 'x-tenant': 'a*' })
      await star.waitFor((es) => es.some(ofType('ready')))
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['x'] })
      await log.append({ kind: 'hard', tenant: 'a*', tags: ['y'] })
      await star.waitFor((es) => es.some(ofType('invalidate')))
      assert.deepEqual(star.events.filter(ofType('invalidate')).map((e) => payload(e).tags), [['y']])
      star.close()
    } finally {
      await srv.close()
    }
  })
})

describe('SSE hub: resume', () => {
  test('Last-Event-ID replays what the client missed, filtered to its tenant and topics, then goes live', async () => {
    const log = new MemoryLog()
    const srv = await startHubServer({ log })
    try {
      const s = await openStream(srv.port, '?topics=product:1,stock:*', acme)
      await s.waitFor((es) => es.some(ofType('ready')))
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:1'] })
      await s.waitFor((es) => es.some(ofType('invalidate')))
      const resumeFrom = s.lastEventId
      s.close()
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:2'] }) // other topic
      const missed1 = await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:1'] })
      await log.append({ kind: 'hard', tenant: 'globex', tags: ['product:1'] }) // other tenant
      const missed2 = await log.append({ kind: 'live', tenant: 'acme', tags: ['stock:5'], data: { topic: 'stock:5', value: 2 } })

      const r = await openStream(srv.port, '?topics=product:1,stock:*', { ...acme, 'last-event-id': resumeFrom })
      await r.waitFor((es) => es.some(ofType('ready')))
      const live = await log.append({ kind: 'hard', tenant: 'acme', tags: ['stock:7'] })
      await r.waitFor((es) => es.filter(ofType('invalidate')).length === 2)
      assert.deepEqual(
        r.events.map((e) => [e.type, e.lastEventId]),
        [
          ['invalidate', String(missed1.id)],
          ['update', String(missed2.id)],
          ['ready', String(missed2.id)],
          ['invalidate', String(live.id)],
        ],
      )
      assert.deepEqual(payload(r.events.find(ofType('ready'))!), { resumed: true })
      assert.equal(srv.hub.stats().replays, 1)

      // The same through the query parameter (no custom header needed cross-origin).
      const q = await openStream(srv.port, `?topics=product:1&lastEventId=${resumeFrom}`, acme)
      await q.waitFor((es) => es.some(ofType('ready')))
      assert.deepEqual(q.events.filter(ofType('invalidate')).map((e) => e.lastEventId), [String(missed1.id)])
      r.close()
      q.close()
    } finally {
      await srv.close()
    }
  })

  test('entries appended while a replay reads are sent once, after the replay, in order', async () => {
    const log = new MemoryLog()
    const first = await log.append({ kind: 'hard', tenant: 'acme', tags: ['t'] })
    for (let i = 0; i < 1200; i++) await log.append({ kind: 'hard', tenant: 'acme', tags: ['t'], keys: [`k${i}`] })
    // A log whose reads are slow, so live entries arrive mid-replay.
    const slow = Object.create(log) as MemoryLog
    let appendedDuring = 0
    slow.read = async (afterId, limit) => {
      const r = await log.read(afterId, limit)
      if (appendedDuring < 3) {
        appendedDuring++
        await log.append({ kind: 'hard', tenant: 'acme', tags: ['t'], keys: [`live${appendedDuring}`] })
      }
      return r
    }
    slow.subscribe = log.subscribe.bind(log)
    slow.lastId = log.lastId.bind(log)
    const srv = await startHubServer({ log: slow })
    try {
      const s = await openStream(srv.port, '?topics=t', { ...acme, 'last-event-id': String(first.id) })
      await s.waitFor((es) => es.filter(ofType('invalidate')).length === 1203, 10_000, '1203 invalidations')
      const ids = s.events.filter(ofType('invalidate')).map((e) => Number(e.lastEventId))
      assert.deepEqual(ids, [...ids].sort((a, b) => a - b))
      assert.equal(new Set(ids).size, ids.length)
      s.close()
    } finally {
      await srv.close()
    }
  })

  test('an id that was trimmed, never issued, or too far back gets reset', async () => {
    const log = new MemoryLog({ capacity: 5 })
    const srv = await startHubServer({ log, replayLimit: 500 })
    try {
      const old = await log.append({ kind: 'hard', tenant: 'acme', tags: ['t'] })
      for (let i = 0; i < 10; i++) await log.append({ kind: 'hard', tenant: 'acme', tags: ['t'] })
      const trimmed = await openStream(srv.port, '?topics=t', { ...acme, 'last-event-id': String(old.id) })
      await trimmed.waitFor((es) => es.some(ofType('reset')))
      assert.deepEqual(payload(trimmed.events[0]!), { reason: 'trimmed' })
      assert.equal(trimmed.events[0]!.lastEventId, String(log.lastId()))
      // An id this log never issued (from another log): newer than anything it holds.
      const unknown = await openStream(srv.port, '?topics=t', { ...acme, 'last-event-id': String(log.lastId() + 5) })
      await unknown.waitFor((es) => es.some(ofType('reset')))
      assert.deepEqual(payload(unknown.events[0]!), { reason: 'unknown-id' })
      // Still live after a reset.
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['t'] })
      await unknown.waitFor((es) => es.some(ofType('invalidate')))
      trimmed.close()
      unknown.close()
    } finally {
      await srv.close()
    }
    const big = new MemoryLog()
    const srv2 = await startHubServer({ log: big, replayLimit: 500 })
    try {
      const from = await big.append({ kind: 'hard', tenant: 'acme', tags: ['t'] })
      for (let i = 0; i < 1100; i++) await big.append({ kind: 'hard', tenant: 'other', tags: ['t'] })
      const s = await openStream(srv2.port, '?topics=t', { ...acme, 'last-event-id': String(from.id) })
      await s.waitFor((es) => es.some(ofType('reset')))
      assert.deepEqual(payload(s.events[0]!), { reason: 'too-old' })
      s.close()
    } finally {
      await srv2.close()
    }
  })

  test('a long replay goes at the client pace; a client that stops reading mid-replay is dropped', async () => {
    const log = new MemoryLog()
    const srv = await startHubServer({ log, bufferBytes: 64 * 1024 })
    try {
      const from = await log.append({ kind: 'hard', tenant: 'acme', tags: ['big'] })
      const value = 'v'.repeat(16_000)
      for (let i = 0; i < 300; i++) await log.append({ kind: 'live', tenant: 'acme', tags: ['big'], data: { topic: 'big', value } })
      // 300 × 16 KB = 4.8 MB replayed through a 64 KB bound: nobody is dropped.
      const reader = await openStream(srv.port, '?topics=big', { ...acme, 'last-event-id': String(from.id) })
      await reader.waitFor((es) => es.some(ofType('ready')), 10_000, 'the end of the replay')
      assert.equal(reader.events.filter(ofType('update')).length, 300)
      assert.equal(srv.hub.stats().dropped, 0)
      reader.close()

      const stuck = await openStream(srv.port, '?topics=big', { ...acme, 'last-event-id': String(from.id) })
      stuck.pause()
      let sent = 0
      while (srv.hub.stats().dropped === 0 && sent < 2000) {
        await srv.hub.publishLive('acme', 'big', value)
        sent++
        await new Promise((r) => setImmediate(r))
      }
      assert.equal(srv.hub.stats().dropped, 1)
      assert.equal(srv.hub.stats().replaying, 0)
      assert.equal(srv.hub.stats().clients, 0)
      stuck.close()
    } finally {
      await srv.close()
    }
  })

  test('a log gap resets every stream', async () => {
    const log = new MemoryLog()
    let gap: ((g: { reason: 'trimmed' }) => void) | undefined
    const spy = Object.create(log) as MemoryLog
    spy.subscribe = (sub, from) => {
      gap = (g) => sub.gap(g)
      return log.subscribe(sub, from)
    }
    spy.lastId = log.lastId.bind(log)
    const srv = await startHubServer({ log: spy })
    try {
      const a = await openStream(srv.port, '?topics=t', acme)
      const g = await openStream(srv.port, '?topics=t', globex)
      await Promise.all([a, g].map((s) => s.waitFor((es) => es.some(ofType('ready')))))
      gap?.({ reason: 'trimmed' })
      await Promise.all([a, g].map((s) => s.waitFor((es) => es.some(ofType('reset')))))
      assert.deepEqual(payload(a.events.find(ofType('reset'))!), { reason: 'gap' })
      a.close()
      g.close()
    } finally {
      await srv.close()
    }
  })
})

describe('SSE hub: bad input and limits', () => {
  test('malformed input answers a clear 4xx and leaves open streams alone', async () => {
    const log = new MemoryLog()
    const srv = await startHubServer({ log, maxTopics: 4, allowTopic: (t) => !t.startsWith('secret') })
    try {
      const healthy = await openStream(srv.port, '?topics=p', acme)
      await healthy.waitFor((es) => es.some(ofType('ready')))
      const cases: [string, Record<string, string>, number, RegExp][] = [
        ['?topics=p', { ...acme, 'last-event-id': 'abc' }, 400, /Last-Event-ID must be a decimal log id/],
        ['?topics=p', { ...acme, 'last-event-id': '99999999999999999' }, 400, /Last-Event-ID/],
        ['?topics=p&lastEventId=-1', acme, 400, /Last-Event-ID/],
        ['?topics=a,b,c,d,e', acme, 400, /5 topics asked for; the limit is 4/],
        [`?topics=${'x'.repeat(600)}`, acme, 400, /600 characters long; the limit is 512/],
        ['?topics=', acme, 400, /a topic is empty/],
        ['?topics=a,,b', acme, 400, /a topic is empty/],
        ['', acme, 400, /no topics/],
        ['?topics=secret:1', acme, 400, /unknown topic "secret:1"/],
        ['?topics=%01', acme, 400, /control characters/],
        ['?topics=p', {}, 400, /no valid tenant/],
        ['?topics=p', { 'x-tenant': '@evil' }, 400, /no valid tenant/],
        ['?topics=p&token=abc', acme, 400, /does not take \?token=/],
      ]
      for (const [q, h, status, msg] of cases) {
        const r = await openStream(srv.port, q, h)
        assert.equal(r.status, status, q)
        const body = JSON.parse(r.body) as { error: { code: string; message: string } }
        assert.match(body.error.message, msg, q)
      }
      const post = await openStream(srv.port, '?topics=p', acme, 'POST')
      assert.equal(post.status, 405)
      assert.equal(post.headers.allow, 'GET, HEAD')
      const head = await openStream(srv.port, '?topics=p', acme, 'HEAD')
      assert.equal(head.status, 200)
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['p'] })
      await healthy.waitFor((es) => es.some(ofType('invalidate')))
      assert.equal(srv.hub.stats().clients, 1)
      assert.equal(srv.hub.stats().rejected, cases.length + 1)
      healthy.close()
    } finally {
      await srv.close()
    }
  })

  test('allowOrigin: allowed origins may read the stream (and its refusals) cross-origin; others get no CORS header', async () => {
    const log = new MemoryLog()
    const srv = await startHubServer({ log, allowOrigin: ['https://shop.example'] })
    try {
      const ok = await openStream(srv.port, '?topics=p', { ...acme, origin: 'https://shop.example' })
      assert.equal(ok.headers['access-control-allow-origin'], 'https://shop.example')
      assert.equal(ok.headers.vary, 'Origin')
      const bad = await openStream(srv.port, '?topics=', { ...acme, origin: 'https://shop.example' })
      assert.equal(bad.status, 400)
      assert.equal(bad.headers['access-control-allow-origin'], 'https://shop.example')
      const other = await openStream(srv.port, '?topics=p', { ...acme, origin: 'https://evil.example' })
      assert.equal(other.status, 200)
      assert.equal(other.headers['access-control-allow-origin'], undefined)
      ok.close()
      other.close()
    } finally {
      await srv.close()
    }
  })

  test('per-tenant and per-process limits answer 429 and 503 with a message', async () => {
    const log = new MemoryLog()
    const srv = await startHubServer({ log, maxClientsPerTenant: 2, maxClients: 3 })
    try {
      const a1 = await openStream(srv.port, '?topics=p', acme)
      const a2 = await openStream(srv.port, '?topics=p', acme)
      const a3 = await openStream(srv.port, '?topics=p', acme)
      assert.equal(a3.status, 429)
      assert.match(a3.body, /limit of 2 streams/)
      assert.ok(a3.headers['retry-after'])
      const g1 = await openStream(srv.port, '?topics=p', globex)
      assert.equal(g1.status, 200)
      const g2 = await openStream(srv.port, '?topics=p', globex)
      assert.equal(g2.status, 503)
      assert.match(g2.body, /limit of 3 streams/)
      // A closed stream frees its slot.
      a1.close()
      await a1.waitEnd()
      for (let i = 0; i < 50 && srv.hub.stats().clients !== 2; i++) await new Promise((r) => setImmediate(r))
      const again = await openStream(srv.port, '?topics=p', acme)
      assert.equal(again.status, 200)
      for (const s of [a2, g1, again]) s.close()
    } finally {
      await srv.close()
    }
  })

  test('a client that does not read is reset and dropped; the others get everything', async () => {
    const log = new MemoryLog()
    const srv = await startHubServer({ log, bufferBytes: 256 * 1024 })
    const drops: unknown[] = []
    const onSse = (m: unknown) => {
      if ((m as { event: string }).event === 'drop') drops.push(m)
    }
    diagnostics_channel.subscribe('larder:sse', onSse)
    try {
      const good = await openStream(srv.port, '?topics=big', acme)
      const stuck = await openStream(srv.port, '?topics=big', acme)
      await Promise.all([good, stuck].map((s) => s.waitFor((es) => es.some(ofType('ready')))))
      stuck.pause()
      const value = 'v'.repeat(16_000)
      let sent = 0
      // Yield to I/O after each event so the reading client keeps draining its socket.
      while (srv.hub.stats().dropped === 0 && sent < 5000) {
        await srv.hub.publishLive('acme', 'big', value)
        sent++
        await new Promise((r) => setImmediate(r))
      }
      assert.equal(srv.hub.stats().dropped, 1)
      assert.equal(srv.hub.stats().clients, 1)
      assert.deepEqual(drops, [{ tenant: 'acme', event: 'drop', count: undefined, reason: 'overflow' }])
      await good.waitFor((es) => es.filter(ofType('update')).length === sent, 10_000, `${sent} updates`)
      good.close()
      stuck.close()
    } finally {
      diagnostics_channel.unsubscribe('larder:sse', onSse)
      await srv.close()
    }
  })
})

describe('SSE hub: drop and close timing (fake clock)', () => {
  /** A stream that stops reading, filled until the hub drops it (its reset cannot flush). */
  async function stuckStream(clock: FakeClock) {
    const log = new MemoryLog()
    const srv = await startHubServer({ log, clock, bufferBytes: 64 * 1024 })
    const sockets: import('node:net').Socket[] = []
    srv.server.on('connection', (sock) => sockets.push(sock))
    const stuck = await openStream(srv.port, '?topics=big', acme)
    await stuck.waitFor((es) => es.some(ofType('ready')))
    stuck.pause()
    const value = 'v'.repeat(16_000)
    for (let sent = 0; srv.hub.stats().dropped === 0 && sent < 5000; sent++) {
      await srv.hub.publishLive('acme', 'big', value)
      await new Promise((r) => setImmediate(r))
    }
    assert.equal(srv.hub.stats().dropped, 1)
    assert.equal(sockets.length, 1)
    return { srv, stuck, sock: sockets[0]!, timersBefore: clock.pending }
  }

  test('a dropped stream whose reset cannot flush is destroyed 1 s later on the hub clock, not before', async () => {
    const clock = new FakeClock()
    const { srv, stuck, sock } = await stuckStream(clock)
    try {
      // The heartbeat and the destroy timer.
      assert.equal(clock.pending, 2)
      await clock.advance(999)
      assert.equal(sock.destroyed, false)
      await clock.advance(1)
      assert.equal(sock.destroyed, true)
      // Only the heartbeat is left.
      assert.equal(clock.pending, 1)
    } finally {
      stuck.close()
      await srv.close()
    }
  })

  test('close() with a stuck client ends after the grace period of the hub clock', async () => {
    const clock = new FakeClock()
    const log = new MemoryLog()
    const srv = await startHubServer({ log, clock, bufferBytes: 1024 * 1024 })
    const sockets: import('node:net').Socket[] = []
    srv.server.on('connection', (sock) => sockets.push(sock))
    const stuck = await openStream(srv.port, '?topics=big', acme)
    try {
      await stuck.waitFor((es) => es.some(ofType('ready')))
      stuck.pause()
      // Fill the socket buffers (under the hub's bound: the stream stays open).
      const value = 'v'.repeat(16_000)
      while ((sockets[0]?.writableLength ?? 0) < 256 * 1024) {
        await srv.hub.publishLive('acme', 'big', value)
        await new Promise((r) => setImmediate(r))
      }
      assert.equal(srv.hub.stats().dropped, 0)
      let closed = false
      const closing = srv.hub.close().then(() => {
        closed = true
      })
      await clock.advance(999)
      assert.equal(closed, false)
      assert.equal(sockets[0]!.destroyed, false)
      await clock.advance(1)
      await closing
      assert.equal(sockets[0]!.destroyed, true)
      assert.equal(clock.pending, 0)
    } finally {
      stuck.close()
      await srv.close()
    }
  })
})

describe('SSE hub: heartbeats, tokens, shutdown', () => {
  test('heartbeat comments carry the hub position as id (fake clock)', async () => {
    const log = new MemoryLog()
    const clock = new FakeClock()
    const srv = await startHubServer({ log, clock, heartbeatMs: 15_000 })
    try {
      const s = await openStream(srv.port, '?topics=p', acme)
      await s.waitFor((es) => es.some(ofType('ready')))
      assert.equal(s.comments.length, 0)
      const other = await log.append({ kind: 'hard', tenant: 'globex', tags: ['q'] })
      await clock.advance(14_999)
      assert.equal(s.comments.length, 0)
      await clock.advance(1)
      await s.waitComment(1)
      assert.equal(s.comments[0], ' hb')
      // The id-only block moved the resume point past entries this client did not need.
      assert.equal(s.lastEventId, String(other.id))
      assert.equal(s.events.filter((e) => e.type !== 'ready').length, 0)
      s.close()
    } finally {
      await srv.close()
    }
    assert.equal(clock.pending, 0)
  })

  test('a signed token decides the tenant and bounds the topics', async () => {
    const { signStreamToken } = await import('../../src/realtime/index.ts')
    const log = new MemoryLog()
    const secret = 'test-secret-0123456789'
    const srv = await startHubServer({ log, tokenSecret: secret })
    try {
      const tok = signStreamToken(secret, { tenant: 'acme', topics: ['product:*', 'cart:9'] })
      // The header says globex; the token wins.
      const s = await openStream(srv.port, `?topics=product:1,cart:9&token=${tok}`, globex)
      assert.equal(s.status, 200)
      await s.waitFor((es) => es.some(ofType('ready')))
      await log.append({ kind: 'hard', tenant: 'globex', tags: ['product:1'] })
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:1'] })
      await s.waitFor((es) => es.some(ofType('invalidate')))
      assert.equal(s.events.filter(ofType('invalidate')).length, 1)
      const wider = await openStream(srv.port, `?topics=*&token=${tok}`, acme)
      assert.equal(wider.status, 403)
      const wider2 = await openStream(srv.port, `?topics=cart:10&token=${tok}`, acme)
      assert.equal(wider2.status, 403)
      const forged = await openStream(srv.port, `?topics=product:1&token=${signStreamToken('other-secret-xx', { tenant: 'acme' })}`, acme)
      assert.equal(forged.status, 401)
      assert.match(forged.body, /signature is invalid/)
      const expired = await openStream(srv.port, `?topics=product:1&token=${signStreamToken(secret, { tenant: 'acme' }, Date.now() - 7200_000)}`, acme)
      assert.equal(expired.status, 401)
      assert.match(expired.body, /expired/)
      const garbage = await openStream(srv.port, '?topics=product:1&token=a.b.c', acme)
      assert.equal(garbage.status, 401)
      s.close()
    } finally {
      await srv.close()
    }
    const strict = await startHubServer({ log, tokenSecret: secret, requireToken: true })
    try {
      const none = await openStream(strict.port, '?topics=p', acme)
      assert.equal(none.status, 401)
      assert.match(none.body, /needs a signed \?token=/)
    } finally {
      await strict.close()
    }
  })

  test('close() ends every stream, refuses new ones and stops following the log', async () => {
    const log = new MemoryLog()
    const clock = new FakeClock()
    const srv = await startHubServer({ log, clock })
    const events: string[] = []
    const onSse = (m: unknown) => events.push((m as { event: string }).event)
    diagnostics_channel.subscribe('larder:sse', onSse)
    try {
      const a = await openStream(srv.port, '?topics=p', acme)
      const b = await openStream(srv.port, '?topics=p', globex)
      await Promise.all([a, b].map((s) => s.waitFor((es) => es.some(ofType('ready')))))
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['p'] })
      await a.waitFor((es) => es.some(ofType('invalidate')))
      await srv.hub.close()
      await Promise.all([a.waitEnd(), b.waitEnd()])
      assert.equal(srv.hub.stats().clients, 0)
      assert.equal(clock.pending, 0)
      const late = await openStream(srv.port, '?topics=p', acme)
      assert.equal(late.status, 503)
      await assert.rejects(srv.hub.publishLive('acme', 'p', 1), { code: 'E_CLOSED' })
      assert.deepEqual(events, ['open', 'open', 'send', 'close', 'close'])
    } finally {
      diagnostics_channel.unsubscribe('larder:sse', onSse)
      await srv.close()
    }
  })
})
