/**
 * `larder demo load`: drives the gateways of a running demo (`url`), or starts the demo
 * in-process, runs the workload through event-driven caching, then the same traffic through
 * a second gateway that only has TTLs (no change capture), and prints both side by side.
 * @module
 */
import { createCache } from 'larder'
import { createGateway } from 'larder/gateway'
import { SELLERS_PER_TENANT, TENANTS } from '../db/seed.ts'
import { DEMO_APP, DEMO_INFO_PATH, startDemo } from '../demo.ts'
import { TENANT_HEADER } from '../origin.ts'
import { Worker } from 'node:worker_threads'
import type { WorkloadOptions, WorkloadReport } from './workload.ts'

/**
 * Runs the workload on a worker thread; `originReads` (read in this thread, where the origin
 * lives) is sampled when measuring starts and when it ends.
 */
function runInWorker(options: WorkloadOptions, originReads: (() => number) | undefined, onProgress: (done: number, total: number, r: WorkloadReport) => void): Promise<WorkloadReport> {
  const { onProgress: _p, originReads: _o, checker: _c, filter: _f, onMeasuring: _m, ...data } = options
  const worker = new Worker(new URL('./worker-boot.mjs', import.meta.url), { workerData: data })
  let before: number | undefined
  return new Promise<WorkloadReport>((resolve, reject) => {
    worker.on('message', (m: { type: string; done?: number; total?: number; report?: WorkloadReport }) => {
      if (m.type === 'measuring') before = originReads?.()
      else if (m.type === 'progress') onProgress(m.done ?? 0, m.total ?? 0, m.report as WorkloadReport)
      else if (m.type === 'done') {
        const r = m.report as WorkloadReport
        if (originReads && before !== undefined) {
          r.originReads = originReads() - before
          r.saved = r.reads ? 1 - r.originReads / r.reads : undefined
        }
        resolve(r)
      }
    })
    worker.on('error', reject)
    worker.on('exit', (code) => {
      if (code !== 0) reject(new Error(`workload worker exited with ${code}`))
    })
  })
}

export interface LoadOptions {
  /** A running gateway to drive (no comparison run then). */
  url?: string | undefined
  requests?: number
  warmup?: number
  concurrency?: number
  writeRatio?: number
  seed?: number
  /** Also run TTL-only caching. Default true (in-process only). */
  compare?: boolean
  /** Request every product page and sellers list once before the warm-up. Default true. */
  prewarm?: boolean
  out?: (line: string) => void
  /** Progress bar stream (default process.stderr when it is a TTY). */
  progress?: NodeJS.WriteStream | undefined
}

export interface LoadResult {
  events: WorkloadReport
  ttlOnly: WorkloadReport | undefined
}

function bar(label: string, stream: NodeJS.WriteStream | undefined) {
  if (!stream) return () => {}
  return (done: number, total: number, r: WorkloadReport) => {
    const width = 30
    const filled = Math.round((done / total) * width)
    stream.write(
      `\r${label.padEnd(10)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round((done / total) * 100)).padStart(3)}% ` +
        `${done}/${total}  hit ${(r.hitRatio * 100).toFixed(1)}%  stale ${r.staleReads}  ${Math.round(r.rps)} req/s `,
    )
    if (done >= total) stream.write('\n')
  }
}

const pct = (x: number | undefined) => (x === undefined ? 'n/a' : `${(x * 100).toFixed(1)} %`)

export function formatReports(rows: [string, WorkloadReport][]): string {
  const lines = [
    ['', ...rows.map(([name]) => name)],
    ['requests (reads + writes)', ...rows.map(([, r]) => `${r.reads} + ${r.writes}`)],
    ['hit ratio', ...rows.map(([, r]) => pct(r.hitRatio))],
    ['hit ratio, repeat reads', ...rows.map(([, r]) => `${pct(r.warmHitRatio)} (${r.firstReads} first reads left out)`)],
    ['origin reads', ...rows.map(([, r]) => (r.originReads === undefined ? 'n/a' : String(r.originReads)))],
    ['origin requests saved', ...rows.map(([, r]) => pct(r.saved))],
    ['latency p50 / p99', ...rows.map(([, r]) => `${r.p50Ms.toFixed(2)} / ${r.p99Ms.toFixed(2)} ms`)],
    ['stale reads', ...rows.map(([, r]) => `${r.staleReads} (of ${r.checkedRows} rows checked)`)],
    ['writes acked before invalidation', ...rows.map(([, r]) => String(r.pendingAcks))],
    ['errors', ...rows.map(([, r]) => String(r.errors))],
    ['throughput', ...rows.map(([, r]) => `${Math.round(r.rps)} req/s`)],
  ]
  const widths = lines[0]?.map((_, c) => Math.max(...lines.map((l) => (l[c] ?? '').length))) ?? []
  return lines.map((l) => l.map((cell, c) => cell.padEnd(widths[c] ?? 0)).join('   ')).join('\n')
}

