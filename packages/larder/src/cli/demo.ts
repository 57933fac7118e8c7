/**
 * `larder demo [start|load] [flags]`: the storefront demo, the `@larder/storefront` package
 * (apps/storefront in the Larder repository). It is found as an installed package, by its
 * name, from where this library is installed; when it is not there, one line says how to get
 * it. It runs in a child process with its TypeScript sources (`--import tsx`, the storefront's
 * own dependency), so the demo needs no build step; signals are passed on so Ctrl-C stops it
 * cleanly.
 */
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'

/** The storefront package and its CLI entry (the package's `./cli` export). */
export const STOREFRONT_PACKAGE = '@larder/storefront'

export const STOREFRONT_MISSING = `larder demo: the storefront demo is the ${STOREFRONT_PACKAGE} package, which is not installed here; get it from the Larder repository (apps/storefront): clone it, then \`npm install && npm start\`.`

/**
 * The storefront's CLI entry and the tsx loader it runs with, resolved as installed packages
 * from `from` (a file path or URL: where resolution starts, this module by default).
 * Undefined when the storefront (or its tsx) is not installed.
 */
export function findStorefront(from: string | URL = import.meta.url): { entry: string; tsx: string } | undefined {
  try {
    const entry = createRequire(from).resolve(`${STOREFRONT_PACKAGE}/cli`)
    return { entry, tsx: pathToFileURL(createRequire(entry).resolve('tsx')).href }
  } catch {
    return undefined
  }
}

export async function run(argv: string[], from: string | URL = import.meta.url): Promise<number> {
  const found = findStorefront(from)
  if (found === undefined) {
    console.error(STOREFRONT_MISSING)
    return 2
  }
  // From source (this file is .ts): the storefront's `larder` imports resolve to the sources too.
  const conditions = import.meta.url.endsWith('.ts') ? ['--conditions=larder-src'] : []
  const child = spawn(process.execPath, ['--import', found.tsx, ...conditions, found.entry, ...argv], { stdio: 'inherit' })
  const forward = (sig: NodeJS.Signals) => () => child.kill(sig)
  const onInt = forward('SIGINT')
  const onTerm = forward('SIGTERM')
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  return new Promise<number>((resolve) => {
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInt)
      process.off('SIGTERM', onTerm)
      resolve(signal ? 1 : (code ?? 1))
    })
  })
}
