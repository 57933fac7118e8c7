import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { describe, test } from 'node:test'
import { joinNegativeValues, parsePort } from '../../src/cli/args.ts'
import { freePort } from '../../src/testing/servers.ts'

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

function occupy(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(port, '127.0.0.1', () => resolve(s))
  })
}

describe('larder: help, version and unknown commands', () => {
  const commands = [['gateway'], ['stats'], ['purge'], ['warm'], ['pg'], ['pg', 'install'], ['pg', 'uninstall'], ['pg', 'sql'], ['demo'], ['demo', 'start'], ['demo', 'load']]
  for (const cmd of commands) {
    for (const flag of ['--help', '-h']) {
      test(`larder ${cmd.join(' ')} ${flag} prints its own usage and exits 0`, async () => {
        const r = await larder([...cmd, flag])
        assert.equal(r.code, 0, r.stderr)
        assert.equal(r.stderr, '')
        assert.match(r.stdout, new RegExp(`^usage:[\\s\\S]*larder ${cmd.join(' ')}\\b`))
        // A subcommand's usage is its own, not its parent's list.
        if (cmd.length > 1) assert.match(r.stdout, new RegExp(`^usage: larder ${cmd.join(' ')} `))
      })
    }
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

describe('larder gateway: ports', () => {
  test('--port -1 (and -p -1) is an invalid port like any other, not an "ambiguous argument"', async () => {
    for (const args of [['--port', '-1'], ['-p', '-1'], ['--port', '70000']]) {
      const r = await larder(['gateway', '--origin', 'http://127.0.0.1:1', ...args])
      assert.equal(r.code, 2, r.stderr)
      assert.match(r.stderr, new RegExp(`--port must be an integer 0-65535, got "${args[1]}"`))
      assert.doesNotMatch(r.stderr, /ambiguous/)
    }
  })

  test('a port already in use is one clear line and exit 1, not a stack trace', async () => {
    const port = await freePort()
    const taken = await occupy(port)
    try {
      const r = await larder(['gateway', '--origin', 'http://127.0.0.1:1', '--port', String(port)])
      assert.equal(r.code, 1)
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
      assert.match(r.stderr, new RegExp(`^larder gateway: port ${port} is already in use on 127\\.0\\.0\\.1.*--port`))
      assert.doesNotMatch(r.stderr, /EADDRINUSE|\n\s+at /)
    } finally {
      await new Promise((r) => taken.close(r))
    }
  })

  test('the shared helpers: negative numbers are values; ports are integers 0-65535', () => {
    assert.deepEqual(joinNegativeValues(['--port', '-1', '-p', '-2', '--json', '--', '--x', '-3']), ['--port=-1', '-p-2', '--json', '--', '--x', '-3'])
    assert.deepEqual(joinNegativeValues(['--json', '-1'], { json: { type: 'boolean' } }), ['--json', '-1'])
    assert.equal(parsePort('8080'), 8080)
    assert.equal(parsePort(' 0 '), 0)
    for (const bad of ['-1', '65536', '1.5', '', 'http', '0x10', '1e3']) assert.throws(() => parsePort(bad), /--port must be an integer 0-65535/)
  })
})
