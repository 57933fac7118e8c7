/**
 * The SSE hub: one subscription to the invalidation log per hub (so per process),
 * fanned out in memory to every open stream of the entry's tenant whose topics match.
 *
 * Per stream the hub keeps a small record in two indexes (exact topic → streams, and
 * the streams with prefix topics); an entry's frame is encoded once and written to
 * each matching response. A stream that cannot keep up (Node's write buffer past
 * `bufferBytes`) gets a best-effort `reset` and is disconnected, so memory stays
 * bounded (docs/invariants.md, P4).
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { clockOf, every } from '../core/clock.ts'
import { channels } from '../core/diagnostics.ts'
import { type ErrorCode, isLarderError, LarderError } from '../core/errors.ts'
import { isTenantId } from '../core/keys.ts'
import { type LarderRoute, sendError } from '../core/route.ts'
import type { Clock, InvalidationLog, LogEntry, LogGap } from '../core/types.ts'
import { parseStreamRequest, type RequestRules } from './request.ts'
import { eventOf, type ResetReason, resetEvent } from './entry-events.ts'
import { replay } from './replay.ts'
import { frameOf, sseFrame, sseHeartbeat, sseRetry } from './sse-format.ts'
import { StreamIndex } from './stream-index.ts'
import { DEFAULT_TOPIC_LIMITS, validateTopic } from './topics.ts'
import { createWriter, type Stream } from './writer.ts'

export interface SseHubOptions {
  /** The invalidation log to follow (embedded or Redis). */
  log: InvalidationLog
  /** Path served by `route`. Default `/_larder/stream`. */
  path?: string
  /** Heartbeat comment interval. Default 15,000 ms. */
  heartbeatMs?: number
  /** `retry:` reconnection hint sent to clients. Default 2,000 ms. */
  retryMs?: number
  /** Open streams per process; more get 503. Default 20,000. */
  maxClients?: number
  /** Open streams per tenant; more get 429. Default 10,000. */
  maxClientsPerTenant?: number
  /** Topics per stream. Default 64. */
  maxTopics?: number
  /** Longest topic. Default 512 (the tag limit). */
  maxTopicLength?: number
  /** Bytes a stream may have waiting in its write buffer before it is reset and dropped. Default 256 KiB. */
  bufferBytes?: number
  /** Most log entries a resume may scan; past it the client gets `reset`. Default 10,000. */
  replayLimit?: number
  /** Largest JSON of a `publishLive` value. Default 64 KiB. */
  maxLiveValueBytes?: number
  /** Tenant of a request without a token. Default: the host's `ctx.tenant`. */
  tenantFrom?: (req: IncomingMessage, ctx: { tenant: string; url: URL }) => string | undefined
  /** HMAC secret for `?token=` (see `signStreamToken`). Without it, tokens are refused. */
  tokenSecret?: string | Buffer
  /**
   * Allow streams without a token (their tenant comes from `tenantFrom`/the host, so from
   * headers the client chooses). Default: true without a `tokenSecret`, false with one.
   * Anonymous streams never get live values published with `public: false` (event rules'
   * `notify` values unless the rule says `notify_public: true`).
   */
  anonymous?: boolean
  /** @deprecated use `anonymous: false`. Refuse streams without a valid token. */
  requireToken?: boolean
  /**
   * Origins allowed to read the stream cross-origin (`Access-Control-Allow-Origin`, on
   * refusals too so the page can read the message). A GET with `?token=` and the client's
   * `Accept` header is a CORS "simple" request, so no preflight is needed. Default: none.
   */
  allowOrigin?: string | readonly string[] | ((origin: string) => boolean)
  /** Vets topics (e.g. only `product:`, `stock:` …); a refused topic answers 400 "unknown topic". */
  allowTopic?: (topic: string, tenant: string) => boolean
  /** Time and timers: heartbeats, token expiry, the grace before a stuck socket is destroyed (a `FakeClock` in tests). */
  clock?: Clock
  /** Called for errors swallowed on purpose (a replay read that failed and became a reset). */
  onError?: (err: unknown, context: string) => void
}

