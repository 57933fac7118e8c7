/**
 * log-scale: what one invalidation log costs Redis as the fleet grows, and how partitions
 * and replica reads spread that cost. A loopback Redis Cluster (3 masters, each with a
 * replica); R reader processes' worth of `redisLog` instances (in one child process) stand
 * in for R app instances, each reading every entry; one appender appends at a fixed rate.
 *
 * Per configuration (1 or 3 partitions × master or replica reads), same run, same cluster:
 * - CPU of every redis-server (INFO CPU used_cpu_sys + used_cpu_user, delta over the run),
 *   the busiest node's, and CPU per delivered entry (all nodes' CPU / (entries × readers));
 * - delivery latency append → reader callback, p50 / p99 over every (entry, reader) pair.
 * Anchor: 1 partition, master reads (today's layout); other rows as ratios to it.
 *
 * Run: npm run bench -- log-scale, or
 *   node --import tsx --conditions=larder-src bench/log-scale.ts [readers=30] [rate=1000/s] [seconds=3]
 */
import { type ChildProcess, fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { LogEntry } from '../packages/larder/src/core/types.ts'
import { connect, type RedisClient } from '../packages/larder/src/redis/connection.ts'
import { partitionOf, redisLog } from '../packages/larder/src/redis/index.ts'
import { startRedisCluster } from '../packages/larder/src/testing/servers.ts'

const SELF = fileURLToPath(import.meta.url)
const now = () => performance.timeOrigin + performance.now()

interface Config {
  partitions: number
  replica: boolean
  /** Tenant routing: reader i reads only partition i mod partitions (`tenants` option). */
  routed?: boolean
  /** The readers' `readInterval` (ms). */
  interval?: number
  /** The appender appends one batch every `tick` ms (default 10): entries per XREAD follow it. */
  tick?: number
}

/** A tenant of partition `p` (of `n`), for the `tenants` option of a routed reader. */
function tenantOf(p: number, n: number): string {
  for (let k = 0; ; k++) if (partitionOf(`tenant-${k}`, n) === p) return `tenant-${k}`
}

// ---------------------------------------------------------------- reader child
async function readers(urls: string[], stream: string, cfg: Config, count: number): Promise<void> {
  const lat: number[] = []
  let delivered = 0
  const logs = Array.from({ length: count }, (_, i) =>
    redisLog({ cluster: urls, stream, partitions: cfg.partitions, replica: cfg.replica, source: `r${i}`, timeout: '2s', readInterval: cfg.interval ?? 0, ...(cfg.routed ? { tenants: [tenantOf(i % cfg.partitions, cfg.partitions)] } : {}) }),
  )
  for (const log of logs) {
    log.subscribe(
      {
        entries(es: readonly LogEntry[]) {
          const t = now()
          for (const e of es) {
            const sent = (e.data as { t?: number } | undefined)?.t
            if (sent === undefined) continue
            lat.push(t - sent)
            delivered++
          }
        },
        gap() {},
      },
      'now',
    )
  }
  await Promise.all(logs.map((l) => l.whenInitialized()))
  process.send?.({ type: 'ready' })
  process.on('message', async (m: { type: string; expect?: number }) => {
    if (m.type === 'reset') {
      lat.length = 0
      delivered = 0
      process.send?.({ type: 'reset' })
    } else if (m.type === 'collect') {
      const deadline = Date.now() + 20_000
      while (delivered < (m.expect ?? 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      lat.sort((a, b) => a - b)
      const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? Number.NaN
      process.send?.({ type: 'stats', delivered, p50: q(0.5), p99: q(0.99), max: lat[lat.length - 1] ?? Number.NaN })
      await Promise.all(logs.map((l) => l.close()))
      process.exit(0)
    }
  })
}

// ---------------------------------------------------------------- main
function waitFor<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: { type: string }) => {
      if (m.type === type) {
        child.off('message', on)
        resolve(m as T)
      }
    }
    child.on('message', on)
    child.once('exit', (code) => reject(new Error(`reader child exited with ${code} before '${type}'`)))
  })
}

