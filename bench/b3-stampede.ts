/**
 * B3: 1,000 concurrent misses of one key spread over 2 instances sharing Redis
 * (benchmark plan target: exactly 1 load; BentoCache 1.6 does 2).
 *
 * Each trial uses a fresh key; 500 getOrSet calls on each instance are issued in the same
 * tick (interleaved), the loader takes 20 ms. We count loader calls per trial and time
 * until all 1,000 calls resolved.
 * - larder: createCache({ l2: redisStore({ log }), log: redisLog }) × 2 — single-flight per
 *   process + the Redis lease (SET NX PX) across the two;
 * - BentoCache 1.6: memory L1 + Redis L2 + Redis bus, × 2.
 *
 * Run: npm run bench -- b3        (or: node --import tsx --conditions=larder-src bench/b3-stampede.ts [trials=20])
 */
import { register } from 'node:module'
import { loadavg } from 'node:os'
import { pathToFileURL } from 'node:url'
import { createCache } from '../packages/larder/src/core/cache.ts'
import { redisLog, redisStore } from '../packages/larder/src/redis/index.ts'
import { startRedis } from '../packages/larder/src/testing/servers.ts'

// BentoCache's Redis driver imports 'ioredis', installed only under packages/larder.
const ioredisUrl = pathToFileURL(new URL('../packages/larder/node_modules/ioredis/built/index.js', import.meta.url).pathname).href
register(`data:text/javascript,${encodeURIComponent(`export async function resolve(s, c, n) { return s === 'ioredis' ? { url: ${JSON.stringify(ioredisUrl)}, format: 'commonjs', shortCircuit: true } : n(s, c) }`)}`)
const { BentoCache, bentostore } = await import('bentocache')
const { memoryDriver } = await import('bentocache/drivers/memory')
const { redisDriver, redisBusDriver } = await import('bentocache/drivers/redis')

const TRIALS = Number(process.argv[2] ?? 20)
const CALLS = 1000
const LOAD_MS = 20

const redis = await startRedis()

async function larderInstance(name: string) {
  const log = redisLog({ url: redis.url, source: name })
  const cache = createCache({ l2: redisStore({ url: redis.url, log }), log, instanceId: name, defaults: { ttl: '10m' } })
  await log.whenInitialized()
  return cache
}
const larder = [await larderInstance('A'), await larderInstance('B')]

function bentoInstance() {
  const connection = { host: '127.0.0.1', port: redis.port, keyPrefix: 'bento:' }
  return new BentoCache({
    default: 'c',
    stores: { c: bentostore().useL1Layer(memoryDriver({ maxSize: '10mb' })).useL2Layer(redisDriver({ connection })).useBus(redisBusDriver({ connection: { host: '127.0.0.1', port: redis.port } })) },
  })
}
const bento = [bentoInstance(), bentoInstance()]
await new Promise((r) => setTimeout(r, 200)) // let the buses subscribe

interface Outcome {
  loads: number[]
  ms: number[]
}

async function run(label: string, call: (instance: number, key: string, loader: () => Promise<unknown>) => Promise<unknown>): Promise<Outcome> {
  const out: Outcome = { loads: [], ms: [] }
  for (let t = 0; t < TRIALS; t++) {
    const key = `${label}-stampede-${t}`
    let loads = 0
    const loader = async () => {
      loads++
      await new Promise((r) => setTimeout(r, LOAD_MS))
      return { key, price: 4.2 }
    }
    const t0 = performance.now()
    const values = await Promise.all(Array.from({ length: CALLS }, (_, i) => call(i % 2, key, loader)))
    out.ms.push(performance.now() - t0)
    if (!values.every((v) => (v as { key?: string })?.key === key)) throw new Error(`${label}: a call got a wrong value`)
    out.loads.push(loads)
  }
  return out
}

const results: [string, Outcome][] = [
  ['larder (2 × createCache, Redis lease)', await run('larder', (i, key, loader) => (larder[i] as ReturnType<typeof createCache>).tenant('shop').getOrSet(key, loader))],
  ['BentoCache 1.6 (2 × L1 + Redis L2 + bus)', await run('bento', (i, key, loader) => (bento[i] as InstanceType<typeof BentoCache>).getOrSet({ key, factory: loader, ttl: '10m' }))],
]

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const hist = (xs: number[]) => {
  const m = new Map<number, number>()
  for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1)
  return [...m].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k} load${k === 1 ? '' : 's'} × ${v}`).join(', ')
}
console.log(`B3 stampede — ${CALLS} concurrent misses over 2 instances, loader ${LOAD_MS} ms, ${TRIALS} trials; loadavg ${loadavg()[0]?.toFixed(2)}`)
console.log('| cache | loads per trial (max) | trials by loads | median time to serve all 1,000 |')
console.log('|---|---|---|---|')
for (const [name, o] of results) console.log(`| ${name} | ${Math.max(...o.loads)} | ${hist(o.loads)} | ${median(o.ms).toFixed(1)} ms |`)

await Promise.all(larder.map((c) => c.close()))
await Promise.all(bento.map((b) => b.disconnectAll()))
await redis.stop()
