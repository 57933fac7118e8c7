/**
 * The hub's index of open streams: per tenant, exact topic → streams and the streams with
 * prefix topics. `dispatch` finds the streams an entry is for, each once, without sockets,
 * so the matching rules are unit-tested on their own.
 * @module
 */
import type { LogEntry } from '../core/types.ts'
import { isPublicLive, topicsOf } from './entry-events.ts'
import { type TopicSet, topicMatches } from './topics.ts'

/** What the index needs of a stream. */
export interface IndexedStream {
  readonly tenant: string
  readonly topics: TopicSet
  /** Opened without a token: gets invalidations and public live values only. */
  readonly anonymous: boolean
  /** Id of the last entry dispatched to this stream (dedupes tags of one entry). */
  mark: number
}

interface TenantIndex<S> {
  readonly streams: Set<S>
  readonly exact: Map<string, Set<S>>
  /** Streams that have at least one prefix topic (checked one by one). */
  readonly prefixed: Set<S>
}

/** True when entry `e` (e.g. a replayed one) is for stream `s`. */
export function wants(s: IndexedStream, e: LogEntry): boolean {
  if (e.tenant !== s.tenant) return false
  if (s.anonymous && e.kind === 'live' && !isPublicLive(e)) return false
  if (e.kind === 'clear') return true
  for (const t of topicsOf(e)) if (topicMatches(s.topics, t)) return true
  return false
}

export class StreamIndex<S extends IndexedStream> {
  readonly #tenants = new Map<string, TenantIndex<S>>()
  #size = 0

  /** Open streams. */
  get size(): number {
    return this.#size
  }

  /** Tenants with at least one open stream. */
  get tenantCount(): number {
    return this.#tenants.size
  }

  /** Open streams of one tenant. */
  count(tenant: string): number {
    return this.#tenants.get(tenant)?.streams.size ?? 0
  }

  /** The streams of the given tenants (all tenants without a list); a copy, safe to change the index meanwhile. */
  streams(tenants?: readonly string[]): S[] {
    const out: S[] = []
    const list = tenants ? tenants.map((id) => this.#tenants.get(id)) : [...this.#tenants.values()]
    for (const t of list) if (t) out.push(...t.streams)
    return out
  }

  /** Adds a stream; returns the tenant's count of streams. */
  add(s: S): number {
    let t = this.#tenants.get(s.tenant)
    if (!t) this.#tenants.set(s.tenant, (t = { streams: new Set(), exact: new Map(), prefixed: new Set() }))
    if (t.streams.has(s)) return t.streams.size
    t.streams.add(s)
    for (const topic of s.topics.exact) {
      let set = t.exact.get(topic)
      if (!set) t.exact.set(topic, (set = new Set()))
      set.add(s)
    }
    if (s.topics.prefixes.length > 0) t.prefixed.add(s)
    this.#size++
    return t.streams.size
  }

  /** Removes a stream; returns the tenant's remaining count, or undefined when it was not in the index. */
  remove(s: S): number | undefined {
    const t = this.#tenants.get(s.tenant)
    if (!t?.streams.delete(s)) return undefined
    for (const topic of s.topics.exact) {
      const set = t.exact.get(topic)
      if (set) {
        set.delete(s)
        if (set.size === 0) t.exact.delete(topic)
      }
    }
    t.prefixed.delete(s)
    if (t.streams.size === 0) this.#tenants.delete(s.tenant)
    this.#size--
    return t.streams.size
  }

  /** True when the entry's tenant has open streams (so the entry is worth encoding). */
  has(tenant: string): boolean {
    return this.#tenants.has(tenant)
  }

  /**
   * Calls `visit` once for every stream entry `e` is for (a `clear`: every stream of the
   * tenant; otherwise the streams with a topic matching one of its tags, private live
   * values skipping anonymous streams). Returns the number of streams visited. `visit` may
   * remove the stream it is given (a Set skips what is deleted while it is iterated).
   */
  dispatch(e: LogEntry, visit: (s: S) => void): number {
    const t = this.#tenants.get(e.tenant)
    if (!t) return 0
    let n = 0
    if (e.kind === 'clear') {
      for (const s of t.streams) {
        visit(s)
        n++
      }
      return n
    }
    const id = e.id
    // A private live value skips anonymous streams (they still get the entry's mark).
    const privateLive = e.kind === 'live' && !isPublicLive(e)
    for (const topic of topicsOf(e)) {
      const set = t.exact.get(topic)
      if (set) {
        for (const s of set) {
          if (s.mark === id) continue
          s.mark = id
          if (privateLive && s.anonymous) continue
          visit(s)
          n++
        }
      }
      for (const s of t.prefixed) {
        if (s.mark === id) continue
        for (const p of s.topics.prefixes) {
          if (topic.startsWith(p)) {
            s.mark = id
            if (!(privateLive && s.anonymous)) {
              visit(s)
              n++
            }
            break
          }
        }
      }
    }
    return n
  }
}
