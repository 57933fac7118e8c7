/**
 * Loading (docs/core.md, "Module layout"): one load per key per process (the in-flight map),
 * the fleet lease, the loader run under its soft and hard timeouts, storing its result, the
 * background refresh and serving a stale value when the loader is slow or fails.
 * It works on the state the engine's modules share (`EngineState`, state.ts) and the read
 * helpers of the engine (`LoadingHost`); the L1 hit path stays in cache.ts.
 * @module
 */
import type { GetOrSetOptions, Loader, LoaderContext } from './api.ts'
import { channels, traces } from './diagnostics.ts'
import { parseDuration } from './duration.ts'
import { DEAD, FRESH, type L1Entry, type Scope } from './entry.ts'
import { LarderError } from './errors.ts'
import { raceSoft, withHardTimeout } from './flight.ts'
import { PUBLIC_TENANT, validateTags } from './keys.ts'
import type { ResolvedPolicy } from './policy.ts'
import type { EngineState } from './state.ts'
import type { LeaseProvider } from './types.ts'
import type { Writes } from './writes.ts'

export interface Flight {
  promise: Promise<unknown>
  version: number
  flushGen: number
  /** The write stamp when the load began (a later `set` of the key wins over it). */
  stamp: number
}

/** What loading calls of the engine besides the shared state. */
export interface LoadingHost {
  readonly lease: LeaseProvider | undefined
  readonly leaseMs: number
  /** The write path: loads store their results through it; its stamps let a direct write win over a load. */
  readonly writes: Writes
  judge(scope: Scope, qkey: string, e: L1Entry, now: number): number
  readL2(scope: Scope, qkey: string, now: number): Promise<{ entry: L1Entry; state: number } | undefined>
  putL1(qkey: string, e: L1Entry): void
  hit(scope: Scope, key: string, layer: 'l1' | 'l2', stale: boolean): void
}

export class Loading {
  readonly #state: EngineState
  readonly #host: LoadingHost
  readonly #inflight = new Map<string, Flight>()
  /** Loads running now (including replaced ones no longer in #inflight). */
  #running = 0

  constructor(state: EngineState, host: LoadingHost) {
    this.#state = state
    this.#host = host
  }

