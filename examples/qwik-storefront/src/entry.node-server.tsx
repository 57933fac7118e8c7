/**
 * The storefront's production server: Qwik City's node middleware, plus `/shop-api` and
 * `/_larder/` forwarded to the Larder gateway (src/proxy.ts).
 *
 * LARDER_GATEWAY  gateway in front of Vendure (default http://127.0.0.1:8080)
 * LARDER_STREAM   where `/_larder/stream` is served (default: the gateway)
 * PORT, HOST      where this server listens (default 3004 on 127.0.0.1)
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createQwikCity } from '@builder.io/qwik-city/middleware/node'
import qwikCityPlan from '@qwik-city-plan'
import render from './entry.ssr.tsx'
import { proxy } from './proxy.ts'

const gateway = (process.env.LARDER_GATEWAY ?? 'http://127.0.0.1:8080').replace(/\/+$/, '')
const targets = { shopApi: gateway, stream: (process.env.LARDER_STREAM ?? gateway).replace(/\/+$/, '') }

const { router, notFound, staticFile } = createQwikCity({
  render,
  qwikCityPlan,
  static: { cacheControl: 'public, max-age=31536000, immutable' },
})

const server = createServer((req, res) => {
  if (proxy(req, res, targets)) return
  staticFile(req, res, () => {
    router(req, res, () => {
      notFound(req, res, () => {})
    })
  })
})

server.listen(Number(process.env.PORT ?? 3004), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address() as AddressInfo
  // One line a test or supervisor can read the port from.
  console.log(`storefront listening on http://${address}:${port}`)
})

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    server.closeAllConnections()
    server.close(() => process.exit(0))
  })
}
