/**
 * `larder demo [start|load] [flags]`: the storefront demo (apps/storefront in the Larder
 * repository). It runs in a child process with the TypeScript sources (`--import tsx
 * --conditions=larder-src`), so the demo needs no build step; signals are passed on so
 * Ctrl-C stops it cleanly.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export async function run(argv: string[]): Promise<number> {
  const root = fileURLToPath(new URL('../../../../', import.meta.url))
  const entry = fileURLToPath(new URL('../../../../apps/storefront/src/cli.ts', import.meta.url))
  if (!existsSync(entry)) {
    console.error('larder demo: the storefront demo ships with the Larder repository (apps/storefront); clone it and run `npm install && npm start`.')
    return 2
  }
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=larder-src', entry, ...argv], { cwd: root, stdio: 'inherit' })
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
