/**
 * `larder/realtime/client`: keeps a page fresh from the hub's SSE stream.
 *
 * Browser-first (no Node built-ins; nothing touches `window` at import, so it is SSR-safe)
 * and it also runs in Node. It reads the stream with `fetch` instead of `EventSource`,
 * because `EventSource` gives up for good on a non-200 answer (a 502 while a deploy
 * rolls); this client retries with exponential backoff and full jitter, and resumes
 * from the last event id so the hub replays what it missed.
 *
 * ```ts
 * import { createRealtimeClient } from 'larder/realtime/client'
 * const rt = createRealtimeClient({ url: '/_larder/stream', topics: ['stock:*'] })
 * async function render() {
 *   const p = await rt.getCached('product:42', () => fetch('/api/products/42').then((r) => r.json()), { tags: ['product:42'] })
 *   document.querySelector('#name')!.textContent = p.name
 * }
 * rt.subscribe('product:42', render)                                    // refetch after an invalidation
 * rt.subscribe('stock:*', (e) => e.type === 'update' && showStock(e.topic, e.value)) // live values
 * render()
 * ```
 * The connection loop (backoff, resume, idle watchdog, topic changes) is in connection.ts;
 * this module is the public API: the local cache, subscribers and ready waiters.
 * @module
 */
import type { BackoffOptions } from '../../core/backoff.ts'
import { type ConnectionState, StreamConnection } from './connection.ts'
import type { SseMessage } from './sse-parser.ts'

export type RealtimeEvent =
  | { type: 'invalidate'; id: string; tags: string[]; keys: string[]; soft: boolean }
  | { type: 'update'; id: string; topic: string; value: unknown }
  | { type: 'reset'; id: string; reason: string }

export interface RealtimeClientOptions {
  /** Stream URL (`/_larder/stream` on the same origin, or absolute). A `?token=` may be part of it. */
  url: string
  /** Topics to follow from the start (`product:42`, `stock:*`). `subscribe` and `getCached` tags add more. */
  topics?: readonly string[]
  /** Defaults to `globalThis.fetch`. */
  fetch?: typeof fetch
  /** Extra request headers (e.g. the tenant header or `Authorization`), or a function giving them per connect. */
  headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>)
  /** Called when the local cache was dropped as a whole (`reset` from the hub, or a connect that could not resume). */
  onReset?: (reason: string) => void
  /** Called for connection errors and non-200 answers (the client keeps retrying), and for throwing callbacks. */
  onError?: (err: unknown) => void
  onState?: (state: ConnectionState) => void
  backoff?: BackoffOptions
  /** No bytes (events or heartbeats) for this long → reconnect. Default 45,000 ms (three 15 s heartbeats). */
  idleTimeoutMs?: number
  /** How long `getCached` waits for the first connection before fetching without caching (a failed connect stops the wait at once). Default 3,000 ms. */
  readyTimeoutMs?: number
  /** Entries the local cache holds (least recently used go first). Default 500. */
  maxEntries?: number
  /** Most topics one stream asks for (the hub's `maxTopics`). Default 64. */
  maxTopics?: number
  /** Random source for jitter (tests). Default `Math.random`. */
  random?: () => number
  /** Start without a stream (SSR). Default: on, unless `url` is relative and there is no `location`. */
  enabled?: boolean
}

export interface GetCachedOptions {
  /** Tags of the value: an `invalidate` of any of them drops it (they are followed as topics). */
  tags?: readonly string[]
}

export interface RealtimeClient {
  /** Calls `cb` for events on `topic` (exact, or `prefix*`), and for every `reset`. Returns the unsubscribe function. */
  subscribe(topic: string, cb: (event: RealtimeEvent) => void): () => void
  /** Local cache: the value of `key`, from memory or `fetcher`; dropped when one of its tags is invalidated. */
  getCached<T>(key: string, fetcher: () => Promise<T> | T, options?: GetCachedOptions): Promise<T>
  /** Drops one key from the local cache. */
  drop(key: string): void
  /** Resolves true once the stream is open (false after `timeoutMs` or when disabled). */
  ready(timeoutMs?: number): Promise<boolean>
  readonly state: ConnectionState
  /** Id of the last event seen (the resume point). */
  readonly lastEventId: string
  /** Topics the stream follows. */
  readonly topics: readonly string[]
  close(): void
}