interface NodeInfo {
  port: number
  client: RedisClient
}

async function cpuOf(n: NodeInfo): Promise<number> {
  const info = (await n.client.info('cpu')) as string
  const get = (k: string) => Number(new RegExp(`${k}:([0-9.]+)`).exec(info)?.[1] ?? 0)
  return get('used_cpu_sys') + get('used_cpu_user')
}

/** XREAD calls served so far (INFO commandstats). */
async function xreadsOf(n: NodeInfo): Promise<number> {
  const info = (await n.client.info('commandstats')) as string
  return Number(/cmdstat_xread:calls=(\d+)/.exec(info)?.[1] ?? 0)
}

/** Least squares of cpu ≈ a·calls + b·deliveries over the rows (no intercept). */
function fit(rows: { cpu: number; calls: number; deliveries: number }[]): { a: number; b: number } {
  let xx = 0
  let xy = 0
  let yy = 0
  let xc = 0
  let yc = 0
  for (const r of rows) {
    xx += r.calls * r.calls
    xy += r.calls * r.deliveries
    yy += r.deliveries * r.deliveries
    xc += r.calls * r.cpu
    yc += r.deliveries * r.cpu
  }
  const det = xx * yy - xy * xy
  return { a: (xc * yy - yc * xy) / det, b: (yc * xx - xc * xy) / det }
}

async function roleOf(n: NodeInfo): Promise<string> {
  return ((await n.client.call('ROLE')) as string[])[0] as string
}

