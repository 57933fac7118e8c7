/**
 * The read side of HTTP caching, written once for every front end (the gateway, the
 * node:http/Express middleware, the Fastify plugin): from a request, one decision
 * (`begin`: serve a stored response, load from the origin/app, pass through, or refuse),
 * the headers of a loaded answer (`respond`), storing it (`store`), freshening after a
 * 304 (`freshen`) and invalidation after unsafe methods (`invalidateAfter`). The callers
 * only move bytes: the gateway with an undici request, the middleware by teeing the app's
 * writes, the plugin through Fastify's hooks. Modelled on undici's cache interceptor, where
 * one function decides from the lookup result.
 *
 * Error policy (one for all front ends): the cache never fails a request. A failing lookup
 * is reported and the request goes to the origin/app uncached; a failing store, freshen or
 * invalidation is reported and the answer is delivered as is. Reports go to `onError(err,
 * context)` (contexts: `lookup`, `store`, `freshen`, `invalidate`, `refresh`), by default a
 * process warning.
 * @module
 */
import type { ServerResponse } from 'node:http'
import { channels } from '../core/diagnostics.ts'
import { type ErrorCode, isLarderError } from '../core/errors.ts'
import { validateTenant, SEP } from '../core/keys.ts'
import type { CacheControl } from './cache-control.ts'
import type { HttpCache, Lookup, Prepared, RequestInfo } from './engine.ts'
import { type HeaderRecord, requestDirectives, reuseDecision } from './freshness.ts'
import { type CacheOutcome, cacheStatus } from './headers.ts'
import { invalidationTargets, isSafeMethod } from './invalidation.ts'
import { RefreshMarks, refreshKey } from './refresh.ts'
import type { RouteMatch } from './routes.ts'

export interface FlowOptions {
  /**
   * The caller can revalidate without a client request (the gateway): a stale-while-
   * revalidate entry is served and loaded again in the background. Without it (middleware:
   * only a real request runs the app), the next request for the entry runs the app.
   */
  background?: boolean
  onError?: (err: unknown, context: string) => void
}

/** One load from the origin/app for a GET or HEAD: a miss, or a revalidation/refresh of `stale`. */
export interface Load {
  readonly tenant: string
  readonly info: RequestInfo
  readonly reqCc: CacheControl
  readonly lk: Lookup
  /** The stored response being revalidated (its validators may go upstream) or refreshed. */
  readonly stale: Prepared | undefined
  /** `stale` answers instead when the origin/app answers 5xx or fails (RFC 5861 §4, or inside the SWR window). */
  readonly staleIfError: boolean
  /** `stale` answers instead when the origin cannot be reached (RFC 9111 §4.2.4). */
  readonly staleIfDisconnected: boolean
  /** The answer may be stored (a GET without request no-store). */
  readonly storable: boolean
  /** Serve `stale` now and load with no client (stale-while-revalidate in the gateway). */
  readonly background: boolean
  readonly outcome: 'MISS' | 'REVALIDATED'
  /** When the load began (request_time) and the invalidation-log id then (store fence). */
  readonly requestTime: number
  readonly began: number
  /** The validator a stored copy of a 200 without one will carry; the first answer carries it too. */
  readonly etag: string
  /** Ends the load: wakes requests collapsed onto it, gives back a refresh mark. Idempotent; call once the answer is stored or given up. */
  done(): void
}

export type Step =
  /** Not cached: the origin/app answers; after an unsafe method call `invalidateAfter`. */
  | { kind: 'pass' }
  /** A stored response answers (`serve`). */
  | { kind: 'serve'; entry: Prepared; outcome: 'HIT' | 'STALE' }
  /** only-if-cached with nothing usable stored: 504 (RFC 9111 §5.2.1.7). */
  | { kind: 'refuse'; code: 'E_NOT_CACHED'; message: string }
  | { kind: 'load'; load: Load }

/** What to do with the origin/app's answer to a load. */
export interface Answer {
  /** Answer with `load.stale` instead (the origin/app failed inside stale-if-error); store nothing. */
  useStale: boolean
  /** Keep a copy of the body and `store` it. */
  store: boolean
  /** Fields to add to the client's response: Cache-Status, X-Cache and, when the copy will carry it, the generated ETag. */
  lines: string[]
}

const PASS: Step = { kind: 'pass' }
const REFUSE: Step = { kind: 'refuse', code: 'E_NOT_CACHED', message: 'only-if-cached and no stored response' }
const noop = () => {}

function warn(err: unknown, context: string): void {
  process.emitWarning(`larder http cache: ${context} failed: ${(err as Error)?.message ?? String(err)}`, { code: 'LARDER_HTTP_CACHE' })
}

/** Tenant of an in-process adapter request: the id, or the 400 to send. */
export function adapterTenant(id: string | undefined): { tenant: string } | { code: ErrorCode; message: string } {
  try {
    return { tenant: validateTenant(id ?? 'default') }
  } catch (err) {
    return { code: isLarderError(err) ? err.code : 'E_BAD_REQUEST', message: `tenant: ${(err as Error).message}` }
  }
}

