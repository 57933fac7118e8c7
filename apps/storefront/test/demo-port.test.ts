import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:net'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { freePort } from 'larder/testing'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const BIN = fileURLToPath(new URL('../../../packages/larder/bin/larder.mjs', import.meta.url))

function larder(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: root, env: { ...process.env, PORT: '', REDIS_URL: '', DATABASE_URL: '' }, timeout: 110_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

test('demo start on a port already in use says so in one line before seeding', async () => {
  const port = await freePort()
  const taken: Server = createServer()
  await new Promise<void>((r) => taken.listen(port, '127.0.0.1', () => r()))
  try {
    const r = await larder(['demo', 'start', '--port', String(port)])
    assert.equal(r.code, 1)
    assert.match(r.stderr, new RegExp(`^larder demo: port ${port} is already in use on 127\\.0\\.0\\.1.*--port`))
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr)
    // Nothing was started or seeded first.
    assert.doesNotMatch(r.stdout, /starting|database|seeded/, r.stdout)
  } finally {
    await new Promise((r) => taken.close(r))
  }
})
