/**
 * Change capture: the library's `createPgListener` LISTENs to the triggers' channel (and
 * reconnects to a real server with jittered backoff, distrusting L1 meanwhile); every event
 * envelope goes to the event processor (whose rules invalidate the cache), one at a time
 * and in commit order.
 * Commit markers (api/writes.ts) are not events: they tell a waiting write that every
 * event of its transaction has been applied.
 * @module
 */
import type { Cache } from 'larder'
import { createPgListener } from 'larder/events'
import { COMMIT_EVENT } from './api/writes.ts'
import type { Db } from './db/connect.ts'
import { EVENTS_CHANNEL } from './db/schema.ts'

export interface FeedEvent {
  id: string
  type: string
  tenant: string
  data: Record<string, unknown>
  at: number
}

export interface ChangeFeedOptions {
  db: Db
  /** Applies one event (the processor's publish); the feed waits for it before the next. */
  publish: (event: FeedEvent) => Promise<unknown>
  /**
   * The cache (or caches) the events invalidate: distrusted when notifications may have been
   * lost (the connection to a real server dropped, and again once LISTEN is back).
   */
  cache: Pick<Cache, 'distrust' | 'tenant'>
  onError?: (err: unknown, event: FeedEvent | undefined) => void
  /** How long a write waits for its invalidation before it is acknowledged anyway (default 5000 ms). */
  waitTimeoutMs?: number
}

export interface ChangeFeedStats {
  events: number
  failed: number
  commits: number
  lastEventAt: number | undefined
}

export interface ChangeFeed {
  /** Resolves true once the commit marker `token` (and so every event before it) was processed. */
  waitFor(token: string): Promise<boolean>
  stats(): ChangeFeedStats
  close(): Promise<void>
}

const DONE_TOKENS = 10_000

export async function startChangeFeed(options: ChangeFeedOptions): Promise<ChangeFeed> {
  const timeoutMs = options.waitTimeoutMs ?? 5000
  const waiters = new Map<string, (applied: boolean) => void>()
  // Markers can be processed before the write asks (the notification may beat the HTTP
  // handler's continuation); remember recent ones, bounded.
  const done = new Set<string>()
  const stats: ChangeFeedStats = { events: 0, failed: 0, commits: 0, lastEventAt: undefined }
  let chain: Promise<void> = Promise.resolve()

  async function process(msg: FeedEvent & { token?: string }): Promise<void> {
    if (msg.type === COMMIT_EVENT && typeof msg.token === 'string') {
      stats.commits++
      const w = waiters.get(msg.token)
      if (w) {
        waiters.delete(msg.token)
        w(true)
      } else {
        done.add(msg.token)
        if (done.size > DONE_TOKENS) done.delete(done.values().next().value as string)
      }
      return
    }
    try {
      await options.publish(msg)
      stats.events++
      stats.lastEventAt = Date.now()
    } catch (err) {
      stats.failed++
      options.onError?.(err, msg)
    }
  }

  const listener = createPgListener({
    ...options.db.listenSource,
    channel: EVENTS_CHANNEL,
    // The listener hands over each notification as it arrives; the chain applies them in that order.
    processor: {
      publish: (event) => {
        const next = chain.then(() => process(event as FeedEvent))
        chain = next
        return next
      },
    },
    cache: options.cache,
    // The shop's triggers keep no outbox: after a drop the caches are distrusted instead.
    outbox: false,
    onError: (err, context) => {
      if (context === 'pg:payload') stats.failed++
      options.onError?.(err, undefined)
    },
  })
  try {
    await listener.ready
  } catch (err) {
    await listener.close()
    throw err
  }

  return {
    waitFor(token) {
      if (done.delete(token)) return Promise.resolve(true)
      return new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => {
          waiters.delete(token)
          resolve(false)
        }, timeoutMs)
        waiters.set(token, (applied) => {
          clearTimeout(timer)
          resolve(applied)
        })
      })
    },
    stats: () => ({ ...stats }),
    async close() {
      await listener.close()
      await chain
      for (const w of waiters.values()) w(false)
      waiters.clear()
    },
  }
}