interface Entry {
  value: unknown
  tags: readonly string[]
}

interface Inflight {
  promise: Promise<unknown>
  tags: readonly string[]
  /** An invalidation of one of its tags (or a reset) arrived while it loaded: do not cache. */
  poisoned: boolean
}

function covers(topic: string, name: string): boolean {
  return topic.endsWith('*') ? name.startsWith(topic.slice(0, -1)) : topic === name
}

export function createRealtimeClient(options: RealtimeClientOptions): RealtimeClient {
  const fetchFn = options.fetch ?? (typeof globalThis.fetch === 'function' ? globalThis.fetch.bind(globalThis) : undefined)
  const base = (globalThis as { location?: { href: string } }).location?.href
  let streamUrl: URL | undefined
  try {
    streamUrl = new URL(options.url, base)
  } catch {
    if (options.enabled === true) throw new Error(`larder realtime client: cannot resolve url "${options.url}" (give an absolute URL outside a browser)`)
  }
  const enabled = (options.enabled ?? true) && streamUrl !== undefined && fetchFn !== undefined
  const maxEntries = options.maxEntries ?? 500
  const maxTopics = options.maxTopics ?? 64
  const idleTimeoutMs = options.idleTimeoutMs ?? 45_000
  const readyTimeoutMs = options.readyTimeoutMs ?? 3_000
  const random = options.random ?? Math.random
  const onError = options.onError ?? (() => {})

  const topics = new Set<string>(options.topics ?? [])
  const subs = new Map<string, Set<(e: RealtimeEvent) => void>>()
  const cache = new Map<string, Entry>()
  const inflight = new Map<string, Inflight>()
  /** Callers waiting for the stream to open; `failFast` ones also give up on the first failed connect. */
  const readyWaiters = new Set<{ done: (open: boolean) => void; failFast: boolean }>()

  let state: ConnectionState = 'idle'
  let everOpen = false
  let closed = false

  function setState(s: ConnectionState): void {
    if (state === s) return
    state = s
    try {
      options.onState?.(s)
    } catch (err) {
      onError(err)
    }
  }

  // ---- local cache ------------------------------------------------------------------------

  function store(key: string, value: unknown, tags: readonly string[]): void {
    cache.delete(key)
    cache.set(key, { value, tags })
    // Map keeps insertion order: the first key is the least recently used.
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string)
  }

  function dropTags(tags: readonly string[]): void {
    for (const [key, e] of cache) if (e.tags.some((t) => tags.includes(t))) cache.delete(key)
    for (const f of inflight.values()) if (f.tags.some((t) => tags.includes(t))) f.poisoned = true
  }

  function dropAll(reason: string, id: string): void {
    cache.clear()
    for (const f of inflight.values()) f.poisoned = true
    try {
      options.onReset?.(reason)
    } catch (err) {
      onError(err)
    }
    notify({ type: 'reset', id, reason }, undefined)
  }

  // ---- subscribers ------------------------------------------------------------------------

  function notify(event: RealtimeEvent, names: readonly string[] | undefined): void {
    for (const [topic, set] of subs) {
      // A reset speaks to every subscriber; other events to those whose topic covers a name.
      if (names !== undefined && !names.some((n) => covers(topic, n))) continue
      for (const cb of [...set]) {
        try {
          cb(event)
        } catch (err) {
          onError(err)
        }
      }
    }
  }

  /** Makes the stream follow these names; false when that would pass `maxTopics`. */
  function ensureTopics(names: readonly string[]): boolean {
    const missing = names.filter((n) => ![...topics].some((t) => covers(t, n)))
    if (missing.length === 0) return true
    if (topics.size + missing.length > maxTopics) return false
    for (const n of missing) topics.add(n)
    if (!closed) conn?.retopic()
    return true
  }

  // ---- events -----------------------------------------------------------------------------

  function markOpen(): void {
    conn?.opened()
    everOpen = true
    setState('open')
    for (const w of [...readyWaiters]) w.done(true)
  }

  function onMessage(msg: SseMessage): void {
    let data: Record<string, unknown>
    try {
      data = JSON.parse(msg.data) as Record<string, unknown>
    } catch {
      return
    }
    switch (msg.type) {
      case 'ready':
        // A connect that could not resume (the hub never gave us an id) may have missed events.
        if (data.resumed !== true && everOpen) dropAll('not-resumed', msg.lastEventId)
        markOpen()
        break
      case 'invalidate': {
        const tags = Array.isArray(data.tags) ? (data.tags as string[]) : []
        dropTags(tags)
        notify({ type: 'invalidate', id: msg.lastEventId, tags, keys: Array.isArray(data.keys) ? (data.keys as string[]) : [], soft: data.soft === true }, tags)
        break
      }
      case 'update': {
        const topic = typeof data.topic === 'string' ? data.topic : ''
        notify({ type: 'update', id: msg.lastEventId, topic, value: data.value }, [topic])
        break
      }
      case 'reset':
        dropAll(typeof data.reason === 'string' ? data.reason : 'reset', msg.lastEventId)
        // A resume the hub answered with reset is live from here on.
        markOpen()
        break
      default:
      // Unknown event types are ignored (forward compatible).
    }
  }

  // ---- connection -------------------------------------------------------------------------

  const conn = enabled
    ? new StreamConnection({
        url: streamUrl as URL,
        fetch: fetchFn as typeof fetch,
        headers: options.headers,
        backoff: options.backoff,
        idleTimeoutMs,
        random,
        topics: () => topics,
        onMessage,
        onConnectError: (err) => {
          onError(err)
          // Nobody waits for a stream that is down: getCached fetches (without caching) at once.
          if (!everOpen) for (const w of [...readyWaiters]) if (w.failFast) w.done(false)
        },
        setState,
      })
    : undefined

  function waitOpen(timeoutMs: number, failFast: boolean): Promise<boolean> {
    if (state === 'open') return Promise.resolve(true)
    if (!enabled || closed) return Promise.resolve(false)
    return new Promise((resolve) => {
      const w = {
        failFast,
        done: (v: boolean) => {
          clearTimeout(t)
          readyWaiters.delete(w)
          resolve(v)
        },
      }
      const t = setTimeout(() => w.done(false), timeoutMs)
      readyWaiters.add(w)
    })
  }

  function ready(timeoutMs = readyTimeoutMs): Promise<boolean> {
    return waitOpen(timeoutMs, false)
  }

  conn?.start()

  return {
    subscribe(topic, cb) {
      if (typeof topic !== 'string' || topic.length === 0) throw new TypeError('subscribe: topic must be a non-empty string')
      let set = subs.get(topic)
      if (!set) subs.set(topic, (set = new Set()))
      set.add(cb)
      if (!ensureTopics([topic])) onError(new Error(`subscribe: more than ${maxTopics} topics; follow a prefix such as "product:*" instead`))
      return () => {
        const s = subs.get(topic)
        s?.delete(cb)
        if (s && s.size === 0) subs.delete(topic)
      }
    },
    async getCached<T>(key: string, fetcher: () => Promise<T> | T, opts: GetCachedOptions = {}): Promise<T> {
      const hit = cache.get(key)
      if (hit) {
        cache.delete(key)
        cache.set(key, hit)
        return hit.value as T
      }
      const running = inflight.get(key)
      if (running) return running.promise as Promise<T>
      const tags = [...(opts.tags ?? [])]
      // Cache only what the stream can invalidate: its tags are followed, and the stream
      // has been open once (from then on, a resume or a reset covers every gap).
      const followable = enabled && !closed && ensureTopics(tags)
      const rec: Inflight = { promise: Promise.resolve(), tags, poisoned: false }
      rec.promise = (async () => {
        const cacheable = followable && (everOpen || (await waitOpen(readyTimeoutMs, true)))
        const value = await fetcher()
        if (cacheable && !rec.poisoned && !closed) store(key, value, tags)
        return value
      })().finally(() => {
        if (inflight.get(key) === rec) inflight.delete(key)
      })
      inflight.set(key, rec)
      return rec.promise as Promise<T>
    },
    drop(key) {
      cache.delete(key)
    },
    ready,
    get state() {
      return state
    },
    get lastEventId() {
      return conn?.lastEventId ?? ''
    },
    get topics() {
      return [...topics]
    },
    close() {
      if (closed) return
      closed = true
      conn?.close()
      cache.clear()
      for (const w of [...readyWaiters]) w.done(false)
      if (!enabled) setState('closed')
    },
  }
}

export { type BackoffOptions, backoffDelay } from '../../core/backoff.ts'
export type { ConnectionState } from './connection.ts'
export { type SseMessage, SseParser } from './sse-parser.ts'
