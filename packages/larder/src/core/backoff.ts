/**
 * Reconnect delays: exponential backoff with "full jitter" (a uniformly random delay
 * between 0 and the exponential cap), which spreads a fleet of pages reconnecting after
 * a deploy evenly instead of in synchronized waves. Used by the realtime client (browser:
 * this module imports nothing) and the PostgreSQL listener.
 * @module
 */

export interface BackoffOptions {
  /** First reconnect delay cap. Default: the server's `retry:` hint, else 1,000 ms. */
  initialMs?: number
  /** Largest delay cap. Default 30,000 ms. */
  maxMs?: number
  /** Growth per failed attempt. Default 2. */
  factor?: number
}

/** Delay before reconnect attempt `attempt` (1 = first retry after a failure). */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number, serverRetryMs?: number): number {
  const initial = options.initialMs ?? serverRetryMs ?? 1_000
  const cap = Math.min(options.maxMs ?? 30_000, initial * (options.factor ?? 2) ** Math.max(0, attempt - 1))
  return Math.floor(random() * cap)
}
