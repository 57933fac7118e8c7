/** PromQL helpers for the tests of ops/ (alert rules, Grafana board). */

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'offset', 'inf', 'nan'])

/** Metric names an expression reads: identifiers not called as functions, outside label matchers, grouping clauses and ranges. */
export function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/\[[^\]]*\]/g, '')
  const out: string[] = []
  for (const m of stripped.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?/g)) {
    if (m[2]) continue // a function call
    if (PROMQL_WORDS.has(m[1]!.toLowerCase())) continue
    out.push(m[1]!)
  }
  return out
}
