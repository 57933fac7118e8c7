// The integrations (integrations/*/) and examples (examples/*/) that have their own
// package.json, install and tsconfig: Vendure, Qwik … stay out of the root install.
// Shared by setup-integrations.mjs, test.mjs and typecheck.mjs.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

export const root = new URL('..', import.meta.url).pathname

function mtime(p) {
  try {
    return statSync(p).mtimeMs
  } catch {
    return undefined
  }
}

/** Absolute paths of the directories with a package.json under integrations/ and examples/. */
export function integrationDirs() {
  const out = []
  for (const base of ['integrations', 'examples']) {
    let names = []
    try {
      names = readdirSync(join(root, base), { withFileTypes: true })
    } catch {
      continue
    }
    for (const d of names) if (d.isDirectory() && existsSync(join(root, base, d.name, 'package.json'))) out.push(join(root, base, d.name))
  }
  return out.sort()
}

/** True when the directory's node_modules is missing or older than its lockfile (or package.json without one). */
export function needsInstall(dir) {
  const lock = join(dir, 'package-lock.json')
  const source = existsSync(lock) ? lock : join(dir, 'package.json')
  // npm writes node_modules/.package-lock.json at the end of every install.
  const installed = mtime(join(dir, 'node_modules', '.package-lock.json'))
  return installed === undefined || installed < (mtime(source) ?? Number.POSITIVE_INFINITY)
}
