import { parseDuration } from './duration.ts'
import { LarderError } from './errors.ts'
import { type Timers, timersOf } from './clock.ts'
import type { Clock, Duration } from './types.ts'

export interface WriteBehindOptions<T> {
  /** Writes one batch to the source of truth (e.g. a multi-row INSERT of analytics events). */
  flush: (batch: T[]) => Promise<void>
  /** Flush when this many items wait. Default 100. */
  maxBatch?: number
  /** Flush at least this often while items wait. Default 1s. */
  interval?: Duration
  /** Bound of the queue; `push` past it throws E_QUEUE_FULL (nothing is dropped silently). Default 10,000. */
  maxQueue?: number
  /** Called with the batch that failed; the batch is retried up to `retries` times, then handed here. */
  onError?: (err: unknown, batch: T[]) => void
  /** Default 3. */
  retries?: number
  clock?: Clock
}

export interface WriteBehind<T> {
  push(item: T): void
  /** Flushes everything queued now. */
  flush(): Promise<void>
  readonly size: number
  /** Flushes what is queued and stops. */
  close(): Promise<void>
}

/**
 * Write-behind queue: writes are acknowledged at once and
 * flushed to the sink in batches, bounded, with a final flush on close.
 */
export function createWriteBehind<T>(options: WriteBehindOptions<T>): WriteBehind<T> {
  if (typeof options?.flush !== 'function') throw new LarderError('E_INVALID_OPTION', 'createWriteBehind needs a flush(batch) function')
  const maxBatch = options.maxBatch ?? 100
  const maxQueue = options.maxQueue ?? 10_000
  const retries = options.retries ?? 3
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new LarderError('E_INVALID_OPTION', 'maxBatch must be a positive integer')
  if (!Number.isInteger(maxQueue) || maxQueue < maxBatch) throw new LarderError('E_INVALID_OPTION', 'maxQueue must be an integer ≥ maxBatch')
  const interval = parseDuration(options.interval ?? '1s', 'interval')
  const timers: Timers = timersOf(options.clock ?? Date)
  let queue: T[] = []
  let timer: unknown
  let running: Promise<void> = Promise.resolve()
  let closed = false

  const schedule = () => {
    if (timer === undefined && queue.length > 0 && !closed) {
      timer = timers.setTimeout(() => {
        timer = undefined
        void flush()
      }, interval)
    }
  }

  async function writeBatch(batch: T[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await options.flush(batch)
        return
      } catch (err) {
        if (attempt >= retries) {
          options.onError?.(err, batch)
          return
        }
      }
    }
  }

  function flush(): Promise<void> {
    if (timer !== undefined) {
      timers.clearTimeout(timer)
      timer = undefined
    }
    running = running.then(async () => {
      while (queue.length > 0) {
        const batch = queue.slice(0, maxBatch)
        queue = queue.slice(batch.length)
        await writeBatch(batch)
      }
    })
    return running
  }

  return {
    push(item) {
      if (closed) throw new LarderError('E_CLOSED', 'the write-behind queue is closed')
      if (queue.length >= maxQueue) throw new LarderError('E_QUEUE_FULL', `the write-behind queue holds ${maxQueue} items (maxQueue); flush is falling behind`)
      queue.push(item)
      if (queue.length >= maxBatch) void flush()
      else schedule()
    },
    flush,
    get size() {
      return queue.length
    },
    async close() {
      closed = true
      await flush()
    },
  }
}
