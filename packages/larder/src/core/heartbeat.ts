/**
 * A connection heartbeat: a probe every `periodMs`; a probe with no answer within one period,
 * or one that fails, is reported as silence. For connections that can stay open but silent (a
 * hung server, a half-open socket after a partition): the PostgreSQL listener and the Redis
 * pub/sub source.
 * @module
 */

/**
 * Starts the heartbeat; returns its stop. `probe` returns undefined to skip a beat (e.g. while
 * disconnected); a beat is also skipped while the previous probe is unanswered.
 */
export function startHeartbeat(periodMs: number, probe: () => Promise<unknown> | undefined, onSilent: (err: Error) => void): () => void {
  let inFlight = false
  const interval = setInterval(() => {
    if (inFlight) return
    const answer = probe()
    if (answer === undefined) return
    inFlight = true
    const timer = setTimeout(() => onSilent(new Error(`heartbeat got no answer within ${periodMs} ms`)), periodMs)
    timer.unref()
    answer
      .then(
        () => clearTimeout(timer),
        (err: unknown) => {
          clearTimeout(timer)
          onSilent(err instanceof Error ? err : new Error(String(err)))
        },
      )
      .finally(() => {
        inFlight = false
      })
  }, periodMs)
  interval.unref()
  return () => clearInterval(interval)
}
