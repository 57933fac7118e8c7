#!/usr/bin/env node
// Runs the benchmark scripts in bench/ one after another (not tests: they print tables).
// Usage: npm run bench [-- <name substring> ...]   e.g. npm run bench -- b1
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'
import { integrationDirs, needsInstall } from './integrations.mjs'

const root = new URL('..', import.meta.url).pathname
const filters = process.argv.slice(2)
// bench/*.ts, matched by file name, and integrations/<name>/bench/*.ts, matched by path
// (`npm run bench -- vendure`); an integration's own dependencies come from
// scripts/setup-integrations.mjs.
const files = readdirSync(join(root, 'bench'))
  .filter((f) => /\.(ts|mjs)$/.test(f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
  .map((f) => join('bench', f))
for (const dir of integrationDirs()) {
  let names = []
  try {
    names = readdirSync(join(dir, 'bench'))
  } catch {
    continue
  }
  for (const f of names.filter((n) => /\.(ts|mjs)$/.test(n)).sort()) {
    const rel = relative(root, join(dir, 'bench', f))
    if (filters.length === 0 || filters.some((x) => rel.includes(x))) files.push(rel)
  }
}
if (files.length === 0) {
  console.error(`no benchmark matched ${filters.join(', ')}`)
  process.exit(1)
}
if (files.some((f) => f.startsWith('integrations')) && integrationDirs().some(needsInstall)) {
  spawnSync(process.execPath, [join(root, 'scripts/setup-integrations.mjs')], { stdio: 'inherit' })
}
let failed = 0
for (const f of files) {
  console.log(`\n=== ${f} ===`)
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--conditions=larder-src', f], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) failed++
}
process.exit(failed ? 1 : 0)
