/**
 * OpenTelemetry spans built from Larder's diagnostics channels (core/diagnostics.ts). The
 * library never calls a tracer itself: gateway requests, loads, L2 calls, log appends and
 * event processing publish start/end events on tracing channels (`traces`), and
 * `enableTracing()` subscribes to them. Until it is called nobody listens, and the
 * publishers skip even building their context objects.
 *
 * A span's OpenTelemetry context is made active for the operation it covers (a store bound
 * to the start channel runs the operation in `context.with`), so spans nest: a gateway
 * request holds its origin load, a load holds the loader's own spans (e.g. a database
 * client's) and the L2 calls made while storing, an event holds its log append.
 * @module
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { type Attributes, type Context, context, createContextKey, type Span, SpanKind, SpanStatusCode, type Tracer, type TracerProvider, trace } from '@opentelemetry/api'
import { LarderError } from '../core/errors.ts'
import { channels, type ChannelPayloads, type TracePayloads, traces, type TypedTracingChannel } from '../core/diagnostics.ts'

export interface TracingOptions {
  /** Where spans go. Default: the globally registered provider (`trace.getTracerProvider()`). */
  tracerProvider?: TracerProvider
  /** Put the cache key on load spans (`larder.key`, first 200 characters). Default true. */
  keys?: boolean
}

export interface Tracing {
  /** Unsubscribes from every channel; spans already started still end. */
  disable(): void
}

/** Span names (`larder.load` …; gateway requests are named `METHOD` or `METHOD route`, L2 calls `op breaker`). */
export const SPAN_NAMES = { load: 'larder.load', append: 'larder.log.append', event: 'larder.event' } as const

const HTTP_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'PURGE'])
const KEY_CHARS = 200

/** The gateway request a context belongs to: the `http` channel adds the cache status to it. */
interface RequestSpan {
  span: Span
  method: string
  status?: string
}
const REQUEST = createContextKey('larder.request')

type Contexts = { [K in keyof TracePayloads]: TracePayloads[K] & { result?: unknown; error?: unknown } }

/** An AsyncLocalStorage whose `run` is OpenTelemetry's `context.with`: bound to a start channel, it makes the span's context active. */
class ActiveContext extends AsyncLocalStorage<Context> {
  override run<R, A extends unknown[]>(ctx: Context, fn: (...args: A) => R, ...args: A): R {
    return context.with(ctx, fn, undefined, ...args)
  }
}

/**
 * Subscribes OpenTelemetry spans to Larder's diagnostics channels. Call once at startup,
 * after registering the SDK (NodeSDK, or a TracerProvider with an AsyncLocalStorage
 * context manager for parent/child links).
 */
/** Set while tracing is on: a second subscriber set would record every span twice. */
let active = false

