/**
 * `larder gateway` with `event_sources:` in its config: a stream consumer group and a pub/sub
 * channel on the gateway's Redis feed its rules; a cached response is refreshed and SSE
 * subscribers are told. Misconfigurations stop it at start with the reason.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import type { Redis } from 'ioredis'
import { type RedisServerHandle, freePort, startRedis } from '../../src/testing/servers.ts'
import { get, type Origin, runGateway, startOrigin } from '../gateway/helpers.ts'
import { ofType, openStream, payload } from '../realtime/helpers.ts'
import { until, withAdmin } from '../redis/helpers.ts'

const CATALOG = new URL('../../rules/catalog.yaml', import.meta.url).pathname

describe('larder gateway: event sources from the config', () => {
  let redis: RedisServerHandle
  let origin: Origin
  let dir: string
  const hits = new Map<string, number>()
  before(async () => {
    redis = await startRedis()
    origin = await startOrigin((req, res) => {
      const n = (hits.get(req.url as string) ?? 0) + 1
      hits.set(req.url as string, n)
      res.writeHead(200, { 'cache-control': 'public, max-age=300', 'surrogate-key': decodeURIComponent((req.url as string).slice(1)) })
      res.end(`${req.url} #${n}`)
    })
    dir = mkdtempSync(join(tmpdir(), 'larder-sources-'))
  })
  after(async () => {
    await origin.close()
    await redis.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  function config(name: string, text: string): string {
    const path = join(dir, name)
    writeFileSync(path, text)
    return path
  }

  it('stream and pub/sub events refresh cached responses and reach SSE', async () => {
    const path = config(
      'ok.yaml',
      `origin: ${origin.url}
tenant_header: x-tenant-id
redis: ${redis.url}
rules: ${CATALOG}
event_sources:
  stream: { stream: "shop:events", group: larder }
  pubsub: { channels: [seller_changes], tenants: [acme], heartbeat: 2s }
`,
    )
    const port = await freePort()
    const gw = runGateway(['--config', path, '--port', String(port)])
    await gw.ready
    const headers = { 'x-tenant-id': 'acme' }
    try {
      // The sources start with the gateway: the group exists (MKSTREAM) and the channel has its subscriber.
      await withAdmin(redis.port, async (r) => {
        await until(async () => (await r.exists('shop:events')) === 1, 10_000, 'the consumer group')
        await until(async () => Number(((await r.call('PUBSUB', 'NUMSUB', 'seller_changes')) as [string, number])[1]) === 1, 10_000, 'the subscriber')
      })
      const stream = await openStream(port, '?topics=seller:g1,seller:g2', headers)
      await stream.waitFor((es) => es.some(ofType('ready')))
      for (const [tag, send] of [
        ['seller:g1', (r: Redis) => r.xadd('shop:events', '*', 'event', JSON.stringify({ id: 'g1', type: 'seller.status_changed', tenant: 'acme', data: { sellerId: 'g1' } }))],
        ['seller:g2', (r: Redis) => r.publish('seller_changes', JSON.stringify({ type: 'seller.payment_status_changed', tenant: 'acme', data: { sellerId: 'g2' } }))],
      ] as [string, (r: Redis) => Promise<unknown>][]) {
        const url = `http://127.0.0.1:${port}/${encodeURIComponent(tag)}`
        const first = await get(url, headers)
        assert.equal((await get(url, headers)).text, first.text, 'cached')
        await withAdmin(redis.port, send)
        await stream.waitFor((es) => es.some((m) => m.type === 'invalidate' && (payload(m).tags as string[]).includes(tag)), 10_000, `invalidate ${tag}`)
        const after = await get(url, headers)
        assert.notEqual(after.text, first.text, `${tag}: the gateway asked the origin again`)
      }
      stream.close()
    } finally {
      gw.child.kill('SIGTERM')
      await gw.exit
    }
  })

  it('refuses event sources without Redis or without rules, and names bad fields', async () => {
    const cases: [string, RegExp][] = [
      [`origin: ${origin.url}\nrules: ${CATALOG}\nevent_sources: { pubsub: { channels: [c] } }\n`, /event_sources needs Redis/],
      [`origin: ${origin.url}\nredis: ${redis.url}\nevent_sources: { pubsub: { channels: [c] } }\n`, /event_sources needs rules/],
      [`origin: ${origin.url}\nevent_sources: { kafka: {} }\n`, /unknown field "event_sources.kafka"/],
      [`origin: ${origin.url}\nevent_sources: { stream: { stream: s } }\n`, /event_sources.stream.group must be a non-empty string/],
      [`origin: ${origin.url}\nevent_sources: { pubsub: { channels: [] } }\n`, /event_sources.pubsub.channels must be a non-empty list/],
      [`origin: ${origin.url}\nevent_sources: { pubsub: { channels: [c], heartbeat: soon } }\n`, /event_sources.pubsub.heartbeat must be a duration/],
    ]
    for (const [i, [text, expected]] of cases.entries()) {
      const gw = runGateway(['--config', config(`bad-${i}.yaml`, text), '--port', String(await freePort())])
      assert.equal(await gw.exit, 2, gw.out())
      assert.match(gw.out(), expected)
    }
  })
})
