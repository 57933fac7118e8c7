/**
 * Stale-while-revalidate for in-process middleware (RFC 5861 §3).
 *
 * A gateway revalidates in the background with a request of its own; middleware cannot:
 * the app is the origin and only a real request runs it. So the adapters serve the
 * request that finds a stale-while-revalidate entry stale, mark the entry "due", and let
 * the next request for it run the app and store the fresh answer (one at a time: requests
 * arriving while that refresh runs are served stale too). One app run per stale entry,
 * and no request waits on another.
 * @module
 */
import type { Lookup, Prepared } from './engine.ts'
import { SEP } from '../core/keys.ts'

interface Mark {
  /** response_time of the stale entry the mark belongs to (a newer entry starts over). */
  rt: number
  /** 0: due (the next request refreshes); otherwise when the refresh started (ms). */
  running: number
}

/** Per-adapter bookkeeping of due/running refreshes, keyed by tenant + variant key. */
export class RefreshMarks {
  readonly #marks = new Map<string, Mark>()
  /** A refresh that has not finished after this long (ms) is presumed lost and retaken. */
  readonly #timeout: number

  constructor(timeoutMs = 30_000) {
    this.#timeout = timeoutMs
  }

  /**
   * For a request that found `p` inside its stale-while-revalidate window: true when this
   * request should run the app (the refresh), false when it is served stale.
   */
  claim(key: string, p: Prepared, now: number): boolean {
    const m = this.#marks.get(key)
    if (m === undefined || m.rt !== p.entry.rt) {
      if (this.#marks.size > 10_000) this.#marks.clear()
      this.#marks.set(key, { rt: p.entry.rt, running: 0 })
      return false
    }
    if (m.running !== 0 && now - m.running < this.#timeout) return false
    m.running = now
    return true
  }

  release(key: string): void {
    this.#marks.delete(key)
  }
}

/** Mark key of a lookup's variant in a tenant. */
export function refreshKey(tenant: string, lk: Lookup): string {
  return tenant + SEP + lk.key
}

