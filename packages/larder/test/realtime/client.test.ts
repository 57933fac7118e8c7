import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { describe, test } from 'node:test'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { createRealtimeClient, type RealtimeClient, type RealtimeEvent } from '../../src/realtime/client/index.ts'
import { createSseHub } from '../../src/realtime/index.ts'
import { freePort } from '../../src/testing/servers.ts'
import { startHubServer } from './helpers.ts'

const headers = { 'x-tenant': 'acme' }

/** Resolves when `pred()` holds, checked after each call of the returned `poke`. */
function until(pred: () => boolean, timeoutMs = 10_000, what = 'condition'): { done: Promise<void>; poke: () => void } {
  let poke = () => {}
  const done = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs)
    poke = () => {
      if (pred()) {
        clearTimeout(t)
        resolve()
      }
    }
  })
  poke()
  return { done, poke }
}

/** Collects events of one topic and lets a test await the nth. */
function collect(client: RealtimeClient, topic: string) {
  const events: RealtimeEvent[] = []
  const waiters = new Set<() => void>()
  client.subscribe(topic, (e) => {
    events.push(e)
    for (const w of [...waiters]) w()
  })
  return {
    events,
    waitFor(pred: (es: RealtimeEvent[]) => boolean, what = 'events', timeoutMs = 10_000): Promise<void> {
      const u = until(() => pred(events), timeoutMs, `${what}; got ${JSON.stringify(events)}`)
      const w = () => u.poke()
      waiters.add(w)
      return u.done.finally(() => waiters.delete(w))
    },
  }
}

