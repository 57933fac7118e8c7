/**
 * Loading (docs/core.md, "Module layout"): one load per key per process (the in-flight map),
 * the fleet lease, the loader run under its soft and hard timeouts, storing its result, the
 * background refresh and serving a stale value when the loader is slow or fails. The engine
 * hands over the narrow view of its state this needs (`LoadingHost`); the L1 hit path stays
 * in cache.ts.
 * @module
 */
import type { GetOrSetOptions, Loader, LoaderContext, SetOptions } from './api.ts'
import { attachEncoded } from './codec.ts'
import type { Timers } from './clock.ts'
import { channels, traces } from './diagnostics.ts'
import { parseDuration } from './duration.ts'
import { DEAD, FRESH, type L1Entry, makeEntry, type Scope } from './entry.ts'
import type { Epochs, WriteStamps } from './epochs.ts'
import { LarderError } from './errors.ts'
import { raceSoft, withHardTimeout } from './flight.ts'
import { PUBLIC_TENANT, validateTags } from './keys.ts'
import type { LogHealth } from './log-health.ts'
import { lifetime } from './options.ts'
import type { ResolvedPolicy } from './policy.ts'
import type { Clock, InvalidationLog, LeaseProvider, Store } from './types.ts'

export interface Flight {
  promise: Promise<unknown>
  version: number
  flushGen: number
  /** The write stamp when the load began (a later `set` of the key wins over it). */
  stamp: number
}

/** What loading reads and calls of the engine. */
export interface LoadingHost {
  readonly log: InvalidationLog
  readonly l2: Store | undefined
  readonly lease: LeaseProvider | undefined
  readonly leaseMs: number
  readonly clock: Clock
  readonly timers: Timers
  readonly health: LogHealth
  readonly epochs: Epochs
  readonly writes: WriteStamps
  /** The engine's flush generation now (moves on when L1 is distrusted). */
  readonly flushGen: number
  readonly closed: boolean
  onError(err: unknown, context: string): void
  judge(scope: Scope, qkey: string, e: L1Entry, now: number): number
  readL2(scope: Scope, qkey: string, now: number): Promise<{ entry: L1Entry; state: number } | undefined>
  putL1(qkey: string, e: L1Entry): void
  hit(scope: Scope, key: string, layer: 'l1' | 'l2', stale: boolean): void
  tagsFor(scope: Scope, policy: ResolvedPolicy, options: SetOptions | undefined): readonly string[]
  encode(key: string, value: unknown): { v: unknown; text: string; bytes: number }
  store(scope: Scope, key: string, qkey: string, entry: L1Entry, flushGen: number, strict: boolean, flight?: Flight, bytes?: number): Promise<boolean>
}

export class Loading {
  readonly #host: LoadingHost
  readonly #inflight = new Map<string, Flight>()
  /** Loads running now (including replaced ones no longer in #inflight). */
  #running = 0

  constructor(host: LoadingHost) {
    this.#host = host
  }

