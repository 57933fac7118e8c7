import { Redis } from 'ioredis'
import diagnostics_channel from 'node:diagnostics_channel'
import { createServer, type Server, type Socket } from 'node:net'
import type { LogEntry, LogGap, LogSubscriber } from '../../src/core/types.ts'
import { mulberry32 } from '../../src/testing/random.ts'

/** Resolves once `check()` is true; polls every 10 ms; fails after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** A subscriber that records what it gets. */
export function recorder(): LogSubscriber & { got: LogEntry[]; gaps: LogGap[] } {
  const got: LogEntry[] = []
  const gaps: LogGap[] = []
  return {
    got,
    gaps,
    entries: (es) => {
      got.push(...es)
    },
    gap: (g) => {
      gaps.push(g)
    },
  }
}

/**
 * A TCP proxy in front of a Redis server, so a test can cut one instance off the network
 * (a partition) or slow its replies while Redis keeps serving the others.
 */
export interface TcpProxy {
  port: number
  url: string
  cut(): void
  heal(): void
  close(): Promise<void>
}

export async function tcpProxy(targetPort: number, options: { delayMs?: number } = {}): Promise<TcpProxy> {
  const delay = options.delayMs ?? 0
  let open = true
  const sockets = new Set<Socket>()
  const { connect } = await import('node:net')
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy()
      return
    }
    const upstream = connect(targetPort, '127.0.0.1')
    sockets.add(client)
    sockets.add(upstream)
    client.pipe(upstream)
    // Optional latency on replies (a slow link): timers of equal delay fire in order.
    if (delay > 0) upstream.on('data', (chunk) => setTimeout(() => client.writable && client.write(chunk), delay))
    else upstream.pipe(client)
    const done = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('error', done).on('close', done)
    upstream.on('error', done).on('close', done)
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()))
  const port = (server.address() as { port: number }).port
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    cut() {
      open = false
      for (const s of sockets) s.destroy()
      sockets.clear()
    },
    heal() {
      open = true
    },
    async close() {
      open = false
      for (const s of sockets) s.destroy()
      await new Promise((r) => server.close(r))
    },
  }
}

/** A plain client for test-side commands (XTRIM, CONFIG SET …). */
export function admin(port: number): Redis {
  const r = new Redis(port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  r.on('error', () => {})
  return r
}

/** Runs one test-side command batch on a fresh connection and closes it. */
export async function withAdmin<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = admin(port)
  try {
    return await fn(r)
  } finally {
    r.disconnect()
  }
}

/**
 * Waits until `ms` have passed on the Redis server's clock (TIME), which is the clock its
 * expiries and the rate limiter's window use: no guessed margin over a local sleep.
 */
export async function serverTimePasses(url: string, ms: number): Promise<void> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  try {
    const now = async () => {
      const [s, us] = await r.time()
      return Number(s) * 1000 + Math.floor(Number(us) / 1000)
    }
    const target = (await now()) + ms
    for (let left = ms; left > 0; left = target - (await now())) await new Promise((res) => setTimeout(res, left))
  } finally {
    r.disconnect()
  }
}

/**
 * A seeded random source for randomized tests: the seed comes from LARDER_SEED when set
 * (to replay a failing run), else is drawn; print it when the test fails.
 */
export function seededRandom(): { seed: number; rnd: (k: number) => number } {
  const env = process.env.LARDER_SEED
  const seed = env !== undefined && /^\d+$/.test(env) ? Number(env) >>> 0 : Math.floor(Math.random() * 2 ** 32)
  const next = mulberry32(seed)
  return { seed, rnd: (k) => Math.floor(next() * k) }
}

/** Resolves with the first invalidation instance `source`'s entry delivers to a cache other than its appender. */
export function remoteInvalidation(source: string): Promise<LogEntry> {
  return new Promise((resolve) => {
    const on = (m: unknown) => {
      const { entry, local } = m as { entry: LogEntry; local: boolean }
      if (!local && entry.source === source) {
        diagnostics_channel.unsubscribe('larder:cache:invalidate', on)
        resolve(entry)
      }
    }
    diagnostics_channel.subscribe('larder:cache:invalidate', on)
  })
}
