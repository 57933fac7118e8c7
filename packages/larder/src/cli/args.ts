/**
 * What the `larder` commands share for their flags and ports, so each rule is written once:
 * parsing flags (a negative number is a value, not an option), `--help`, port validation,
 * checking a port is free before slow start-up work, and the one line a failed listen prints.
 * Used by `larder gateway`, `larder pg` and `larder demo` (apps/storefront imports it as
 * `larder/cli`).
 * @module
 */
import { createServer } from 'node:net'
import { type ParseArgsConfig, parseArgs } from 'node:util'

/** A mistake in the command line: the command prints the message (and its usage) and exits 2. */
export class UsageError extends Error {
  readonly exitCode = 2
}

type Options = NonNullable<ParseArgsConfig['options']>

/**
 * `--port -1` joined into `--port=-1` (`-p -1` into `-p-1`): node's parseArgs refuses a value
 * that starts with a dash ("argument is ambiguous"), so a negative number would get a
 * confusing message instead of the flag's own validation. With `options`, only values of
 * string options are joined; without, any flag followed by a number (a mistake either way).
 */
export function joinNegativeValues(argv: readonly string[], options?: Options): string[] {
  let takesValue: ((flag: string) => boolean) | undefined
  if (options) {
    const names = new Set<string>()
    for (const [name, o] of Object.entries(options)) {
      if (o.type !== 'string') continue
      names.add(`--${name}`)
      if (o.short) names.add(`-${o.short}`)
    }
    takesValue = (flag) => names.has(flag)
  }
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === '--') {
      out.push(...argv.slice(i))
      break
    }
    const next = argv[i + 1]
    const flag = /^--[^=]+$/.test(a) || /^-[^-]$/.test(a)
    if (flag && next !== undefined && /^-\d/.test(next) && (takesValue?.(a) ?? true)) {
      out.push(a.startsWith('--') ? `${a}=${next}` : `${a}${next}`)
      i++
    } else out.push(a)
  }
  return out
}

/** True when the command line asks for help (`--help` or `-h` before any `--`). */
export function wantsHelp(argv: readonly string[]): boolean {
  for (const a of argv) {
    if (a === '--') return false
    if (a === '--help' || a === '-h') return true
  }
  return false
}

/** What {@link parseFlags} answers (named, so the package's declaration build can name it). */
export type ParsedFlags<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: false }>>

/** parseArgs (strict) with negative numbers as values; a mistake throws a UsageError. */
export function parseFlags<O extends Options>(argv: readonly string[], options: O): ParsedFlags<O> {
  try {
    return parseArgs({ args: joinNegativeValues(argv, options), options, strict: true, allowPositionals: false })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

/** A port number from a flag or variable: an integer 0-65535 (0 = any free port), else a UsageError. */
export function parsePort(text: string | undefined, flag = '--port'): number {
  const t = (text ?? '').trim()
  const port = /^\d{1,5}$/.test(t) ? Number(t) : Number.NaN
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`${flag} must be an integer 0-65535, got "${text ?? ''}"`)
  return port
}

/** A non-negative integer flag (`--requests 20000`), else a UsageError. */
export function parseCount(text: string | undefined, flag: string, def: number, max = Number.MAX_SAFE_INTEGER): number {
  if (text === undefined) return def
  const t = text.trim()
  const n = /^\d+$/.test(t) ? Number(t) : Number.NaN
  if (!(n >= 0 && n <= max)) throw new UsageError(`${flag} must be ${max === Number.MAX_SAFE_INTEGER ? 'a non-negative integer' : `an integer 0-${max}`}, got "${text}"`)
  return n
}

/**
 * The one line to print when listening on `host:port` failed (EADDRINUSE and friends),
 * instead of a stack trace. `flag` names the option that picks the port.
 */
export function listenErrorMessage(err: unknown, port: number, host: string, flag = '--port'): string {
  const code = (err as NodeJS.ErrnoException)?.code
  const where = `${host}:${port}`
  switch (code) {
    case 'EADDRINUSE':
      return `port ${port} is already in use on ${host} (another gateway or demo may be running); pick another with ${flag}`
    case 'EACCES':
      return `not allowed to listen on ${where} (ports below 1024 need privileges); pick another with ${flag}`
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this machine; pick another with --host`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `--host ${host} does not resolve to an address`
    default:
      return `cannot listen on ${where}: ${(err as Error)?.message ?? String(err)}`
  }
}

/** True for the errors listenErrorMessage describes (a failed listen, not a bug). */
export function isListenError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code
  return code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || (err as { syscall?: string })?.syscall === 'listen'
}

/**
 * Listens on `host:port` for a moment and lets go: resolves with undefined when the port
 * is free, or with listenErrorMessage's line when it is not. For commands that would
 * otherwise spend seconds starting up before finding out (port 0 is always free).
 */
export function checkPortFree(port: number, host: string, flag = '--port'): Promise<string | undefined> {
  if (port === 0) return Promise.resolve(undefined)
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', (err) => resolve(listenErrorMessage(err, port, host, flag)))
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)))
  })
}
