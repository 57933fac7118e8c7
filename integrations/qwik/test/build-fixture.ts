/**
 * Builds the SSR fixture with Vite and Qwik's optimizer the way a Qwik app is built (client
 * build for the symbol manifest, then the server build), so the test renders real optimizer
 * output with Qwik's own `renderToString`.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { qwikVite } from '@builder.io/qwik/optimizer'
import { build, defaultClientConditions, defaultServerConditions, type InlineConfig } from 'vite'

const pkgRoot = new URL('..', import.meta.url).pathname
const srcDir = join(pkgRoot, 'test/fixture')

/** Builds `test/fixture`; returns the server entry to import, the browser files (`build/`) and a remover. */
export async function buildSsrFixture(): Promise<{ entry: string; clientDir: string; remove: () => void }> {
  // Inside the package, so the built server module resolves @builder.io/qwik from its node_modules.
  const outDir = mkdtempSync(join(pkgRoot, 'test', '.build-'))
  const clientDir = join(outDir, 'client')
  const serverDir = join(outDir, 'server')
  const ssrInput = join(srcDir, 'entry.ssr.tsx')
  const common = (ssr: boolean): InlineConfig => ({
    configFile: false,
    root: srcDir,
    logLevel: 'warn',
    plugins: [qwikVite({ srcDir, client: { input: join(srcDir, 'root.tsx'), outDir: clientDir }, ssr: { input: ssrInput, outDir: serverDir } })],
    resolve: { conditions: [...defaultClientConditions, 'larder-src'] },
    ssr: { resolve: { conditions: [...defaultServerConditions, 'larder-src'] } },
    build: { ssr, outDir: ssr ? serverDir : clientDir, emptyOutDir: true, minify: false },
  })
  await build(common(false))
  await build(common(true))
  return { entry: join(serverDir, 'entry.ssr.js'), clientDir, remove: () => rmSync(outDir, { recursive: true, force: true }) }
}
