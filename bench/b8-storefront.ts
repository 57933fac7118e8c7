/**
 * B8: the storefront workload (Zipf reads, 1 % writes, stale-read checker) through the
 * event-driven gateway, and the same traffic through a TTL-only gateway in the same run.
 * Target: >= 95 % hit ratio and 0 stale reads.
 *
 *   npm run bench -- b8            (B8_REQUESTS=10000 by default; B8_PREWARM=0 for a cold start)
 */
import { runLoad } from '../apps/storefront/src/load/run.ts'

const requests = Number(process.env.B8_REQUESTS ?? 10_000)
const { events, ttlOnly } = await runLoad({ requests, prewarm: process.env.B8_PREWARM !== '0' })
const ratio = (a: number, b: number) => (b ? `${(a / b).toFixed(2)}×` : 'n/a')
console.log('')
if (ttlOnly) {
  console.log(`stale reads: event-driven ${events.staleReads} vs TTL-only ${ttlOnly.staleReads}`)
  console.log(`origin reads: event-driven ÷ TTL-only = ${ratio(events.originReads ?? 0, ttlOnly.originReads ?? 0)}`)
}
const met = events.staleReads === 0 && events.hitRatio >= 0.95
console.log(`B8 target (>= 95 % hit ratio, 0 stale reads): hit ratio ${(events.hitRatio * 100).toFixed(1)} %, stale ${events.staleReads} → ${met ? 'met' : 'NOT met'}`)
