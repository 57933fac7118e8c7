import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { describe, test } from 'node:test'

const BIN = new URL('../../bin/larder.mjs', import.meta.url).pathname
const VERSION = (await import('../../package.json', { with: { type: 'json' } })).default.version as string

/** Runs the real `larder` binary in a child process. */
function larder(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, LARDER_ADMIN_TOKEN: '', LARDER_PORT: '', LARDER_ORIGIN: '', LARDER_CONFIG: '', PORT: '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

// Child processes: run a few at once so the file stays well inside the runner's timeout.
describe('larder: help, version and unknown commands', { concurrency: 3 }, () => {
  // Every command and subcommand, the two flags alternating (both for demo start and demo load).
  const commands: [string[], string][] = [
    [['gateway'], '--help'],
    [['stats'], '-h'],
    [['purge'], '--help'],
    [['warm'], '-h'],
    [['pg'], '--help'],
    [['pg', 'install'], '-h'],
    [['pg', 'uninstall'], '--help'],
    [['pg', 'sql'], '-h'],
    [['demo'], '-h'],
    [['demo', 'start'], '--help'],
    [['demo', 'start'], '-h'],
    [['demo', 'load'], '-h'],
    [['demo', 'load'], '--help'],
  ]
  for (const [cmd, flag] of commands) {
    test(`larder ${cmd.join(' ')} ${flag} prints its own usage and exits 0`, async () => {
      const r = await larder([...cmd, flag])
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stderr, '')
      assert.match(r.stdout, new RegExp(`^usage:[\\s\\S]*larder ${cmd.join(' ')}\\b`))
      // A subcommand's usage is its own, not its parent's list.
      if (cmd.length > 1) assert.match(r.stdout, new RegExp(`^usage: larder ${cmd.join(' ')} `))
    })
  }

  test('larder --version prints the package version', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await larder([flag])
      assert.equal(r.code, 0)
      assert.equal(r.stdout.trim(), VERSION)
    }
  })

  test('an unknown command is named, with the closest command when there is one, and exits non-zero', async () => {
    const r = await larder(['frobnicate'])
    assert.equal(r.code, 2)
    assert.match(r.stderr, /unknown command "frobnicate"/)
    assert.doesNotMatch(r.stdout, /usage/)
    const typo = await larder(['gatway', '--origin', 'http://127.0.0.1:1'])
    assert.equal(typo.code, 2)
    assert.match(typo.stderr, /unknown command "gatway" \(did you mean "gateway"\?\)/)
    const sub = await larder(['pg', 'instal'])
    assert.equal(sub.code, 2)
    assert.match(sub.stderr, /unknown subcommand "instal"/)
  })
})
