#!/usr/bin/env node
// Installs the dependencies of the integrations (integrations/*/) and examples (examples/*/)
// that have their own package.json: Vendure, Qwik … stay out of the root install, which stays
// quick for the library and the demo. A directory is installed when its node_modules is
// missing or older than its lockfile (or, without a lockfile, than its package.json): `npm ci`
// with a lockfile, `npm install` without. Up to date → nothing runs (fast, idempotent).
// Usage: node scripts/setup-integrations.mjs [--quiet]. Exit 1 after one line per failure.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { integrationDirs, needsInstall, root } from './integrations.mjs'

const quiet = process.argv.includes('--quiet')

let failed = 0
for (const dir of integrationDirs()) {
  if (!needsInstall(dir)) continue
  const name = relative(root, dir)
  const args = existsSync(join(dir, 'package-lock.json')) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund']
  if (!quiet) console.log(`setup-integrations: npm ${args[0]} in ${name}`)
  const started = Date.now()
  const r = spawnSync('npm', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error' } })
  if (r.status !== 0) {
    failed++
    const why = (r.error?.message ?? `${r.stderr ?? ''}`.trim().split('\n').filter((l) => /\S/.test(l)).pop() ?? `exit ${r.status}`).slice(0, 300)
    console.error(`setup-integrations: npm ${args[0]} in ${name} failed: ${why}`)
    continue
  }
  if (!quiet) console.log(`setup-integrations: ${name} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`)
}
process.exit(failed ? 1 : 0)
