/**
 * What a log entry becomes on an SSE stream. Pure functions: the hub decides who gets
 * an event, this module decides what the event says.
 * @module
 */
import type { LogEntry } from '../core/types.ts'
import { sseFrame } from './sse-format.ts'

/** Why a stream is told to drop everything it derived from the log. */
export type ResetReason = 'clear' | 'gap' | 'trimmed' | 'unknown-id' | 'too-old' | 'overflow' | 'log-unavailable'

export function resetEvent(reason: ResetReason, id: number): string {
  return sseFrame('reset', JSON.stringify({ reason }), id)
}

/** The topic of a `live` entry (`data.topic`, else its first tag). */
export function liveTopic(e: LogEntry): string | undefined {
  const d = e.data as { topic?: unknown } | undefined
  if (d && typeof d.topic === 'string') return d.topic
  return e.tags?.[0]
}

/**
 * Whether a live value may reach anonymous streams: not when its publisher marked it
 * `public: false`. Event rules' `notify` values are marked so unless the rule says
 * `notify_public: true` (event data can hold personal data, such as an order's customer
 * e-mail); `publishLive(…, { public: false })` marks an application's own. Invalidations
 * carry only tags and reach every stream of the tenant.
 */
export function isPublicLive(e: LogEntry): boolean {
  return (e.data as { public?: unknown } | undefined)?.public !== false
}

/** Topics an entry speaks to: its tags for invalidations, its topic for live values. */
export function topicsOf(e: LogEntry): readonly string[] {
  if (e.kind === 'live') {
    const t = liveTopic(e)
    return t === undefined ? [] : [t]
  }
  return e.tags ?? []
}

/**
 * The event text an entry becomes, or undefined for entries streams never see
 * (`event` records, invalidations by key only, live entries without a topic).
 */
export function eventOf(e: LogEntry): string | undefined {
  switch (e.kind) {
    case 'hard':
    case 'soft':
      if (!e.tags || e.tags.length === 0) return undefined
      return sseFrame('invalidate', JSON.stringify({ tags: e.tags, keys: e.keys ?? [], soft: e.kind === 'soft' }), e.id)
    case 'live': {
      const topic = liveTopic(e)
      if (topic === undefined) return undefined
      return sseFrame('update', JSON.stringify({ topic, value: (e.data as { value?: unknown } | undefined)?.value ?? null }), e.id)
    }
    case 'clear':
      return resetEvent('clear', e.id)
    default:
      return undefined
  }
}
