import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { describe, test } from 'node:test'
import { joinNegativeValues, parsePort } from '../../src/cli/args.ts'
import { freePort } from '../../src/testing/servers.ts'

const BIN = new URL('../../bin/larder.mjs', import.meta.url).pathname

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
