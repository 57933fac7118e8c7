/**
 * The alert rules of ops/prometheus/larder-alerts.yml, evaluated in process for the
 * dashboard (a single instance without Prometheus still sees what would fire). Names and
 * thresholds match the rules file; test/admin/alert-rules.test.ts keeps them in step.
 * Redis memory needs redis_exporter and is only in the rules file.
 * @module
 */

/** Numbers the monitor computes each tick; undefined when there is no data (never fires). */
export interface AlertInputs {
  /** Hit ratio over the last 5 minutes (0..1). */
  hitRatio5m?: number
  /** Invalidations appended by this instance in the last minute. */
  invalidationsPerMin?: number
  /** p99 of shared-store calls over the last 5 minutes, ms. */
  storeP99Ms?: number
  /** Last seen log lag, ms. */
  logLagMs?: number
  /** SSE drops per connection opened over the last 5 minutes (0..1). */
  sseDropRate5m?: number
  /** Names of open circuit breakers. */
  openBreakers?: number
}

export interface AlertRule {
  alert: string
  severity: 'warning' | 'critical'
  /** Which input it reads. */
  input: keyof AlertInputs
  op: '<' | '>'
  /** Threshold in the input's unit. */
  threshold: number
  /** The same threshold as written in the Prometheus expr (seconds where the metric is in seconds). */
  promThreshold: number
  /** How long the condition must hold before the alert fires (the rule's `for`). */
  forMs: number
  summary: string
}

const MIN = 60_000

export const ALERT_RULES: readonly AlertRule[] = [
  { alert: 'LarderLowCacheHitRatio', severity: 'warning', input: 'hitRatio5m', op: '<', threshold: 0.7, promThreshold: 0.7, forMs: 5 * MIN, summary: 'hit ratio below 70 %' },
  {
    alert: 'LarderInvalidationStorm',
    severity: 'critical',
    input: 'invalidationsPerMin',
    op: '>',
    threshold: 1000,
    promThreshold: 1000,
    forMs: 2 * MIN,
    summary: 'more than 1000 invalidations per minute',
  },
  { alert: 'LarderCacheOpLatencyHigh', severity: 'warning', input: 'storeP99Ms', op: '>', threshold: 100, promThreshold: 0.1, forMs: 3 * MIN, summary: 'L2 p99 latency above 100 ms' },
  { alert: 'LarderLogLagHigh', severity: 'warning', input: 'logLagMs', op: '>', threshold: 5000, promThreshold: 5, forMs: 2 * MIN, summary: 'invalidations applied more than 5 s late' },
  { alert: 'LarderCircuitOpen', severity: 'warning', input: 'openBreakers', op: '>', threshold: 0, promThreshold: 2, forMs: MIN, summary: 'a circuit breaker is open' },
  { alert: 'LarderSseDropRateHigh', severity: 'critical', input: 'sseDropRate5m', op: '>', threshold: 0.1, promThreshold: 0.1, forMs: 5 * MIN, summary: 'more than 10 % of SSE connections dropped' },
]

export interface AlertState {
  alert: string
  severity: AlertRule['severity']
  state: 'pending' | 'firing'
  /** Since when the condition holds (ms). */
  since: number
  value: number
  threshold: number
  summary: string
}

/** Tracks pending/firing state across evaluations (Prometheus semantics: fires after `for`). */
export class AlertEvaluator {
  readonly #rules: readonly AlertRule[]
  readonly #since = new Map<string, number>()

  constructor(rules: readonly AlertRule[] = ALERT_RULES, overrides: Record<string, { threshold?: number; forMs?: number }> = {}) {
    this.#rules = rules.map((r) => ({ ...r, ...overrides[r.alert] }))
  }

  evaluate(inputs: AlertInputs, now: number): AlertState[] {
    const out: AlertState[] = []
    for (const r of this.#rules) {
      const v = inputs[r.input]
      const holds = typeof v === 'number' && Number.isFinite(v) && (r.op === '<' ? v < r.threshold : v > r.threshold)
      if (!holds) {
        this.#since.delete(r.alert)
        continue
      }
      let since = this.#since.get(r.alert)
      if (since === undefined) this.#since.set(r.alert, (since = now))
      out.push({ alert: r.alert, severity: r.severity, state: now - since >= r.forMs ? 'firing' : 'pending', since, value: v, threshold: r.threshold, summary: r.summary })
    }
    return out
  }
}
