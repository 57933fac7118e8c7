/**
 * The event sources `larder gateway` runs from its config file (`event_sources:`): a Redis
 * stream consumer group (`stream:`) and the Redis pub/sub compatibility source (`pubsub:`).
 * Both feed the gateway's event processor (so the config needs `rules`) and use the
 * gateway's Redis (`redis:` / `--redis`).
 *
 * ```yaml
 * event_sources:
 *   stream: { stream: "larder:events", group: larder }   # consumer: default <host>-<pid>
 *   pubsub: { channels: [seller_changes], tenants: [acme], heartbeat: 5s }   # heartbeat: default 10s, 0 off
 * ```
 * @module
 */
import { hostname } from 'node:os'
import type { Cache } from '../core/api.ts'
import { parseDuration } from '../core/duration.ts'
import { LarderError } from '../core/errors.ts'
import type { EventProcessor } from '../events/processor.ts'
import { createPubSubEventSource } from '../events/pubsub-source.ts'
import { createRedisEventSource } from '../events/redis-source.ts'

export interface EventSourcesConfig {
  stream?: { stream: string; group: string; consumer?: string; start_id?: '$' | '0' }
  pubsub?: { channels: string[]; tenants?: string[]; heartbeat?: string | number }
}

const FIELDS = { stream: ['stream', 'group', 'consumer', 'start_id'], pubsub: ['channels', 'tenants', 'heartbeat'] } as const

function invalid(source: string, message: string): never {
  throw new LarderError('E_INVALID_OPTION', `${source}: ${message}`)
}

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && x.length > 0)

/** Validates `event_sources` of a config file; messages name the field. */
export function checkEventSources(value: unknown, source: string): asserts value is EventSourcesConfig {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) invalid(source, 'event_sources must be a mapping { stream?, pubsub? }')
  for (const [kind, spec] of Object.entries(value)) {
    if (kind !== 'stream' && kind !== 'pubsub') invalid(source, `unknown field "event_sources.${kind}" (known: stream, pubsub)`)
    if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) invalid(source, `event_sources.${kind} must be a mapping`)
    const known: readonly string[] = FIELDS[kind]
    for (const k of Object.keys(spec)) if (!known.includes(k)) invalid(source, `unknown field "event_sources.${kind}.${k}" (known: ${known.join(', ')})`)
    const s = spec as Record<string, unknown>
    if (kind === 'stream') {
      for (const k of ['stream', 'group'] as const) if (typeof s[k] !== 'string' || !s[k]) invalid(source, `event_sources.stream.${k} must be a non-empty string`)
      if (s.consumer !== undefined && (typeof s.consumer !== 'string' || !s.consumer)) invalid(source, 'event_sources.stream.consumer must be a non-empty string')
      if (s.start_id !== undefined && s.start_id !== '$' && s.start_id !== '0') invalid(source, 'event_sources.stream.start_id must be "$" (new entries) or "0" (the whole stream)')
    } else {
      if (!isStrings(s.channels)) invalid(source, 'event_sources.pubsub.channels must be a non-empty list of channel names')
      if (s.tenants !== undefined && !isStrings(s.tenants)) invalid(source, 'event_sources.pubsub.tenants must be a non-empty list of tenant ids')
      if (s.heartbeat !== undefined) {
        try {
          parseDuration(s.heartbeat as string | number, 'event_sources.pubsub.heartbeat')
        } catch {
          invalid(source, `event_sources.pubsub.heartbeat must be a duration such as 5s or 500ms (0: off), got ${JSON.stringify(s.heartbeat).slice(0, 40)}`)
        }
      }
    }
  }
}

/** Starts the configured sources on `processor`; the caller closes them before the processor. */
export function startEventSources(
  spec: EventSourcesConfig,
  o: { redisUrl: string | undefined; processor: EventProcessor | undefined; cache: Cache; onError: (err: unknown, context: string) => void },
): { close(): Promise<void> }[] {
  if (!spec.stream && !spec.pubsub) return []
  if (!o.redisUrl) throw new LarderError('E_INVALID_OPTION', 'event_sources needs Redis: set redis: in the config, --redis or LARDER_REDIS_URL')
  if (!o.processor) throw new LarderError('E_INVALID_OPTION', 'event_sources needs rules: (the events are applied through them)')
  const out: { close(): Promise<void> }[] = []
  if (spec.stream) {
    const { stream, group, consumer, start_id } = spec.stream
    out.push(createRedisEventSource({ url: o.redisUrl, stream, group, consumer: consumer ?? `${hostname()}-${process.pid}`, startId: start_id, processor: o.processor, onError: o.onError }))
  }
  if (spec.pubsub) {
    out.push(createPubSubEventSource({ url: o.redisUrl, channels: spec.pubsub.channels, tenants: spec.pubsub.tenants, heartbeatMs: spec.pubsub.heartbeat === undefined ? undefined : parseDuration(spec.pubsub.heartbeat), processor: o.processor, cache: o.cache, onError: o.onError }))
  }
  return out
}
