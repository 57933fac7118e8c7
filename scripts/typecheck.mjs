#!/usr/bin/env node
// Typechecks the root project (packages, apps, bench, scripts), then each integration or
// example with its own tsconfig.json (they resolve Vendure, Qwik … from their own
// node_modules: run scripts/setup-integrations.mjs first; a missing install is reported).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join, relative } from 'node:path'
import { integrationDirs, needsInstall, root } from './integrations.mjs'

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
let failed = 0
function check(project) {
  const r = spawnSync(process.execPath, [tsc, '-p', project, '--noEmit'], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) failed++
}
check('tsconfig.json')
for (const dir of integrationDirs()) {
  const project = join(dir, 'tsconfig.json')
  if (!existsSync(project)) continue
  const name = relative(root, dir)
  if (needsInstall(dir)) {
    console.error(`typecheck: ${name} is not installed (run node scripts/setup-integrations.mjs)`)
    failed++
    continue
  }
  check(relative(root, project))
}
process.exit(failed ? 1 : 0)
