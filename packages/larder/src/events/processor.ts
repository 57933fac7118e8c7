/**
 * The event processor: envelope → rule → coalesced invalidation → log.
 *
 * - Every event is validated and its rule rendered *before* anything is applied, so an
 *   invalid event (or one missing a field the rule needs) changes nothing.
 * - Idempotent by event id (per tenant, bounded LRU of seen ids).
 * - Events of one tenant are merged for `coalesceMs` and applied as one hard and one soft
 *   `cache.invalidate(tenant, …)` per flush; flushes of one tenant run strictly one after
 *   the other (per-tenant FIFO), tenants never wait on each other.
 * - Storm guard: past `stormThreshold` tag/key
 *   invalidations in a minute for one tenant, an alert goes to `onAlert` and the
 *   `larder:events:storm` channel; in `stormMode: 'generation'` the tenant's further
 *   flushes in that minute become one O(1) `clear()` (generation bump) each.
 * - Every processed event is recorded in the log (`kind: 'event'`, data { id, type, outcome })
 *   and on `channels.event`.
 * @module
 */
import { LRUCache } from 'lru-cache'
import type { Cache } from '../core/api.ts'
import { type ChannelPayloads, channels, type TracePayloads, traces } from '../core/diagnostics.ts'
import { LarderError } from '../core/errors.ts'
import { PUBLIC_TENANT, SEP, isTenantId } from '../core/keys.ts'
import { type Clock, clockOf } from '../core/clock.ts'
import type { LogAppend } from '../core/types.ts'
import { type LarderEvent, validateEvent } from './envelope.ts'
import { type Plan, type RuleOptions, type RuleSet, type RulesSpec, loadRules } from './rules.ts'

/** `channels.storm` (core/diagnostics.ts): a `StormAlert` when a tenant passes the storm threshold. */
export const stormChannel = channels.storm

export type EventCache = Pick<Cache, 'invalidate' | 'tenant' | 'log'>

export interface StormAlert {
  tenant: string
  /** Tag/key invalidations counted in the current minute. */
  count: number
  threshold: number
  windowMs: number
  /** What the processor does about it for the rest of the minute. */
  mode: 'alert' | 'generation'
}

export interface EventProcessorOptions extends RuleOptions {
  cache: EventCache
  /** Rules: a YAML file path or text, a TS object, or a compiled RuleSet. */
  rules: string | RulesSpec | RuleSet
  /** How long one tenant's invalidations are merged before being applied. Default 2 ms. */
  coalesceMs?: number
  /** Tag/key invalidations per tenant per minute before the storm guard trips. Default 1000. */
  stormThreshold?: number
  /** 'alert' (default): only alert. 'generation': also switch the tenant to clear() for the rest of the minute. */
  stormMode?: 'alert' | 'generation'
  onAlert?: (alert: StormAlert) => void
  /** Called after an invalidation with the rule's `warm` keys (plug a warmer in here). */
  onWarm?: (tenant: string, keys: string[]) => void | Promise<void>
  /**
   * Delivers a rule's extra `notify` topics (e.g. the SSE hub's `publishLive`). Default:
   * appended to the log as `kind: 'live'` entries with data `{ topic, value: event.data,
   * public }`: `public` is false unless the rule says `notify_public: true`, and then only
   * SSE streams opened with a signed token get the value (event data can hold personal data).
   */
  live?: (tenant: string, topic: string, value: unknown, options: { public: boolean }) => Promise<unknown>
  /** How many event ids are remembered for idempotency. Default 10,000. */
  dedupeWindow?: number
  /** Most events accepted but not yet applied, over all tenants. Default 100,000. */
  maxPending?: number
  /** Record every processed event in the log as a `kind: 'event'` entry. Default true. */
  recordEvents?: boolean
  clock?: Clock
  /** Errors swallowed on purpose (warm hook, live delivery, event records). */
  onError?: (err: unknown, context: string) => void
}

export interface EventResult {
  id: string
  tenant: string
  type: string
  outcome: 'applied' | 'duplicate'
  /** Log id of the invalidation that applied it (0 when the rule only notified). */
  logId?: number
}

export interface ProcessorStats {
  received: number
  applied: number
  duplicates: number
  rejected: number
  failed: number
  flushes: number
  /** Tags + keys handed to cache.invalidate. */
  invalidations: number
  /** Storm-mode generation bumps. */
  clears: number
  alerts: number
  pending: number
}

