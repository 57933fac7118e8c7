/**
 * `larder stats [--tenant <id>] [--ttl] [--json] [--url <gateway>] [--token <token>]`: prints
 * the stats of a running gateway (GET /_larder/stats); `--ttl` its TTL report per group.
 * @module
 */
import { cliArgs, runCli } from '../admin/client.ts'
import { displayKey, keyText, printable } from '../admin/display.ts'
import type { TtlGroupReport, TtlReport } from '../core/adaptive-ttl.ts'
import { formatDuration } from '../core/duration.ts'

const USAGE = `usage: larder stats [--tenant <id>] [--ttl] [--json] [--url http://127.0.0.1:8080] [--token <token>]
  Prints cache stats, rates, alerts and top keys of a running gateway.
  --ttl: TTL effectiveness per group (policy): entries that expired unchanged, were
  invalidated before expiry, were read after expiry, and the ttl in use (adaptive or fixed).
  Token: --token or LARDER_ADMIN_TOKEN (admin or read:stats; tenant:<id> with --tenant).`

const pct = (x: number | null | undefined) => (x == null ? '-' : `${(x * 100).toFixed(1)} %`)
/** A top-key row as one line: the URL (or key), its Vary'd values apart, never a control character. */
const shown = (k: { key?: unknown; vary?: unknown }) => {
  const d = displayKey(String(k.key ?? ''))
  return keyText({ key: d.key, vary: typeof k.vary === 'string' ? printable(k.vary) : d.vary })
}
const fmt = (x: number | null | undefined, d = 1) => (x == null ? '-' : x.toFixed(d))

/** The TTL report as a table (`--ttl`); group names are config, still printed as text. */
function ttlLines(r: TtlReport | undefined): string[] {
  if (r === undefined) return ['this server does not report TTL effectiveness (it predates the TTL report)']
  const ttl = (g: TtlGroupReport) => (g.adaptive ? `adaptive ${formatDuration(g.ttlMs.min)}${g.ttlMs.max === g.ttlMs.min ? '' : `-${formatDuration(g.ttlMs.max)}`}` : formatDuration(g.policyTtlMs))
  const rows = [
    ['group', 'ttl', 'ended', 'expired unchanged', 'invalidated before expiry', 'read after expiry', 'change interval'],
    ...r.groups.map((g) => [printable(g.group), ttl(g), String(g.ended), pct(g.shares.expiredUnchanged), pct(g.shares.invalidatedBeforeExpiry), pct(g.shares.readAfterExpiry), g.changeIntervalMs == null ? '-' : formatDuration(g.changeIntervalMs)]),
  ]
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((l) => (l[c] ?? '').length))) ?? []
  return [
    `TTL effectiveness per group (entries followed: ${r.tracked} of ${r.capacity})`,
    ...(r.groups.length === 0 ? ['  no entry has ended yet'] : rows.map((l) => `  ${l.map((cell, c) => (c < 2 ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0))).join('  ')}`)),
  ]
}

export async function run(argv: string[]): Promise<number> {
  return runCli(async () => {
    const { values, client, json, help } = cliArgs(argv, { tenant: { type: 'string' }, ttl: { type: 'boolean' } })
    if (help) {
      console.log(USAGE)
      return 0
    }
    const tenant = values.tenant as string | undefined
    const s = await client.request('GET', tenant === undefined ? '/_larder/stats' : `/_larder/stats?tenant=${encodeURIComponent(tenant)}`)
    if (values.ttl === true) {
      const report = s.ttl as TtlReport | undefined
      console.log(json ? JSON.stringify(report ?? null, null, 2) : [...(tenant === undefined ? [] : [`tenant ${printable(tenant)}`]), ...ttlLines(report)].join('\n'))
      return 0
    }
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
