#!/usr/bin/env node
// Runs every test file (packages/*/test, apps/*/test, integrations/*/test) with Node's own test
// runner and TypeScript through tsx. Installs the integrations' own dependencies first
// (scripts/setup-integrations.mjs) unless LARDER_SKIP_SETUP=1. Usage: npm test [-- <path filter> ...]
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { integrationDirs, needsInstall } from './integrations.mjs'

const root = new URL('..', import.meta.url).pathname
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'))
const passthrough = process.argv.slice(2).filter((a) => a.startsWith('-'))

function walk(dir, out) {
  let names
  try {
    names = readdirSync(dir)
  } catch {
    return out
  }
  for (const name of names) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) walk(p, out)
    else if (/\.test\.(ts|mjs|js)$/.test(name)) out.push(p)
  }
  return out
}

const files = []
for (const base of ['packages', 'apps', 'integrations']) {
  let dirs = []
  try {
    dirs = readdirSync(join(root, base), { withFileTypes: true })
  } catch {
    continue
  }
  for (const pkg of dirs) {
    if (pkg.isDirectory()) walk(join(root, base, pkg.name, 'test'), files)
  }
}
const selected = files
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort()
if (selected.length === 0) {
  console.error('no test files matched')
  process.exit(1)
}
// The tests need redis-server, PostgreSQL, Chromium, promtool, Ruby and Python with their Redis
// clients, and Go (the producer tests). Install the missing ones where
// we may (root + apt, as CI does); elsewhere the script prints one line saying what to install.
if (process.env.LARDER_SKIP_SETUP !== '1') {
  spawnSync('bash', [join(root, 'scripts/setup-system.sh')], { stdio: 'inherit' })
  // A failed install is reported in one line; the tests that need it then fail on their own.
  if (selected.some((f) => f.startsWith('integrations/'))) spawnSync(process.execPath, [join(root, 'scripts/setup-integrations.mjs')], { stdio: 'inherit' })
}
for (const dir of integrationDirs()) {
  const name = relative(root, dir)
  if (selected.some((f) => f.startsWith(`${name}/`)) && needsInstall(dir)) console.error(`${name} is not installed: its tests will fail to load (run node scripts/setup-integrations.mjs)`)
}
const args = [
  '--import', 'tsx',
  '--conditions=larder-src',
  '--test',
  '--test-concurrency=2',
  '--test-timeout=120000',
  '--test-reporter=spec',
  ...passthrough,
  ...selected,
]
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...process.env, LARDER_TEST: '1' } })
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)))
