import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { describe, test } from 'node:test'
import { parse } from 'yaml'
import { ALERT_RULES } from '../../src/admin/alerts.ts'
import { createMetrics } from '../../src/metrics/index.ts'
import { metricNames } from './promql.ts'

const FILE = new URL('../../../../ops/prometheus/larder-alerts.yml', import.meta.url).pathname
const TESTS = new URL('../../../../ops/prometheus/larder-alerts.test.yml', import.meta.url).pathname
/** Metrics that come from other exporters (documented in docs/operations.md). */
const EXTERNAL = new Set(['redis_memory_used_bytes', 'redis_memory_max_bytes'])

interface Rule {
  alert: string
  expr: string
  for: string
  labels: { severity: string }
  annotations: { summary: string; description: string }
}

const doc = parse(readFileSync(FILE, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }
const rules = doc.groups.flatMap((g) => g.rules)

async function exportedNames(): Promise<Set<string>> {
  const m = createMetrics({ stats: () => ({ entries: 0, bytes: 0 }) })
  try {
    const names = new Set<string>()
    for (const x of await m.registry.getMetricsAsJSON()) {
      names.add(x.name)
      if (x.type === ('histogram' as never)) for (const s of ['_bucket', '_sum', '_count']) names.add(x.name + s)
    }
    return names
  } finally {
    m.close()
  }
}

describe('ops/prometheus/larder-alerts.yml', () => {
  test('every rule has alert, expr, for, labels.severity and annotations', () => {
    assert.ok(rules.length >= 7)
    for (const r of rules) {
      assert.match(r.alert, /^[A-Z][A-Za-z0-9]+$/, 'alert name')
      assert.equal(typeof r.expr, 'string', `${r.alert}: expr`)
      assert.match(String(r.for), /^\d+[smh]$/, `${r.alert}: for`)
      assert.ok(['warning', 'critical'].includes(r.labels?.severity), `${r.alert}: labels.severity`)
      assert.ok(r.annotations?.summary && r.annotations?.description, `${r.alert}: annotations.summary/description`)
    }
    assert.equal(new Set(rules.map((r) => r.alert)).size, rules.length, 'alert names are unique')
  })

  test('every metric an expression reads is one createMetrics exports, or a documented external one', async () => {
    const exported = await exportedNames()
    assert.ok(exported.has('larder_store_op_duration_seconds_bucket'))
    // The extractor itself: a misspelt metric is found and is not exported.
    assert.deepEqual(metricNames('sum by (group) (rate(larder_cache_hitz_total{origin="local"}[5m])) > bool 0.7'), ['larder_cache_hitz_total'])
    assert.ok(!exported.has('larder_cache_hitz_total'))
    for (const r of rules) {
      const names = metricNames(r.expr)
      assert.ok(names.length > 0, `${r.alert} reads a metric`)
      for (const n of names) assert.ok(exported.has(n) || EXTERNAL.has(n), `${r.alert}: "${n}" is neither exported by createMetrics nor a known external metric`)
    }
  })

  test('the seed thresholds are in the file, and the in-process rules use the same names, thresholds and for', () => {
    const byName = new Map(rules.map((r) => [r.alert, r]))
    const expect: [string, RegExp, string][] = [
      ['LarderLowCacheHitRatio', /<\s*0\.7\s*$/, '5m'],
      ['LarderInvalidationStorm', /\[1m\]\)\)\s*>\s*1000\s*$/, '2m'],
      ['LarderSseDropRateHigh', />\s*0\.1\s*$/, '5m'],
      ['RedisMemoryHigh', /redis_memory_used_bytes\s*\/\s*\(redis_memory_max_bytes > 0\)\s*>\s*0\.9\s*$/, '2m'],
      ['LarderCacheOpLatencyHigh', /histogram_quantile\(0\.99,.*>\s*0\.1\s*$/, '3m'],
      ['LarderLogLagHigh', /larder_log_lag_seconds\s*>\s*5\s*$/, '2m'],
    ]
    for (const [name, re, forDur] of expect) {
      const r = byName.get(name)
      assert.ok(r, `${name} exists`)
      assert.match(r.expr.trim(), re, `${name} expr`)
      assert.equal(r.for, forDur, `${name} for`)
    }
    const ms = (d: string) => Number(d.slice(0, -1)) * { s: 1000, m: 60_000, h: 3_600_000 }[d.slice(-1) as 's' | 'm' | 'h']
    for (const rule of ALERT_RULES) {
      const r = byName.get(rule.alert)
      assert.ok(r, `in-process rule ${rule.alert} is in the rules file`)
      assert.equal(ms(r.for), rule.forMs, `${rule.alert}: same for`)
      assert.equal(r.labels.severity, rule.severity, `${rule.alert}: same severity`)
      const nums = [...r.expr.matchAll(/[<>=]=?\s*([0-9.]+)\s*$/gm)].map((m) => Number(m[1]))
      assert.ok(nums.includes(rule.promThreshold), `${rule.alert}: threshold ${rule.promThreshold} in "${r.expr.trim()}"`)
    }
  })

  test('promtool accepts the file and its unit tests pass (when promtool is installed)', (t) => {
    let promtool: string | undefined
    try {
      promtool = execFileSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).trim() || undefined
    } catch {}
    if (!promtool) {
      // Not installed on this machine (tests never install): the parse checks above stand in for it.
      t.diagnostic('promtool not installed; validated by parsing only')
      return
    }
    const out = execFileSync(promtool, ['check', 'rules', FILE], { encoding: 'utf8' })
    assert.match(out, /SUCCESS: \d+ rules found/)
    // The rules' unit tests: each alert fires (and stays quiet) on synthetic series as expected.
    const unit = execFileSync(promtool, ['test', 'rules', TESTS], { encoding: 'utf8', cwd: dirname(FILE) })
    assert.match(unit, /SUCCESS/)
  })
})
