/**
 * B7: 10,000 concurrent SSE clients on one process: RSS per connection and the time to
 * fan one event out to all of them (benchmark plan target: ≤ 15 KB RSS per connection,
 * ≤ 50 ms fan-out).
 *
 * Each server runs in its own child process so its RSS is its own; the clients are raw
 * TCP sockets in another child process. Anchor, same run: a bare node:http server that
 * keeps the same responses in a Set and writes the same bytes (no log, no hub), i.e. the
 * Node floor for holding and writing to N SSE responses.
 *
 * Run: npm run bench -- b7-sse-fanout, or node --import tsx --conditions=larder-src bench/b7-sse-fanout.ts [clients=10000] [events=10]
 * (the script raises `ulimit -n` for its children).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { createServer, type ServerResponse } from 'node:http'
import { connect, type Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { MemoryLog } from '../packages/larder/src/log/memory-log.ts'
import { createSseHub } from '../packages/larder/src/realtime/index.ts'

const SELF = fileURLToPath(import.meta.url)
const now = () => performance.timeOrigin + performance.now()
type Msg = Record<string, unknown> & { type: string }

function send(m: Msg): void {
  process.send?.(m)
}

async function settle(): Promise<number> {
  const gc = (globalThis as { gc?: () => void }).gc
  for (let i = 0; i < 3; i++) {
    gc?.()
    await new Promise((r) => setTimeout(r, 100))
  }
  return process.memoryUsage().rss
}

// ---------------------------------------------------------------- server child
async function server(mode: 'hub' | 'anchor'): Promise<void> {
  let publish: (seq: number) => Promise<unknown> | undefined
  let count: () => number
  let srv: ReturnType<typeof createServer>
  if (mode === 'hub') {
    const log = new MemoryLog()
    const hub = createSseHub({ log, maxClients: 50_000, maxClientsPerTenant: 50_000 })
    srv = createServer((req, res) => {
      if (!hub.route(req, res, { tenant: 'acme', url: new URL(req.url ?? '/', 'http://x') })) res.writeHead(404).end()
    })
    publish = (seq) => hub.publishLive('acme', 'product:1', { seq })
    count = () => hub.stats().clients
  } else {
    const set = new Set<ServerResponse>()
    srv = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', 'x-accel-buffering': 'no' })
      req.socket.setNoDelay(true)
      res.write('retry: 2000\n\n')
      set.add(res)
      res.on('close', () => set.delete(res))
    })
    publish = (seq) => {
      const b = Buffer.from(`id: ${seq}\nevent: update\ndata: ${JSON.stringify({ topic: 'product:1', value: { seq } })}\n\n`)
      for (const r of set) r.write(b)
      return undefined
    }
    count = () => set.size
  }
  srv.listen(0, '127.0.0.1', 8192)
  await new Promise((r) => srv.once('listening', r))
  const base = await settle()
  const port = (srv.address() as { port: number }).port
  send({ type: 'listening', port, rss: base })
  process.on('message', async (m: Msg) => {
    if (m.type === 'measure') send({ type: 'rss', rss: await settle(), clients: count() })
    if (m.type === 'publish') {
      const c0 = process.cpuUsage()
      const t0 = now()
      await publish(m.seq as number)
      const dispatchMs = now() - t0
      const c = process.cpuUsage(c0)
      // CPU time of the dispatch (user + system, incl. the loopback TCP work done in the
      // write syscalls): what the fan-out costs, whatever else the shared cores are doing.
      send({ type: 'published', seq: m.seq, t0, dispatchMs, cpuMs: (c.user + c.system) / 1000, sysMs: c.system / 1000 })
    }
    if (m.type === 'exit') process.exit(0)
  })
}

// ---------------------------------------------------------------- clients child
async function clients(port: number, n: number): Promise<void> {
  const sockets: Socket[] = []
  const seen = new Map<number, { count: number; last: number }>()
  const req = `GET /_larder/stream?topics=product:1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`
  const open = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = connect({ port, host: '127.0.0.1' })
      let tail = ''
      let top = 0
      let ok = false
      s.setEncoding('utf8')
      s.on('connect', () => s.write(req))
      s.on('data', (chunk: string) => {
        const text = tail + chunk
        if (!ok && text.includes('retry:')) {
          ok = true
          resolve()
        }
        for (const m of text.matchAll(/"seq":(\d+)/g)) {
          const seq = Number(m[1])
          if (seq <= top) continue
          top = seq
          const at = now()
          const rec = seen.get(seq) ?? { count: 0, last: 0 }
          rec.count++
          rec.last = Math.max(rec.last, at)
          seen.set(seq, rec)
          if (rec.count === n) send({ type: 'received', seq, last: rec.last })
        }
        tail = text.slice(-64)
      })
      s.on('error', reject)
      sockets.push(s)
    })
  // Connect in batches so the listen backlog never overflows.
  for (let i = 0; i < n; i += 250) await Promise.all(Array.from({ length: Math.min(250, n - i) }, open))
  send({ type: 'connected', n: sockets.length })
  process.on('message', (m: Msg) => {
    if (m.type === 'exit') {
      for (const s of sockets) s.destroy()
      process.exit(0)
    }
  })
}

// ---------------------------------------------------------------- main
function child(args: string[]): ChildProcess {
  // Raise the descriptor limit (root may raise the hard limit too), then exec node.
  return spawn('sh', ['-c', 'ulimit -n 65536 2>/dev/null || ulimit -n 20000; exec "$0" "$@"', process.execPath, '--import', 'tsx', '--conditions=larder-src', '--expose-gc', SELF, ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
}

function next(c: ChildProcess, type: string, pred: (m: Msg) => boolean = () => true): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const on = (m: Msg) => {
      if (m.type === type && pred(m)) {
        c.off('message', on)
        resolve(m)
      }
    }
    c.on('message', on)
    const onExit = (code: number | null) => reject(new Error(`child exited (${code}) while waiting for ${type}`))
    c.once('exit', onExit)
    c.setMaxListeners(0)
  })
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number
}

async function run(mode: 'hub' | 'anchor', n: number, events: number) {
  const srv = child(['server', mode])
  const { port, rss: base } = (await next(srv, 'listening')) as unknown as { port: number; rss: number }
  const cl = child(['clients', String(port), String(n)])
  await next(cl, 'connected')
  srv.send({ type: 'measure' })
  const m = (await next(srv, 'rss')) as unknown as { rss: number; clients: number }
  if (m.clients !== n) throw new Error(`${mode}: ${m.clients} of ${n} clients connected`)
  const fanout: number[] = []
  const dispatch: number[] = []
  const cpu: number[] = []
  const sys: number[] = []
  for (let seq = 1; seq <= events; seq++) {
    const got = next(cl, 'received', (x) => x.seq === seq)
    srv.send({ type: 'publish', seq })
    const p = (await next(srv, 'published', (x) => x.seq === seq)) as unknown as { t0: number; dispatchMs: number; cpuMs: number; sysMs: number }
    const r = (await got) as unknown as { last: number }
    fanout.push(r.last - p.t0)
    dispatch.push(p.dispatchMs)
    cpu.push(p.cpuMs)
    sys.push(p.sysMs)
    await new Promise((res) => setTimeout(res, 50))
  }
  cl.send({ type: 'exit' })
  srv.send({ type: 'exit' })
  await Promise.all([new Promise((r) => cl.once('exit', r)), new Promise((r) => srv.once('exit', r))])
  return { mode, n, rssPerConnKB: (m.rss - base) / n / 1024, fanoutP50: pct(fanout, 50), fanoutMax: Math.max(...fanout), dispatchP50: pct(dispatch, 50), cpuP50: pct(cpu, 50), sysP50: pct(sys, 50) }
}

async function main() {
  const n = Number(process.argv[2] ?? 10_000)
  const events = Number(process.argv[3] ?? 10)
  const rows = []
  for (const mode of ['anchor', 'hub'] as const) rows.push(await run(mode, n, events))
  const [anchor, hub] = rows as [Awaited<ReturnType<typeof run>>, Awaited<ReturnType<typeof run>>]
  console.log(`B7 SSE fan-out, ${n} clients, ${events} events (node ${process.version})`)
  console.log(`load average at the end: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} (2 cores)`)
  console.log('| server | RSS / connection | fan-out p50 (publish → last client) | fan-out max | dispatch wall p50 | dispatch CPU p50 (of which kernel) |')
  console.log('|---|---|---|---|---|---|')
  for (const r of rows) console.log(`| ${r.mode === 'hub' ? 'larder hub' : 'bare node:http res.write (anchor)'} | ${r.rssPerConnKB.toFixed(1)} KB | ${r.fanoutP50.toFixed(1)} ms | ${r.fanoutMax.toFixed(1)} ms | ${r.dispatchP50.toFixed(1)} ms | ${r.cpuP50.toFixed(1)} ms (${r.sysP50.toFixed(1)} ms) |`)
  console.log(`ratios hub/anchor: RSS ${(hub.rssPerConnKB / anchor.rssPerConnKB).toFixed(2)}×, fan-out p50 ${(hub.fanoutP50 / anchor.fanoutP50).toFixed(2)}×, dispatch CPU ${(hub.cpuP50 / anchor.cpuP50).toFixed(2)}×`)
  console.log(`targets: ≤ 15 KB/conn → ${hub.rssPerConnKB <= 15 ? 'met' : 'MISSED'}; fan-out ≤ 50 ms → ${hub.fanoutMax <= 50 ? 'met' : hub.fanoutP50 <= 50 ? 'met at p50, not at max' : 'MISSED'}`)
}

const [role, a1, a2] = process.argv.slice(2)
if (role === 'server') void server(a1 as 'hub' | 'anchor')
else if (role === 'clients') void clients(Number(a1), Number(a2))
else
  main().catch((err) => {
    console.error(err)
    process.exit(1)
  })
