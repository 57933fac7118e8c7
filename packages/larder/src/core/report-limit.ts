/**
 * Error reports that an outsider can trigger (a bad message on a pub/sub channel, a bad event)
 * must not flood the process's log: one line per context per interval, with a count of what was
 * held back since the last line.
 * @module
 */
import type { Clock } from './types.ts'

export type Report = (err: unknown, context: string) => void

/**
 * Wraps `report` so each context reports at most once per `intervalMs` (default 10 s); the next
 * report of that context after the interval says how many were suppressed. At most `maxContexts`
 * contexts are remembered (contexts carry channel names, which are configuration, not input).
 */
export function limitReports(report: (err: unknown, context: string, suppressed: number) => void, options: { intervalMs?: number; clock?: Clock; maxContexts?: number } = {}): Report {
  const interval = options.intervalMs ?? 10_000
  const clock = options.clock ?? Date
  const maxContexts = options.maxContexts ?? 1000
  const last = new Map<string, { at: number; suppressed: number }>()
  return (err, context) => {
    const now = clock.now()
    const seen = last.get(context)
    if (seen !== undefined && now - seen.at < interval) {
      seen.suppressed++
      return
    }
    if (seen === undefined && last.size >= maxContexts) last.delete(last.keys().next().value as string)
    last.set(context, { at: now, suppressed: 0 })
    report(err, context, seen?.suppressed ?? 0)
  }
}
