/**
 * B5: cached-hit throughput of `larder gateway` against, in the same run and on the same
 * origin bytes: a bare node:http server sending those bytes (the Node ceiling), nginx
 * `proxy_cache` (1 worker) and Varnish. Load: `wrk -t1 -c50 -d<D>s` on loopback.
 * The machine is shared, so targets are measured in interleaved rounds and each reports
 * its median; ratios are of medians.
 *
 *   npm run bench -- b5   (= node --import tsx --conditions=larder-src bench/b5-gateway.ts [seconds=5] [rounds=5])
 *
 * Also measured: `larder gateway --workers 2 --redis …` (node:cluster, entries and
 * invalidations shared through a throwaway redis-server), Node's answer to multi-threaded
 * Varnish on the same cores.
 *
 * The gateway runs compiled (tsc → packages/larder/node_modules/.cache/larder-b5, what the npm package
 * ships as dist/); `B5_COMPILED=0` runs it from source through tsx instead.
 *
 * nginx / varnish are installed from Debian when missing (apt-get); when that fails the
 * anchor is skipped with a note. Every server runs in its own process.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type RedisServerHandle, startRedis } from '../packages/larder/src/testing/servers.ts'

const seconds = Number(process.argv[2] ?? process.env.B5_SECONDS ?? 5)
const rounds = Number(process.argv[3] ?? process.env.B5_ROUNDS ?? 5)
const root = new URL('..', import.meta.url).pathname
const BODY = '{"id":42,"name":"Larder bench"}' // 31 bytes, like the plan's ~30-byte anchor body
const dir = mkdtempSync(join(tmpdir(), 'b5-'))
const children: ChildProcess[] = []
let redis: RedisServerHandle | undefined

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as { port: number }
      s.close(() => resolve(a.port))
    })
  })
}

function start(cmd: string, args: string[], ready: () => Promise<boolean>, env: NodeJS.ProcessEnv = process.env): Promise<ChildProcess> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
  let log = ''
  child.stdout?.on('data', (d) => {
    log += d
  })
  child.stderr?.on('data', (d) => {
    log += d
  })
  children.push(child)
  return (async () => {
    for (let i = 0; i < 300; i++) {
      if (child.exitCode !== null) throw new Error(`${cmd} exited: ${log}`)
      if (await ready()) return child
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`${cmd} did not become ready: ${log}`)
  })()
}

function probe(port: number, path = '/item'): Promise<{ status: number; headers: Record<string, unknown>; body: string } | undefined> {
  return new Promise((resolve) => {
    const q = request({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = ''
      res.on('data', (d) => {
        body += d
      })
      res.on('end', () => resolve({ status: res.statusCode as number, headers: res.headers, body }))
    })
    q.on('error', () => resolve(undefined))
    q.end()
  })
}

function has(bin: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

function ensure(pkg: string, bin: string): string | undefined {
  if (has(bin)) return undefined
  try {
    execFileSync('apt-get', ['install', '-y', pkg], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
    return has(bin) ? undefined : `${pkg} installed but ${bin} not found`
  } catch (err) {
    return `apt-get install ${pkg} failed (${(err as Error).message.split('\n')[0]})`
  }
}

function wrk(port: number): number {
  const out = execFileSync('wrk', ['-t1', '-c50', `-d${seconds}s`, `http://127.0.0.1:${port}/item`], { encoding: 'utf8' })
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out)
  if (!m) throw new Error(`no Requests/sec in wrk output:\n${out}`)
  if (/Non-2xx/.test(out)) throw new Error(`non-2xx answers:\n${out}`)
  return Number(m[1])
}

const node = process.execPath
const serverJs = (port: number, cc: string) =>
  `require('http').createServer((q,s)=>{s.writeHead(200,{'content-type':'application/json','cache-control':'${cc}','content-length':${BODY.length}});s.end('${BODY}')}).listen(${port},'127.0.0.1')`

const results: { name: string; rps?: number; all?: number[]; note?: string }[] = []

/** Command line that starts `larder gateway` (compiled when possible). */
function gatewayCommand(): { args: string[]; how: string } {
  if (process.env.B5_COMPILED !== '0') {
    const out = join(root, 'packages/larder/node_modules/.cache/larder-b5')
    try {
      mkdirSync(out, { recursive: true })
      execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'packages/larder/tsconfig.build.json'), '--outDir', out, '--declaration', 'false'], { stdio: 'pipe' })
      const launcher = join(out, 'launch.mjs')
      writeFileSync(launcher, "const m = await import('./cli/gateway.js')\nconst code = await m.run(process.argv.slice(2))\nif (typeof code === 'number') process.exitCode = code\n")
      return { args: [launcher], how: 'compiled with tsc' }
    } catch (err) {
      console.error(`compiling failed, running from source: ${(err as { stdout?: Buffer }).stdout?.toString().split('\n')[0] ?? err}`)
    }
  }
  return { args: ['--conditions=larder-src', join(root, 'packages/larder/bin/larder.mjs')], how: 'from source through tsx' }
}
const gwCmd = gatewayCommand()
try {
  if (!has('wrk')) throw new Error('wrk is not installed (apt-get install wrk)')
  const originPort = await freePort()
  await start(node, ['-e', serverJs(originPort, 'public, max-age=3600')], async () => (await probe(originPort)) !== undefined)

  const barePort = await freePort()
  await start(node, ['-e', serverJs(barePort, 'public, max-age=3600')], async () => (await probe(barePort)) !== undefined)

  const gwPort = await freePort()
  await start(
    node,
    [...gwCmd.args, ...(gwCmd.args.length === 1 ? [] : ['gateway']), '--origin', `http://127.0.0.1:${originPort}`, '--port', String(gwPort)],
    async () => (await probe(gwPort)) !== undefined,
    { ...process.env, NODE_ENV: 'production' },
  )
  const hit = await probe(gwPort)
  if (hit?.headers['x-cache'] !== 'HIT' || hit.body !== BODY) throw new Error(`gateway is not answering hits: ${JSON.stringify(hit?.headers)}`)

  let clusterPort: number | undefined
  try {
    redis = await startRedis()
    clusterPort = await freePort()
    const port = clusterPort
    await start(
      node,
      [...gwCmd.args, ...(gwCmd.args.length === 1 ? [] : ['gateway']), '--origin', `http://127.0.0.1:${originPort}`, '--port', String(port), '--workers', '2', '--redis', redis.url],
      async () => (await probe(port))?.headers['x-cache'] !== undefined,
    )
    // Both workers: fill L1 of each (round-robin) before measuring.
    for (let i = 0; i < 4; i++) await probe(port)
  } catch (err) {
    clusterPort = undefined
    results.push({ name: 'larder gateway, 2 workers (--redis)', note: `skipped: ${(err as Error).message.split('\n')[0]}` })
  }

  let nginxPort: number | undefined
  const nginxNote = ensure('nginx-light', 'nginx') && ensure('nginx', 'nginx')
  if (!has('nginx')) results.push({ name: 'nginx proxy_cache (1 worker)', note: `skipped: ${nginxNote}` })
  else {
    nginxPort = await freePort()
    const conf = join(dir, 'nginx.conf')
    writeFileSync(
      conf,
      `user root; worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; proxy_cache_path ${dir}/nginx-cache keys_zone=b5:10m; client_body_temp_path ${dir}/ncb; proxy_temp_path ${dir}/npt;
  fastcgi_temp_path ${dir}/nft; uwsgi_temp_path ${dir}/nut; scgi_temp_path ${dir}/nst;
  upstream origin { server 127.0.0.1:${originPort}; keepalive 16; }
  server { listen 127.0.0.1:${nginxPort};
    location / { proxy_pass http://origin; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_cache b5; add_header X-Cache $upstream_cache_status; } } }
`,
    )
    const port = nginxPort
    await start('nginx', ['-c', conf], async () => (await probe(port)) !== undefined)
    await probe(port)
    const h = await probe(port)
    if (h?.headers['x-cache'] !== 'HIT') throw new Error(`nginx is not answering hits: ${JSON.stringify(h?.headers)}`)
  }

  let varnishPort: number | undefined
  const varnishNote = ensure('varnish', 'varnishd')
  if (!has('varnishd')) results.push({ name: 'Varnish', note: `skipped: ${varnishNote}` })
  else {
    varnishPort = await freePort()
    const port = varnishPort
    await start('varnishd', ['-F', '-n', join(dir, 'varnish'), '-a', `127.0.0.1:${port}`, '-b', `127.0.0.1:${originPort}`, '-s', 'malloc,64m'], async () => (await probe(port)) !== undefined)
    await probe(port)
  }

  // Warm every path once more, then measure one after the other (same wrk settings).
  const targets: [string, number | undefined][] = [
    ['bare node:http (same bytes, no proxy)', barePort],
    ['larder gateway, cached hit', gwPort],
    ['larder gateway, 2 workers (--redis), cached hit', clusterPort],
    ['nginx proxy_cache (1 worker)', nginxPort],
    ['Varnish', varnishPort],
  ]
  const runs = new Map<string, number[]>()
  for (let round = 0; round < rounds; round++) {
    for (const [name, port] of targets) {
      if (port === undefined) continue
      await probe(port)
      const list = runs.get(name) ?? []
      list.push(wrk(port))
      runs.set(name, list)
    }
  }
  for (const [name, list] of runs) {
    const sorted = [...list].sort((a, b) => a - b)
    results.push({ name, rps: sorted[Math.floor(sorted.length / 2)], all: list })
  }
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM')
  await new Promise((r) => setTimeout(r, 300))
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL')
  await redis?.stop()
  if (existsSync(dir)) rmSync(dir, { recursive: true, force: true })
}

const gw = results.find((r) => r.name === 'larder gateway, cached hit')?.rps ?? 0
const gw2 = results.find((r) => r.name.startsWith('larder gateway, 2 workers'))?.rps
console.log(`B5 HTTP gateway, cached hit, ${BODY.length}-byte body, wrk -t1 -c50 -d${seconds}s, loopback, ${rounds} interleaved rounds (median); gateway ${gwCmd.how}`)
console.log('| server | req/s (median) | rounds | gateway (1 process) ÷ this | gateway (2 workers) ÷ this |')
console.log('|---|---|---|---|---|')
for (const r of results) {
  if (r.rps === undefined) console.log(`| ${r.name} | ${r.note} | | | |`)
  else
    console.log(
      `| ${r.name} | ${Math.round(r.rps).toLocaleString('en')} | ${r.all?.map((x) => Math.round(x / 1000)).join(' / ')} k | ${(gw / r.rps).toFixed(2)}× | ${gw2 === undefined ? '' : `${(gw2 / r.rps).toFixed(2)}×`} |`,
    )
}