export interface EventProcessor {
  readonly rules: RuleSet
  /** Validates, plans and queues one event; resolves once its invalidation is applied (acknowledged). */
  publish(event: unknown): Promise<EventResult>
  /** Validates and plans every event first: one invalid event rejects the batch and nothing is applied. */
  publishBatch(events: readonly unknown[]): Promise<EventResult[]>
  /** Validation only: the normalized envelope and its rendered plan, or an E_INVALID_EVENT error. */
  check(event: unknown): { event: LarderEvent; plan: Plan }
  /** Applies everything queued now. */
  flush(): Promise<void>
  stats(): ProcessorStats
  /** Applies what is queued, then refuses new events. */
  close(): Promise<void>
}

interface Waiter {
  event: LarderEvent
  started: number
  resolve(r: EventResult): void
  reject(err: unknown): void
}

interface Batch {
  hardTags: Set<string>
  hardKeys: Set<string>
  softTags: Set<string>
  softKeys: Set<string>
  notify: Map<string, { value: unknown; public: boolean }>
  warm: Set<string>
  waiters: Waiter[]
}

interface TenantQueue {
  batch: Batch | undefined
  timer: unknown
  chain: Promise<void>
  /** Flushes queued or running on `chain`. */
  inflight: number
  windowStart: number
  count: number
  alerted: boolean
}

const WINDOW_MS = 60_000
/** Idle tenant queues (no batch, storm window over) are swept past this many. */
const SWEEP_AT = 10_000

function newBatch(): Batch {
  return { hardTags: new Set(), hardKeys: new Set(), softTags: new Set(), softKeys: new Set(), notify: new Map(), warm: new Set(), waiters: [] }
}