export class CacheFlow {
  readonly http: HttpCache
  readonly report: (err: unknown, context: string) => void
  readonly #background: boolean
  /** Running loads by tenant + primary key (misses), and + SEP + `rv` (revalidations). */
  readonly #inflight = new Map<string, Promise<void>>()
  /** Keys whose last answer was not storable: concurrent requests are not collapsed for 1 s (hit-for-pass). */
  readonly #pass = new Map<string, number>()
  readonly #marks = new RefreshMarks()

  constructor(http: HttpCache, opts: FlowOptions = {}) {
    this.http = http
    this.report = opts.onError ?? warn
    this.#background = opts.background === true
  }

  /** The read-side decision for a request (never throws: a failing cache means `pass`). */
  async begin(tenant: string, info: RequestInfo, matched?: RouteMatch | null): Promise<Step> {
    const http = this.http
    const method = info.method
    if ((method !== 'GET' && method !== 'HEAD') || http.bypassed(info.target, matched)) return PASS
    const reqCc = requestDirectives(info.headers)
    let lk: Lookup
    try {
      lk = await http.lookup(tenant, info, matched)
      if (info.headers.range !== undefined) {
        // Ranges are served from a fresh complete response; anything else passes (206s are not stored).
        const f = lk.found
        if (f !== undefined && reuseDecision(f.facts, reqCc, http.now()).use === 'fresh') return { kind: 'serve', entry: f, outcome: 'HIT' }
        return PASS
      }
      const fk = tenant + SEP + lk.primary
      if (lk.found === undefined) {
        if (reqCc.onlyIfCached) return REFUSE
        // Collapse onto a running load of the same URL, then read what it stored.
        const pending = this.#inflight.get(fk)
        if (pending !== undefined && !this.#passing(fk)) {
          await pending
          lk = await http.lookup(tenant, info, matched)
        }
      } else {
        // Same for a running revalidation of the stale entry.
        const pending = this.#inflight.get(`${fk}${SEP}rv`)
        if (pending !== undefined && reuseDecision(lk.found.facts, reqCc, http.now()).use === 'revalidate') {
          await pending
          lk = await http.lookup(tenant, info, matched)
        }
      }
      return this.#decide(tenant, info, reqCc, lk, fk)
    } catch (err) {
      this.report(err, 'lookup')
      return PASS
    }
  }

