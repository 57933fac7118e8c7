/**
 * `larder demo start|load` (run through packages/larder/src/cli/demo.ts or scripts/start.mjs).
 * @module
 */
import { parseArgs } from 'node:util'
import { startDemo } from './demo.ts'
import { runLoad } from './load/run.ts'

const USAGE = `usage:
  larder demo start [--port 8080] [--host 127.0.0.1] [--instances N] [--origin-port P] [--data-dir DIR] [--ttl-only]
      env: REDIS_URL (needed for --instances > 1), DATABASE_URL (a real PostgreSQL instead of the embedded one), LARDER_ADMIN_TOKEN
  larder demo load [--requests 20000] [--warmup N] [--concurrency 16] [--write-ratio 0.01] [--seed 42] [--no-compare] [--no-prewarm] [--url http://gateway[,http://gateway2]]`

function int(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def
  if (!/^\d+$/.test(v)) throw new Error(`--${name} must be a non-negative integer`)
  return Number(v)
}

export async function main(argv: string[]): Promise<number> {
  const [cmd = 'start', ...rest] = argv
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE)
    return 0
  }
  if (cmd === 'start') return start(rest)
  if (cmd === 'load') return load(rest)
  console.error(`unknown demo command "${cmd}"\n${USAGE}`)
  return 2
}

async function start(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      instances: { type: 'string' },
      'origin-port': { type: 'string' },
      'data-dir': { type: 'string' },
      'ttl-only': { type: 'boolean' },
    },
  })
  const port = int(values.port ?? process.env.PORT, 'port', 8080)
  console.log('Larder storefront demo — starting…')
  const demo = await startDemo({
    port,
    host: values.host ?? '127.0.0.1',
    instances: int(values.instances, 'instances', 1),
    originPort: int(values['origin-port'], 'origin-port', 0),
    dataDir: values['data-dir'],
    redisUrl: process.env.REDIS_URL || undefined,
    databaseUrl: process.env.DATABASE_URL || undefined,
    events: !values['ttl-only'],
    log: (l) => console.log(`  ${l}`),
  }).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'EADDRINUSE') throw new Error(`port ${port} is taken; pick another with: npm start -- --port ${port + 10}`)
    throw err
  })
  const first = demo.instances[0]?.url ?? ''
  console.log('')
  for (const [i, inst] of demo.instances.entries()) console.log(`  storefront${demo.instances.length > 1 ? ` #${i + 1}` : ''}   ${inst.url}/?tenant=acme`)
  console.log(`  dashboard    ${demo.dashboardUrl}`)
  console.log(`  metrics      ${first}/metrics`)
  console.log(`  SSE stream   ${first}/_larder/stream?topics=product:*  (header X-Tenant-Id: acme)`)
  console.log(`  origin       ${demo.originUrl}  (uncached, for comparison)`)
  console.log('')
  console.log(`  try   curl -i -H 'x-tenant-id: acme' ${first}/api/v1/products/1`)
  console.log(`        curl -X PATCH -H 'x-tenant-id: acme' -H 'content-type: application/json' -d '{"priceCents":1999}' ${first}/api/v1/products/1`)
  console.log('  load  npx larder demo load   (Zipf traffic with 1 % writes, stale-read checker, TTL-only comparison)')
  console.log(`  ready (${demo.instances.length} gateway${demo.instances.length > 1 ? 's sharing Redis' : ', embedded store and log'}; ${demo.feed ? 'event-driven invalidation' : 'TTL only'}). Ctrl-C stops.`)

  await new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      console.log(`\n${sig}: stopping…`)
      resolve()
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
  // A part that fails to let go must not keep the process (and its ports) alive.
  setTimeout(() => {
    console.error('shutdown took longer than 5 s; exiting anyway')
    process.exit(1)
  }, 5000).unref()
  await demo.close()
  console.log('stopped.')
  return 0
}

async function load(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      requests: { type: 'string' },
      warmup: { type: 'string' },
      concurrency: { type: 'string' },
      'write-ratio': { type: 'string' },
      seed: { type: 'string' },
      url: { type: 'string' },
      'no-compare': { type: 'boolean' },
      'no-prewarm': { type: 'boolean' },
    },
  })
  const writeRatio = values['write-ratio'] === undefined ? 0.01 : Number(values['write-ratio'])
  if (!(writeRatio >= 0 && writeRatio <= 1)) throw new Error('--write-ratio must be a number between 0 and 1')
  const result = await runLoad({
    url: values.url,
    requests: int(values.requests, 'requests', 20_000),
    ...(values.warmup !== undefined ? { warmup: int(values.warmup, 'warmup', 0) } : {}),
    concurrency: Math.max(1, int(values.concurrency, 'concurrency', 16)),
    writeRatio,
    seed: int(values.seed, 'seed', 42),
    compare: !values['no-compare'],
    prewarm: !values['no-prewarm'],
  })
  const e = result.events
  const ok = e.staleReads === 0 && e.hitRatio >= 0.95
  console.log(
    `\nB8 (>= 95 % hit ratio, 0 stale reads): ${e.staleReads} stale reads; hit ratio ${(e.hitRatio * 100).toFixed(1)} % of all reads, ` +
      `${(e.warmHitRatio * 100).toFixed(1)} % of repeat reads (first reads of a URL are compulsory misses) — ${ok ? 'met' : e.staleReads === 0 && e.warmHitRatio >= 0.95 ? 'met on repeat reads only' : 'NOT met'}`,
  )
  return ok ? 0 : 1
}

// Run directly (`node --import tsx --conditions=larder-src apps/storefront/src/cli.ts start`).
if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err) => {
      console.error(`larder demo: ${(err as Error).message}`)
      process.exitCode = 1
    },
  )
}