describe('realtime client against a real hub', () => {
  test('getCached caches, an invalidate of its tag drops it and notifies; updates carry live values', async () => {
    const log = new MemoryLog()
    const srv = await startHubServer({ log })
    const client = createRealtimeClient({ url: `http://127.0.0.1:${srv.port}/_larder/stream`, topics: ['stock:*'], headers, backoff: { initialMs: 20 } })
    try {
      let loads = 0
      const fetcher = async () => ({ name: `v${++loads}` })
      assert.deepEqual(await client.getCached('p42', fetcher, { tags: ['product:42'] }), { name: 'v1' })
      assert.deepEqual(await client.getCached('p42', fetcher, { tags: ['product:42'] }), { name: 'v1' })
      assert.equal(loads, 1)
      assert.deepEqual([...client.topics].sort(), ['product:42', 'stock:*'])
      const product = collect(client, 'product:42')
      const stock = collect(client, 'stock:*')
      // The tag became a topic: the client reconnects and resumes, so even an entry the
      // old stream did not follow reaches it through the replay.
      const entry = await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:42'] })
      await product.waitFor((es) => es.length === 1, 'invalidate')
      assert.deepEqual(product.events[0], { type: 'invalidate', id: String(entry.id), tags: ['product:42'], keys: [], soft: false })
      assert.equal(client.lastEventId, String(entry.id))
      assert.deepEqual(await client.getCached('p42', fetcher, { tags: ['product:42'] }), { name: 'v2' })

      await srv.hub.publishLive('acme', 'stock:42', { qty: 3 })
      await stock.waitFor((es) => es.length === 1, 'update')
      assert.deepEqual({ ...stock.events[0], id: '' }, { type: 'update', id: '', topic: 'stock:42', value: { qty: 3 } })
      // Live values do not invalidate.
      assert.deepEqual(await client.getCached('p42', fetcher, { tags: ['product:42'] }), { name: 'v2' })
      // Another tenant's invalidation of the same tag is never seen.
      await log.append({ kind: 'hard', tenant: 'globex', tags: ['product:42'] })
      await srv.hub.publishLive('acme', 'stock:43', 1)
      await stock.waitFor((es) => es.length === 2, 'second update')
      assert.equal(product.events.length, 1)
    } finally {
      client.close()
      await srv.close()
    }
  })

  test('a value whose tag is invalidated while it loads is returned but not cached', async () => {
    const log = new MemoryLog()
    const srv = await startHubServer({ log })
    const client = createRealtimeClient({ url: `http://127.0.0.1:${srv.port}/_larder/stream`, topics: ['p'], headers })
    try {
      assert.equal(await client.ready(), true)
      let release: () => void = () => {}
      const gate = new Promise<void>((r) => (release = r))
      let loads = 0
      const events = collect(client, 'p')
      const first = client.getCached(
        'k',
        async () => {
          loads++
          await gate
          return 'old'
        },
        { tags: ['p'] },
      )
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['p'] })
      await events.waitFor((es) => es.length === 1)
      release()
      assert.equal(await first, 'old')
      assert.equal(await client.getCached('k', async () => `new${++loads}`, { tags: ['p'] }), 'new2')
    } finally {
      client.close()
      await srv.close()
    }
  })

  test('non-200 answers (502 during a deploy) are retried with backoff until the stream opens', async () => {
    const log = new MemoryLog()
    const hub = createSseHub({ log })
    let requests = 0
    const server = createServer((req, res) => {
      requests++
      if (requests <= 3) {
        res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway')
        return
      }
      if (!hub.route(req, res, { tenant: 'acme', url: new URL(req.url ?? '/', 'http://x') })) res.writeHead(404).end()
    })
    const port = await freePort()
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    const errors: unknown[] = []
    const delays: number[] = []
    const client = createRealtimeClient({
      url: `http://127.0.0.1:${port}/_larder/stream`,
      topics: ['p'],
      backoff: { initialMs: 40, factor: 2 },
      random: () => {
        delays.push(requests)
        return 0.25
      },
      onError: (e) => errors.push(e),
    })
    try {
      const started = Date.now()
      assert.equal(await client.ready(10_000), true)
      assert.equal(requests, 4)
      assert.equal(errors.length, 3)
      assert.match(String(errors[0]), /stream answered 502: bad gateway/)
      assert.equal((errors[0] as { status: number }).status, 502)
      // Delays 10, 20, 40 ms (a quarter of 40·2^n): at least 70 ms passed.
      assert.ok(Date.now() - started >= 65, `reconnected too fast: ${Date.now() - started} ms`)
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['p'] })
      const got = collect(client, 'p')
      await got.waitFor((es) => es.length === 1)
    } finally {
      client.close()
      await hub.close()
      server.closeAllConnections()
      server.close()
    }
  })

  test('a 503 with Retry-After is honoured before the next attempt', async () => {
    const log = new MemoryLog()
    const hub = createSseHub({ log })
    const at: number[] = []
    const server = createServer((req, res) => {
      at.push(Date.now())
      if (at.length === 1) {
        res.writeHead(503, { 'retry-after': '1' }).end('busy')
        return
      }
      if (!hub.route(req, res, { tenant: 'acme', url: new URL(req.url ?? '/', 'http://x') })) res.writeHead(404).end()
    })
    const port = await freePort()
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    const client = createRealtimeClient({ url: `http://127.0.0.1:${port}/_larder/stream`, topics: ['p'], backoff: { initialMs: 10 }, onError: () => {} })
    try {
      assert.equal(await client.ready(10_000), true)
      assert.equal(at.length, 2)
      assert.ok((at[1] as number) - (at[0] as number) >= 950, `retried after ${(at[1] as number) - (at[0] as number)} ms`)
    } finally {
      client.close()
      await hub.close()
      server.closeAllConnections()
      server.close()
    }
  })

  test('server restart on the same port with the same log: the client resumes and replays what it missed', async () => {
    const log = new MemoryLog()
    let srv = await startHubServer({ log })
    const port = srv.port
    const resets: string[] = []
    const client = createRealtimeClient({ url: `http://127.0.0.1:${port}/_larder/stream`, topics: ['product:1'], headers, backoff: { initialMs: 30, maxMs: 100 }, onReset: (r) => resets.push(r) })
    const product = collect(client, 'product:1')
    try {
      let loads = 0
      const fetcher = async () => `v${++loads}`
      await client.getCached('p1', fetcher, { tags: ['product:1'] })
      await log.append({ kind: 'hard', tenant: 'acme', tags: ['other'] })
      const seen = await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:1'] })
      await product.waitFor((es) => es.length === 1)
      assert.equal(await client.getCached('p1', fetcher, { tags: ['product:1'] }), 'v2')

      await srv.close()
      // Published during the outage.
      const missed = await log.append({ kind: 'hard', tenant: 'acme', tags: ['product:1'] })
      assert.ok(missed.id > seen.id)
      srv = await startHubServer({ log }, port)
      await product.waitFor((es) => es.length === 2, 'the replayed invalidation')
      assert.equal(product.events[1]?.id, String(missed.id))
      assert.deepEqual(resets, [])
      assert.equal(srv.hub.stats().replays, 1)
      assert.equal(await client.getCached('p1', fetcher, { tags: ['product:1'] }), 'v3')
    } finally {
      client.close()
      await srv.close()
    }
  })

  test('restart with a fresh log (ids it never issued): the client gets reset and drops its whole cache', async () => {
    let srv = await startHubServer({ log: new MemoryLog() })
    const port = srv.port
    const resets: string[] = []
    const client = createRealtimeClient({ url: `http://127.0.0.1:${port}/_larder/stream`, topics: ['a', 'b'], headers, backoff: { initialMs: 30, maxMs: 100 }, onReset: (r) => resets.push(r) })
    const a = collect(client, 'a')
    try {
      let loads = 0
      await client.getCached('x', async () => ++loads, { tags: ['a'] })
      await client.getCached('y', async () => ++loads, { tags: ['b'] })
      await srv.hub.publishLive('acme', 'a', 1) // gives the client a resume id
      await a.waitFor((es) => es.length === 1)
      await srv.close()
      // A restarted process: a new embedded log, a moment later (ids are time-based).
      const fresh = new MemoryLog({ clock: { now: () => Date.now() + 60_000 } })
      await fresh.append({ kind: 'hard', tenant: 'acme', tags: ['zzz'] })
      srv = await startHubServer({ log: fresh }, port)
      await a.waitFor((es) => es.some((e) => e.type === 'reset'), 'reset')
      assert.deepEqual(resets, ['unknown-id'])
      assert.equal(await client.getCached('x', async () => ++loads, { tags: ['a'] }), 3)
      assert.equal(await client.getCached('y', async () => ++loads, { tags: ['b'] }), 4)
    } finally {
      client.close()
      await srv.close()
    }
  })

  test('a stream that goes silent past idleTimeoutMs is reconnected', async () => {
    let requests = 0
    const server = createServer((_req, res) => {
      requests++
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      res.write('retry: 10\n\n') // then silence: a half-open connection
    })
    const port = await freePort()
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    const client = createRealtimeClient({ url: `http://127.0.0.1:${port}/s`, topics: ['p'], idleTimeoutMs: 80, random: () => 0 })
    try {
      const u = until(() => requests >= 3, 10_000, 'three connects')
      const iv = setInterval(u.poke, 10)
      await u.done.finally(() => clearInterval(iv))
    } finally {
      client.close()
      server.closeAllConnections()
      server.close()
    }
  })

  test('with the stream down, getCached fetches at once and does not cache', async () => {
    const port = await freePort() // nothing listens here
    const errors: unknown[] = []
    const client = createRealtimeClient({ url: `http://127.0.0.1:${port}/_larder/stream`, topics: ['p'], backoff: { initialMs: 5000 }, onError: (e) => errors.push(e) })
    try {
      let loads = 0
      const started = Date.now()
      assert.equal(await client.getCached('k', async () => ++loads, { tags: ['p'] }), 1)
      assert.ok(Date.now() - started < 1000, `getCached waited ${Date.now() - started} ms for a dead stream`)
      assert.ok(errors.length >= 1)
      assert.equal(await client.getCached('k', async () => ++loads, { tags: ['p'] }), 2)
    } finally {
      client.close()
    }
  })

  test('SSR: a relative url without `location` makes an idle client that only calls fetchers', async () => {
    const client = createRealtimeClient({ url: '/_larder/stream', topics: ['p'] })
    let loads = 0
    assert.equal(await client.getCached('k', async () => ++loads, { tags: ['p'] }), 1)
    assert.equal(await client.getCached('k', async () => ++loads, { tags: ['p'] }), 2)
    assert.equal(client.state, 'idle')
    assert.equal(await client.ready(10), false)
    client.close()
    assert.equal(client.state, 'closed')
    assert.throws(() => createRealtimeClient({ url: '/x', enabled: true }), /cannot resolve url/)
  })
})
