/**
 * Serves the storefront page from the origin: `/` (HTML), `/storefront/app.js` (app.ts and
 * the realtime client, bundled once with esbuild on first request), `/storefront/app.css` and
 * `/favicon.ico` (a small SVG icon).
 * The gateway caches them like any response (short s-maxage, no surrogate keys).
 * @module
 */
import { readFile } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { fileURLToPath } from 'node:url'

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url))

async function bundle(): Promise<string> {
  const { build } = await import('esbuild')
  const out = await build({
    entryPoints: [here('./app.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Resolve `larder/realtime/client` to its TypeScript source, as the tests do.
    conditions: ['larder-src'],
    write: false,
    minify: true,
    logLevel: 'silent',
  })
  return out.outputFiles[0]?.text ?? ''
}

const ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2330"/><path d="M4 3h2v8h6v2H4z" fill="#f5b942"/></svg>'

export interface PageOptions {
  /** Where the page's dashboard link points (e.g. with a read-only `#token=`). */
  dashboardLink?: string
}

export function pageRoute(options: PageOptions = {}): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> {
  let js: Promise<string> | undefined
  const files: Record<string, [type: string, load: () => Promise<string>]> = {
    '/': [
      'text/html; charset=utf-8',
      async () => {
        const html = await readFile(here('./index.html'), 'utf8')
        const link = options.dashboardLink?.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`)
        return link ? html.replace('href="/_larder/dashboard"', `href="${link}"`) : html
      },
    ],
    '/storefront/app.css': ['text/css; charset=utf-8', () => readFile(here('./app.css'), 'utf8')],
    // A tiny icon, so browsers asking for /favicon.ico get one (a 404 is a console error on every load).
    '/favicon.ico': ['image/svg+xml', async () => ICON],
    '/storefront/app.js': [
      'text/javascript; charset=utf-8',
      () => {
        js ??= bundle().catch((err) => {
          js = undefined
          throw err
        })
        return js
      },
    ],
  }
  return async (req, res, url) => {
    const f = files[url.pathname]
    if (!f || (req.method !== 'GET' && req.method !== 'HEAD')) return false
    const body = Buffer.from(await f[1]())
    res.writeHead(200, { 'content-type': f[0], 'content-length': body.length, 'cache-control': 'public, max-age=0, s-maxage=60' })
    res.end(req.method === 'HEAD' ? undefined : body)
    return true
  }
}
