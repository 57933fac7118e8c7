/**
 * `larder stats [--tenant <id>] [--json] [--url <gateway>] [--token <token>]`: prints the
 * stats of a running gateway (GET /_larder/stats).
 * @module
 */
import { cliArgs, runCli } from '../admin/client.ts'
import { displayKey, keyText, printable } from '../admin/display.ts'

const USAGE = `usage: larder stats [--tenant <id>] [--json] [--url http://127.0.0.1:8080] [--token <token>]
  Prints cache stats, rates, alerts and top keys of a running gateway.
  Token: --token or LARDER_ADMIN_TOKEN (admin or read:stats; tenant:<id> with --tenant).`

const pct = (x: number | null | undefined) => (x == null ? '-' : `${(x * 100).toFixed(1)} %`)
/** A top-key row as one line: the URL (or key), its Vary'd values apart, never a control character. */
const shown = (k: { key?: unknown; vary?: unknown }) => {
  const d = displayKey(String(k.key ?? ''))
  return keyText({ key: d.key, vary: typeof k.vary === 'string' ? printable(k.vary) : d.vary })
}
const fmt = (x: number | null | undefined, d = 1) => (x == null ? '-' : x.toFixed(d))

export async function run(argv: string[]): Promise<number> {
  return runCli(async () => {
    const { values, client, json, help } = cliArgs(argv, { tenant: { type: 'string' } })
    if (help) {
      console.log(USAGE)
      return 0
    }
    const tenant = values.tenant as string | undefined
    const s = await client.request('GET', tenant === undefined ? '/_larder/stats' : `/_larder/stats?tenant=${encodeURIComponent(tenant)}`)
    if (json) {
      console.log(JSON.stringify(s, null, 2))
      return 0
    }
    const out: string[] = []
    if (tenant !== undefined) {
      const c = s.counters ?? {}
      out.push(`tenant ${printable(tenant)}`)
      out.push(`  hits ${c.hits ?? 0}  misses ${c.misses ?? 0}  stale ${c.staleServes ?? 0}  loads ${c.loads ?? 0}  invalidations ${c.invalidations ?? 0}  hit ratio ${pct(c.hitRatio)}`)
      for (const k of s.monitor?.topKeys ?? []) out.push(`  ${String(k.count).padStart(8)}  ${shown(k)}`)
    } else {
      const c = s.cache
      const m = s.monitor
      out.push(`instance ${s.instanceId}`)
      out.push(`  hit ratio (1m)     ${pct(m.hitRatio)}   (all time ${pct(c.hitRatio)})`)
      out.push(`  requests/s         ${fmt(m.requestsPerSec)}`)
      out.push(`  stale serves/s     ${fmt(m.staleServesPerSec)}`)
      out.push(`  invalidations/min  ${fmt(m.invalidationsPerMin, 0)}`)
      out.push(`  log lag            ${m.logLagMs == null ? '-' : `${m.logLagMs} ms`}`)
      out.push(`  entries / bytes    ${c.entries} / ${c.bytes}   evictions ${c.evictions}`)
      out.push(`  totals             hits ${c.hits}  misses ${c.misses}  loads ${c.loads}  load errors ${c.loadErrors}`)
      out.push(`alerts: ${m.alerts.length === 0 ? 'none' : ''}`)
      for (const a of m.alerts) out.push(`  ${a.state.toUpperCase().padEnd(8)} ${a.alert} (${a.severity}): ${a.summary}, value ${fmt(a.value, 2)}`)
      out.push('top keys:')
      for (const k of m.topKeys) out.push(`  ${String(k.count).padStart(8)}  ${printable(String(k.tenant))}  ${shown(k)}`)
      if (Array.isArray(s.warm) && s.warm.length > 0) {
        out.push('warming:')
        for (const w of s.warm) out.push(`  ${w.plan}: ${w.state} ${w.done}/${w.total} (loaded ${w.loaded}, cached ${w.skipped}, failed ${w.failed})`)
      }
    }
    console.log(out.join('\n'))
    return 0
  })
}
