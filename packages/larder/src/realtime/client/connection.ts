/**
 * The client's connection loop: one `fetch` of the stream at a time, the idle watchdog,
 * reconnects with exponential backoff and full jitter (a 429/503 `Retry-After` as the least
 * delay, the hub's `retry:` as the base), resume from the last event id, and the batched
 * reconnect when the followed topics change. What the events mean (local cache, subscribers,
 * ready waiters) is the public API's, in index.ts; this module only reports to its host.
 * Browser-safe: no Node built-ins.
 * @module
 */
import { type BackoffOptions, backoffDelay } from '../../core/backoff.ts'
import { type SseMessage, SseParser } from './sse-parser.ts'

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'closed'

/** What the loop needs from the client, and tells it. */
export interface ConnectionHost {
  readonly url: URL
  readonly fetch: typeof fetch
  readonly headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>)
  readonly backoff?: BackoffOptions
  /** No bytes for this long → reconnect. */
  readonly idleTimeoutMs: number
  readonly random: () => number
  /** The topics the stream should follow now. */
  topics(): Iterable<string>
  onMessage(msg: SseMessage): void
  /** A connect failed or a stream broke (not a reconnect the loop asked for itself). */
  onConnectError(err: unknown): void
  setState(state: ConnectionState): void
}

class HttpStatusError extends Error {
  readonly status: number
  constructor(status: number, message: string) {
    super(message)
    this.name = 'HttpStatusError'
    this.status = status
  }
}

export class StreamConnection {
  /** Id of the last event seen (the resume point). */
  lastEventId = ''
  private readonly host: ConnectionHost
  private serverRetry: number | undefined
  private closed = false
  private attempt = 0
  private current: AbortController | undefined
  /** The topics the current connection asked for. */
  private currentTopics = ''
  private topicsChanged = false
  private reconnectScheduled = false
  private sleepTimer: ReturnType<typeof setTimeout> | undefined
  /** A 429/503 answer's Retry-After, honoured as the least delay before the next attempt. */
  private retryAfterMs = 0
  private wake: (() => void) | undefined

  constructor(host: ConnectionHost) {
    this.host = host
  }

  /** Starts the loop on the next microtask. */
  start(): void {
    queueMicrotask(() => void this.run())
  }

  /** The stream is live (ready or reset seen): the next failure starts the backoff afresh. */
  opened(): void {
    this.attempt = 0
  }

  /** The topics changed: reconnect once (resuming from lastEventId) for all changes made in this tick. */
  retopic(): void {
    if (this.closed || this.reconnectScheduled) return
    this.reconnectScheduled = true
    queueMicrotask(() => {
      this.reconnectScheduled = false
      if (this.current) {
        // The open (or opening) stream already asked for these topics: nothing to do.
        if (this.currentTopics === this.topicsKey()) return
        this.topicsChanged = true
        this.current.abort()
      } else this.wake?.()
    })
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.current?.abort()
    this.wake?.()
  }

  private async headersFor(): Promise<Record<string, string>> {
    const h = typeof this.host.headers === 'function' ? await this.host.headers() : (this.host.headers ?? {})
    return { ...h, accept: 'text/event-stream' }
  }

  private topicsKey(): string {
    return [...this.host.topics()].join('\n')
  }

  private urlFor(): string {
    const u = new URL(this.host.url.href)
    u.searchParams.delete('topics')
    u.searchParams.delete('topic')
    // One `topic=` per topic, verbatim: a topic may hold a comma.
    for (const t of this.host.topics()) u.searchParams.append('topic', t)
    // The resume id goes in the query, not a Last-Event-ID header, so a cross-origin
    // stream needs no CORS preflight.
    if (this.lastEventId !== '') u.searchParams.set('lastEventId', this.lastEventId)
    return u.href
  }

  private async connectOnce(): Promise<void> {
    const ctrl = new AbortController()
    this.current = ctrl
    this.topicsChanged = false
    this.host.setState('connecting')
    const idleTimeoutMs = this.host.idleTimeoutMs
    let lastByte = Date.now()
    let idle: ReturnType<typeof setTimeout> | undefined
    const watch = () => {
      const quiet = Date.now() - lastByte
      if (quiet >= idleTimeoutMs) ctrl.abort()
      else idle = setTimeout(watch, idleTimeoutMs - quiet)
    }
    idle = setTimeout(watch, idleTimeoutMs)
    try {
      const hdrs = await this.headersFor()
      this.currentTopics = this.topicsKey()
      const res = await this.host.fetch(this.urlFor(), { headers: hdrs, signal: ctrl.signal })
      if (res.status !== 200 || !res.body) {
        const ra = Number(res.headers.get('retry-after'))
        if (Number.isFinite(ra) && ra > 0) this.retryAfterMs = Math.min(ra * 1000, 300_000)
        let detail = ''
        try {
          detail = (await res.text()).slice(0, 300)
        } catch {}
        throw new HttpStatusError(res.status, `stream answered ${res.status}${detail ? `: ${detail}` : ''}`)
      }
      const parser = new SseParser(
        {
          onEvent: (msg) => this.host.onMessage(msg),
          onRetry: (ms) => {
            this.serverRetry = ms
          },
        },
        this.lastEventId,
      )
      const reader = res.body.getReader()
      const decoder = new TextDecoder()
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        lastByte = Date.now()
        parser.push(decoder.decode(value, { stream: true }))
        this.lastEventId = parser.lastEventId
        if (this.closed) break
      }
    } finally {
      clearTimeout(idle)
      if (this.current === ctrl) this.current = undefined
      ctrl.abort()
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        clearTimeout(this.sleepTimer)
        this.wake = undefined
        resolve()
      }
      this.sleepTimer = setTimeout(() => this.wake?.(), ms)
    })
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        await this.connectOnce()
      } catch (err) {
        if (this.closed) break
        if (!this.topicsChanged) this.host.onConnectError(err)
      }
      if (this.closed) break
      // An open stream that ended is connecting again (setState ignores a repeat).
      this.host.setState('connecting')
      if (this.topicsChanged) continue
      this.attempt++
      await this.sleep(Math.max(this.retryAfterMs, backoffDelay(this.attempt, this.host.backoff ?? {}, this.host.random, this.serverRetry)))
      this.retryAfterMs = 0
    }
    this.host.setState('closed')
  }
}