export function createEventProcessor(options: EventProcessorOptions): EventProcessor {
  const { cache } = options
  const rules = loadRules(options.rules, options)
  const coalesceMs = options.coalesceMs ?? 2
  const stormThreshold = options.stormThreshold ?? 1000
  const stormMode = options.stormMode ?? 'alert'
  const maxPending = options.maxPending ?? 100_000
  const record = options.recordEvents ?? true
  // The coalescing timer holds accepted events: it keeps the process alive until it runs.
  const clock = clockOf(options.clock, { keepAlive: true })
  // coalesceMs 0 still merges what arrives in the same turn of the event loop, without
  // paying setTimeout's ≥ 1 ms floor (with the real clock; a fake clock's timers run on advance).
  const sameTurn = coalesceMs === 0 && options.clock?.setTimeout === undefined
  const onError = options.onError ?? (() => {})
  if (!Number.isFinite(coalesceMs) || coalesceMs < 0) throw new LarderError('E_INVALID_OPTION', 'coalesceMs must be a non-negative number')
  if (!Number.isInteger(stormThreshold) || stormThreshold < 1) throw new LarderError('E_INVALID_OPTION', 'stormThreshold must be a positive integer')
  if (stormMode !== 'alert' && stormMode !== 'generation') throw new LarderError('E_INVALID_OPTION', "stormMode must be 'alert' or 'generation'")
  // Seen ids → the promise of their first publish (a retry of a failed one is not a duplicate).
  const seen = new LRUCache<string, Promise<EventResult>>({ max: options.dedupeWindow ?? 10_000 })
  const queues = new Map<string, TenantQueue>()
  const s: ProcessorStats = { received: 0, applied: 0, duplicates: 0, rejected: 0, failed: 0, flushes: 0, invalidations: 0, clears: 0, alerts: 0, pending: 0 }
  let closed = false

  function emit(tenant: string, type: string, outcome: ChannelPayloads['event']['outcome'], started: number, error?: unknown): void {
    if (channels.event.hasSubscribers) channels.event.publish({ tenant, type, outcome, durationMs: clock.now() - started, error })
  }

  function recordOutcome(tenant: string, id: string, type: string, outcome: string, error?: string): void {
    if (!record) return
    cache.log.append({ kind: 'event', tenant, data: error === undefined ? { id, type, outcome } : { id, type, outcome, error } }).catch((err) => onError(err, 'events:record'))
  }

  function check(input: unknown): { event: LarderEvent; plan: Plan } {
    const event = validateEvent(input, clock.now())
    return { event, plan: rules.plan(event) }
  }

  function rejected(input: unknown, err: unknown, started: number): void {
    s.rejected++
    const e = input as Partial<LarderEvent> | null
    const tenant = typeof e?.tenant === 'string' ? e.tenant : ''
    const type = typeof e?.type === 'string' ? e.type : ''
    emit(tenant, type, 'rejected', started, err)
    // Only an event with a valid user tenant and id is recorded (the log is per tenant; a
    // bad event must not write into another scope such as @public).
    if (typeof e?.id === 'string' && e.id.length <= 200 && isTenantId(tenant) && tenant !== PUBLIC_TENANT) {
      recordOutcome(tenant, e.id, type.slice(0, 100), 'rejected', (err as Error).message.slice(0, 200))
    }
  }

  function queue(tenant: string): TenantQueue {
    let q = queues.get(tenant)
    if (!q) {
      if (queues.size >= SWEEP_AT) sweep()
      q = { batch: undefined, timer: undefined, chain: Promise.resolve(), inflight: 0, windowStart: clock.now(), count: 0, alerted: false }
      queues.set(tenant, q)
    }
    return q
  }

  function sweep(): void {
    const now = clock.now()
    for (const [t, q] of queues) if (q.batch === undefined && q.timer === undefined && q.inflight === 0 && now - q.windowStart >= WINDOW_MS) queues.delete(t)
  }

  function enqueue(event: LarderEvent, plan: Plan, started: number): Promise<EventResult> {
    const q = queue(event.tenant)
    const b = (q.batch ??= newBatch())
    for (const t of plan.hardTags) b.hardTags.add(t)
    for (const k of plan.hardKeys) b.hardKeys.add(k)
    for (const t of plan.softTags) b.softTags.add(t)
    for (const k of plan.softKeys) b.softKeys.add(k)
    // The newest value of a topic wins (a storm of stock updates becomes one notification).
    for (const topic of plan.notify) {
      b.notify.delete(topic)
      b.notify.set(topic, { value: event.data, public: plan.notifyPublic })
    }
    for (const k of plan.warm) b.warm.add(k)
    s.pending++
    const p = new Promise<EventResult>((resolve, reject) => b.waiters.push({ event, started, resolve, reject }))
    if (q.timer === undefined) {
      q.timer = sameTurn ? setImmediate(() => schedule(event.tenant, q)) : clock.setTimeout(() => schedule(event.tenant, q), coalesceMs)
    }
    return p
  }

  function schedule(tenant: string, q: TenantQueue): Promise<void> {
    if (q.timer !== undefined) {
      if (sameTurn) clearImmediate(q.timer as NodeJS.Immediate)
      else clock.clearTimeout(q.timer)
    }
    q.timer = undefined
    const b = q.batch
    q.batch = undefined
    if (!b) return q.chain
    q.inflight++
    q.chain = q.chain.then(() => apply(tenant, q, b)).finally(() => void q.inflight--)
    return q.chain
  }

  function storm(tenant: string, q: TenantQueue, n: number): boolean {
    const now = clock.now()
    if (now - q.windowStart >= WINDOW_MS) {
      q.windowStart = now
      q.count = 0
      q.alerted = false
    }
    q.count += n
    if (q.count <= stormThreshold) return false
    if (!q.alerted) {
      q.alerted = true
      s.alerts++
      const alert: StormAlert = { tenant, count: q.count, threshold: stormThreshold, windowMs: WINDOW_MS, mode: stormMode }
      if (stormChannel.hasSubscribers) stormChannel.publish(alert)
      try {
        options.onAlert?.(alert)
      } catch (err) {
        onError(err, 'events:onAlert')
      }
    }
    return stormMode === 'generation'
  }

  async function apply(tenant: string, q: TenantQueue, b: Batch): Promise<void> {
    s.flushes++
    s.pending -= b.waiters.length
    try {
      for (const t of b.hardTags) b.softTags.delete(t)
      for (const k of b.hardKeys) b.softKeys.delete(k)
      const n = b.hardTags.size + b.hardKeys.size + b.softTags.size + b.softKeys.size
      let logId = 0
      if (n > 0 && storm(tenant, q, n)) {
        // One generation bump replaces the whole batch of tag writes.
        logId = (await cache.tenant(tenant).clear()).id
        s.clears++
      } else {
        if (b.hardTags.size + b.hardKeys.size > 0) logId = (await cache.invalidate(tenant, { tags: [...b.hardTags], keys: [...b.hardKeys] })).id
        if (b.softTags.size + b.softKeys.size > 0) {
          const r = await cache.invalidate(tenant, { tags: [...b.softTags], keys: [...b.softKeys], soft: true })
          if (logId === 0) logId = r.id
        }
        s.invalidations += n
      }
      const entries: LogAppend[] = []
      for (const [topic, n] of b.notify) {
        if (options.live) await options.live(tenant, topic, n.value, { public: n.public })
        else entries.push({ kind: 'live', tenant, data: { topic, value: n.value, public: n.public } })
      }
      if (record) for (const w of b.waiters) entries.push({ kind: 'event', tenant, data: { id: w.event.id, type: w.event.type, outcome: 'applied' } })
      if (entries.length > 0) await cache.log.appendMany(entries)
      s.applied += b.waiters.length
      for (const w of b.waiters) {
        emit(tenant, w.event.type, 'applied', w.started)
        w.resolve({ id: w.event.id, tenant, type: w.event.type, outcome: 'applied', logId })
      }
      if (b.warm.size > 0 && options.onWarm) {
        try {
          await options.onWarm(tenant, [...b.warm])
        } catch (err) {
          onError(err, 'events:onWarm')
        }
      }
    } catch (err) {
      // Nothing acknowledged: forget the ids so a redelivery is applied, not dropped as a duplicate.
      s.failed += b.waiters.length
      for (const w of b.waiters) {
        seen.delete(w.event.tenant + SEP + w.event.id)
        emit(tenant, w.event.type, 'rejected', w.started, err)
        w.reject(err)
      }
    }
  }

  function accept(event: LarderEvent, plan: Plan, started: number): Promise<EventResult> {
    const key = event.tenant + SEP + event.id
    const prior = seen.get(key)
    if (prior) {
      return prior.then(
        () => {
          s.duplicates++
          emit(event.tenant, event.type, 'duplicate', started)
          recordOutcome(event.tenant, event.id, event.type, 'duplicate')
          return { id: event.id, tenant: event.tenant, type: event.type, outcome: 'duplicate' as const }
        },
        // The first delivery failed: this one is a retry, apply it.
        () => accept(event, plan, started),
      )
    }
    const p = enqueue(event, plan, started)
    seen.set(key, p)
    p.catch(() => {})
    return p
  }

  function guard(n: number): void {
    if (closed) throw new LarderError('E_CLOSED', 'the event processor is closed')
    if (s.pending + n > maxPending) throw new LarderError('E_QUEUE_FULL', `the event processor already holds ${s.pending} events not yet applied (maxPending ${maxPending})`)
  }

  const processor: EventProcessor = {
    rules,
    check,
    async publish(input) {
      const started = clock.now()
      s.received++
      guard(1)
      let checked: { event: LarderEvent; plan: Plan }
      try {
        checked = check(input)
      } catch (err) {
        rejected(input, err, started)
        throw err
      }
      return accept(checked.event, checked.plan, started)
    },
    async publishBatch(inputs) {
      const started = clock.now()
      s.received += inputs.length
      guard(inputs.length)
      const checked: { event: LarderEvent; plan: Plan }[] = []
      for (let i = 0; i < inputs.length; i++) {
        try {
          checked.push(check(inputs[i]))
        } catch (err) {
          rejected(inputs[i], err, started)
          if (err instanceof LarderError && err.details) (err.details as Record<string, unknown>).index = i
          throw err
        }
      }
      return Promise.all(checked.map((c) => accept(c.event, c.plan, started)))
    },
    async flush() {
      await Promise.all([...queues].map(([tenant, q]) => schedule(tenant, q)))
    },
    stats: () => ({ ...s }),
    async close() {
      if (closed) return
      closed = true
      await Promise.all([...queues].map(([tenant, q]) => schedule(tenant, q)))
    },
  }
  // A span per event or batch (larder/tracing) when someone listens; the context is built only then.
  const { publish, publishBatch } = processor
  processor.publish = (input) => (traces.event.hasSubscribers ? traces.event.tracePromise(() => publish(input), traceContext([input])) : publish(input))
  processor.publishBatch = (inputs) => (traces.event.hasSubscribers ? traces.event.tracePromise(() => publishBatch(inputs), traceContext(inputs)) : publishBatch(inputs))
  return processor
}

/** The event channel's context: tenant and type as the (untrusted) first event names them, bounded. */
function traceContext(inputs: readonly unknown[]): TracePayloads['event'] {
  const e = (Array.isArray(inputs) ? inputs[0] : undefined) as Partial<LarderEvent> | null | undefined
  return { tenant: typeof e?.tenant === 'string' ? e.tenant.slice(0, 100) : '', type: typeof e?.type === 'string' ? e.type.slice(0, 100) : '', count: Array.isArray(inputs) ? inputs.length : 0 }
}
