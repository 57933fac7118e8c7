#!/usr/bin/env node
// `npm run conformance`: runs http-tests/cache-tests against `larder gateway`.
// The suite is not committed: put a checkout at .cache-tests/ (or point CACHE_TESTS_DIR at
// one) and run `npm install --omit=dev` in it. Both servers bind 127.0.0.1 on free ports.
// Flags: --json (print raw results), --id=<test-id> (one test, with its dump).
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const suite = process.env.CACHE_TESTS_DIR ?? join(root, '.cache-tests')
if (!existsSync(join(suite, 'test-engine', 'cli.mjs'))) {
  console.log(`cache-tests suite not found at ${suite}: clone https://github.com/http-tests/cache-tests there (or set CACHE_TESTS_DIR) and run \`npm install --omit=dev\` in it. Skipping.`)
  process.exit(0)
}
const args = process.argv.slice(2)
const onlyId = args.find((a) => a.startsWith('--id='))?.slice(5) ?? ''

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

// The suite's origin listens on every interface; this preload pins it to loopback.
const LOOPBACK = `data:text/javascript,${encodeURIComponent(
  'import http from "node:http";const l=http.Server.prototype.listen;http.Server.prototype.listen=function(p,...a){return (typeof p==="number"||typeof p==="string")?l.call(this,p,"127.0.0.1",...a):l.call(this,p,...a)}',
)}`

function start(cmd, argv, opts, readyText) {
  const child = spawn(cmd, argv, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${argv.join(' ')} did not start:\n${out}`)), 30_000)
    const onData = (d) => {
      out += d
      if (out.includes(readyText)) {
        clearTimeout(timer)
        resolve(child)
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${argv.join(' ')} exited with ${code}:\n${out}`))
    })
  })
}

const originPort = await freePort()
const gwPort = await freePort()
const children = []
const stopAll = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
}
process.on('exit', stopAll)
try {
  children.push(
    await start(process.execPath, ['--import', LOOPBACK, 'test-engine/server/server.mjs'], {
      cwd: suite,
      env: { ...process.env, npm_config_protocol: 'http', npm_config_port: String(originPort), npm_config_pidfile: `/tmp/http-cache-test-server-${originPort}.pid` },
    }, 'Listening on'),
  )
  children.push(
    await start(
      process.execPath,
      ['--conditions=larder-src', join(root, 'packages/larder/bin/larder.mjs'), 'gateway', '--origin', `http://127.0.0.1:${originPort}`, '--port', String(gwPort)],
      { cwd: root, env: { ...process.env, LARDER_ADMIN_TOKEN: '' } },
      'larder gateway on',
    ),
  )
  const cli = spawn(process.execPath, ['--no-warnings', 'test-engine/cli.mjs'], {
    cwd: suite,
    env: { ...process.env, npm_config_base: `http://127.0.0.1:${gwPort}`, npm_config_id: onlyId, npm_package_config_id: onlyId },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  cli.stdout.on('data', (d) => {
    out += d
  })
  await new Promise((r) => cli.once('exit', r))
  if (onlyId) {
    console.log(out)
  } else {
    const results = JSON.parse(out)
    if (args.includes('--json')) console.log(JSON.stringify(results, null, 2))
    await summarize(results)
  }
} finally {
  stopAll()
}

async function summarize(results) {
  const { default: suites } = await import(join(suite, 'tests/index.mjs'))
  const { determineTestResult } = await import(join(suite, 'test-engine/lib/results.mjs'))
  const total = { required: [0, 0], optimal: [0, 0], check: [0, 0] }
  const failed = []
  console.log('category                         required   optimal   check')
  for (const s of suites) {
    const row = { required: [0, 0], optimal: [0, 0], check: [0, 0] }
    for (const t of s.tests) {
      if (t.browser_only) continue
      const kind = t.kind ?? 'required'
      const r = determineTestResult(suites, t.id, results)
      const ok = r[2] === '✅' || r[2] === 'Y'
      row[kind][1]++
      total[kind][1]++
      if (ok) {
        row[kind][0]++
        total[kind][0]++
      } else if (kind !== 'check') failed.push(`${kind.padEnd(8)} ${t.id}: ${r[2]} ${(results[t.id] ?? [])[1] ?? ''}`)
    }
    const f = (x) => `${x[0]}/${x[1]}`.padStart(9)
    console.log(`${s.id.padEnd(30)} ${f(row.required)} ${f(row.optimal)} ${f(row.check)}`)
  }
  const f = (x) => `${x[0]}/${x[1]}`.padStart(9)
  console.log(`${'TOTAL'.padEnd(30)} ${f(total.required)} ${f(total.optimal)} ${f(total.check)}`)
  if (failed.length) console.log(`\nnot passed:\n${failed.join('\n')}`)
}
