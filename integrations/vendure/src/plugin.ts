/**
 * `LarderPlugin`: Larder inside a Vendure server.
 *
 * ```ts
 * import { LarderPlugin } from '@larder/vendure'
 * export const config: VendureConfig = {
 *   plugins: [LarderPlugin.init({ redis: 'redis://127.0.0.1:6379', tokens: [{ name: 'ops', token: process.env.LARDER_TOKEN!, scopes: ['admin'] }], shopApiCache: true })],
 * }
 * ```
 *
 * - catalog events (after commit) → Larder events per channel (tenant = channel token) →
 *   the rules (`rules/vendure.yaml` or yours) → the invalidation log;
 * - `GET /_larder/stream` (SSE; tenant from `vendure-token`, or a signed `?token=`), the admin
 *   and purge routes (`/_larder/…`, Larder bearer tokens) on Vendure's own HTTP server;
 * - `systemOptions.cacheStrategy` = a {@link LarderCacheStrategy} (unless `cacheStrategy: false`);
 * - with `shopApiCache`, Shop API queries marked for the Larder gateway (graphql-hooks.ts).
 *
 * The class is decorated by calling Vendure's and Nest's decorators directly (below) rather
 * than with `@` syntax, so it runs under any TypeScript loader without decorator settings.
 * @module
 */
import { Inject, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common'
import { ConfigService, EventBus, PluginCommonModule, type RuntimeVendureConfig, TransactionalConnection, type VendureEvent, VendurePlugin } from '@vendure/core'
import type { Cache } from 'larder'
import type { Subscription } from 'rxjs'
import { LarderCacheStrategy } from './cache-strategy.ts'
import { ChannelDirectory } from './channels.ts'
import { catalogEventClasses, mapEvent } from './events.ts'
import { adminMutationWaitPlugin, DEFAULT_UNCACHEABLE_FIELDS, shopApiCachePlugin } from './graphql-hooks.ts'
import type { LarderPluginOptions } from './options.ts'
import { PendingInvalidations } from './pending.ts'
import { createRuntime, type LarderRuntime } from './runtime.ts'

export class LarderPlugin implements OnApplicationBootstrap, OnApplicationShutdown {
  static options: LarderPluginOptions = {}
  /** The running parts (cache, processor, SSE hub, admin API) once Vendure bootstrapped. */
  static runtime: LarderRuntime | undefined
  static readonly pending = new PendingInvalidations()
  #subs: Subscription[] = []

  static init(options: LarderPluginOptions): typeof LarderPlugin {
    LarderPlugin.options = options
    return LarderPlugin
  }

  /** The Larder cache of the running plugin (throws before bootstrap). */
  static get cache(): Cache {
    const r = LarderPlugin.runtime
    if (!r) throw new Error('LarderPlugin is not running (no Vendure app bootstrapped with it)')
    return r.cache
  }

  static configure(config: RuntimeVendureConfig): RuntimeVendureConfig {
    const o = LarderPlugin.options
    // A fresh runtime per bootstrapped app (test tooling bootstraps, closes and bootstraps again).
    LarderPlugin.runtime = createRuntime(o)
    const cs = o.cacheStrategy ?? true
    if (cs !== false) {
      const so = cs === true ? {} : cs
      config.systemOptions.cacheStrategy = new LarderCacheStrategy({ cache: () => LarderPlugin.cache, tenant: so.tenant, defaultTtlMs: so.defaultTtlMs, onError: o.onError })
    }
    // Vendure's config types name Apollo's CommonJS build, these hooks its ESM one (same shape).
    type VendureApolloPlugin = NonNullable<RuntimeVendureConfig['apiOptions']['apolloServerPlugins']>[number]
    const plugins = (config.apiOptions.apolloServerPlugins ??= []) as unknown[] as VendureApolloPlugin[]
    const wait = o.awaitInvalidationMs ?? 2000
    if (wait > 0) plugins.push(adminMutationWaitPlugin(config.apiOptions.adminApiPath, LarderPlugin.pending, wait) as unknown as VendureApolloPlugin)
    if (o.shopApiCache) {
      const s = o.shopApiCache === true ? {} : o.shopApiCache
      plugins.push(
        shopApiCachePlugin({
          shopApiPath: config.apiOptions.shopApiPath,
          ttlSeconds: s.ttlSeconds ?? 300,
          maxKeys: s.maxKeys ?? 64,
          channelTokenKey: config.apiOptions.channelTokenKey,
          uncacheable: new Set([...DEFAULT_UNCACHEABLE_FIELDS, ...(s.uncacheableFields ?? [])]),
        }) as unknown as VendureApolloPlugin,
      )
    }
    const base = o.basePath ?? '/_larder'
    config.apiOptions.middleware.push({
      route: base,
      beforeListen: true,
      handler: (req: any, res: any, next: any) => {
        const r = LarderPlugin.runtime
        if (r) r.handle(req, res, next)
        else next()
      },
    })
    return config
  }

  constructor(
    private readonly eventBus: EventBus,
    private readonly connection: TransactionalConnection,
    private readonly config: ConfigService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const runtime = LarderPlugin.runtime
    if (!runtime) return
    const directory = new ChannelDirectory(this.connection)
    await directory.refresh()
    const strategy = this.config.entityOptions.entityIdStrategy ?? this.config.entityIdStrategy
    runtime.attach(directory, strategy?.encodeId ? (id) => String(strategy.encodeId((strategy.primaryKeyType === 'increment' ? Number(id) : id) as never)) : undefined)
    const classes = catalogEventClasses()
    const pending = LarderPlugin.pending
    this.eventBus.registerBlockingEventHandler({ event: classes, id: 'larder-track-invalidations', handler: (e: VendureEvent) => pending.track(e) })
    for (const cls of classes) {
      this.#subs.push(
        this.eventBus.ofType(cls).subscribe((event) => {
          runtime
            .apply(event, (e) => mapEvent(e, directory))
            .catch((err) => (LarderPlugin.options.onError ?? console.error)(err, 'vendure:event'))
            .finally(() => pending.settle(event))
        }),
      )
    }
  }

  async onApplicationShutdown(): Promise<void> {
    for (const s of this.#subs) s.unsubscribe()
    this.#subs = []
    const r = LarderPlugin.runtime
    LarderPlugin.runtime = undefined
    await r?.close()
  }
}

Inject(EventBus)(LarderPlugin, undefined as never, 0)
Inject(TransactionalConnection)(LarderPlugin, undefined as never, 1)
Inject(ConfigService)(LarderPlugin, undefined as never, 2)
VendurePlugin({
  imports: [PluginCommonModule],
  compatibility: '^3.1.0',
  configuration: (config) => LarderPlugin.configure(config),
})(LarderPlugin)
