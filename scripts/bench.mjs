#!/usr/bin/env node
// Runs the benchmark scripts in bench/ one after another (not tests: they print tables).
// Usage: npm run bench [-- <name substring> ...]   e.g. npm run bench -- b1
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const filters = process.argv.slice(2)
const files = readdirSync(join(root, 'bench'))
  .filter((f) => /\.(ts|mjs)$/.test(f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
if (files.length === 0) {
  console.error(`no benchmark matched ${filters.join(', ')}`)
  process.exit(1)
}
let failed = 0
for (const f of files) {
  console.log(`\n=== ${f} ===`)
  const r = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--conditions=larder-src', join('bench', f)], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) failed++
}
process.exit(failed ? 1 : 0)
