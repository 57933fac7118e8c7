import { type Clock, clockOf, type TimerClock } from '../core/clock.ts'

/**
 * A token bucket: `ratePerSec` tokens a second, up to `burst` saved. `take()` resolves when a
 * token is available; waiters are served in order. Time and timers come from the injected clock, so tests drive it with a fake clock.
 */
export class TokenBucket {
  readonly #rate: number
  readonly #burst: number
  readonly #clock: TimerClock
  #tokens: number
  #last: number
  readonly #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = []
  #timer: unknown
  #closed = false

  /** `clock`: time and timers (a `FakeClock` in tests); default the real ones. */
  constructor(ratePerSec: number, burst: number, clock?: Clock) {
    this.#rate = ratePerSec
    this.#burst = burst
    this.#clock = clockOf(clock)
    this.#tokens = burst
    this.#last = this.#clock.now()
  }

  #refill(): void {
    const now = this.#clock.now()
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#last) * this.#rate) / 1000)
    this.#last = now
  }

  take(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('token bucket closed'))
    this.#refill()
    if (this.#waiters.length === 0 && this.#tokens >= 1) {
      this.#tokens -= 1
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject })
      this.#schedule()
    })
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#waiters.length === 0) return
    const wait = Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.#rate))
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined
      this.#refill()
      while (this.#waiters.length > 0 && this.#tokens >= 1) {
        this.#tokens -= 1
        this.#waiters.shift()!.resolve()
      }
      this.#schedule()
    }, wait)
  }

  close(): void {
    this.#closed = true
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer)
    this.#timer = undefined
    for (const w of this.#waiters.splice(0)) w.reject(new Error('token bucket closed'))
  }
}
