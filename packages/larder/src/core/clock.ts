/**
 * The one clock of the library: `now()` plus timers. Every module that reads the time or
 * waits takes a `clock?: Clock` option (the `Clock` type of core/types.ts) and turns it
 * into a `Timers` here, so every time-dependent rule runs under `larder/testing`'s
 * `FakeClock` without real waiting. Without an injected clock: `Date.now()` and the
 * global timers, unref'd (a pending timer never holds the process open).
 * @module
 */
import type { Clock } from './types.ts'

export type { Clock }

/** Timer functions: the injected clock's (fake in tests) or the global ones, unref'd. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
}

/** A clock with its timers: what modules hold once they have resolved their `clock` option. */
export type TimerClock = Clock & Timers

/** The real clock: `Date.now()` and the global timers, unref'd. */
export const systemClock: TimerClock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms)
    t.unref?.()
    return t
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout)
  },
}

/** The global timers, not unref'd: for a timer that holds accepted work (it must run before exit). */
const keepAliveTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
}

/**
 * The clock and timers to use for a `clock` option: the given clock's timers when it has
 * them; a clock with only `now()` (e.g. `Date`) keeps its `now()` and gets the global timers,
 * unref'd unless `keepAlive` (a pending timer then holds the process open, for timers
 * that carry work someone awaits, like the event processor's coalescing).
 */
export function clockOf(clock: Clock | undefined, options: { keepAlive?: boolean } = {}): TimerClock {
  if (clock?.setTimeout && clock.clearTimeout) {
    const c = clock as Required<Clock>
    return { now: () => c.now(), setTimeout: (fn, ms) => c.setTimeout(fn, ms), clearTimeout: (h) => c.clearTimeout(h) }
  }
  const timers = options.keepAlive ? keepAliveTimers : systemClock
  if (clock === undefined && timers === systemClock) return systemClock
  const now = clock ? () => clock.now() : systemClock.now
  return { now, setTimeout: timers.setTimeout, clearTimeout: timers.clearTimeout }
}

/** The timers of a clock (see `clockOf`). */
export function timersOf(clock: Clock | undefined): Timers {
  return clockOf(clock)
}

/** Resolves after `ms` of the clock's time (a fake clock's `advance()` moves it). */
export function sleep(timers: Timers, ms: number): Promise<void> {
  return new Promise((resolve) => timers.setTimeout(resolve, ms))
}

/** A repeating timer built on `setTimeout`, so a fake clock drives it too; `stop()` ends it. */
export function every(timers: Timers, ms: number, fn: () => void): { stop(): void } {
  let handle: unknown
  let stopped = false
  const arm = () => {
    handle = timers.setTimeout(() => {
      if (stopped) return
      arm()
      fn()
    }, ms)
  }
  arm()
  return {
    stop() {
      stopped = true
      timers.clearTimeout(handle)
    },
  }
}