  /** Refreshes once in the background (unless a load that is still current runs already). */
  background<V>(scope: Scope, key: string, qkey: string, loader: Loader<V>, policy: ResolvedPolicy, options: GetOrSetOptions | undefined, stale: L1Entry): void {
    const f = this.#inflight.get(qkey)
    if (f && f.version === this.#host.epochs.version && f.flushGen === this.#host.flushGen) return
    this.load(scope, key, qkey, loader, policy, options, stale, true).catch((err) => this.#host.onError(err, 'refresh'))
  }

  /** A direct write wins over loads of the same key that are still running. */
  supersede(qkey: string): void {
    // Only a running load can be superseded; with none running there is nothing to record.
    if (this.#running === 0) return
    this.#host.writes.write(qkey)
    this.#inflight.delete(qkey)
  }

  /**
   * One load per key per process at a time. A caller joins a running load only when no
   * invalidation happened since it began: a load that began before an invalidation may
   * still answer the callers that were already waiting, but never a later one.
   */
  load<V>(scope: Scope, key: string, qkey: string, loader: Loader<V>, policy: ResolvedPolicy, options: GetOrSetOptions | undefined, stale: L1Entry | undefined, background = false): Promise<V> {
    const host = this.#host
    const existing = this.#inflight.get(qkey)
    let promise: Promise<V>
    if (existing && existing.version === host.epochs.version && existing.flushGen === host.flushGen && !host.writes.superseded(qkey, existing.stamp)) {
      promise = existing.promise as Promise<V>
    } else {
      const flight: Flight = { promise: undefined as unknown as Promise<V>, version: host.epochs.version, flushGen: host.flushGen, stamp: host.writes.now() }
      promise = this.#run(scope, key, qkey, loader, policy, options, stale, background, flight)
      flight.promise = promise
      this.#inflight.set(qkey, flight)
      const done = () => {
        if (this.#inflight.get(qkey) === flight) this.#inflight.delete(qkey)
      }
      promise.then(done, done)
    }
    if (stale === undefined || background) return promise
    // Stale-if-error / soft timeout for a caller that has a stale value to fall back to.
    const soft = options?.softTimeout === undefined ? policy.softTimeout : parseDuration(options.softTimeout, 'softTimeout')
    const guarded: Promise<V> = promise.catch((err) => this.#staleOrThrow<V>(scope, key, qkey, stale, err))
    return soft === undefined ? guarded : raceSoft<V>(guarded, soft, host.timers, () => this.#serveStale<V>(scope, key, stale))
  }

  #serveStale<V>(scope: Scope, key: string, stale: L1Entry): V {
    const host = this.#host
    host.hit(scope, key, 'l1', true)
    if (!host.health.reachable && channels.unverified.hasSubscribers) channels.unverified.publish({ tenant: scope.tenant, key, layer: 'l1', silentMs: host.health.silentMs(host.clock.now()) })
    return stale.v as V
  }

  #staleOrThrow<V>(scope: Scope, key: string, qkey: string, stale: L1Entry | undefined, err: unknown): V {
    const clock = this.#host.clock
    if (stale !== undefined && clock.now() < stale.expireAt && this.#host.judge(scope, qkey, stale, clock.now()) !== DEAD) return this.#serveStale(scope, key, stale)
    throw err
  }

  async #run<V>(scope: Scope, key: string, qkey: string, loader: Loader<V>, policy: ResolvedPolicy, options: GetOrSetOptions | undefined, stale: L1Entry | undefined, background: boolean, flight: Flight): Promise<V> {
    const host = this.#host
    const began = host.log.lastId()
    const flushGen = host.flushGen
    const lease = host.lease
    let token: string | null | undefined
    if (lease !== undefined && host.l2 !== undefined) {
      try {
        token = await lease.acquire(qkey, host.leaseMs)
      } catch (err) {
        host.onError(err, 'lease.acquire')
      }
      if (token === null) {
        // Another instance loads this key: wait for it (bounded), then read its result.
        try {
          await lease.wait(qkey, host.leaseMs)
        } catch (err) {
          host.onError(err, 'lease.wait')
        }
        const r = await host.readL2(scope, qkey, host.clock.now())
        if (r && r.state === FRESH && host.flushGen === flushGen) {
          host.putL1(qkey, r.entry)
          return r.entry.v as V
        }
      } else if (token) {
        // Another instance may have loaded, stored and released between our L2 miss and our
        // lease: read L2 once more before loading (one round trip on a fleet miss).
        const r = await host.readL2(scope, qkey, host.clock.now())
        if (r && r.state === FRESH && host.flushGen === flushGen) {
          lease.release(qkey, token).catch((err) => host.onError(err, 'lease.release'))
          host.putL1(qkey, r.entry)
          return r.entry.v as V
        }
      }
    }
    this.#running++
    try {
      return await this.#loadAndStore(scope, key, qkey, loader, policy, options, stale, background, began, flushGen, flight)
    } finally {
      this.#running--
      if (token) lease?.release(qkey, token).catch((err) => host.onError(err, 'lease.release'))
    }
  }

  async #loadAndStore<V>(scope: Scope, key: string, qkey: string, loader: Loader<V>, policy: ResolvedPolicy, options: GetOrSetOptions | undefined, stale: L1Entry | undefined, background: boolean, began: number, flushGen: number, flight: Flight): Promise<V> {
    const host = this.#host
    let ttl: number | undefined
    let grace: number | undefined
    let tags: string[] | undefined
    let skipped = false
    const start = host.clock.now()
    const hard = options?.hardTimeout === undefined ? policy.hardTimeout : parseDuration(options.hardTimeout, 'hardTimeout')
    let value: V
    try {
      // A span per loader call (larder/tracing) when someone listens; the loader runs inside it.
      const call = () => withHardTimeout(
        async (signal) => {
          const ctx: LoaderContext<V> = {
            tenant: scope.tenant === PUBLIC_TENANT ? PUBLIC_TENANT : scope.tenant,
            key,
            stale: stale?.v as V | undefined,
            signal,
            setTtl: (d) => {
              ttl = parseDuration(d, 'ctx.setTtl')
            },
            setGrace: (d) => {
              grace = parseDuration(d, 'ctx.setGrace')
            },
            setTags: (t) => {
              tags = [...validateTags(t)]
            },
            addTags: (t) => {
              tags = [...(tags ?? host.tagsFor(scope, policy, options)), ...validateTags(t)]
            },
            skip: () => {
              skipped = true
            },
          }
          return await loader(ctx)
        },
        hard,
        host.timers,
        key,
      )
      value = await (traces.load.hasSubscribers ? traces.load.tracePromise(call, { tenant: scope.tenant, key, background, source: 'loader' }) : call())
    } catch (err) {
      const durationMs = host.clock.now() - start
      scope.counters.loadErrors++
      const timedOut = err instanceof LarderError && err.code === 'E_LOADER_TIMEOUT'
      if (channels.load.hasSubscribers) channels.load.publish({ tenant: scope.tenant, key, durationMs, error: err, timedOut, background })
      if (timedOut) throw err
      throw new LarderError('E_LOADER_FAILED', `loader for "${key.slice(0, 80)}" failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    const now = host.clock.now()
    scope.counters.loads++
    if (channels.load.hasSubscribers) channels.load.publish({ tenant: scope.tenant, key, durationMs: now - start, background })
    if (value === undefined || skipped || host.closed || host.writes.superseded(qkey, flight.stamp)) return value
    const enc = host.encode(key, value)
    const life = lifetime(policy, value, options, { ttl, grace })
    const entry = makeEntry(enc.v, tags ?? host.tagsFor(scope, policy, options), began, now, now + life.ttl, now + life.ttl + life.grace)
    attachEncoded(entry, enc.text)
    if (policy.refreshAhead > 0) entry.d = now - start
    await host.store(scope, key, qkey, entry, flushGen, false, flight, enc.bytes)
    return enc.v as V
  }
}
