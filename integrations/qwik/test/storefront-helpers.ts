/**
 * Helpers of the storefront end-to-end test: build and run examples/qwik-storefront, and
 * watch a page's DOM from inside the page (the times come from the page's own clock).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Page } from 'playwright-core'

export const EXAMPLE_DIR = new URL('../../../examples/qwik-storefront/', import.meta.url).pathname

/** `npm run build` of the example (client, then the node server); throws with its output. */
export function buildStorefront(): void {
  if (!existsSync(join(EXAMPLE_DIR, 'node_modules/@builder.io/qwik-city'))) {
    throw new Error('examples/qwik-storefront has no node_modules: run `node scripts/setup-integrations.mjs` (or `npm ci` in that directory)')
  }
  const r = spawnSync('npm', ['run', 'build'], { cwd: EXAMPLE_DIR, encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`storefront build failed:\n${r.stdout}\n${r.stderr}`)
}

export interface Storefront {
  url: string
  close(): Promise<void>
}

/** Starts the built storefront server on a free port. */
export async function startStorefront(env: Record<string, string>): Promise<Storefront> {
  const child: ChildProcess = spawn(process.execPath, ['server/entry.node-server.js'], {
    cwd: EXAMPLE_DIR,
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (b: Buffer) => {
      output += b.toString()
      const m = /storefront listening on (http:\/\/\S+)/.exec(output)
      if (m) resolve(m[1] as string)
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => reject(new Error(`storefront exited (${code}):\n${output}`)))
  })
  return {
    url,
    async close() {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}

// Page-side script, kept as text: the test runs through tsx, whose helpers (`__name`) do not
// exist in the page.
const ARM_WATCH = `(() => {
  const now = () => performance.timeOrigin + performance.now()
  const main = document.querySelector('main')
  const priceText = () => document.getElementById('price')?.textContent ?? ''
  const before = priceText()
  const version = main.dataset.version
  window.__changed = undefined
  window.__watch = new Promise((resolve) => {
    let eventAt = 0
    // Qwik may patch the text node or replace it: watch the whole subtree.
    const obs = new MutationObserver(() => {
      const at = now()
      if (eventAt === 0 && main.dataset.version !== version) eventAt = at
      const text = priceText()
      if (text === before) return
      obs.disconnect()
      window.__changed = text
      // The refetch that brought it (Resource Timing): when it started and how long it took.
      const f = performance.getEntriesByType('resource').filter((e) => e.name.includes('/shop-api?')).pop()
      resolve({ text, at, eventAt, fetchStart: f ? performance.timeOrigin + f.startTime : 0, fetchMs: f ? f.duration : 0 })
    })
    obs.observe(main, { attributes: true, attributeFilter: ['data-version'], childList: true, characterData: true, subtree: true })
  })
})()`

/**
 * Arms a watch in the page: the first change of `#price`'s text, and of `main[data-version]`
 * (the hook saw the event), each with the page's wall-clock time (performance.timeOrigin + now).
 */
export async function armWatch(page: Page): Promise<void> {
  await page.evaluate(ARM_WATCH)
}

/** The text `#price` changed to since the watch was armed, or undefined. */
export function changedSinceArmed(page: Page): Promise<string | undefined> {
  return page.evaluate('window.__changed') as Promise<string | undefined>
}

export interface Watched {
  /** The new text of `#price`, and when it appeared. */
  text: string
  at: number
  /** When `main[data-version]` changed (the hook saw the event), 0 if not seen first. */
  eventAt: number
  /** The Shop API refetch: its start and duration (Resource Timing), 0 when none. */
  fetchStart: number
  fetchMs: number
}

/** Waits for the armed watch (or the timeout). */
export function watched(page: Page, timeoutMs = 10_000): Promise<Watched> {
  return page.evaluate(`Promise.race([window.__watch, new Promise((_, reject) => setTimeout(() => reject(new Error('no DOM change')), ${Number(timeoutMs)}))])`) as Promise<Watched>
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number
}

export function summary(samples: readonly number[]): { n: number; p50: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b)
  return { n: s.length, p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s[s.length - 1] as number }
}
