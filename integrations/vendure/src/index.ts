/**
 * `@larder/vendure`: Larder for Vendure 3.x (docs/vendure.md).
 * @module
 */
export { LarderPlugin } from './plugin.ts'
export { LarderCacheStrategy, type LarderCacheStrategyConfig, DEFAULT_CACHE_TENANT } from './cache-strategy.ts'
export { DEFAULT_RULES_PATH, type LarderPluginOptions, type LarderCacheStrategyOptions, type ShopApiCacheOptions } from './options.ts'
export { DEFAULT_UNCACHEABLE_FIELDS, VENDURE_REFERENCES, shopCacheVerdict, rootFields } from './graphql-hooks.ts'
export { catalogEventClasses, mapEvent, type MappedEvent, type Scope } from './events.ts'
export type { LarderRuntime } from './runtime.ts'
