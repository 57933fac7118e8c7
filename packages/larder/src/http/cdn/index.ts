/**
 * Purge forwarding to CDNs. A forwarder subscribes to the invalidation log, so every
 * purge — gateway API, PURGE method, rules, admin, another instance — reaches the CDN
 * through the same path. Entries are batched (by time and size) and each call is retried
 * with exponential backoff on network errors, 429 and 5xx.
 *
 * CDN keys are global to a CDN service, so by default a tag is sent as `<tenant>:<tag>`
 * (`tenantPrefix: false` sends it bare). Internal URL tags (`@url …`) are sent only to the
 * webhook. Fastly: `POST /service/{id}/purge` with `Surrogate-Key` (soft purges add
 * `Fastly-Soft-Purge: 1`). Cloudflare: `POST /zones/{id}/purge_cache` with `{ tags }`
 * (at most 30 per call).
 * @module
 */
import type { InvalidationLog, LogEntry } from '../../core/types.ts'

export interface FastlySpec {
  type: 'fastly'
  serviceId: string
  token: string
  /** Default `https://api.fastly.com`. */
  endpoint?: string
  tenantPrefix?: boolean
}
export interface CloudflareSpec {
  type: 'cloudflare'
  zoneId: string
  token: string
  /** Default `https://api.cloudflare.com/client/v4`. */
  endpoint?: string
  tenantPrefix?: boolean
}
export interface WebhookSpec {
  type: 'webhook'
  url: string
  headers?: Record<string, string>
}
export type ForwarderSpec = FastlySpec | CloudflareSpec | WebhookSpec

export interface ForwarderOptions {
  /** Wait this long to batch entries. Default 200 ms. */
  intervalMs?: number
  /** Attempts per call. Default 5. */
  retries?: number
  /** First retry delay, doubled each time (with jitter). Default 500 ms. */
  retryDelayMs?: number
  /** Per call timeout. Default 10 s. */
  timeoutMs?: number
  onError?: (err: unknown, forwarder: string) => void
}

export interface Forwarders {
  /** Sends what is batched now; resolves when every call finished (or gave up). */
  flush(): Promise<void>
  close(): Promise<void>
}

interface Call {
  url: string
  init: { method: string; headers: Record<string, string>; body?: string }
}

function tagsOf(e: LogEntry, prefix: boolean): string[] {
  return (e.tags ?? []).filter((t) => !t.startsWith('@url ')).map((t) => (prefix ? `${e.tenant}:${t}` : t))
}

function chunk<T>(xs: T[], n: number): T[][] {
  const out: T[][] = []
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n))
  return out
}

/** Turns a batch of log entries into the CDN calls of one forwarder. */
export function callsFor(spec: ForwarderSpec, entries: readonly LogEntry[]): Call[] {
  const purges = entries.filter((e) => e.kind === 'hard' || e.kind === 'soft' || e.kind === 'clear')
  if (purges.length === 0) return []
  switch (spec.type) {
    case 'webhook':
      return [
        {
          url: spec.url,
          init: {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...spec.headers },
            body: JSON.stringify({ entries: purges.map((e) => ({ id: e.id, tenant: e.tenant, kind: e.kind, tags: e.tags ?? [], keys: e.keys ?? [], at: e.at })) }),
          },
        },
      ]
    case 'fastly': {
      const base = spec.endpoint ?? 'https://api.fastly.com'
      const calls: Call[] = []
      for (const soft of [false, true]) {
        const keys = [...new Set(purges.filter((e) => (e.kind === 'soft') === soft).flatMap((e) => tagsOf(e, spec.tenantPrefix !== false)))]
        // Fastly accepts up to 256 keys per batch purge.
        for (const part of chunk(keys, 256)) {
          const headers: Record<string, string> = { 'fastly-key': spec.token, 'surrogate-key': part.join(' '), accept: 'application/json' }
          if (soft) headers['fastly-soft-purge'] = '1'
          calls.push({ url: `${base}/service/${encodeURIComponent(spec.serviceId)}/purge`, init: { method: 'POST', headers } })
        }
      }
      return calls
    }
    case 'cloudflare': {
      const base = spec.endpoint ?? 'https://api.cloudflare.com/client/v4'
      const tags = [...new Set(purges.flatMap((e) => tagsOf(e, spec.tenantPrefix !== false)))]
      return chunk(tags, 30).map((part) => ({
        url: `${base}/zones/${encodeURIComponent(spec.zoneId)}/purge_cache`,
        init: { method: 'POST', headers: { authorization: `Bearer ${spec.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ tags: part }) },
      }))
    }
  }
}

export function createForwarders(log: InvalidationLog, specs: readonly ForwarderSpec[], opts: ForwarderOptions = {}): Forwarders {
  const interval = opts.intervalMs ?? 200
  const retries = Math.max(1, opts.retries ?? 5)
  const baseDelay = opts.retryDelayMs ?? 500
  const timeout = opts.timeoutMs ?? 10_000
  let batch: LogEntry[] = []
  let timer: NodeJS.Timeout | undefined
  let closed = false
  const running = new Set<Promise<void>>()

  async function send(spec: ForwarderSpec, call: Call): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await fetch(call.url, { ...call.init, signal: AbortSignal.timeout(timeout) })
        await r.arrayBuffer().catch(() => undefined)
        if (r.ok) return
        // 4xx other than 429 will not get better by retrying (bad token, bad zone).
        if (r.status !== 429 && r.status < 500) throw Object.assign(new Error(`${spec.type} purge answered ${r.status}`), { final: true })
        throw new Error(`${spec.type} purge answered ${r.status}`)
      } catch (err) {
        if ((err as { final?: boolean }).final || attempt >= retries || closed) {
          opts.onError?.(err, spec.type)
          return
        }
        const delay = baseDelay * 2 ** (attempt - 1) * (0.5 + Math.random() / 2)
        await new Promise((r) => setTimeout(r, delay).unref())
      }
    }
  }

  function flushNow(): Promise<void> {
    if (timer) clearTimeout(timer)
    timer = undefined
    const entries = batch
    batch = []
    if (entries.length > 0) {
      for (const spec of specs) {
        for (const call of callsFor(spec, entries)) {
          const p = send(spec, call).finally(() => running.delete(p))
          running.add(p)
        }
      }
    }
    return Promise.all([...running]).then(() => undefined)
  }

  const unsubscribe = log.subscribe(
    {
      entries(es) {
        if (closed) return
        for (const e of es) if (e.kind === 'hard' || e.kind === 'soft' || e.kind === 'clear') batch.push(e)
        if (batch.length >= 500) void flushNow()
        else if (batch.length > 0 && timer === undefined) {
          timer = setTimeout(() => void flushNow(), interval)
          timer.unref()
        }
      },
      gap() {
        // A CDN cannot be told "you may have missed something" by tag; nothing to do.
      },
    },
    'now',
  )

  return {
    flush: flushNow,
    async close() {
      unsubscribe()
      await flushNow()
      closed = true
    },
  }
}