/**
 * The gateways of the demo running at `url` (what its GET /_larder/demo lists), or undefined
 * when nothing answers there or what answers is not the demo (its writes must not go to
 * another service).
 */
export async function findRunningDemo(url: string, timeoutMs = 2000): Promise<string[] | undefined> {
  try {
    const res = await fetch(new URL(DEMO_INFO_PATH, url), { signal: AbortSignal.timeout(timeoutMs) })
    const body = (await res.json().catch(() => undefined)) as { app?: unknown; gateways?: unknown } | undefined
    if (!res.ok || body?.app !== DEMO_APP || !Array.isArray(body.gateways) || body.gateways.length === 0) return undefined
    return body.gateways.every((g) => typeof g === 'string') ? (body.gateways as string[]) : undefined
  } catch {
    return undefined
  }
}

function staleLines(out: (line: string) => void, rows: [string, WorkloadReport | undefined][]): void {
  for (const [name, r] of rows) {
    for (const s of r?.staleExamples ?? []) out(`  stale (${name}): ${s.entity} v${s.seen} < acknowledged v${s.required} at ${s.url}${s.detail ? ` (${s.detail})` : ''}`)
  }
}

export async function runLoad(options: LoadOptions = {}): Promise<LoadResult> {
  const out = options.out ?? ((l: string) => console.log(l))
  const progress = options.progress ?? (process.stderr.isTTY ? process.stderr : undefined)
  const tenants = TENANTS.map((t) => ({ id: t.id, products: t.products, sellers: SELLERS_PER_TENANT }))
  const base: Omit<WorkloadOptions, 'url'> = {
    tenants,
    requests: options.requests ?? 20_000,
    concurrency: options.concurrency ?? 16,
    writeRatio: options.writeRatio ?? 0.01,
    seed: options.seed ?? 42,
    prewarm: options.prewarm ?? true,
    ...(options.warmup !== undefined ? { warmup: options.warmup } : {}),
  }

  const workload = `workload: ${base.requests} requests after ${base.warmup ?? base.requests} warm-up, ${((base.writeRatio ?? 0) * 100).toFixed(1)} % writes, ${base.concurrency} in flight, Zipf s=1.1${base.prewarm ? '; every product page and sellers list requested once first' : ''}`
  if (options.url) {
    out(workload)
    const events = await runInWorker({ ...base, url: options.url }, undefined, bar('gateway', progress))
    out('')
    out(formatReports([['gateway', events]]))
    staleLines(out, [['gateway', events]])
    return { events, ttlOnly: undefined }
  }

  out('starting the demo in-process (embedded PostgreSQL, one gateway)…')
  const demo = await startDemo({ port: 0, log: (l) => out(`  ${l}`) })
  try {
    const gw = demo.instances[0]
    if (!gw) throw new Error('no gateway instance started')
    const originReads = () => demo.origin.stats().reads
    out(workload)
    const events = await runInWorker({ ...base, url: gw.url }, originReads, bar('events', progress))
    let ttlOnly: WorkloadReport | undefined
    if (options.compare !== false) {
      // Same origin, a cache that hears of no change: what TTLs alone give.
      const cache = createCache({ instanceId: 'ttl-only' })
      const ttl = createGateway({ origin: demo.originUrl, cache, tenantHeader: TENANT_HEADER })
      const addr = await ttl.listen(0, '127.0.0.1')
      try {
        ttlOnly = await runInWorker({ ...base, url: `http://127.0.0.1:${addr.port}` }, originReads, bar('ttl-only', progress))
      } finally {
        await ttl.close()
        await cache.close()
      }
    }
    out('')
    out(formatReports(ttlOnly ? [['event-driven', events], ['TTL only', ttlOnly]] : [['event-driven', events]]))
    staleLines(out, [['event-driven', events], ['TTL only', ttlOnly]])
    return { events, ttlOnly }
  } finally {
    await demo.close()
  }
}
