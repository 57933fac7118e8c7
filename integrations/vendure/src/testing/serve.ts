/**
 * Runs the test Vendure server with the Larder plugin and the gateway in front until stopped,
 * for examples and manual checks (the Qwik storefront example points at `gatewayUrl`):
 *
 *   node --import tsx --conditions=larder-src integrations/vendure/src/testing/serve.ts [--redis redis://…] [--port 3000]
 *
 * Prints one JSON line: { url, gatewayUrl, shopApi, channels, products }.
 */
import { parseArgs } from 'node:util'
import { startTestVendure } from './index.ts'

const { values } = parseArgs({ options: { redis: { type: 'string' }, port: { type: 'string' } } })
const port = values.port === undefined ? undefined : Number(values.port)
if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) {
  console.error(`--port must be a TCP port, got ${values.port}`)
  process.exit(2)
}
const v = await startTestVendure({ larder: { redis: values.redis, shopApiCache: true }, gateway: true, port })
console.log(JSON.stringify({ url: v.url, gatewayUrl: v.gatewayUrl, shopApi: `${v.gatewayUrl}/shop-api`, channels: v.channels, products: v.products }))
const stop = () => {
  v.close().finally(() => process.exit(0))
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
