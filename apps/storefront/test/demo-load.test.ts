import assert from 'node:assert/strict'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { checkPortFree } from 'larder/cli'
import { freePort, type RedisServerHandle, startRedis } from 'larder/testing'

const root = fileURLToPath(new URL('../../../', import.meta.url))
const BIN = fileURLToPath(new URL('../../../packages/larder/bin/larder.mjs', import.meta.url))
const ENV = { ...process.env, PORT: '', REDIS_URL: '', DATABASE_URL: '', LARDER_ADMIN_TOKEN: '' }

function larder(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: root, env: { ...ENV, ...env }, timeout: 110_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

/** Internal labels (benchmark ids, design-document references) that user output must not carry. */
const INTERNAL = /\bB\d{1,2}\b|\bseeds? \d{3}\b/

/** A port p with p + 1 free too (the two-instance demo listens on both). */
async function twoFreePorts(): Promise<number> {
  for (;;) {
    const p = await freePort()
    if (p < 65535 && (await checkPortFree(p + 1, '127.0.0.1')) === undefined) return p
  }
}

async function waitFor(child: ChildProcess, output: () => string, re: RegExp): Promise<void> {
  while (!re.test(output())) {
    if (child.exitCode !== null || child.signalCode !== null) assert.fail(`exited early with ${child.exitCode}:\n${output()}`)
    await Promise.race([once(child.stdout as NodeJS.ReadableStream, 'data'), once(child, 'exit')])
  }
}

describe('a running two-gateway demo and `larder demo load`', () => {
  let redis: RedisServerHandle
  let demo: ChildProcess
  let output = ''
  let port: number
  let urls: string[]

  before(async () => {
    redis = await startRedis()
    port = await twoFreePorts()
    urls = [`http://127.0.0.1:${port}`, `http://127.0.0.1:${port + 1}`]
    demo = spawn(process.execPath, [BIN, 'demo', 'start', '--port', String(port), '--instances', '2'], { cwd: root, env: { ...ENV, REDIS_URL: redis.url }, stdio: ['ignore', 'pipe', 'pipe'] })
    demo.stdout?.on('data', (d) => (output += d))
    demo.stderr?.on('data', (d) => (output += d))
    await waitFor(demo, () => output, /ready \(/)
  })

  after(async () => {
    if (demo.exitCode === null && demo.signalCode === null) {
      demo.kill('SIGKILL')
      await once(demo, 'exit')
    }
    await redis.stop()
  })

  test('the banner prints the exact load command for every gateway', () => {
    assert.match(output, new RegExp(`npx larder demo load --url ${urls.join(',')}\\n`))
  })

  test('`larder demo load` drives the demo running at the default address: its gateways count the traffic; a low hit ratio is reported, not a failure', async () => {
    const token = /dashboard\s+\S+#token=(\S+)/.exec(output)?.[1] ?? ''
    const before = await requestsSeen(urls, token)
    // PORT is where `larder demo start` listens by default, so it is the default address.
    const r = await larder(['demo', 'load', '--requests', '200', '--warmup', '0', '--no-prewarm', '--concurrency', '4'], { PORT: String(port) })
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`)
    assert.match(r.stdout, new RegExp(`driving the demo running at ${urls.join(',')}`))
    assert.doesNotMatch(r.stdout, /starting the demo|no demo is running/)
    assert.match(r.stdout, /correctness {2}0 stale reads \(of \d+ rows checked\), 0 failed requests: every read was fresh/)
    // A cold cache with no warm-up stays below the target: said, with the target beside it (exit 0 all the same).
    const ratio = /hit ratio {4}(\d+\.\d) % of all reads, \d+\.\d % of repeat reads; target 95\.0 %: (met on repeat reads|below target this run) \(/.exec(r.stdout)
    assert.ok(ratio && Number(ratio[1]) < 95, r.stdout)
    assert.doesNotMatch(r.stdout + r.stderr, INTERNAL)
    // /metrics help text says what each figure is, without internal labels.
    const metrics = await (await fetch(`${urls[0]}/metrics`)).text()
    assert.match(metrics, /# HELP larder_invalidation_storms_total /)
    assert.doesNotMatch(metrics, INTERNAL)
    // The demo the user has open (and its dashboard) saw the traffic, on both gateways.
    const after = await requestsSeen(urls, token)
    for (const [i, n] of after.entries()) assert.ok(n > (before[i] ?? 0) + 50, `gateway ${urls[i]}: ${before[i]} → ${n} responses`)
  })

  test('SIGTERM stops it with the same "stopping…" line as Ctrl-C', async () => {
    demo.kill('SIGTERM')
    const [code] = await once(demo, 'exit')
    assert.equal(code, 0, output)
    assert.match(output, /\nSIGTERM: stopping…\n[\s\S]*stopped\./)
  })
})

/** Reads each gateway's cache has answered (hits + misses), from its admin API. */
async function requestsSeen(gateways: string[], token: string): Promise<number[]> {
  const out: number[] = []
  for (const g of gateways) {
    const res = await fetch(`${g}/_larder/stats`, { headers: { authorization: `Bearer ${token}` } })
    assert.equal(res.status, 200)
    const s = await res.json()
    out.push(s.cache.hits + s.cache.misses)
  }
  return out
}
