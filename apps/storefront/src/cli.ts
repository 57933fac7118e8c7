/**
 * `larder demo start|load` (run through packages/larder/src/cli/demo.ts or scripts/start.mjs).
 * Flags, ports and listen errors go through the helpers every `larder` command shares
 * (`larder/cli`). The demo and the load generator are imported only when they run, so
 * `--help` answers at once.
 * @module
 */
import { checkPortFree, isListenError, listenErrorMessage, parseCount, parseFlags, parsePort, UsageError, wantsHelp } from 'larder/cli'

const START_USAGE = `usage: larder demo start [--port 8080] [--host 127.0.0.1] [--instances N] [--origin-port P] [--data-dir DIR] [--ttl-only]
  Seeds three shops into an embedded PostgreSQL and starts the origin shop API, the caching
  gateway, the SSE hub, the admin API with its dashboard, and /metrics. Ctrl-C stops it.
  --port P          the (first) gateway's port; default $PORT, else 8080
  --instances N     N gateways on ports P, P+1, …, sharing Redis (needs REDIS_URL)
  --origin-port P   the origin's port; default any free port
  --data-dir DIR    keep the embedded database in DIR (default: in memory)
  --ttl-only        no change capture: entries only expire, for comparison
  env: REDIS_URL (needed for --instances > 1), DATABASE_URL (a real PostgreSQL instead of the
       embedded one), LARDER_ADMIN_TOKEN (the dashboard's token; default a random one)`

const LOAD_USAGE = `usage: larder demo load [--url http://127.0.0.1:8080[,http://127.0.0.1:8081]] [--in-process]
                        [--requests 20000] [--warmup N] [--concurrency 16] [--write-ratio 0.01]
                        [--seed 42] [--no-prewarm] [--no-compare]
  Sends storefront traffic (Zipf-popular reads, 1 % writes) through the demo and checks every
  read against the versions that acknowledged writes produced. Which demo it drives:
    --url URL[,URL]   the gateways of a running demo (\`larder demo start\` prints this command)
    neither           the demo running at http://127.0.0.1:$PORT (default 8080) when there is one,
                      so its dashboard shows the traffic; otherwise one started in this process
    --in-process      a demo of its own, then the same traffic through a TTL-only gateway for
                      comparison (--no-compare skips that)
  --requests N      measured requests (default 20000); --warmup N requests first (default: as many)
  --concurrency N   requests in flight (default 16); --write-ratio R share of writes (default 0.01)
  --seed N          which random traffic (the same N sends the same requests)
  --no-prewarm      skip requesting every product page once before the warm-up
  Exit status: 0 when no read was stale and no request failed, 1 otherwise. The hit ratio is
  reported beside its target (95 %); it does not change the exit status.`

const USAGE = `usage: larder demo start [flags]   start the storefront demo (the default)
       larder demo load [flags]    drive it with traffic and check for stale reads
larder demo start --help and larder demo load --help list the flags.`

/** The address `larder demo load` looks for a running demo at: where `larder demo start` listens by default. */
function defaultDemoUrl(): string {
  return `http://127.0.0.1:${parsePort(process.env.PORT || '8080', 'PORT')}`
}

export async function main(argv: string[]): Promise<number> {
  const [first, ...more] = argv
  // `larder demo --port 9000` is `larder demo start --port 9000`.
  const [cmd, rest] = first === undefined || (first.startsWith('-') && first !== '--help' && first !== '-h') ? ['start', argv] : [first, more]
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE)
    return 0
  }
  const usage = cmd === 'start' ? START_USAGE : cmd === 'load' ? LOAD_USAGE : undefined
  if (!usage) {
    console.error(`larder demo: unknown command "${cmd}" (start or load)\n${USAGE}`)
    return 2
  }
  if (wantsHelp(rest)) {
    console.log(usage)
    return 0
  }
  try {
    return cmd === 'start' ? await start(rest) : await load(rest)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    console.error(`larder demo ${cmd}: ${err.message}\n${usage}`)
    return err.exitCode
  }
}