async function main(): Promise<void> {
  const [readerCount = 30, rate = 1000, seconds = 3] = process.argv.slice(2).map(Number)
  const cluster = await startRedisCluster({ masters: 3, replicas: 1 })
  const nodes: NodeInfo[] = cluster.nodes.map((n) => ({ port: n.port, client: connect({ url: n.url }, 'log-scale').client }))
  try {
    // Replicas serve reads only once in sync.
    for (const n of nodes) {
      for (let i = 0; i < 200; i++) {
        const info = (await n.client.info('replication')) as string
        if (info.includes('role:master') || info.includes('master_link_status:up')) break
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    console.log(`log-scale: ${readerCount} readers, ${rate} entries/s for ${seconds} s per row, Cluster of 3 masters + 3 replicas on loopback`)
    const configs: Config[] = [
      { partitions: 1, replica: false },
      { partitions: 3, replica: false },
      { partitions: 1, replica: true },
      { partitions: 3, replica: true },
      { partitions: 3, replica: false, routed: true },
      { partitions: 3, replica: true, routed: true },
      { partitions: 3, replica: true, routed: true, interval: 10 },
      // Few, full reads: the per-entry cost alone (and the fit's second point).
      { partitions: 1, replica: false, tick: 100 },
    ]
    const rows: string[] = []
    let anchor: { busiest: number; perDelivery: number } | undefined
    const samples: { cpu: number; calls: number; deliveries: number }[] = []
    for (const [i, cfg] of configs.entries()) {
      const stream = `scale-${i}`
      const rowStarted = Date.now()
      const child = fork(SELF, ['--child', JSON.stringify({ urls: cluster.urls, stream, cfg, count: readerCount })], { execArgv: ['--import', 'tsx', '--conditions=larder-src'] })
      await waitFor(child, 'ready')
      const appender = redisLog({ cluster: cluster.urls, stream, partitions: cfg.partitions, source: 'bench', timeout: '2s' })
      await appender.whenInitialized()
      // Warm-up (slot maps, scripts), then measure.
      await appender.appendMany(Array.from({ length: 50 }, (_, k) => ({ tenant: `t${k}`, kind: 'hard' as const, tags: ['warm'] })))
      await new Promise((r) => setTimeout(r, 500))
      child.send({ type: 'reset' })
      await waitFor(child, 'reset')
      const cpu0 = await Promise.all(nodes.map(cpuOf))
      const calls0 = await Promise.all(nodes.map(xreadsOf))
      const started = Date.now()
      const tickMs = cfg.tick ?? 10
      const perTick = Math.max(1, Math.round((rate * tickMs) / 1000))
      let sent = 0
      let seq = 0
      // Entries per partition: a routed reader gets only its partition's.
      const perPartition = new Array<number>(cfg.partitions).fill(0)
      while (Date.now() - started < seconds * 1000) {
        const tick = Date.now()
        const batch = Array.from({ length: perTick }, () => ({ tenant: `tenant-${seq++ % 500}`, kind: 'hard' as const, tags: [`product:${seq}`], data: { t: now() } }))
        // Tenants of one tick go to their partitions as one append each, concurrently.
        await appender.appendMany(batch)
        sent += batch.length
        for (const e of batch) (perPartition[partitionOf(e.tenant, cfg.partitions)] as number)++
        const left = tickMs - (Date.now() - tick)
        if (left > 0) await new Promise((r) => setTimeout(r, left))
      }
      const expect = cfg.routed ? Array.from({ length: readerCount }, (_, r) => perPartition[r % cfg.partitions] as number).reduce((a, b) => a + b, 0) : sent * readerCount
      child.send({ type: 'collect', expect })
      const stats = await waitFor<{ delivered: number; p50: number; p99: number; max: number }>(child, 'stats')
      const elapsed = (Date.now() - started) / 1000
      const cpu1 = await Promise.all(nodes.map(cpuOf))
      const calls = (await Promise.all(nodes.map(xreadsOf))).reduce((a, c, k) => a + c - (calls0[k] as number), 0)
      const roles = await Promise.all(nodes.map(roleOf))
      const deltas = cpu1.map((c, k) => c - (cpu0[k] as number))
      const total = deltas.reduce((a, b) => a + b, 0)
      const busiest = Math.max(...deltas)
      const perDelivery = (total * 1e6) / Math.max(1, stats.delivered)
      anchor ??= { busiest, perDelivery }
      samples.push({ cpu: total, calls, deliveries: stats.delivered })
      const rowSeconds = ((Date.now() - rowStarted) / 1000).toFixed(1)
      const byNode = deltas.map((d, k) => `${roles[k] === 'master' ? 'M' : 'R'}${Math.round((d * 1000) / elapsed)}`).join(' ')
      rows.push(
        `| ${cfg.partitions}${cfg.routed ? ', routed' : ''}${cfg.interval ? `, readInterval ${cfg.interval} ms` : ''}${cfg.tick ? `, appends every ${cfg.tick} ms` : ''} | ${cfg.replica ? 'replica' : 'master'} | ${sent} | ${stats.delivered} | ${((busiest * 1000) / elapsed).toFixed(0)} ms/s (${(busiest / anchor.busiest).toFixed(2)}×) | ${byNode} | ${calls} (${(stats.delivered / Math.max(1, calls)).toFixed(1)}) | ${perDelivery.toFixed(2)} µs (${(perDelivery / anchor.perDelivery).toFixed(2)}×) | ${((busiest * 1e6) / Math.max(1, stats.delivered)).toFixed(2)} µs | ${stats.p50.toFixed(2)} ms | ${stats.p99.toFixed(2)} ms | ${rowSeconds} s |`,
      )
      await appender.close()
    }
    console.log('\n| partitions | reads from | entries | deliveries | busiest node CPU | CPU per node, ms/s (M master, R replica) | XREAD calls (entries per call) | all-node CPU per delivery | busiest-node CPU per delivery | delivery p50 | delivery p99 | row time |')
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|')
    for (const r of rows) console.log(r)
    const { a, b } = fit(samples)
    console.log(`\nFit over the rows, all nodes' CPU ≈ a × XREAD calls + b × deliveries: a = ${(a * 1e6).toFixed(2)} µs per call (a reader woken), b = ${(b * 1e6).toFixed(3)} µs per delivered entry`)
  } finally {
    for (const n of nodes) n.client.disconnect()
    await cluster.stop()
  }
}

if (process.argv[2] === '--child') {
  const { urls, stream, cfg, count } = JSON.parse(process.argv[3] as string) as { urls: string[]; stream: string; cfg: Config; count: number }
  void readers(urls, stream, cfg, count)
} else {
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
}
