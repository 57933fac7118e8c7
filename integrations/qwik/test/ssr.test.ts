// Server-side rendering of a component that uses useLarderTopics: real Qwik optimizer output
// (Vite build) rendered by Qwik's renderToString in Node, where there is no `window`.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, test } from 'node:test'
import { buildSsrFixture } from './build-fixture.ts'

interface Fixture {
  renderPage(url: string): Promise<string>
  sharedClientCount(): number
  connectDuringRender(url: string): () => void
}

let fixture: Fixture
let remove = () => {}
let server: Server
let streamUrl: string
let connections = 0
let requests = 0

before(async () => {
  const built = await buildSsrFixture()
  remove = built.remove
  fixture = (await import(built.entry)) as Fixture
  // A real listener where the stream would be: it counts every TCP connection and request.
  server = createServer((_req, res) => {
    requests++
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('retry: 1000\n\n')
  })
  server.on('connection', () => connections++)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  streamUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/_larder/stream`
})

after(async () => {
  server.closeAllConnections()
  await new Promise((resolve) => server.close(resolve))
  remove()
})

/** Lets queued microtasks, timers and I/O callbacks run (a client connects from a microtask). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 10))
}

test('renders with no window, opens no connection and creates no client', async () => {
  assert.equal(typeof (globalThis as { window?: unknown }).window, 'undefined')
  assert.equal(typeof (globalThis as { location?: unknown }).location, 'undefined')
  const realFetch = globalThis.fetch
  let fetches = 0
  globalThis.fetch = ((...args: Parameters<typeof fetch>) => {
    fetches++
    return realFetch(...args)
  }) as typeof fetch
  try {
    const html = await fixture.renderPage(streamUrl)
    await settle()
    // The markup is there, in its server state ...
    const prices = html.match(/<p [^>]*class="price"[^>]*>12\.00<\/p>/g) ?? []
    assert.equal(prices.length, 2, html)
    for (const p of prices) for (const attr of ['data-state="idle"', 'data-version="0"', 'data-id=""', 'data-last=""']) assert.ok(p.includes(attr), `${attr} in ${p}`)
    // ... the client-only task is handed to the browser (a qinit listener), not run ...
    assert.match(html, /on-document:qinit="[^"]+"/)
    // ... and nothing connected.
    assert.equal(fetches, 0, 'fetch was called during SSR')
    assert.equal(connections, 0, 'a connection reached the stream during SSR')
    assert.equal(fixture.sharedClientCount(), 0, 'a realtime client was created during SSR')
  } finally {
    globalThis.fetch = realFetch
  }
})

test('control: a client created during render would be seen by this test', async () => {
  const seen = once(server, 'request', { signal: AbortSignal.timeout(5_000) })
  const close = fixture.connectDuringRender(streamUrl)
  try {
    await seen
    assert.equal(requests, 1)
  } finally {
    close()
  }
})
