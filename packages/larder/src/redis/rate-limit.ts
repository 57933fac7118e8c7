import { randomBytes } from 'node:crypto'
import { parseDuration } from '../core/duration.ts'
import { LarderError } from '../core/errors.ts'
import type { Clock, Duration } from '../core/types.ts'
import { Breaker } from './breaker.ts'
import { type ConnectionOptions, connect, quit, type RedisClient } from './connection.ts'
import { rateKey } from './keyspace.ts'
import { RATE } from './scripts.ts'
import { SEP } from '../core/keys.ts'

export interface RateDecision {
  allowed: boolean
  /** Requests counted in the current window (including this one when allowed). */
  count: number
  /** When refused: ms until the oldest request leaves the window. */
  retryAfterMs: number
}

/** A sliding-window rate limiter: at most `limit` hits per `window` per (tenant, subject). */
export interface RateLimiter {
  hit(tenant: string, subject: string): Promise<RateDecision>
  close(): Promise<void>
}

export interface RateLimitOptions {
  /** Hits allowed per window. */
  limit: number
  /** Window length. */
  window: Duration
}

function check(options: RateLimitOptions): { limit: number; window: number } {
  if (options === null || typeof options !== 'object') throw new LarderError('E_INVALID_OPTION', 'rate limiter options must be an object')
  if (!Number.isInteger(options.limit) || options.limit < 1) throw new LarderError('E_INVALID_OPTION', 'rate limit must be a positive integer')
  const window = parseDuration(options.window, 'window')
  if (window < 1) throw new LarderError('E_INVALID_OPTION', 'rate limit window must be at least 1ms')
  return { limit: options.limit, window }
}

function subjectOf(tenant: string, subject: string): string {
  if (typeof tenant !== 'string' || tenant.length === 0 || tenant.length > 128) throw new LarderError('E_INVALID_TENANT', 'tenant id must be a non-empty string of at most 128 characters')
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > 512) throw new LarderError('E_INVALID_KEY', 'rate limit subject must be a non-empty string of at most 512 characters')
  return subject
}

export interface RedisRateLimitOptions extends ConnectionOptions, RateLimitOptions {
  /** Timeout of every call. Default 250ms. */
  timeout?: Duration
  /** When Redis cannot answer: allow (fail open, default) or refuse. */
  failOpen?: boolean
}

class RedisRateLimiter implements RateLimiter {
  readonly #client: RedisClient
  readonly #owned: boolean
  readonly #limit: number
  readonly #window: number
  readonly #failOpen: boolean
  readonly #breaker: Breaker

  constructor(options: RedisRateLimitOptions) {
    const { limit, window } = check(options)
    this.#limit = limit
    this.#window = window
    const { client, owned } = connect(options, 'redisRateLimiter')
    this.#client = client
    this.#owned = owned
    client.on('error', () => {})
    client.defineCommand('larderRate', { lua: RATE })
    this.#failOpen = options.failOpen ?? true
    this.#breaker = new Breaker({ name: 'redis-rate', timeoutMs: parseDuration(options.timeout ?? '250ms', 'timeout'), failureThreshold: 5, cooldownMs: 1000 })
  }

  async hit(tenant: string, subject: string): Promise<RateDecision> {
    const key = rateKey(tenant, subjectOf(tenant, subject))
    // A unique member per hit: two hits in the same ms must both count.
    const member = randomBytes(8).toString('base64url')
    try {
      const [ok, count, retry] = await this.#breaker.run('rate.hit', () => (this.#client as unknown as RateCommand).larderRate(1, key, this.#window, this.#limit, member))
      return { allowed: ok === 1, count, retryAfterMs: Math.max(0, retry) }
    } catch (err) {
      // A limiter must not turn a Redis outage into an outage of the app (docs/invariants.md, P3)
      // unless asked to.
      if (this.#failOpen) return { allowed: true, count: 0, retryAfterMs: 0 }
      throw err
    }
  }

  async close(): Promise<void> {
    if (this.#owned) await quit(this.#client)
  }
}

interface RateCommand {
  larderRate(n: number, key: string, window: number, limit: number, member: string): Promise<[number, number, number]>
}

export interface MemoryRateLimitOptions extends RateLimitOptions {
  clock?: Clock
  /** Most subjects tracked; the least recently used is dropped past it. Default 100,000. */
  maxSubjects?: number
}

class MemoryRateLimiter implements RateLimiter {
  readonly #limit: number
  readonly #window: number
  readonly #clock: Clock
  readonly #maxSubjects: number
  readonly #hits = new Map<string, number[]>()

  constructor(options: MemoryRateLimitOptions) {
    const { limit, window } = check(options)
    this.#limit = limit
    this.#window = window
    this.#clock = options.clock ?? Date
    this.#maxSubjects = options.maxSubjects ?? 100_000
  }

  async hit(tenant: string, subject: string): Promise<RateDecision> {
    const k = tenant + SEP + subjectOf(tenant, subject)
    const now = this.#clock.now()
    const times = (this.#hits.get(k) ?? []).filter((t) => t > now - this.#window)
    this.#hits.delete(k)
    let decision: RateDecision
    if (times.length < this.#limit) {
      times.push(now)
      decision = { allowed: true, count: times.length, retryAfterMs: 0 }
    } else {
      decision = { allowed: false, count: times.length, retryAfterMs: (times[0] as number) + this.#window - now }
    }
    this.#hits.set(k, times)
    if (this.#hits.size > this.#maxSubjects) this.#hits.delete(this.#hits.keys().next().value as string)
    return decision
  }

  async close(): Promise<void> {
    this.#hits.clear()
  }
}

export function redisRateLimiter(options: RedisRateLimitOptions): RateLimiter {
  return new RedisRateLimiter(options)
}

export function memoryRateLimiter(options: MemoryRateLimitOptions): RateLimiter {
  return new MemoryRateLimiter(options)
}
