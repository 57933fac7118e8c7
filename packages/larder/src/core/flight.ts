import { LarderError } from './errors.ts'
import type { Timers } from './clock.ts'

// The timers type lives in core/clock.ts; re-exported for the modules that import it from here.
export { type Timers, timersOf } from './clock.ts'

/**
 * Runs `work` with a hard timeout: past it the signal aborts and the promise rejects
 * with E_LOADER_TIMEOUT (the work itself may go on; its result is then ignored).
 */
export function withHardTimeout<T>(work: (signal: AbortSignal) => Promise<T>, ms: number, timers: Timers, key: string): Promise<T> {
  const ac = new AbortController()
  if (!Number.isFinite(ms) || ms <= 0) return work(ac.signal)
  return new Promise<T>((resolve, reject) => {
    const handle = timers.setTimeout(() => {
      const err = new LarderError('E_LOADER_TIMEOUT', `loader for "${key.slice(0, 80)}" ran past its hard timeout of ${ms} ms`, { details: { timeoutMs: ms } })
      ac.abort(err)
      reject(err)
    }, ms)
    settle(work(ac.signal), timers, handle, resolve, reject)
  })
}

/** Resolves `fallback()` after `ms` unless `p` settles first. */
export function raceSoft<T>(p: Promise<T>, ms: number, timers: Timers, fallback: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const handle = timers.setTimeout(() => resolve(fallback()), ms)
    settle(p, timers, handle, resolve, reject)
  })
}

/** Settles with `p` once it settles, clearing the timer `handle` first. */
function settle<T>(p: Promise<T>, timers: Timers, handle: unknown, resolve: (v: T) => void, reject: (e: unknown) => void): void {
  p.then(
    (v) => {
      timers.clearTimeout(handle)
      resolve(v)
    },
    (e) => {
      timers.clearTimeout(handle)
      reject(e)
    },
  )
}
