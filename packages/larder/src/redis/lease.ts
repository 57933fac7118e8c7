/**
 * The fleet-wide load lease on Redis (a {@link LeaseProvider}): `SET NX PX` with a random
 * token, compare-and-delete on release (the RELEASE script, which also publishes the
 * release), and `wait`, woken by that message on one shared subscriber connection and
 * polling too, because pub/sub is fire-and-forget and a holder may die. Time and timers
 * come from the injected clock (a `FakeClock` in tests).
 * @module
 */
import { randomBytes } from 'node:crypto'
import type { TimerClock } from '../core/clock.ts'
import { splitQualified } from '../core/keys.ts'
import type { LeaseProvider } from '../core/types.ts'
import type { Breaker } from './breaker.ts'
import { duplicate, type RedisClient } from './connection.ts'
import { leaseKey } from './keyspace.ts'

/** Pub/sub channel of lease releases (message: the lease key). */
export const LEASE_CHANNEL = 'lr:lease-released'

export interface RedisLeaseOptions {
  client: RedisClient
  breaker: Breaker
  clock: TimerClock
  /** Longest pause between two polls while waiting. */
  pollMaxMs: number
  /** Runs the RELEASE script (compare-and-delete, then PUBLISH on `channel`). */
  release(leaseKey: string, token: string, channel: string): Promise<unknown>
}

export class RedisLease implements LeaseProvider {
  readonly #o: RedisLeaseOptions
  readonly #waiters = new Map<string, Set<() => void>>()
  #subscriber: RedisClient | undefined
  #closed = false

  constructor(options: RedisLeaseOptions) {
    this.#o = options
  }

  async acquire(qkey: string, ttlMs: number): Promise<string | null> {
    const { tenant, key } = splitQualified(qkey)
    const token = randomBytes(12).toString('base64url')
    const ok = await this.#o.breaker.run('lease.acquire', () => this.#o.client.set(leaseKey(tenant, key), token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'))
    return ok === 'OK' ? token : null
  }

  async release(qkey: string, token: string): Promise<void> {
    const { tenant, key } = splitQualified(qkey)
    await this.#o.breaker.run('lease.release', () => this.#o.release(leaseKey(tenant, key), token, LEASE_CHANNEL))
  }

  /**
   * Waits until the lease is gone, for at most timeoutMs of the clock, and resolves either
   * way (the caller then reads L2, and loads itself if the holder left nothing). Woken by
   * the holder's release message; polls too (backoff from 2 ms up to `pollMaxMs`).
   */
  async wait(qkey: string, timeoutMs: number): Promise<void> {
    const { tenant, key } = splitQualified(qkey)
    const lk = leaseKey(tenant, key)
    const clock = this.#o.clock
    const deadline = clock.now() + timeoutMs
    let wake!: () => void
    const woken = new Promise<void>((r) => (wake = r))
    let set = this.#waiters.get(lk)
    if (!set) this.#waiters.set(lk, (set = new Set()))
    set.add(wake)
    this.#subscribe()
    let released = false
    void woken.then(() => (released = true))
    try {
      let delay = 2
      for (;;) {
        const left = deadline - clock.now()
        if (left <= 0 || released || this.#closed) return
        let timer: unknown
        await Promise.race([woken, new Promise((r) => (timer = clock.setTimeout(() => r(undefined), Math.min(delay, left))))])
        clock.clearTimeout(timer)
        if (released || this.#closed) return
        if ((await this.#o.breaker.run('lease.wait', () => this.#o.client.exists(lk))) === 0) return
        delay = Math.min(delay * 2, this.#o.pollMaxMs)
      }
    } finally {
      set.delete(wake)
      if (set.size === 0 && this.#waiters.get(lk) === set) this.#waiters.delete(lk)
    }
  }

  /** One subscriber connection per store, opened on the first wait. */
  #subscribe(): void {
    if (this.#subscriber || this.#closed) return
    const sub = duplicate(this.#o.client)
    this.#subscriber = sub
    sub.on('error', () => {})
    sub.on('message', (_channel: string, lk: string) => {
      const set = this.#waiters.get(lk)
      if (set) for (const wake of set) wake()
    })
    sub.subscribe(LEASE_CHANNEL).catch(() => {})
  }

  /** Drops the subscriber and wakes every waiter. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#subscriber?.disconnect()
    for (const set of this.#waiters.values()) for (const wake of set) wake()
  }
}