export interface SseHubStats {
  clients: number
  tenants: number
  /** Streams still replaying after a resume. */
  replaying: number
  /** Frames written (events, not heartbeats). */
  sent: number
  /** Streams dropped for not keeping up. */
  dropped: number
  /** `reset` events sent (gap, unknown id, clear, overflow). */
  resets: number
  /** Resumes served by replay. */
  replays: number
  /** Requests refused (4xx/5xx). */
  rejected: number
  /** Last log id the hub has seen. */
  lastId: number
}

export interface SseHub {
  /** Serves `GET <path>` (the SSE stream); returns false for any other path. */
  route: LarderRoute
  /**
   * Publishes a live value: an `update` event, not an
   * invalidation. With `public: false` only streams opened with a signed token get it
   * (anonymous streams choose their tenant by header); default true.
   */
  publishLive(tenant: string, topic: string, value: unknown, options?: { public?: boolean }): Promise<LogEntry>
  stats(): SseHubStats
  /** Ends every stream and stops following the log. */
  close(): Promise<void>
}

const noop = () => {}

function positive(name: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new LarderError('E_INVALID_OPTION', `createSseHub: ${name} must be a positive number`)
  return v
}

export function createSseHub(options: SseHubOptions): SseHub {
  const log = options.log
  if (!log || typeof log.subscribe !== 'function') throw new LarderError('E_INVALID_OPTION', 'createSseHub: `log` must be an InvalidationLog')
  const path = options.path ?? '/_larder/stream'
  const heartbeatMs = positive('heartbeatMs', options.heartbeatMs, 15_000)
  const retryMs = positive('retryMs', options.retryMs, 2_000)
  const maxClients = positive('maxClients', options.maxClients, 20_000)
  const maxPerTenant = positive('maxClientsPerTenant', options.maxClientsPerTenant, 10_000)
  const bufferBytes = positive('bufferBytes', options.bufferBytes, 256 * 1024)
  const replayLimit = positive('replayLimit', options.replayLimit, 10_000)
  const maxLiveValueBytes = positive('maxLiveValueBytes', options.maxLiveValueBytes, 64 * 1024)
  const clock = clockOf(options.clock)
  const onError = options.onError ?? noop
  const rules: RequestRules = {
    maxTopics: positive('maxTopics', options.maxTopics, DEFAULT_TOPIC_LIMITS.maxTopics),
    maxTopicLength: positive('maxTopicLength', options.maxTopicLength, DEFAULT_TOPIC_LIMITS.maxTopicLength),
    tokenSecret: options.tokenSecret,
    anonymous: options.requireToken === true ? false : (options.anonymous ?? options.tokenSecret === undefined),
    tenantFrom: options.tenantFrom,
    allowTopic: options.allowTopic,
    now: () => clock.now(),
  }

  const index = new StreamIndex<Stream>()
  let replayingCount = 0
  let closed = false
  let lastId = log.lastId()
  // A partitioned log has one id sequence per partition and a stream is one tenant's: its
  // ids (events, heartbeats, ready, reset) are positions in that tenant's partition.
  const partitioned = (log.partitions ?? 1) > 1
  const positionOf = (tenant: string): number => (partitioned ? log.lastId(tenant) : lastId)
  const counters = { sent: 0, dropped: 0, resets: 0, replays: 0, rejected: 0 }

  function publishSse(tenant: string, event: 'open' | 'close' | 'drop' | 'send', count?: number, reason?: string): void {
    if (channels.sse.hasSubscribers) channels.sse.publish({ tenant, event, count, reason })
  }

  /** Takes a stream out of the index (once). */
  function remove(s: Stream): void {
    if (s.closed) return
    s.closed = true
    if (!s.live) replayingCount--
    s.pending = undefined
    const left = index.remove(s)
    if (left !== undefined) publishSse(s.tenant, 'close', left)
  }

  const writer = createWriter({
    bufferBytes,
    timers: clock,
    position: (tenant) => positionOf(tenant),
    onDrop(s, reason) {
      remove(s)
      counters.dropped++
      counters.resets++
      publishSse(s.tenant, 'drop', undefined, reason)
    },
  })
  const write = writer.write

  /** Sends `reset` (the client drops its local cache) and makes the stream live. */
  function resetAndGoLive(s: Stream, reason: ResetReason): void {
    if (s.closed) return
    counters.resets++
    // The reset's id is the hub's position: everything pending is older and covered by it.
    s.pending = undefined
    s.pendingBytes = 0
    if (!s.live) {
      s.live = true
      replayingCount--
    }
    write(s, frameOf(resetEvent(reason, positionOf(s.tenant))))
  }

  // ---- entries -> streams -----------------------------------------------------------

  function dispatch(e: LogEntry): void {
    if (e.id > lastId) lastId = e.id
    if (!index.has(e.tenant)) return
    const text = eventOf(e)
    if (text === undefined) return
    // Encode once; every matching stream gets the same bytes.
    const frame = frameOf(text)
    const id = e.id
    const n = index.dispatch(e, (s) => writer.deliver(s, id, frame))
    if (e.kind === 'clear') counters.resets += n
    counters.sent += n
    if (n > 0) publishSse(e.tenant, 'send', n)
  }

  function onGap(gap: LogGap): void {
    for (const s of index.streams(gap.tenants)) {
      if (s.live) resetAndGoLive(s, 'gap')
      else s.gapped = true
    }
  }

  const unsubscribe = log.subscribe(
    {
      entries(list) {
        // The embedded log calls subscribers inside append(): a fault here must never
        // fail the invalidation that is being appended.
        for (const e of list) {
          try {
            dispatch(e)
          } catch (err) {
            onError(err, 'sse dispatch')
          }
        }
      },
      gap: onGap,
    },
    'now',
  )

  // ---- heartbeats -------------------------------------------------------------------

  const beat = every(clock, heartbeatMs, () => {
    const frame = frameOf(sseHeartbeat(lastId))
    for (const s of index.streams()) if (s.live) write(s, partitioned ? frameOf(sseHeartbeat(positionOf(s.tenant))) : frame)
  })

  // ---- resume -------------------------------------------------------------------------

  const replayOptions = {
    log,
    writer,
    limit: replayLimit,
    reset: resetAndGoLive,
    onSent: () => {
      counters.sent++
    },
    live(s: Stream, upTo: number) {
      if (s.closed) return
      const pending = s.pending ?? []
      s.pending = undefined
      s.pendingBytes = 0
      s.live = true
      replayingCount--
      counters.replays++
      for (const p of pending) if (p.id > upTo) write(s, p.frame)
    },
  }

  // ---- the route ----------------------------------------------------------------------

  function refuse(res: ServerResponse, code: ErrorCode, message: string, retryAfter?: number): true {
    counters.rejected++
    if (retryAfter !== undefined) res.setHeader('retry-after', String(retryAfter))
    sendError(res, code, message)
    return true
  }

  const allowOrigin = options.allowOrigin
  function originAllowed(origin: string): boolean {
    if (allowOrigin === undefined) return false
    if (typeof allowOrigin === 'function') return allowOrigin(origin)
    if (typeof allowOrigin === 'string') return allowOrigin === '*' || allowOrigin === origin
    return allowOrigin.includes(origin)
  }

  const route: LarderRoute = (req, res, ctx) => {
    if (ctx.url.pathname !== path) return false
    const origin = req.headers.origin
    if (typeof origin === 'string' && originAllowed(origin)) {
      res.setHeader('access-control-allow-origin', origin)
      res.setHeader('vary', 'Origin')
    }
    if (closed) return refuse(res, 'E_CLOSED', 'the SSE hub is shutting down; reconnect shortly', 1)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return refuse(res, 'E_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path}; open the stream with GET`)
    }
    let parsed: ReturnType<typeof parseStreamRequest>
    try {
      parsed = parseStreamRequest(req, ctx, rules)
    } catch (err) {
      if (isLarderError(err)) return refuse(res, err.code, err.message)
      throw err
    }
    // A log reading only some tenants' partitions never hears this tenant's invalidations.
    if (log.serves !== undefined && !log.serves(parsed.tenant)) return refuse(res, 'E_MISDIRECTED', 'this instance does not read the invalidation log of this tenant; it is served by other instances (see docs/scale.md, "Tenant routing")')
    if (index.size >= maxClients) return refuse(res, 'E_TOO_MANY_CONNECTIONS', `this instance holds its limit of ${maxClients} streams; retry later`, 5)
    if (index.count(parsed.tenant) >= maxPerTenant) {
      return refuse(res, 'E_TENANT_CONNECTION_LIMIT', `this tenant holds its limit of ${maxPerTenant} streams on this instance; retry later`, 5)
    }

    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      // nginx and similar proxies must not buffer the stream.
      'x-accel-buffering': 'no',
      // HTTP/1.0 has no chunked coding: its stream simply runs until the connection closes.
      ...(req.httpVersionMajor === 1 && req.httpVersionMinor === 1 ? { connection: 'keep-alive' } : {}),
    })
    if (req.method === 'HEAD') {
      res.end()
      return true
    }
    res.flushHeaders()
    req.socket.setNoDelay(true)
    req.socket.setKeepAlive(true, heartbeatMs)
    // Direct socket writes only when the head is already on this HTTP/1.x connection.
    const direct = req.httpVersionMajor === 1 && res.headersSent && res.socket != null && res.socket === req.socket

    const resuming = parsed.resumeAfter !== undefined
    const s: Stream = {
      tenant: parsed.tenant,
      topics: parsed.topics,
      res,
      anonymous: !parsed.viaToken,
      sock: direct ? (req.socket as Socket) : undefined,
      chunked: direct && res.chunkedEncoding === true,
      live: !resuming,
      closed: false,
      mark: 0,
      pending: resuming ? [] : undefined,
      pendingBytes: 0,
      gapped: false,
    }
    res.on('close', () => remove(s))
    res.on('error', noop)
    const count = index.add(s)
    if (resuming) replayingCount++
    publishSse(s.tenant, 'open', count)

    write(s, frameOf(sseRetry(retryMs)))
    if (!resuming) {
      // The ready event gives the client a resume point even before the first entry.
      write(s, frameOf(sseFrame('ready', JSON.stringify({ resumed: false }), positionOf(s.tenant))))
    } else {
      replay(s, parsed.resumeAfter as number, replayOptions).catch((err) => {
        onError(err, 'sse replay')
        resetAndGoLive(s, 'log-unavailable')
      })
    }
    return true
  }

  // ---- live values ------------------------------------------------------------------------

  async function publishLive(tenant: string, topic: string, value: unknown, opts?: { public?: boolean }): Promise<LogEntry> {
    if (closed) throw new LarderError('E_CLOSED', 'the SSE hub is closed')
    if (!isTenantId(tenant)) throw new LarderError('E_INVALID_TENANT', 'publishLive: tenant must be a valid tenant id')
    validateTopic(topic, rules)
    if (topic.endsWith('*')) throw new LarderError('E_INVALID_TOPIC', 'publishLive: a live topic is one exact topic; a trailing "*" is only for subscribing')
    if (value === undefined) throw new LarderError('E_VALUE_UNDEFINED', 'publishLive: value must not be undefined (use null)')
    let json: string
    try {
      json = JSON.stringify(value)
    } catch (err) {
      throw new LarderError('E_VALUE_NOT_SERIALIZABLE', 'publishLive: value is not JSON-serializable', { cause: err })
    }
    if (Buffer.byteLength(json) > maxLiveValueBytes) {
      throw new LarderError('E_VALUE_TOO_LARGE', `publishLive: value is ${Buffer.byteLength(json)} bytes as JSON; the limit is ${maxLiveValueBytes}`)
    }
    return log.append({ kind: 'live', tenant, tags: [topic], data: opts?.public === false ? { topic, value, public: false } : { topic, value } })
  }

  return {
    route,
    publishLive,
    stats() {
      return { clients: index.size, tenants: index.tenantCount, replaying: replayingCount, lastId, ...counters }
    },
    async close() {
      if (closed) return
      closed = true
      unsubscribe()
      beat.stop()
      const ended: Promise<void>[] = []
      for (const s of index.streams()) {
        const res = s.res
        remove(s)
        ended.push(new Promise((resolve) => (res.writableFinished || res.destroyed ? resolve() : res.once('close', () => resolve()))))
        // A clean end: the client reconnects (to this or another instance) and resumes;
        // an end that cannot flush (a stuck client) must not hold shutdown.
        writer.end(res)
      }
      await Promise.all(ended)
    },
  }
}
