/**
 * B1's tracing mode (LARDER_BENCH_TRACING=1 npm run bench -- b1): what OpenTelemetry costs.
 * Three operations, each measured with no SDK registered (larder/tracing not enabled: nobody
 * listens on the tracing channels), with an SDK registered but larder/tracing not enabled
 * ("SDK only"), and with the SDK and `enableTracing()` ("tracing"):
 *   - B1's L1 hit through getOrSet (no span: hits are counted by metrics, not traced);
 *   - a load: getOrSet of a new key with a sync loader (L1 only), one `larder.load` span each;
 *   - a gateway HIT: GET through createGateway (in this process, keep-alive undici client),
 *     one request span each (the cache status arrives on the http channel).
 * The SDK is a BasicTracerProvider with the AsyncLocalStorage context manager (made active, as
 * any instrumented app does) and a batch processor feeding an exporter that drops spans, so the
 * cost is the span's, not an export's. "SDK only" ÷ "no SDK" is the context manager's cost;
 * "tracing" ÷ "SDK only" is Larder's spans'.
 * Rounds alternate the three cases in this one process; ratios compare cases of the same round.
 */
import { context, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createCache } from 'larder'
import { createGateway } from 'larder/gateway'
import { enableTracing } from 'larder/tracing'
import { Bench } from 'tinybench'
import { Pool } from 'undici'

const ROUNDS = 3
const KEYS = 10_000

const dropping: SpanExporter & { spans: number } = {
  spans: 0,
  export(spans: ReadableSpan[], done: (r: { code: number }) => void) {
    dropping.spans += spans.length
    done({ code: 0 })
  },
  shutdown: async () => {},
}

/** Registers the SDK globally; enableTracing() too when `larder`. Returns the undo. */
function register(larder: boolean): () => Promise<void> {
  const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropping, { maxQueueSize: 65_536, maxExportBatchSize: 4096 })] })
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
  trace.setGlobalTracerProvider(provider)
  // As in an application whose other instrumentation uses the context (any context.with
  // turns the AsyncLocalStorage's promise hooks on), so "SDK only" is not unrealistically cheap.
  context.with(context.active(), () => {})
  const tracing = larder ? enableTracing() : undefined
  return async () => {
    tracing?.disable()
    await provider.shutdown()
    trace.disable()
    context.disable()
  }
}

export async function tracingRounds(): Promise<void> {
  const cache = createCache({ l1: { maxEntries: 100_000 } })
  const shop = cache.tenant('acme')
  const keys = Array.from({ length: KEYS }, (_, i) => `product:${i}`)
  for (const k of keys) await shop.getOrSet(k, () => ({ k }), { ttl: '1h', tags: [k, 'catalog'] })
  let n = 0
  let fresh = 0
  const loader = () => ({ never: true })
  const hit = async () => {
    await shop.getOrSet(keys[n++ % KEYS] as string, loader, { tags: ['x', 'y'] })
  }
  const load = async () => {
    await shop.getOrSet(`new:${fresh++}`, loader, { ttl: '1m' })
  }
  // The gateway: an in-process origin, entries cached for an hour, one keep-alive client.
  const origin = createServer((_req, res) => res.writeHead(200, { 'cache-control': 'max-age=3600' }).end('{"id":42}'))
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r))
  const gwCache = createCache({ l1: { maxEntries: 10_000 } })
  const gw = createGateway({ origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`, cache: gwCache, defaultTenant: 'acme' })
  const client = new Pool(`http://127.0.0.1:${(await gw.listen(0)).port}`, { connections: 1, pipelining: 1 })
  let g = 0
  const request = async () => {
    const r = await client.request({ method: 'GET', path: `/p/${g++ % 100}` })
    await r.body.text()
  }
  const measure = async (fn: () => Promise<void>) => {
    const b = new Bench({ time: 1000, warmup: true, warmupTime: 200 })
    b.add('x', fn)
    await b.run()
    return (b.tasks[0]!.result as unknown as { throughput: { mean: number } }).throughput.mean
  }
  type Row = { hit: number[]; load: number[]; gateway: number[] }
  const rows: Row[] = []
  // Per round: no SDK, SDK registered (larder/tracing not enabled), SDK + enableTracing().
  // Each measurement registers (and removes) its own setup after a GC, so one case's spans
  // (export, garbage) do not land in the next case's time.
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
  for (let round = 1; round <= ROUNDS; round++) {
    const row: Row = { hit: [], load: [], gateway: [] }
    for (const op of ['hit', 'load', 'gateway'] as const) {
      for (const mode of [0, 1, 2]) {
        gc()
        const undo = mode === 0 ? undefined : register(mode === 2)
        row[op].push(await measure(op === 'hit' ? hit : op === 'load' ? load : request))
        await undo?.()
      }
    }
    rows.push(row)
  }
  await cache.close()
  await client.close()
  await gw.close()
  await gwCache.close()
  origin.close()
  const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : `${(x / 1e3).toFixed(0)} k`)
  const r2 = (a: number, b: number) => `${(a / b).toFixed(2)}×`
  console.log('\nB1 tracing mode — same process, rounds alternate: no SDK | SDK registered (context manager + provider) | SDK + enableTracing()')
  console.log('| round | operation | no SDK | SDK only | SDK + larder tracing | SDK only ÷ no SDK | tracing ÷ no SDK | tracing ÷ SDK only |')
  console.log('|---|---|---|---|---|---|---|---|')
  rows.forEach((r, i) => {
    for (const [name, v] of [['L1 hit (no span)', r.hit], ['load (1 span)', r.load], ['gateway HIT (1 span)', r.gateway]] as const) {
      const [off, sdk, on] = v as [number, number, number]
      console.log(`| ${i + 1} | ${name} | ${fmt(off)} | ${fmt(sdk)} | ${fmt(on)} | ${r2(sdk, off)} | ${r2(on, off)} | ${r2(on, sdk)} |`)
    }
  })
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] as number
  const ratio = (op: keyof Row, a: number, b: number) => med(rows.map((r) => (r[op][a] as number) / (r[op][b] as number))).toFixed(2)
  console.log(`medians: L1 hit — tracing ÷ no SDK ${ratio('hit', 2, 0)}×, tracing ÷ SDK only ${ratio('hit', 2, 1)}×; load — tracing ÷ no SDK ${ratio('load', 2, 0)}×, tracing ÷ SDK only ${ratio('load', 2, 1)}×; gateway HIT — tracing ÷ no SDK ${ratio('gateway', 2, 0)}×, tracing ÷ SDK only ${ratio('gateway', 2, 1)}× (${dropping.spans} spans exported)`)
}