async function start(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    instances: { type: 'string' },
    'origin-port': { type: 'string' },
    'data-dir': { type: 'string' },
    'ttl-only': { type: 'boolean' },
  })
  const port = parsePort(values.port ?? (process.env.PORT || '8080'), values.port === undefined && process.env.PORT ? 'PORT' : '--port')
  const originPort = parsePort(values['origin-port'] ?? '0', '--origin-port')
  const instances = parseCount(values.instances, '--instances', 1, 8)
  if (instances < 1) throw new UsageError('--instances must be an integer 1-8, got "0"')
  if (instances > 1 && !process.env.REDIS_URL) throw new UsageError('--instances > 1 needs Redis: set REDIS_URL (e.g. REDIS_URL=redis://127.0.0.1:6379)')
  const host = values.host ?? '127.0.0.1'
  const retry = `--port (e.g. npm start -- --port ${port + 10})`
  // Before seeding (seconds of work): every port the demo will listen on.
  for (const [p, flag] of [...Array.from({ length: port === 0 ? 0 : instances }, (_, i) => [port + i, retry] as const), [originPort, '--origin-port'] as const]) {
    const taken = await checkPortFree(p, host, flag)
    if (taken) {
      console.error(`larder demo: ${taken}`)
      return 1
    }
  }
  console.log('Larder storefront demo — starting…')
  const { startDemo } = await import('./demo.ts')
  let demo: Awaited<ReturnType<typeof startDemo>>
  try {
    demo = await startDemo({
      port,
      host,
      instances,
      originPort,
      dataDir: values['data-dir'],
      redisUrl: process.env.REDIS_URL || undefined,
      databaseUrl: process.env.DATABASE_URL || undefined,
      events: !values['ttl-only'],
      log: (l) => console.log(`  ${l}`),
    })
  } catch (err) {
    // Another process took a port between the check and the listen.
    if (!isListenError(err)) throw err
    const e = err as NodeJS.ErrnoException & { port?: number; address?: string }
    console.error(`larder demo: ${listenErrorMessage(err, e.port ?? port, e.address ?? host, retry)}`)
    return 1
  }
  const urls = demo.instances.map((i) => i.url)
  const first = urls[0] ?? ''
  console.log('')
  for (const [i, url] of urls.entries()) console.log(`  storefront${urls.length > 1 ? ` #${i + 1}` : ''}   ${url}/?tenant=acme`)
  console.log(`  dashboard    ${demo.dashboardUrl}`)
  console.log(`  metrics      ${first}/metrics`)
  console.log(`  SSE stream   ${first}/_larder/stream?topics=product:*  (header X-Tenant-Id: acme)`)
  console.log(`  origin       ${demo.originUrl}  (uncached, for comparison)`)
  console.log('')
  console.log(`  try   curl -i -H 'x-tenant-id: acme' ${first}/api/v1/products/1`)
  console.log(`        curl -X PATCH -H 'x-tenant-id: acme' -H 'content-type: application/json' -d '{"priceCents":1999}' ${first}/api/v1/products/1`)
  console.log(`  load  npx larder demo load --url ${urls.join(',')}`)
  console.log(`        (storefront traffic with 1 % writes through ${urls.length > 1 ? 'these gateways' : 'this gateway'}, every read checked for staleness; the dashboard shows it)`)
  console.log(`  ready (${urls.length} gateway${urls.length > 1 ? 's sharing Redis' : ', embedded store and log'}; ${demo.feed ? 'event-driven invalidation' : 'TTL only'}). Ctrl-C stops.`)

  await new Promise<void>((resolve) => {
    // Stays installed while the demo stops: Ctrl-C reaches this process from the terminal and
    // again from each parent that forwards it (npm start, larder demo); those must not kill
    // it half-way (a signal with no handler would), nor print the line twice.
    let stopping = false
    const stop = (sig: string) => {
      if (stopping) return
      stopping = true
      console.log(`\n${sig}: stopping…`)
      resolve()
    }
    process.on('SIGINT', () => stop('SIGINT'))
    process.on('SIGTERM', () => stop('SIGTERM'))
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
  const { values } = parseFlags(argv, {
    requests: { type: 'string' },
    warmup: { type: 'string' },
    concurrency: { type: 'string' },
    'write-ratio': { type: 'string' },
    seed: { type: 'string' },
    url: { type: 'string' },
    'in-process': { type: 'boolean' },
    'no-compare': { type: 'boolean' },
    'no-prewarm': { type: 'boolean' },
  })
  const writeRatio = values['write-ratio'] === undefined ? 0.01 : Number(values['write-ratio'])
  if (!(writeRatio >= 0 && writeRatio <= 1)) throw new UsageError(`--write-ratio must be a number between 0 and 1, got "${values['write-ratio']}"`)
  if (values.url !== undefined && values['in-process']) throw new UsageError('--url and --in-process exclude each other')
  const options = {
    requests: parseCount(values.requests, '--requests', 20_000),
    ...(values.warmup !== undefined ? { warmup: parseCount(values.warmup, '--warmup', 0) } : {}),
    concurrency: Math.max(1, parseCount(values.concurrency, '--concurrency', 16, 1024)),
    writeRatio,
    seed: parseCount(values.seed, '--seed', 42),
    compare: !values['no-compare'],
    prewarm: !values['no-prewarm'],
  }
  const { findRunningDemo, runLoad } = await import('./load/run.ts')
  let url = values.url
  if (url === undefined && !values['in-process']) {
    const at = defaultDemoUrl()
    const gateways = await findRunningDemo(at)
    if (gateways) {
      url = gateways.join(',')
      console.log(`driving the demo running at ${url} (its dashboard shows this traffic; --in-process runs a separate demo with a TTL-only comparison)`)
    } else console.log(`no demo is running at ${at}; starting one in this process (start one with npm start first to watch this traffic on its dashboard)`)
  }
  const result = await runLoad({ ...options, url })
  const e = result.events
  const correct = e.staleReads === 0 && e.errors === 0
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`
  const target = e.hitRatio >= HIT_TARGET ? 'met' : e.warmHitRatio >= HIT_TARGET ? 'met on repeat reads' : 'below target this run'
  console.log('')
  console.log(
    `correctness  ${e.staleReads} stale read${e.staleReads === 1 ? '' : 's'} (of ${e.checkedRows} rows checked), ${e.errors} failed request${e.errors === 1 ? '' : 's'}: ` +
      (correct ? 'every read was fresh' : e.staleReads > 0 ? 'the cache served values older than an acknowledged write' : 'some requests failed'),
  )
  console.log(
    `hit ratio    ${pct(e.hitRatio)} of all reads, ${pct(e.warmHitRatio)} of repeat reads; target ${pct(HIT_TARGET)}: ${target}` +
      (target === 'met' ? '' : ' (the first read of each URL always misses; longer runs and a warm cache raise it)'),
  )
  return correct ? 0 : 1
}

/** The hit ratio the demo's caching aims for (reported, not enforced). */
const HIT_TARGET = 0.95

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
