/**
 * One realtime client per stream (URL + headers) per page, shared by every component that
 * follows topics on it: one SSE connection however many components subscribe, and the
 * resume point (`lastEventId`) survives a component that re-runs its task with new topics.
 *
 * Only ever called from client-side tasks (`useVisibleTask$`): nothing here runs at import,
 * and nothing runs during SSR.
 */
import { type ConnectionState, createRealtimeClient, type RealtimeClient, type RealtimeClientOptions } from 'larder/realtime/client'

/** How long an unused client stays open, so a task that re-runs (new topics) reuses it. */
export const RELEASE_GRACE_MS = 2_000

interface Shared {
  client: RealtimeClient
  users: number
  /** Each user's connection-state listener (the client takes one `onState`). */
  listeners: Set<(state: ConnectionState) => void>
  closeTimer: ReturnType<typeof setTimeout> | undefined
}

const clients = new Map<string, Shared>()

export type SharedClientOptions = Pick<RealtimeClientOptions, 'url' | 'headers' | 'onError' | 'backoff' | 'idleTimeoutMs'>

/** Takes a reference to the page's client for `options.url` + `options.headers`; give it back with the returned release function. */
export function acquireClient(
  options: SharedClientOptions & { headers?: Record<string, string> },
  onState?: (state: ConnectionState) => void,
): { client: RealtimeClient; release: () => void } {
  const key = JSON.stringify([options.url, options.headers ?? {}])
  let shared = clients.get(key)
  if (!shared || shared.client.state === 'closed') {
    const listeners = new Set<(state: ConnectionState) => void>()
    const client = createRealtimeClient({ ...options, onState: (state) => {
        for (const l of listeners) l(state)
      }, })
    shared = { client, users: 0, listeners, closeTimer: undefined }
    clients.set(key, shared)
  }
  const s = shared
  clearTimeout(s.closeTimer)
  s.closeTimer = undefined
  s.users++
  if (onState) {
    s.listeners.add(onState)
    onState(s.client.state)
  }
  let released = false
  return {
    client: s.client,
    release() {
      if (released) return
      released = true
      if (onState) s.listeners.delete(onState)
      s.users--
      if (s.users > 0) return
      s.closeTimer = setTimeout(() => {
        if (s.users > 0) return
        s.client.close()
        if (clients.get(key) === s) clients.delete(key)
      }, RELEASE_GRACE_MS)
    },
  }
}

/** Open shared clients (for tests and diagnostics). */
export function sharedClientCount(): number {
  return clients.size
}