export function enableTracing(options: TracingOptions = {}): Tracing {
  if (active) throw new LarderError('E_INVALID_OPTION', 'enableTracing() is already on in this process: call disable() on the first one before enabling again (two would record every span twice)')
  active = true
  const tracer: Tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer('larder')
  const withKeys = options.keys !== false
  const open = new WeakMap<object, Span>()
  const off: (() => void)[] = []

  const attrs = {
    request: (c: Contexts['request']): Attributes => ({ 'http.request.method': HTTP_METHODS.has(c.method) ? c.method : '_OTHER', 'url.path': pathOf(c.target) }),
    load: (c: Contexts['load']): Attributes => ({
      'larder.tenant': c.tenant,
      ...(withKeys ? { 'larder.key': c.key.slice(0, KEY_CHARS) } : {}),
      'larder.load.source': c.source,
      'larder.load.background': c.background,
    }),
    store: (c: Contexts['store']): Attributes => ({ 'db.system': 'redis', 'db.system.name': 'redis', 'db.operation.name': c.op, 'db.namespace': c.name }),
    append: (c: Contexts['append']): Attributes => ({ 'larder.tenant': c.tenant, 'larder.log.kind': c.kind, 'larder.log.entries': c.count }),
    event: (c: Contexts['event']): Attributes => ({
      'larder.tenant': c.tenant,
      'larder.event.type': c.type,
      'messaging.operation.type': 'process',
      ...(c.count === 1 ? {} : { 'messaging.batch.message_count': c.count }),
    }),
  }
  const names = {
    request: (c: Contexts['request']) => (HTTP_METHODS.has(c.method) ? c.method : 'HTTP'),
    load: () => SPAN_NAMES.load,
    store: (c: Contexts['store']) => `${c.op} ${c.name}`,
    append: () => SPAN_NAMES.append,
    event: () => SPAN_NAMES.event,
  }
  const kinds = { request: SpanKind.SERVER, load: SpanKind.INTERNAL, store: SpanKind.CLIENT, append: SpanKind.INTERNAL, event: SpanKind.CONSUMER }

  /** What is known only at the end: the answer's status, a load's timeout, an append's id, an event's outcome. */
  function finish<K extends keyof TracePayloads>(kind: K, c: Contexts[K], span: Span): void {
    const failed = c.error !== undefined
    if (failed) {
      span.recordException(c.error instanceof Error ? c.error : String(c.error))
      span.setStatus({ code: SpanStatusCode.ERROR, message: c.error instanceof Error ? c.error.message : String(c.error) })
    }
    if (kind === 'request') {
      // Not answered yet (the handler failed before writing): the error status says it.
      const res = (c as Contexts['request']).res
      if (res.headersSent) span.setAttribute('http.response.status_code', res.statusCode)
      if (res.headersSent && res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR })
    } else if (kind === 'load' && failed) {
      span.setAttribute('larder.load.timed_out', (c.error as { code?: unknown }).code === 'E_LOADER_TIMEOUT')
    } else if (kind === 'append' && !failed) {
      const e = c.result as { id?: unknown; queued?: unknown } | undefined
      if (typeof e?.id === 'number') span.setAttribute('larder.log.id', e.id)
      span.setAttribute('larder.log.queued', e?.queued === true)
    } else if (kind === 'event') {
      const r = c.result as { outcome?: unknown } | { outcome?: unknown }[] | undefined
      const outcome = failed ? 'rejected' : Array.isArray(r) ? undefined : r?.outcome
      if (typeof outcome === 'string') span.setAttribute('larder.event.outcome', outcome)
    }
  }

  function watch<K extends keyof TracePayloads>(kind: K): void {
    const tc = traces[kind] as unknown as TypedTracingChannel<Contexts[K]>
    const start = (c: Contexts[K]): Context => {
      const parent = context.active()
      const span = tracer.startSpan(names[kind](c as never), { kind: kinds[kind], attributes: attrs[kind](c as never) }, parent)
      open.set(c, span)
      const active = trace.setSpan(parent, span)
      return kind === 'request' ? active.setValue(REQUEST, { span, method: (c as Contexts['request']).method } satisfies RequestSpan) : active
    }
    const end = (c: Contexts[K]) => {
      const span = open.get(c)
      if (span === undefined) return
      open.delete(c)
      finish(kind, c, span)
      span.end()
    }
    const store = new ActiveContext()
    // The transform runs before the operation; the store's run makes the span's context active for it.
    tc.start.bindStore(store, start as (c: Contexts[K]) => Context)
    // A synchronous throw ends at `end` with the error set; a promise at `asyncEnd`.
    const onEnd = (c: unknown) => {
      if ((c as Contexts[K]).error !== undefined) end(c as Contexts[K])
    }
    const onAsyncEnd = (c: unknown) => end(c as Contexts[K])
    // Should a runtime not run bound stores, the span still starts here (without nesting).
    const onStart = (c: unknown) => {
      if (!open.has(c as object)) start(c as Contexts[K])
    }
    tc.start.subscribe(onStart)
    tc.end.subscribe(onEnd)
    tc.asyncEnd.subscribe(onAsyncEnd)
    off.push(() => {
      tc.start.unbindStore(store)
      tc.start.unsubscribe(onStart)
      tc.end.unsubscribe(onEnd)
      tc.asyncEnd.unsubscribe(onAsyncEnd)
    })
  }

  for (const kind of Object.keys(traces) as (keyof TracePayloads)[]) watch(kind)

  // The cache status of a gateway request arrives on the `http` channel, inside its context.
  const onHttp = (m: ChannelPayloads['http']) => {
    const r = context.active().getValue(REQUEST) as RequestSpan | undefined
    if (r === undefined || r.status !== undefined) return
    r.status = m.status
    r.span.setAttribute('larder.cache.status', m.status)
    r.span.setAttribute('larder.tenant', m.tenant)
    if (m.route !== undefined) {
      r.span.setAttribute('http.route', m.route)
      if (HTTP_METHODS.has(r.method)) r.span.updateName(`${r.method} ${m.route}`)
    }
  }
  channels.http.subscribe(onHttp)
  off.push(() => channels.http.unsubscribe(onHttp))

  let enabled = true
  return {
    disable() {
      if (!enabled) return
      enabled = false
      active = false
      for (const f of off) f()
    },
  }
}

/** The path of a request target (no query: it may carry personal data). */
function pathOf(target: string): string {
  const q = target.indexOf('?')
  return (q < 0 ? target : target.slice(0, q)).slice(0, 2048)
}