  /** Refreshes once in the background (unless a load that is still current runs already). */
  background<V>(scope: Scope, key: string, qkey: string, loader: Loader<V>, policy: ResolvedPolicy, options: GetOrSetOptions | undefined, stale: L1Entry): void {
    const f = this.#inflight.get(qkey)
    if (f && f.version === this.#state.epochs.version && f.flushGen === this.#state.flushGen) return
    this.load(scope, key, qkey, loader, policy, options, stale, true).catch((err) => this.#state.onError(err, 'refresh'))
  }

  /** A direct write wins over loads of the same key that are still running. */
  supersede(qkey: string): void {
    // Only a running load can be superseded; with none running there is nothing to record.
    if (this.#running === 0) return
    this.#host.writes.stamps.write(qkey)
    this.#inflight.delete(qkey)
  }

  /**
   * One load per key per process at a time. A caller joins a running load only when no
   * invalidation happened since it began: a load that began before an invalidation may
   * still answer the callers that were already waiting, but never a later one.
   */
  load<V>(scope: Scope, key: string, qkey: string, loader: Loader<V>, policy: ResolvedPolicy, options: GetOrSetOptions | undefined, stale: L1Entry | undefined, background = false): Promise<V> {
    const host = this.#host
    const state = this.#state
    const existing = this.#inflight.get(qkey)
    let promise: Promise<V>
    if (existing && existing.version === state.epochs.version && existing.flushGen === state.flushGen && !host.writes.stamps.superseded(qkey, existing.stamp)) {
      promise = existing.promise as Promise<V>
    } else {
      const flight: Flight = { promise: undefined as unknown as Promise<V>, version: state.epochs.version, flushGen: state.flushGen, stamp: host.writes.stamps.now() }
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
    return soft === undefined ? guarded : raceSoft<V>(guarded, soft, state.timers, () => this.#serveStale<V>(scope, key, stale))
  }

  #serveStale<V>(scope: Scope, key: string, stale: L1Entry): V {
    const host = this.#host
    const state = this.#state
    host.hit(scope, key, 'l1', true)
    if (!state.health.reachable && channels.unverified.hasSubscribers) channels.unverified.publish({ tenant: scope.tenant, key, layer: 'l1', silentMs: state.health.silentMs(state.clock.now()) })
    return stale.v as V
  }

  #staleOrThrow<V>(scope: Scope, key: string, qkey: string, stale: L1Entry | undefined, err: unknown): V {
    const clock = this.#state.clock
    if (stale !== undefined && clock.now() < stale.expireAt && this.#host.judge(scope, qkey, stale, clock.now()) !== DEAD) return this.#serveStale(scope, key, stale)
    throw err
  }

  async #run<V>(scope: Scope, key: string, qkey: string, loader: Loader<V>, policy: ResolvedPolicy, options: GetOrSetOptions | undefined, stale: L1Entry | undefined, background: boolean, flight: Flight): Promise<V> {
    const host = this.#host
    const state = this.#state
    const began = state.log.lastId(scope.tenant)
    const flushGen = state.flushGen
    const lease = host.lease
    let token: string | null | undefined
    if (lease !== undefined && state.l2 !== undefined) {
      try {
        token = await lease.acquire(qkey, host.leaseMs)
      } catch (err) {
        state.onError(err, 'lease.acquire')
      }
      if (token === null) {
        // Another instance loads this key: wait for it (bounded), then read its result.
        try {
          await lease.wait(qkey, host.leaseMs)
        } catch (err) {
          state.onError(err, 'lease.wait')
        }
        const r = await host.readL2(scope, qkey, state.clock.now())
        if (r && r.state === FRESH && state.flushGen === flushGen) {
          host.putL1(qkey, r.entry)
          return r.entry.v as V
        }
      } else if (token) {
        // Another instance may have loaded, stored and released between our L2 miss and our
        // lease: read L2 once more before loading (one round trip on a fleet miss).
        const r = await host.readL2(scope, qkey, state.clock.now())
        if (r && r.state === FRESH && state.flushGen === flushGen) {
          lease.release(qkey, token).catch((err) => state.onError(err, 'lease.release'))
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
      if (token) lease?.release(qkey, token).catch((err) => state.onError(err, 'lease.release'))
    }
  }

  async #loadAndStore<V>(scope: Scope, key: string, qkey: string, loader: Loader<V>, policy: ResolvedPolicy, options: GetOrSetOptions | undefined, stale: L1Entry | undefined, background: boolean, began: number, flushGen: number, flight: Flight): Promise<V> {
    const host = this.#host
    const state = this.#state
    let ttl: number | undefined
    let grace: number | undefined
    let tags: string[] | undefined
    let skipped = false
    const start = state.clock.now()
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
              tags = [...(tags ?? host.writes.tagsFor(scope, policy, options)), ...validateTags(t)]
            },
            skip: () => {
              skipped = true
            },
          }
          return await loader(ctx)
        },
        hard,
        state.timers,
        key,
      )
      value = await (traces.load.hasSubscribers ? traces.load.tracePromise(call, { tenant: scope.tenant, key, background, source: 'loader' }) : call())
    } catch (err) {
      const durationMs = state.clock.now() - start
      scope.counters.loadErrors++
      const timedOut = err instanceof LarderError && err.code === 'E_LOADER_TIMEOUT'
      if (channels.load.hasSubscribers) channels.load.publish({ tenant: scope.tenant, key, durationMs, error: err, timedOut, background })
      if (timedOut) throw err
      throw new LarderError('E_LOADER_FAILED', `loader for "${key.slice(0, 80)}" failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    }
    const now = state.clock.now()
    scope.counters.loads++
    if (channels.load.hasSubscribers) channels.load.publish({ tenant: scope.tenant, key, durationMs: now - start, background })
    if (value === undefined || skipped || state.closed || host.writes.stamps.superseded(qkey, flight.stamp)) return value
    const { entry, bytes } = host.writes.entryFor(scope, key, value, policy, options, began, now, { ttl, grace, tags })
    if (policy.refreshAhead > 0) entry.d = now - start
    if (await host.writes.store(scope, key, qkey, entry, flushGen, false, flight, bytes)) host.writes.loaded(scope, policy, qkey, entry)
    return entry.v as V
  }
}
