/**
 * `@larder/vendure/testing`: a real Vendure server for tests (Vendure's own test tooling,
 * an embedded sql.js database), with the Larder plugin, two channels and a small catalog:
 *
 * ```ts
 * const v = await startTestVendure({ larder: { redis: redisUrl, shopApiCache: true } })
 * const [laptop] = v.products                   // { id, name, slug, variants: [{ id, sku, price }] }
 * await v.setPrice(laptop.variants[0].id, 150_00, v.channels.second)
 * await v.close()
 * ```
 * One per process: the plugin keeps its running parts on the class (a Vendure plugin is
 * configured through static options).
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AutoIncrementIdStrategy, DefaultLogger, type InitialData, LanguageCode, LogLevel, mergeConfig, type VendureConfig } from '@vendure/core'
import { createTestEnvironment, registerInitializer, type SimpleGraphQLClient, SqljsInitializer, type TestServer, testConfig } from '@vendure/testing'
import { parse } from 'graphql'
import { type Cache, createCache } from 'larder'
import { createGateway, createInvalidationRefresher, type Gateway, type InvalidationRefresher } from 'larder/gateway'
import { redisLog, redisStore } from 'larder/redis'
import { freePort } from 'larder/testing'
import type { LarderPluginOptions } from '../options.ts'
import { LarderPlugin } from '../plugin.ts'

export const SECOND_CHANNEL_TOKEN = 'second-channel'
export const PRODUCTS_CSV = fileURLToPath(new URL('./fixtures/products.csv', import.meta.url))

export const INITIAL_DATA: InitialData = {
  defaultLanguage: LanguageCode.en,
  defaultZone: 'Europe',
  taxRates: [{ name: 'Standard Tax', percentage: 20 }],
  shippingMethods: [{ name: 'Standard Shipping', price: 500 }],
  paymentMethods: [],
  countries: [{ name: 'United Kingdom', code: 'GB', zone: 'Europe' }],
  collections: [{ name: 'Electronics', filters: [{ code: 'facet-value-filter', args: { facetValueNames: ['electronics'], containsAny: false } }] }],
}

export interface TestVariant {
  id: string
  sku: string
  /** Price in the default channel (minor units). */
  price: number
}

export interface TestProduct {
  id: string
  name: string
  slug: string
  variants: TestVariant[]
}

export interface TestVendureOptions {
  /** Options of `LarderPlugin.init`. Default: the embedded cache, no Shop API caching. */
  larder?: LarderPluginOptions
  /** Port of the Vendure server. Default: a free one. */
  port?: number
  /** More Vendure config merged last (its plugins come after LarderPlugin). */
  config?: Partial<VendureConfig>
  /** Vendure's log output (`LOG=1` in the environment turns it on too). Default false. */
  log?: boolean
  /**
   * Also start the Larder gateway in front of Vendure (tenant from `vendure-token`, default
   * channel otherwise), sharing the plugin's cache (built here from `larder.redis` when
   * `larder.cache` is not given) and serving the plugin's SSE stream at `/_larder/stream`.
   * The gateway refreshes recently read Shop API answers right after an invalidation, and the
   * stream sends each event after those refreshes (larder/gateway refresh on invalidation).
   */
  gateway?: boolean
  /** With `gateway`: turn the refresh on invalidation off (the stream then follows the cache's log directly). Default true. */
  refreshOnInvalidation?: boolean
}

export interface TestVendure {
  port: number
  /** `http://127.0.0.1:<port>` */
  url: string
  shopApi: string
  adminApi: string
  channels: { default: string; second: string }
  products: TestProduct[]
  server: TestServer
  /** Admin API client, logged in as superadmin. */
  admin: SimpleGraphQLClient
  shop: SimpleGraphQLClient
  /** With `gateway: true`: the gateway's base URL (`/shop-api`, `/_larder/stream` …) and the shared cache. */
  gatewayUrl?: string
  cache?: Cache
  /** With `gateway` (and refreshOnInvalidation): the gateway's refresher. */
  refresher?: InvalidationRefresher
  /** Sets a variant's price in one channel through the Admin API (resolves with the mutation's answer). */
  setPrice(variantId: string, price: number, channelToken: string): Promise<void>
  close(): Promise<void>
}

const GET_PRODUCTS = /* GraphQL */ `
  query { products(options: { sort: { id: ASC } }) { items { id name slug variants { id sku price } } } }
`

/** A GraphQL document from a template literal (the test clients take parsed documents). */
export function gql(text: TemplateStringsArray | string): ReturnType<typeof parse> {
  return parse(typeof text === 'string' ? text : text.join(''))
}

