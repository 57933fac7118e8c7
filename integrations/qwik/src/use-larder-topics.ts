import { isSignal, type QRL, type Signal, useStore, useVisibleTask$ } from '@builder.io/qwik'
import type { BackoffOptions, ConnectionState, RealtimeEvent } from 'larder/realtime/client'
import { acquireClient } from './shared-client.ts'

export type { ConnectionState, RealtimeEvent } from 'larder/realtime/client'

export interface LarderTopicsOptions {
  /** Stream URL: `/_larder/stream` on the page's origin (the default), or absolute. */
  url?: string
  /** Request headers for the stream, e.g. `{ 'vendure-token': channelToken }` (the tenant). Components with the same URL and headers share one connection. */
  headers?: Record<string, string>
  /** Called in the browser for every event on the topics (and for a `reset`), after the store changed. */
  onEvent$?: QRL<(event: RealtimeEvent) => void>
  /** Reconnect delays (exponential with full jitter). The first component to open a stream sets them. */
  backoff?: BackoffOptions
  /** When the connection opens: `document-ready` (default) or `intersection-observer` (once the component is visible) or `document-idle`. */
  strategy?: 'intersection-observer' | 'document-ready' | 'document-idle'
}

/** The last event seen, in a form Qwik can hold in a store. */
export interface LarderTopicEvent {
  type: RealtimeEvent['type']
  id: string
  /** `invalidate`: the tags; `update`: the topic; `reset`: empty. */
  tags: string[]
  /** `update`: the live value; `reset`: the reason. */
  value?: unknown
}

/** Reactive state of the followed topics; track `version` to refetch. */
export interface LarderTopicsState {
  /** Starts at 0 (also during SSR); goes up by one for every event on the topics and every `reset`. */
  version: number
  state: ConnectionState
  /** Id of the last event on these topics (the shared stream resumes from its own last id, which is at least this). */
  lastEventId: string
  last: LarderTopicEvent | undefined
}

export const DEFAULT_STREAM_URL = '/_larder/stream'

function toStoreEvent(e: RealtimeEvent): LarderTopicEvent {
  if (e.type === 'invalidate') return { type: e.type, id: e.id, tags: [...e.tags] }
  if (e.type === 'update') return { type: e.type, id: e.id, tags: [e.topic], value: e.value }
  return { type: e.type, id: e.id, tags: [], value: e.reason }
}

/**
 * Follows Larder topics (tags such as `product:42`, or prefixes such as `stock:*`) from a
 * Qwik component. The stream is opened in a client-only task, so server rendering neither
 * touches `window` nor opens a connection; in the browser one connection per stream URL and
 * headers is shared by all components, reconnects with backoff after errors and resumes
 * from the last event id (the hub replays what was missed, or sends `reset`).
 *
 * Refresh data by tracking `version` (`useLarderRefetch` does it for one signal); the component
 * is not re-mounted, so its other state (filters, search input, selected variant) stays as it is:
 *
 * ```tsx
 * const live = useLarderTopics([`Product:${id}`], { headers: { 'vendure-token': token } })
 * const product = useSignal(initial)
 * useLarderRefetch(live, product, $((signal) => loadProduct(id, signal)))
 * ```
 *
 * `topics` may be a signal: changing it re-subscribes on the same connection (which
 * reconnects once, resuming where it was).
 */
export function useLarderTopics(topics: readonly string[] | Signal<readonly string[]>, options: LarderTopicsOptions = {}): LarderTopicsState {
  const live = useStore<LarderTopicsState>({ version: 0, state: 'idle', lastEventId: '', last: undefined }, { deep: false })
  const url = options.url ?? DEFAULT_STREAM_URL
  const headers = options.headers
  const onEvent$ = options.onEvent$
  const backoff = options.backoff
  // biome-ignore lint/correctness/noQwikUseVisibleTask: a browser-only stream is exactly what a visible task is for (it must not run during SSR)
  useVisibleTask$(
    ({ track, cleanup }) => {
      const list: readonly string[] = isSignal(topics) ? track(topics) : topics
      const { client, release } = acquireClient({ url, headers, backoff }, (state) => {
        live.state = state
      })
      // One event reaches every subscription whose topic covers one of its tags (and a reset
      // reaches all): the client hands each the same object, so count it once.
      let seen: RealtimeEvent | undefined
      function onEvent(e: RealtimeEvent): void {
        if (e === seen) return
        seen = e
        live.lastEventId = e.id
        live.last = toStoreEvent(e)
        live.version++
        if (onEvent$) void onEvent$(e)
      }
      const offs = list.map((topic) => client.subscribe(topic, onEvent))
      cleanup(() => {
        for (const off of offs) off()
        release()
      })
    },
    { strategy: options.strategy ?? 'document-ready' },
  )
  return live
}
