/**
 * Event-driven invalidation (`larder/events`): domain events → rules → the invalidation log.
 *
 * ```ts
 * import { createCache } from 'larder'
 * import { createEventProcessor, createEventIngest } from 'larder/events'
 * const cache = createCache()
 * const events = createEventProcessor({ cache, rules: 'larder.yaml' })
 * await events.publish({ id: 'evt-1', type: 'product.updated', tenant: 'acme', data: { productId: 42, categoryIds: ['shoes'] } })
 * const ingest = createEventIngest({ processor: events, auth })   // POST /_larder/events
 * ```
 * Sources: in-process `publish`, HTTP ingest, a Redis stream consumer group
 * (`createRedisEventSource`), Redis pub/sub (`createPubSubEventSource`, at-most-once), PostgreSQL
 * change capture (`installPgTrigger` + `createPgListener`).
 * @module
 */
export { type LarderEvent, validateEvent, MAX_EVENT_DATA_BYTES, MAX_EVENT_ID_LENGTH, MAX_EVENT_TYPE_LENGTH } from './envelope.ts'
export { type CompiledRule, type Plan, type RuleOptions, type RuleSet, type RuleSpec, type RulesSpec, type RuleTargets, compileRules, loadRules, parseRules, readRulesSpec } from './rules.ts'
export { parseTemplate, type Template } from './template.ts'
export {
  createEventProcessor,
  stormChannel,
  type EventCache,
  type EventProcessor,
  type EventProcessorOptions,
  type EventResult,
  type ProcessorStats,
  type StormAlert,
} from './processor.ts'
export { createEventIngest, type EventIngest, type EventIngestOptions } from './ingest.ts'
export { installPgTrigger, uninstallPgTrigger, pgTriggerSql, CHUNK_BYTES, DEFAULT_CHANNEL, DEFAULT_OUTBOX, type PgOp, type PgTriggerOptions, type SqlClient } from './pg-trigger.ts'
export { createPgListener, type PgClientLike, type PgliteLike, type PgListener, type PgListenerOptions, type PgListenerStats } from './pg-listener.ts'
export { createPubSubEventSource, type PubSubEventSource, type PubSubEventSourceOptions, type PubSubEventSourceStats } from './pubsub-source.ts'
export { createRedisEventSource, type RedisEventSource, type RedisEventSourceOptions, type RedisEventSourceStats } from './redis-source.ts'
