/**
 * Producer paths: how long from a producer's send to the invalidation applied on this
 * instance, one event at a time (p50/p99), for the three ways a non-Node app reaches Larder:
 *
 * - `XADD` to the event stream → createRedisEventSource → rule → cache.invalidate resolved
 * - `PUBLISH` on a channel → createPubSubEventSource → rule → cache.invalidate resolved
 * - `POST /_larder/events` → ingest → rule → 200 (applied) received by the client
 *
 * Anchors in the same run: the raw transports without Larder — `PUBLISH` → a subscribed
 * connection's message, `XADD` → a blocked `XREAD` on another connection, and an HTTP POST
 * round trip to a node:http server that answers 200 at once.
 *
 * Run: node --import tsx --conditions=larder-src bench/producer-sources.ts [events=300]
 */
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { loadavg } from 'node:os'
import { createAuthorizer } from '../packages/larder/src/core/auth.ts'
import { createCache } from '../packages/larder/src/core/cache.ts'
import { createEventIngest } from '../packages/larder/src/events/ingest.ts'
import { createEventProcessor, type EventProcessor } from '../packages/larder/src/events/processor.ts'
import { createPubSubEventSource } from '../packages/larder/src/events/pubsub-source.ts'
import { createRedisEventSource } from '../packages/larder/src/events/redis-source.ts'
import { connect } from '../packages/larder/src/redis/connection.ts'
import { startRedis } from '../packages/larder/src/testing/servers.ts'

const N = Number(process.argv[2] ?? 300)
const catalog = new URL('../packages/larder/rules/catalog.yaml', import.meta.url).pathname
const TOKEN = 'bench-publish-token'
const envelope = (i: number, path: string) => JSON.stringify({ id: `${path}-${i}`, type: 'seller.status_changed', tenant: 'acme', data: { sellerId: `s${i}` } })

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number
}

/** Times `n` sends, each awaited until `done` resolves for it. */
async function time(n: number, one: (i: number) => Promise<void>): Promise<number[]> {
  for (let i = 0; i < 20; i++) await one(-1 - i) // warm-up
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t0 = performance.now()
    await one(i)
    out.push(performance.now() - t0)
  }
  return out
}

/** A processor wrapper that resolves a waiter once event `id` is applied. */
function applied(processor: EventProcessor) {
  const waiting = new Map<string, () => void>()
  return {
    wait: (id: string) => new Promise<void>((r) => waiting.set(id, r)),
    publisher: {
      publish: (e: unknown) =>
        processor.publish(e).then((r) => {
          waiting.get(r.id)?.()
          waiting.delete(r.id)
          return r
        }),
    },
  }
}

const redis = await startRedis()
// Plain ioredis connections (the bench dir has no ioredis of its own).
const client = () => connect({ url: redis.url }, 'bench').client
const producer = client()
const rows: [string, number[]][] = []
try {
  // Anchor: PUBLISH → SUBSCRIBE.
  const subscriber = client()
  let onMessage: (() => void) | undefined
  subscriber.on('message', () => onMessage?.())
  await subscriber.subscribe('anchor')
  rows.push([
    'anchor: PUBLISH → message on a subscribed connection',
    await time(N, async (i) => {
      const got = new Promise<void>((r) => (onMessage = r))
      await producer.publish('anchor', envelope(i, 'a'))
      await got
    }),
  ])
  subscriber.disconnect()

  // Anchor: XADD → a blocked XREAD on another connection.
  const reader = client()
  // Read after a known id, so an XADD that reaches the server before the XREAD is not missed.
  let last = (await producer.xadd('anchor', '*', 'seed', '1')) as string
  rows.push([
    'anchor: XADD → a blocked XREAD on another connection',
    await time(N, async (i) => {
      const read = reader.xread('BLOCK', 0, 'STREAMS', 'anchor', last) as Promise<[string, [string, string[]][]][] | null>
      await producer.xadd('anchor', '*', 'event', envelope(i, 'x'))
      const res = await read
      last = res?.[0]?.[1].at(-1)?.[0] ?? last
    }),
  ])
  reader.disconnect()

  for (const coalesceMs of [2, 0]) {
    const cache = createCache()
    const processor = createEventProcessor({ cache, rules: catalog, coalesceMs, stormThreshold: 1e9 })
    const { wait, publisher } = applied(processor)
    const stream = `larder:events:${coalesceMs}`
    const source = createRedisEventSource({ url: redis.url, stream, group: 'larder', consumer: 'bench', processor: publisher })
    await source.ready
    rows.push([
      `XADD → stream source → rule → applied, coalesceMs ${coalesceMs}`,
      await time(N, async (i) => {
        const done = wait(`s${coalesceMs}-${i}`)
        await producer.xadd(stream, '*', 'event', envelope(i, `s${coalesceMs}`))
        await done
      }),
    ])
    await source.close()
    const channel = `seller_changes_${coalesceMs}`
    const pubsub = createPubSubEventSource({ url: redis.url, channels: [channel], processor: publisher, cache })
    await pubsub.ready
    rows.push([
      `PUBLISH → pub/sub source → rule → applied, coalesceMs ${coalesceMs}`,
      await time(N, async (i) => {
        const done = wait(`p${coalesceMs}-${i}`)
        await producer.publish(channel, envelope(i, `p${coalesceMs}`))
        await done
      }),
    ])
    await pubsub.close()

    // HTTP: the anchor is the same server answering 200 without Larder.
    const ingest = createEventIngest({ processor, auth: createAuthorizer([{ name: 'bench', token: TOKEN, scopes: ['events:publish@acme'] }]) })
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://local')
      if (url.pathname === '/anchor') return void req.resume().on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"results":[]}'))
      void ingest.route(req, res, { tenant: '', url })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as AddressInfo).port
    const post = (path: string, body: string) =>
      new Promise<void>((resolve, reject) => {
        const q = request({ host: '127.0.0.1', port, path, method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' } }, (res) => {
          res.resume().on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))))
        })
        q.on('error', reject)
        q.end(body)
      })
    if (coalesceMs === 2) rows.push(['anchor: HTTP POST round trip, answered 200 at once', await time(N, (i) => post('/anchor', envelope(i, 'h')))])
    rows.push([`POST /_larder/events → rule → 200 applied, coalesceMs ${coalesceMs}`, await time(N, (i) => post('/_larder/events', envelope(i, `h${coalesceMs}`)))])
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    await processor.close()
    await cache.close()
  }
} finally {
  producer.disconnect()
  await redis.stop()
}

console.log(`producer sources bench — ${new Date().toISOString()}, Node ${process.version}, load ${loadavg()[0]?.toFixed(2)}`)
console.log(`\n### send → invalidation applied on this instance (${N} events, one at a time)`)
console.log('| path | p50 | p99 |')
console.log('|---|---|---|')
for (const [name, xs] of rows) console.log(`| ${name} | ${pct(xs, 50).toFixed(2)} ms | ${pct(xs, 99).toFixed(2)} ms |`)
