/**
 * Throwaway servers for tests: a `redis-server` (or a whole Redis Cluster) and a
 * PostgreSQL cluster on free loopback ports, started from the installed binaries and
 * owned by the test, so a test may kill, pause or restart them.
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Resolves a free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

function which(bin: string, extraDirs: string[] = []): string | undefined {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...extraDirs]) {
    if (dir && existsSync(join(dir, bin))) return join(dir, bin)
  }
  return undefined
}

export function requireBinary(bin: string, debianPackage: string, extraDirs: string[] = []): string {
  const path = which(bin, extraDirs)
  if (!path) throw new Error(`${bin} not found: install it with "apt-get install ${debianPackage}"`)
  return path
}

function waitForOutput(child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => done(new Error(`${what} did not start within ${timeoutMs} ms:\n${buf.slice(-2000)}`)), timeoutMs)
    const onData = (d: Buffer) => {
      buf += d.toString()
      if (pattern.test(buf)) done()
    }
    const onExit = (code: number | null) => done(new Error(`${what} exited with ${code}:\n${buf.slice(-2000)}`))
    function done(err?: Error) {
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
      if (err) reject(err)
      else resolve()
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('exit', onExit)
  })
}

export interface RedisServerHandle {
  port: number
  url: string
  /** SIGKILL the server (a crash). */
  kill(): Promise<void>
  /** Start it again on the same port (after kill); data is gone (no persistence). */
  restart(): Promise<void>
  /** SIGSTOP: the server stops answering but keeps its sockets (a hang). */
  pause(): void
  /** SIGCONT after pause. */
  resume(): void
  stop(): Promise<void>
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => child.once('exit', () => resolve()))
}

/** Starts a throwaway redis-server on a free loopback port. */
export async function startRedis(options: { port?: number; args?: string[] } = {}): Promise<RedisServerHandle> {
  const bin = requireBinary('redis-server', 'redis-server')
  const port = options.port ?? (await freePort())
  const dir = mkdtempSync(join(tmpdir(), 'larder-redis-'))
  let child: ChildProcess
  const launch = async () => {
    child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...(options.args ?? [])], { stdio: ['ignore', 'pipe', 'pipe'] })
    await waitForOutput(child, /Ready to accept connections/, `redis-server on port ${port}`)
  }
  await launch()
  const handle: RedisServerHandle = {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      child.kill('SIGKILL')
      await exited(child)
    },
    async restart() {
      await launch()
    },
    pause() {
      child.kill('SIGSTOP')
    },
    resume() {
      child.kill('SIGCONT')
    },
    async stop() {
      child.kill('SIGCONT')
      child.kill('SIGKILL')
      await exited(child)
      rmSync(dir, { recursive: true, force: true })
    },
  }
  return handle
}

export interface RedisClusterHandle {
  nodes: RedisServerHandle[]
  urls: string[]
  stop(): Promise<void>
}

/** Starts a Redis Cluster on loopback (default 3 masters, optional replicas per master). */
export async function startRedisCluster(options: { masters?: number; replicas?: number } = {}): Promise<RedisClusterHandle> {
  const cli = requireBinary('redis-cli', 'redis-tools')
  const masters = options.masters ?? 3
  const replicas = options.replicas ?? 0
  const count = masters * (1 + replicas)
  const nodes: RedisServerHandle[] = []
  try {
    for (let i = 0; i < count; i++) {
      const port = await freePort()
      nodes.push(await startRedis({ port, args: ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--cluster-node-timeout', '2000'] }))
    }
    execFileSync(cli, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { stdio: 'pipe' })
    // Wait until every node agrees the cluster is ok.
    const deadline = Date.now() + 20_000
    for (const n of nodes) {
      for (;;) {
        const info = execFileSync(cli, ['-p', String(n.port), 'cluster', 'info']).toString()
        if (info.includes('cluster_state:ok')) break
        if (Date.now() > deadline) throw new Error(`Redis Cluster did not become ok:\n${info}`)
        await new Promise((r) => setTimeout(r, 100))
      }
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()))
    throw err
  }
  return {
    nodes,
    urls: nodes.map((n) => n.url),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()))
    },
  }
}

export interface PostgresHandle {
  port: number
  url: string
  kill(): Promise<void>
  restart(): Promise<void>
  stop(): Promise<void>
}

function pgBinDirs(): string[] {
  const base = '/usr/lib/postgresql'
  if (!existsSync(base)) return []
  return readdirSync(base)
    .sort()
    .reverse()
    .map((v) => join(base, v, 'bin'))
}

/** Starts a throwaway PostgreSQL cluster (initdb into a temp dir, trust auth) on a free loopback port. */
export async function startPostgres(): Promise<PostgresHandle> {
  const dirs = pgBinDirs()
  const initdb = requireBinary('initdb', 'postgresql', dirs)
  const postgres = requireBinary('postgres', 'postgresql', dirs)
  const port = await freePort()
  const data = mkdtempSync(join(tmpdir(), 'larder-pg-'))
  const asRoot = process.getuid?.() === 0
  // PostgreSQL refuses to run as root: run it as the 'postgres' user when we are root.
  const runAs = (bin: string, args: string[]) => (asRoot ? { cmd: 'runuser', args: ['-u', 'postgres', '--', bin, ...args] } : { cmd: bin, args })
  if (asRoot) execFileSync('chown', ['postgres:postgres', data])
  const init = runAs(initdb, ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync'])
  execFileSync(init.cmd, init.args, { stdio: 'pipe' })
  let child: ChildProcess
  const launch = async () => {
    const run = runAs(postgres, ['-D', data, '-p', String(port), '-k', data, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'])
    child = spawn(run.cmd, run.args, { stdio: ['ignore', 'pipe', 'pipe'] })
    await waitForOutput(child, /ready to accept connections/, `postgres on port ${port}`)
  }
  await launch()
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async kill() {
      child.kill('SIGKILL')
      await exited(child)
      // Orphaned backends keep the port; wait until they are gone.
      try {
        execFileSync('pkill', ['-9', '-f', `postgres.*-p ${port}`])
      } catch {}
      rmSync(join(data, 'postmaster.pid'), { force: true })
      // The killed postmaster leaves its socket and lock behind; restart() would refuse them.
      rmSync(join(data, `.s.PGSQL.${port}.lock`), { force: true })
      rmSync(join(data, `.s.PGSQL.${port}`), { force: true })
    },
    async restart() {
      await launch()
    },
    async stop() {
      child.kill('SIGTERM')
      await exited(child)
      rmSync(data, { recursive: true, force: true })
    },
  }
}