  #decide(tenant: string, info: RequestInfo, reqCc: CacheControl, lk: Lookup, fk: string): Step {
    const found = lk.found
    const head = info.method === 'HEAD'
    if (found !== undefined) {
      const now = this.http.now()
      const d = reuseDecision(found.facts, reqCc, now)
      if (d.use === 'fresh') return { kind: 'serve', entry: found, outcome: 'HIT' }
      if (d.use === 'stale-ok') return { kind: 'serve', entry: found, outcome: 'STALE' }
      if (d.use === 'stale-while-revalidate') {
        // RFC 5861 §3: answer stale; one refresh per entry. A HEAD stores nothing, so it never refreshes.
        if (head) return { kind: 'serve', entry: found, outcome: 'STALE' }
        if (this.#background) {
          if (this.#inflight.has(fk)) return { kind: 'serve', entry: found, outcome: 'STALE' }
          return { kind: 'load', load: this.#load(tenant, info, reqCc, lk, found, false, false, true, this.#lead(fk), noop) }
        }
        // Middleware: the request after the one that found it stale runs the app (refresh.ts).
        const mk = refreshKey(tenant, lk)
        if (!this.#marks.claim(mk, found, now)) return { kind: 'serve', entry: found, outcome: 'STALE' }
        // Within the window the stale response may answer anyway, so it also covers a failed refresh.
        return { kind: 'load', load: this.#load(tenant, info, reqCc, lk, found, true, false, false, this.#lead(fk), () => this.#marks.release(mk)) }
      }
      // A HEAD never stores, so it never leads a collapse others would wait on.
      const lead = head ? noop : this.#lead(`${fk}${SEP}rv`)
      return { kind: 'load', load: this.#load(tenant, info, reqCc, lk, found, d.staleIfError, d.staleIfDisconnected, false, lead, noop) }
    }
    if (reqCc.onlyIfCached) return REFUSE
    return { kind: 'load', load: this.#load(tenant, info, reqCc, lk, undefined, false, false, false, head ? noop : this.#lead(fk), noop) }
  }

  #load(
    tenant: string,
    info: RequestInfo,
    reqCc: CacheControl,
    lk: Lookup,
    stale: Prepared | undefined,
    staleIfError: boolean,
    staleIfDisconnected: boolean,
    background: boolean,
    settle: () => void,
    release: () => void,
  ): Load {
    let open = true
    return {
      tenant,
      info,
      reqCc,
      lk,
      stale,
      staleIfError: stale !== undefined && staleIfError,
      staleIfDisconnected: stale !== undefined && staleIfDisconnected,
      storable: info.method === 'GET' && !reqCc.noStore,
      background,
      outcome: stale === undefined ? 'MISS' : 'REVALIDATED',
      requestTime: this.http.now(),
      began: this.http.cache.log.lastId(tenant),
      etag: this.http.newEtag(),
      done() {
        if (!open) return
        open = false
        release()
        settle()
      },
    }
  }

  /** Registers a running load under `key` (others wait on it); returns what ends it. */
  #lead(key: string): () => void {
    if (this.#inflight.has(key)) return noop
    let done!: () => void
    this.#inflight.set(
      key,
      new Promise<void>((r) => {
        done = r
      }),
    )
    return () => {
      this.#inflight.delete(key)
      done()
    }
  }

  #passing(fk: string): boolean {
    const until = this.#pass.get(fk)
    if (until === undefined) return false
    if (until > this.http.now()) return true
    this.#pass.delete(fk)
    return false
  }

  /**
   * The decision about the origin/app's answer to `load`, and the fields the client's copy
   * gets. `contentLength` (when known) larger than `maxBodyBytes` is not collected.
   */
  respond(load: Load, status: number, headers: HeaderRecord, contentLength = Number.NaN): Answer {
    const http = this.http
    if (load.staleIfError && status >= 500) return { useStale: true, store: false, lines: [] }
    const plan = load.storable ? http.storePlan(load.info, load.reqCc, status, headers, load.lk.route, http.now()) : undefined
    const store = plan?.ok === true && !(contentLength > http.maxBodyBytes)
    if (!store && load.storable) {
      if (this.#pass.size > 10_000) this.#pass.clear()
      this.#pass.set(load.tenant + SEP + load.lk.primary, this.http.now() + 1000)
    }
    const lines = ['cache-status', cacheStatus(http.name, load.outcome, { fwdStatus: status, stored: store, detail: plan && !plan.ok ? plan.reason : undefined })]
    if (http.xCache) lines.push('x-cache', 'MISS')
    if (store && http.needsEtag(status, headers)) lines.push('etag', load.etag)
    return { useStale: false, store, lines }
  }

  /** Stores the complete answer of `load` (failures reported). */
  async store(load: Load, status: number, headers: HeaderRecord, body: Buffer, responseTime = this.http.now()): Promise<Prepared | undefined> {
    try {
      const p = await this.http.store(load.lk, load.info, load.reqCc, { status, headers, body, requestTime: load.requestTime, responseTime, began: load.began, etag: load.etag })
      if (p === undefined) this.#pass.set(load.tenant + SEP + load.lk.primary, this.http.now() + 1000)
      // An origin fetch that filled the cache is a load: counted and timed as one.
      else this.http.cache.recordLoad(load.tenant, load.lk.primary, responseTime - load.requestTime)
      return p
    } catch (err) {
      this.report(err, 'store')
      return undefined
    }
  }

  /** Freshens `load.stale` from a 304 (RFC 9111 §4.3.4); on a store failure the merged response still answers. */
  async freshen(load: Load, notModifiedHeaders: HeaderRecord, responseTime: number): Promise<Prepared> {
    const stale = load.stale as Prepared
    try {
      const p = await this.http.freshen(load.lk, load.info, load.reqCc, stale, notModifiedHeaders, load.requestTime, responseTime, load.began)
      this.http.cache.recordLoad(load.tenant, load.lk.primary, responseTime - load.requestTime)
      return p
    } catch (err) {
      this.report(err, 'freshen')
      return stale
    }
  }

  /** Writes a stored response (engine `serve`) and publishes the outcome. */
  serve(res: ServerResponse, tenant: string, info: RequestInfo, p: Prepared, outcome: CacheOutcome, fwdStatus?: number): void {
    this.http.serve(res, info.method, info.headers, p, outcome, fwdStatus)
    if (channels.http.hasSubscribers) channels.http.publish({ tenant, status: outcome, route: info.routePath, durationMs: 0 })
  }

  /** Publishes the end of a load (diagnostics). */
  loaded(load: Load, durationMs: number): void {
    if (channels.http.hasSubscribers) channels.http.publish({ tenant: load.tenant, status: load.stale ? 'EXPIRED' : 'MISS', route: load.lk.route?.route.policy.path, durationMs })
  }

  /**
   * RFC 9111 §4.4: after a non-error answer to an unsafe method, drop the target and the
   * same-origin Location / Content-Location (failures reported, never thrown).
   */
  async invalidateAfter(tenant: string, info: RequestInfo, status: number, headers: HeaderRecord): Promise<void> {
    if (isSafeMethod(info.method)) return
    try {
      const base = new URL(info.target, `http://${info.host || 'localhost'}`)
      const urls = invalidationTargets(info.method, status, base, headers)
      if (urls.length > 0) await this.http.purge(tenant, { urls: urls.map((u) => u.href) })
    } catch (err) {
      this.report(err, 'invalidate')
    }
  }
}
