import { LarderError } from './errors.ts'
import type { Duration } from './types.ts'

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
const RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)$/

/**
 * Parses a duration: a finite non-negative number of milliseconds, or a string such as
 * `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'7d'`. `Infinity` is allowed only when `allowInfinity`.
 */
export function parseDuration(input: Duration, what = 'duration', allowInfinity = false): number {
  if (typeof input === 'number') {
    if (Number.isFinite(input) && input >= 0) return input
    if (allowInfinity && input === Number.POSITIVE_INFINITY) return input
    throw new LarderError('E_INVALID_DURATION', `${what}: ${String(input)} is not a non-negative number of milliseconds`)
  }
  if (typeof input === 'string') {
    const m = RE.exec(input.trim())
    if (m) return Math.round(Number(m[1]) * (UNITS[m[2]] as number))
    throw new LarderError('E_INVALID_DURATION', `${what}: "${input.slice(0, 40)}" is not a duration; use ms as a number or a string such as "250ms", "30s", "5m", "1h", "7d"`)
  }
  throw new LarderError('E_INVALID_DURATION', `${what}: expected a number of ms or a string such as "5m", got ${input === null ? 'null' : typeof input}`)
}

/** Formats ms the way durations are written in config: `250ms`, `30s`, `5m`, `1.5h`, `2d` (one decimal at most). */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms)
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNITS[unit] as number
    if (ms >= size) return `${+(ms / size).toFixed(1)}${unit}`
  }
  return `${Math.round(ms)}ms`
}
