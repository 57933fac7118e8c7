import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { findStorefront, run, STOREFRONT_MISSING } from '../../src/cli/demo.ts'

const BIN = new URL('../../bin/larder.mjs', import.meta.url).pathname
const STOREFRONT = realpathSync(new URL('../../../../apps/storefront', import.meta.url))

/** An empty project directory: `from` a file in it, larder resolves packages the way an install there would. */
function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'larder-demo-'))
  mkdirSync(join(dir, 'node_modules'))
  writeFileSync(join(dir, 'package.json'), '{"name":"shop","private":true}')
  return dir
}

describe('larder demo finds the storefront as an installed package', () => {
  const dirs: string[] = []
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  test('installed (the workspace links it): the CLI entry of @larder/storefront, run from any directory', async () => {
    const found = findStorefront()
    assert.ok(found, 'found from the library')
    assert.equal(found.entry, join(STOREFRONT, 'src', 'cli.ts'))
    // Not the repository layout: a project elsewhere that has the package installed finds it too.
    const dir = project()
    dirs.push(dir)
    mkdirSync(join(dir, 'node_modules', '@larder'))
    symlinkSync(STOREFRONT, join(dir, 'node_modules', '@larder', 'storefront'))
    assert.equal(findStorefront(pathToFileURL(join(dir, 'index.js')))?.entry, join(STOREFRONT, 'src', 'cli.ts'))
    // The real binary, started outside the repository: the demo's own usage, exit 0.
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(process.execPath, [BIN, 'demo', 'start', '--help'], { cwd: dir, timeout: 60_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })),
    )
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /^usage: larder demo start /)
  })

  test('not installed: one line saying how to get it, exit 2, nothing started', async () => {
    const dir = project()
    dirs.push(dir)
    const from = pathToFileURL(join(dir, 'index.js'))
    assert.equal(findStorefront(from), undefined)
    const lines: string[] = []
    const original = console.error
    console.error = (...args: unknown[]) => lines.push(args.join(' '))
    let code: number
    try {
      code = await run(['start'], from)
    } finally {
      console.error = original
    }
    assert.equal(code, 2)
    assert.deepEqual(lines, [STOREFRONT_MISSING])
    assert.equal(STOREFRONT_MISSING.split('\n').length, 1)
    assert.match(STOREFRONT_MISSING, /@larder\/storefront[\s\S]*not installed[\s\S]*npm install/)
  })
})
