import { LarderError } from './errors.ts'
import type { Clock } from './types.ts'

/** Timer functions from the clock (fake in tests) or the global ones. */
export interface Timers {
  set(fn: () => void, ms: number): unknown
  clear(handle: unknown): void
}

export function timersOf(clock: Clock): Timers {
  if (clock.setTimeout && clock.clearTimeout) {
    const c = clock as Required<Clock>
    return { set: (fn, ms) => c.setTimeout(fn, ms), clear: (h) => c.clearTimeout(h) }
  }
  return {
    set: (fn, ms) => {
      const t = setTimeout(fn, ms)
      t.unref?.()
      return t
    },
    clear: (h) => clearTimeout(h as NodeJS.Timeout),
  }
}

/**
 * Runs `work` with a hard timeout: past it the signal aborts and the promise rejects
 * with E_LOADER_TIMEOUT (the work itself may go on; its result is then ignored).
 */
export function withHardTimeout<T>(work: (signal: AbortSignal) => Promise<T>, ms: number, timers: Timers, key: string): Promise<T> {
  const ac = new AbortController()
  if (!Number.isFinite(ms) || ms <= 0) return work(ac.signal)
  return new Promise<T>((resolve, reject) => {
    const handle = timers.set(() => {
      const err = new LarderError('E_LOADER_TIMEOUT', `loader for "${key.slice(0, 80)}" ran past its hard timeout of ${ms} ms`, { details: { timeoutMs: ms } })
      ac.abort(err)
      reject(err)
    }, ms)
    work(ac.signal).then(
      (v) => {
        timers.clear(handle)
        resolve(v)
      },
      (e) => {
        timers.clear(handle)
        reject(e)
      },
    )
  })
}

/** Resolves `fallback()` after `ms` unless `p` settles first. */
export function raceSoft<T>(p: Promise<T>, ms: number, timers: Timers, fallback: () => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const handle = timers.set(() => resolve(fallback()), ms)
    p.then(
      (v) => {
        timers.clear(handle)
        resolve(v)
      },
      (e) => {
        timers.clear(handle)
        reject(e)
      },
    )
  })
}
