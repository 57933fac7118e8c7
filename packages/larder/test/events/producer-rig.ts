/**
 * The rig the producer tests (Ruby, Python, Go) share: a throwaway redis-server, a gateway with
 * its parts (SSE hub, POST /_larder/events) and the catalog rules in front of an origin that
 * tags its answers, and a Redis stream source feeding the gateway's event processor. Plus the
 * runtime checks that fail with a one-line install hint (as startRedis does for redis-server).
 */
import assert from 'node:assert/strict'
import { execFile, execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { pino } from 'pino'
import { parse as parseYaml } from 'yaml'
import type { Cache } from '../../src/core/api.ts'
import { createAuthorizer, type TokenConfig } from '../../src/core/auth.ts'
import { createCache } from '../../src/core/cache.ts'
import type { LarderRoute } from '../../src/core/route.ts'
import { createRedisEventSource, type EventProcessor, type RedisEventSource, type RulesSpec } from '../../src/events/index.ts'
import { assembleGateway, createGateway, type Gateway, type GatewayParts } from '../../src/gateway/index.ts'
import { type RedisServerHandle, requireBinary, startRedis } from '../../src/testing/servers.ts'
import { type Origin, get, startOrigin } from '../gateway/helpers.ts'
import { until, withAdmin } from '../redis/helpers.ts'
import { ofType, openStream, payload, type StreamConn } from '../realtime/helpers.ts'
import { applied, watchLog } from './helpers.ts'

export const ROOT = new URL('../../../../', import.meta.url).pathname
export const EXAMPLES = `${ROOT}examples/producers/`
const catalog = parseYaml(readFileSync(new URL('../../rules/catalog.yaml', import.meta.url), 'utf8')) as RulesSpec

/** `ruby` with the redis gem, or an Error naming what to install. */
export function requireRuby(): string {
  const ruby = requireBinary('ruby', 'ruby')
  try {
    execFileSync(ruby, ['-e', 'require "redis"'], { stdio: 'ignore' })
  } catch {
    throw new Error('the redis gem is not installed for ruby: install it with "apt-get install ruby-redis"')
  }
  return ruby
}

/** A python3 that imports redis (Debian's python3-redis serves /usr/bin/python3, which need not come first on PATH). */
export function requirePythonRedis(): string {
  for (const python of ['python3', '/usr/bin/python3']) {
    try {
      execFileSync(python, ['-c', 'import redis'], { stdio: 'ignore' })
      return python
    } catch {}
  }
  throw new Error('no python3 imports redis: install it with "apt-get install python3-redis"')
}

export interface Run {
  code: number
  stdout: string
  stderr: string
}

/** Runs a program to its end (bounded by `timeoutMs`), never rejects: the test asserts on code and output. */
export function run(bin: string, args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(bin, args, { env: { ...process.env, ...env }, timeout: timeoutMs, cwd: ROOT }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

export interface ProducerRig {
  redis: RedisServerHandle
  cache: Cache
  gateway: Gateway
  parts: GatewayParts
  processor: EventProcessor
  source: RedisEventSource
  origin: Origin
  base: string
  port: number
  watch: ReturnType<typeof watchLog>
  /** Origin requests for `path` so far. */
  originHits(path: string): number
  close(): Promise<void>
}

export const STREAM = 'larder:events'

/**
 * Starts the rig. The origin answers `GET /tagged/<tag>` with `Surrogate-Key: <tag>` and a body
 * naming how often it was asked, cacheable for 5 minutes: only an invalidation refreshes it.
 */
export async function startProducerRig(tokens: TokenConfig[] = []): Promise<ProducerRig> {
  const redis = await startRedis()
  const counts = new Map<string, number>()
  const origin = await startOrigin((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string
    const n = (counts.get(path) ?? 0) + 1
    counts.set(path, n)
    const tag = decodeURIComponent(path.replace(/^\/tagged\//, ''))
    res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300', 'surrogate-key': tag })
    res.end(`${path} #${n}`)
  })
  const cache = createCache()
  const watch = watchLog(cache.log)
  const auth = createAuthorizer(tokens)
  const routes: LarderRoute[] = []
  const gateway = createGateway({ origin: origin.url, cache, auth, routes, tenantHeader: 'x-tenant-id', logger: pino({ level: 'silent' }) })
  const parts = assembleGateway({ cache, gateway, auth, routes, rules: catalog })
  const processor = parts.processor as EventProcessor
  const source = createRedisEventSource({ url: redis.url, stream: STREAM, group: 'larder', consumer: 'test', processor, blockMs: 100 })
  await source.ready
  const addr = await gateway.listen(0, '127.0.0.1')
  return {
    redis,
    cache,
    gateway,
    parts,
    processor,
    source,
    origin,
    port: addr.port,
    base: `http://127.0.0.1:${addr.port}`,
    watch,
    originHits: (path) => counts.get(path) ?? 0,
    async close() {
      await source.close()
      await gateway.close()
      await parts.close()
      await cache.close()
      await origin.close()
      await redis.stop()
    },
  }
}

/**
 * What every producer test checks for one tag: before `produce()`, a cached L1 entry, a gateway
 * response cached from the origin and an SSE subscriber; after, the entry is gone, the gateway
 * asks the origin again and serves the new answer, and the subscriber got the invalidation.
 */
export async function assertInvalidationReachesEverything(rig: ProducerRig, tenant: string, tag: string, produce: () => Promise<void>): Promise<void> {
  const path = `/tagged/${encodeURIComponent(tag)}`
  const headers = { 'x-tenant-id': tenant }
  await rig.cache.tenant(tenant).set(`entry-of:${tag}`, 'old', { tags: [tag] })
  const first = await get(`${rig.base}${path}`, headers)
  assert.equal(first.status, 200)
  assert.equal((await get(`${rig.base}${path}`, headers)).text, first.text, 'the second read is served from the gateway cache')
  const asked = rig.originHits(path)
  const stream: StreamConn = await openStream(rig.port, `?topics=${encodeURIComponent(tag)}`, headers)
  try {
    assert.equal(stream.status, 200, stream.body)
    await stream.waitFor((es) => es.some(ofType('ready')), 10_000, 'the stream to be ready')
    await produce()
    await applied(rig.watch, tenant, tag)
    assert.equal(await rig.cache.tenant(tenant).get(`entry-of:${tag}`), undefined, 'the tagged cache entry is gone')
    await stream.waitFor((es) => es.some((m) => m.type === 'invalidate' && (payload(m).tags as string[]).includes(tag)), 10_000, `an invalidate frame for ${tag}`)
    const after = await get(`${rig.base}${path}`, headers)
    assert.equal(rig.originHits(path), asked + 1, 'the gateway asked the origin again')
    assert.notEqual(after.text, first.text, 'the gateway serves the refreshed answer')
  } finally {
    stream.close()
  }
}

/** The stream's parked (poison) entries once there are `count` of them, each as a field map. */
export async function parkedEntries(rig: ProducerRig, count: number): Promise<Record<string, string>[]> {
  return withAdmin(rig.redis.port, async (r) => {
    let entries: [string, string[]][] = []
    await until(async () => (entries = (await r.xrange(`${STREAM}:parked`, '-', '+')) as [string, string[]][]).length >= count, 10_000, `${count} parked entries`)
    return entries.map(([, f]) => Object.fromEntries(f.flatMap((v, i) => (i % 2 === 0 ? [[v, f[i + 1] as string]] : []))))
  })
}

/** Resolves once the processor recorded event `id` with `outcome` (the log's `kind: 'event'` entries). */
export function recorded(rig: ProducerRig, id: string, outcome: 'applied' | 'duplicate' | 'rejected') {
  return rig.watch.waitFor((e) => e.kind === 'event' && (e.data as { id?: string; outcome?: string }).id === id && (e.data as { outcome?: string }).outcome === outcome, `event ${id} ${outcome}`)
}