export async function startTestVendure(o: TestVendureOptions = {}): Promise<TestVendure> {
  // No phoning home from tests (and no .vendure/ installation id in the working tree).
  process.env.VENDURE_DISABLE_TELEMETRY ??= 'true'
  const port = o.port ?? (await freePort())
  const dataDir = mkdtempSync(join(tmpdir(), 'larder-vendure-'))
  registerInitializer('sqljs', new SqljsInitializer(dataDir))
  const log = o.log ?? process.env.LOG !== undefined
  const larder = { ...o.larder }
  let ownCache: Cache | undefined
  if (o.gateway && !larder.cache) {
    const r = larder.redis
    ownCache = r ? createCache({ l2: redisStore({ url: r }), log: redisLog({ url: r, stream: larder.stream ?? 'larder' }) }) : createCache()
    larder.cache = ownCache
  }
  const refresher = o.gateway && larder.cache && o.refreshOnInvalidation !== false ? createInvalidationRefresher({ cache: larder.cache }) : undefined
  if (refresher) larder.streamLog = refresher.log
  const config = mergeConfig(
    mergeConfig(testConfig, {
      apiOptions: { port, hostname: '127.0.0.1' },
      // Ids in responses are the database ids (the testing strategy would prefix them with T_).
      entityOptions: { entityIdStrategy: new AutoIncrementIdStrategy() },
      logger: log ? new DefaultLogger({ level: LogLevel.Info }) : testConfig.logger,
    }),
    o.config ?? {},
  )
  // mergeConfig replaces arrays: the Larder plugin first, then the caller's.
  config.plugins = [LarderPlugin.init(larder), ...(o.config?.plugins ?? [])]
  const { server, adminClient, shopClient } = createTestEnvironment(config)
  let gw: Gateway | undefined
  const cleanup = async () => {
    await gw?.close().catch(() => {})
    refresher?.close()
    await server.destroy().catch(() => {})
    await ownCache?.close().catch(() => {})
    rmSync(dataDir, { recursive: true, force: true })
  }
  try {
    await server.init({ initialData: INITIAL_DATA, productsCsvPath: PRODUCTS_CSV, customerCount: 1 })
    await adminClient.asSuperAdmin()
    const zones = await adminClient.query<{ zones: { items: { id: string; name: string }[] } }>(gql`query { zones { items { id name } } }`)
    const zone = zones.zones.items.find((z) => z.name === 'Europe')?.id
    const created = await adminClient.query<{ createChannel: { id?: string; message?: string } }>(
      gql`mutation ($input: CreateChannelInput!) { createChannel(input: $input) { ... on Channel { id } ... on ErrorResult { message } } }`,
      { input: { code: 'second', token: SECOND_CHANNEL_TOKEN, defaultLanguageCode: 'en', pricesIncludeTax: false, defaultCurrencyCode: 'USD', defaultTaxZoneId: zone, defaultShippingZoneId: zone } },
    )
    const channelId = created.createChannel.id
    if (!channelId) throw new Error(`createChannel failed: ${created.createChannel.message}`)
    const list = await adminClient.query<{ products: { items: TestProduct[] } }>(gql(GET_PRODUCTS))
    const products = list.products.items
    await adminClient.query(gql`mutation ($input: AssignProductsToChannelInput!) { assignProductsToChannel(input: $input) { id } }`, {
      input: { channelId, productIds: products.map((p) => p.id), priceFactor: 1 },
    })
    const url = `http://127.0.0.1:${port}`
    let gatewayUrl: string | undefined
    if (o.gateway && larder.cache) {
      gw = createGateway({
        origin: url,
        cache: larder.cache,
        tenantHeader: 'vendure-token',
        defaultTenant: 'e2e-default-channel',
        // The plugin's SSE hub, so pages reach the stream on the gateway's origin too.
        routes: [(req, res, ctx) => LarderPlugin.runtime?.hub.route(req, res, ctx) ?? false],
        logger: silentLogger(),
        refresher,
      })
      gatewayUrl = `http://127.0.0.1:${(await gw.listen(0)).port}`
    }
    return {
      gatewayUrl,
      cache: larder.cache,
      refresher,
      port,
      url,
      shopApi: `${url}/shop-api`,
      adminApi: `${url}/admin-api`,
      channels: { default: 'e2e-default-channel', second: SECOND_CHANNEL_TOKEN },
      products,
      server,
      admin: adminClient,
      shop: shopClient,
      async setPrice(variantId, price, channelToken) {
        adminClient.setChannelToken(channelToken)
        try {
          await adminClient.query(gql`mutation ($input: [UpdateProductVariantInput!]!) { updateProductVariants(input: $input) { id price } }`, { input: [{ id: variantId, price }] })
        } finally {
          adminClient.setChannelToken('e2e-default-channel')
        }
      },
      close: cleanup,
    }
  } catch (err) {
    await cleanup()
    throw err
  }
}

/** A pino-shaped logger that drops the gateway's purge audit lines in tests. */
export function silentLogger(): any {
  const noop = () => {}
  const l: any = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop, child: () => l, level: 'silent' }
  return l
}

export { cacheStrategyConformance, type CacheStrategyUnderTest } from './cache-strategy-conformance.ts'
