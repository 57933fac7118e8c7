/**
 * A small client for the admin API, used by `larder stats|purge|warm`. It talks to a running
 * gateway (`--url`, default LARDER_URL or http://127.0.0.1:8080) with a bearer token
 * (`--token`, default LARDER_ADMIN_TOKEN), bounded by a timeout.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from 'node:util'

export class CliError extends Error {
  readonly exitCode: number
  constructor(message: string, exitCode = 1) {
    super(message)
    this.exitCode = exitCode
  }
}

export interface AdminClient {
  request<T = any>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>
}

export function adminClient(url: string, token: string | undefined, timeoutMs = 10_000): AdminClient {
  let base: URL
  try {
    base = new URL(url)
  } catch {
    throw new CliError(`--url "${url}" is not a URL (e.g. http://127.0.0.1:8080)`, 2)
  }
  return {
    async request(method, path, body) {
      const headers: Record<string, string> = {}
      if (token) headers.authorization = `Bearer ${token}`
      if (body !== undefined) headers['content-type'] = 'application/json'
      let res: Response
      try {
        res = await fetch(new URL(path, base), { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(timeoutMs) })
      } catch (err) {
        throw new CliError(`cannot reach ${base.origin}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`)
      }
      const text = await res.text()
      let json: any
      try {
        json = JSON.parse(text)
      } catch {
        json = undefined
      }
      if (!res.ok) {
        const msg = json?.error?.message ?? text.slice(0, 200)
        const hint = res.status === 401 ? ' (pass --token or set LARDER_ADMIN_TOKEN)' : ''
        throw new CliError(`${method} ${path} failed: ${res.status} ${msg}${hint}`)
      }
      return json
    },
  }
}

const common = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Parses flags (common ones: --url, --token, --json, --help) and builds the client. */
export function cliArgs<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; options: O & typeof common; allowPositionals: false; strict: true }>>
  try {
    parsed = parseArgs({ args: argv, options: { ...options, ...common }, allowPositionals: false, strict: true })
  } catch (err) {
    throw new CliError((err as Error).message, 2)
  }
  const v = parsed.values as Record<string, unknown>
  const url = (v.url as string | undefined) ?? process.env.LARDER_URL ?? 'http://127.0.0.1:8080'
  const token = (v.token as string | undefined) ?? process.env.LARDER_ADMIN_TOKEN ?? process.env.LARDER_TOKEN
  return { values: v, client: adminClient(url, token), json: v.json === true, help: v.help === true }
}

/** Runs a command body; prints CliErrors as one line and returns the exit code. */
export async function runCli(fn: () => Promise<number | undefined>): Promise<number> {
  try {
    return (await fn()) ?? 0
  } catch (err) {
    if (err instanceof CliError) {
      process.stderr.write(`larder: ${err.message}\n`)
      return err.exitCode
    }
    throw err
  }
}

/** A text progress bar: `[#########-----------]  45/100`. */
export function bar(done: number, total: number, width = 30): string {
  const f = total > 0 ? Math.min(1, done / total) : 1
  const n = Math.round(f * width)
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${String(done).padStart(String(total).length)}/${total}`
}
