/**
 * `larder/http`: RFC 9111 shared-cache rules as pure functions, and the engine that
 * applies them over the tiered cache.
 *
 * ```ts
 * import { parseCacheControl, freshnessLifetime, createHttpCache } from 'larder/http'
 * parseCacheControl('public, max-age=60, stale-while-revalidate=30') // { public: true, maxAge: 60, staleWhileRevalidate: 30 }
 * ```
 * @module
 */
export { type CacheControl, MAX_DELTA, headerValue, parseCacheControl, parseDeltaSeconds, parseTargeted, splitList } from './cache-control.ts'
export { formatHttpDate, parseHttpDate } from './dates.ts'
export {
  currentAge,
  first,
  freshnessLifetime,
  HEURISTIC_STATUSES,
  type HeaderRecord,
  initialAge,
  isStorable,
  type Lifetime,
  parseAge,
  type ResponseDirectives,
  type Reuse,
  requestDirectives,
  responseDirectives,
  reuseDecision,
  type RuleOptions,
  type StorableResult,
  type StoredFacts,
} from './freshness.ts'
export { NOT_MODIFIED_FIELDS, notModified, parseEtagList, updateHeaders, validatorsMatch, weakMatch } from './conditional.ts'
export { parseVary, varyKey } from './vary.ts'
export { invalidationTargets, isSafeMethod } from './invalidation.ts'
export { type CacheOutcome, cacheStatus, HOP_BY_HOP, hopByHop, stripHopByHop, SURROGATE_FIELDS, surrogateKeys } from './headers.ts'
export { type CompiledRoute, compileRoutes, eventTags, matchRoute, type RoutePolicy, routeTags } from './routes.ts'
export { adapterTenant, type Answer, CacheFlow, type FlowOptions, type Load, type Step } from './handler.ts'
export { createHttpCache, HttpCache, type HttpCacheOptions, type HttpEntry, type Lookup, type Prepared, type PurgeInput, type RequestInfo } from './engine.ts'
export { callsFor, createForwarders, type ForwarderOptions, type Forwarders, type ForwarderSpec } from './cdn/index.ts'
export { graphqlSurrogateKeys, type GraphqlKeyOptions, type GraphqlKeys } from './graphql.ts'
