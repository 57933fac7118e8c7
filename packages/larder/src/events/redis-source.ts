/**
 * Redis stream source for producers in other languages: an app `XADD`s events to a stream,
 * Larder reads them with a consumer group and acknowledges each one after the processor
 * applied it (at-least-once; the processor's idempotency by event id absorbs redeliveries).
 *
 * An entry is either one field `event` holding the JSON envelope, or flat fields
 * `type`, `tenant`, `data` (JSON), `id`, `at`. Without an `id`, the stream entry id is used
 * (`redis:<entry id>`), which stays the same across redeliveries.
 *
 * - On start and after every error, this consumer first re-reads its own pending entries
 *   (delivered before a crash or lost connection, never acknowledged).
 * - Every `claimEveryMs`, XAUTOCLAIM takes over entries another consumer left pending for
 *   `claimIdleMs` (that consumer died).
 * - A poison entry is parked, not retried forever: an invalid event (bad JSON, unknown type,
 *   missing field…) at once, any entry after `maxDeliveries` deliveries. Parking copies it
 *   to `<stream>:parked` with its error, then acknowledges it.
 * - A failure that is not the event's fault (cache/log unavailable) leaves it pending for a
 *   later retry.
 * @module
 */
import { backoffDelay } from '../core/backoff.ts'
import { channels } from '../core/diagnostics.ts'
import { LarderError } from '../core/errors.ts'
import { type ConnectionOptions, type RedisClient, connect, duplicate, quit } from '../redis/connection.ts'
import type { EventProcessor } from './processor.ts'

/** Retry after a failed read: the shared full-jitter backoff, 100 ms doubling to 2 s. */
const RETRY = { initialMs: 100, maxMs: 2_000 }

export interface RedisEventSourceOptions extends ConnectionOptions {
  processor: Pick<EventProcessor, 'publish'>
  stream: string
  group: string
  /** This consumer's name, unique and stable per process (e.g. the host name). */
  consumer: string
  /** Entries per read. Default 100. */
  count?: number
  /** How long one blocking read waits. Default 1000 ms. */
  blockMs?: number
  /** Pending entries idle this long are taken over from their consumer. Default 30 s. */
  claimIdleMs?: number
  /** How often to look for such entries. Default 5 s. */
  claimEveryMs?: number
  /** Deliveries before an entry that keeps failing is parked. Default 5. */
  maxDeliveries?: number
  /** Default `<stream>:parked`. */
  parkedStream?: string
  /** Where a new group starts: '$' (only new entries, default) or '0' (the whole stream). */
  startId?: '$' | '0'
  onError?: (err: unknown, context: string) => void
}

export interface RedisEventSourceStats {
  read: number
  applied: number
  duplicates: number
  parked: number
  claimed: number
  retries: number
  errors: number
}

export interface RedisEventSource {
  /** Resolves once the group exists and the first read was issued. */
  ready: Promise<void>
  stats(): RedisEventSourceStats
  close(): Promise<void>
}

type Entry = [id: string, fields: string[] | null]

/** Errors that are the event's fault: retrying cannot help. */
const PERMANENT = new Set(['E_INVALID_EVENT', 'E_INVALID_RULE', 'E_INVALID_TENANT', 'E_INVALID_KEY', 'E_INVALID_TAG'])

/**
 * The entries of an XREADGROUP reply for our one stream: RESP2 gives
 * `[[stream, entries]]`, RESP3 (a map) arrives flattened as `[stream, entries]`.
 */
function streamEntries(res: unknown): Entry[] {
  if (!Array.isArray(res) || res.length === 0) return []
  if (Array.isArray(res[0])) return ((res[0] as unknown[])[1] as Entry[] | undefined) ?? []
  return (res[1] as Entry[] | undefined) ?? []
}

function toEvent(id: string, fields: string[]): unknown {
  const f: Record<string, string> = {}
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string
  if (f.event !== undefined) {
    let e: unknown
    try {
      e = JSON.parse(f.event)
    } catch (err) {
      throw new LarderError('E_INVALID_EVENT', `stream entry ${id}: field "event" is not valid JSON: ${(err as Error).message}`, { details: { field: 'event' } })
    }
    if (e !== null && typeof e === 'object' && !Array.isArray(e) && (e as { id?: unknown }).id === undefined) return { ...e, id: `redis:${id}` }
    return e
  }
  let data: unknown
  if (f.data !== undefined) {
    try {
      data = JSON.parse(f.data)
    } catch (err) {
      throw new LarderError('E_INVALID_EVENT', `stream entry ${id}: field "data" is not valid JSON: ${(err as Error).message}`, { details: { field: 'data' } })
    }
  }
  const at = f.at !== undefined && /^\d+$/.test(f.at) ? Number(f.at) : f.at
  return { id: f.id ?? `redis:${id}`, type: f.type, tenant: f.tenant, data, at }
}

export function createRedisEventSource(options: RedisEventSourceOptions): RedisEventSource {
  const { processor, stream, group, consumer } = options
  for (const [name, v] of [
    ['stream', stream],
    ['group', group],
    ['consumer', consumer],
  ] as const) {
    if (typeof v !== 'string' || v.length === 0 || v.length > 256) throw new LarderError('E_INVALID_OPTION', `createRedisEventSource: ${name} must be a non-empty string`)
  }
  const count = options.count ?? 100
  const blockMs = options.blockMs ?? 1000
  const claimIdleMs = options.claimIdleMs ?? 30_000
  const claimEveryMs = options.claimEveryMs ?? 5_000
  const maxDeliveries = options.maxDeliveries ?? 5
  const parked = options.parkedStream ?? `${stream}:parked`
  const startId = options.startId ?? '$'
  const onError = options.onError ?? (() => {})
  const { client, owned } = connect(options, 'createRedisEventSource')
  // Blocking reads get their own connection so acks and claims never wait behind them.
  const reader: RedisClient = duplicate(client)
  // Connection errors surface through the commands (and are retried); without a listener
  // ioredis would report them as unhandled.
  const onConnError = (err: unknown) => onError(err, 'redis-source:connection')
  reader.on('error', onConnError)
  if (owned) client.on('error', onConnError)
  const s: RedisEventSourceStats = { read: 0, applied: 0, duplicates: 0, parked: 0, claimed: 0, retries: 0, errors: 0 }
  /** Failed attempts of entries this process saw (for maxDeliveries on our own pending). */
  const attempts = new Map<string, number>()
  let closed = false
  let nextClaim = 0
  let wake: (() => void) | undefined
  let markReady: () => void
  const ready = new Promise<void>((r) => (markReady = r))

  async function ensureGroup(from: '$' | '0'): Promise<void> {
    try {
      await client.call('XGROUP', 'CREATE', stream, group, from, 'MKSTREAM')
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err
    }
  }

  async function park(id: string, fields: string[], error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error)
    const code = error instanceof LarderError ? error.code : 'E_INVALID_EVENT'
    await client.call('XADD', parked, '*', 'source-id', id, 'error', message.slice(0, 2000), 'code', code, 'parked-by', consumer, ...fields)
    await client.call('XACK', stream, group, id)
    attempts.delete(id)
    s.parked++
    if (channels.event.hasSubscribers) {
      const f: Record<string, string> = {}
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i] as string] = fields[i + 1] as string
      channels.event.publish({ tenant: f.tenant ?? '', type: f.type ?? '', outcome: 'parked', durationMs: 0, error })
    }
  }

  /** Processes entries; `deliveries` (from XPENDING) overrides our own attempt count. */
  async function handle(entries: Entry[], deliveries?: Map<string, number>): Promise<void> {
    const acks: string[] = []
    await Promise.all(
      entries.map(async ([id, fields]) => {
        // A nil entry: deleted from the stream while pending; nothing to apply.
        if (fields === null) return void acks.push(id)
        s.read++
        const n = deliveries?.get(id) ?? (attempts.get(id) ?? 0) + 1
        if (n > maxDeliveries) return park(id, fields, new LarderError('E_INVALID_EVENT', `delivered ${n} times without being applied (maxDeliveries ${maxDeliveries})`))
        try {
          // toEvent and publish run synchronously up to the processor's queue: stream order is kept.
          const r = await processor.publish(toEvent(id, fields))
          if (r.outcome === 'duplicate') s.duplicates++
          else s.applied++
          attempts.delete(id)
          acks.push(id)
        } catch (err) {
          if (err instanceof LarderError && PERMANENT.has(err.code)) return park(id, fields, err)
          attempts.set(id, n)
          s.retries++
          onError(err, 'redis-source:publish')
        }
      }),
    )
    if (acks.length > 0) await client.call('XACK', stream, group, ...acks)
  }

  async function claim(): Promise<void> {
    let cursor = '0-0'
    for (let round = 0; round < 10; round++) {
      const res = (await client.call('XAUTOCLAIM', stream, group, consumer, claimIdleMs, cursor, 'COUNT', count)) as [string, Entry[], string[]?]
      cursor = res[0]
      const entries = res[1] ?? []
      if (entries.length > 0) {
        s.claimed += entries.length
        // Delivery counts tell a poison entry that crashed consumers before from a fresh one.
        const ids = entries.map((e) => e[0])
        const pending = (await client.call('XPENDING', stream, group, ids[0] as string, ids[ids.length - 1] as string, ids.length * 2, consumer)) as [string, string, number, number][]
        await handle(entries, new Map(pending.map((p) => [p[0], Number(p[3])])))
      }
      if (cursor === '0-0') break
    }
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      function done() {
        clearTimeout(t)
        wake = undefined
        resolve()
      }
      wake = done
    })
  }

  async function loop(): Promise<void> {
    let backlog = true
    let cursor = '0'
    let failures = 0
    let groupFrom: '$' | '0' = startId
    let grouped = false
    while (!closed) {
      try {
        if (!grouped) {
          await ensureGroup(groupFrom)
          grouped = true
        }
        if (Date.now() >= nextClaim) {
          nextClaim = Date.now() + claimEveryMs
          await claim()
        }
        const args = backlog ? ['COUNT', count, 'STREAMS', stream, cursor] : ['COUNT', count, 'BLOCK', blockMs, 'STREAMS', stream, '>']
        const p = reader.call('XREADGROUP', 'GROUP', group, consumer, ...args)
        markReady()
        const res = await p
        failures = 0
        const entries = streamEntries(res)
        if (backlog) {
          if (entries.length === 0) {
            backlog = false
            continue
          }
          cursor = (entries[entries.length - 1] as Entry)[0]
        }
        if (entries.length > 0) await handle(entries)
      } catch (err) {
        if (closed) break
        s.errors++
        failures++
        if (/NOGROUP/.test((err as Error).message)) {
          // The stream or group is gone (Redis lost its data): recreate it over what is there now.
          grouped = false
          groupFrom = '0'
        } else onError(err, 'redis-source:read')
        // Whatever was delivered and not acknowledged is pending again: re-read it first.
        backlog = true
        cursor = '0'
        await pause(backoffDelay(failures, RETRY, Math.random))
      }
    }
  }

  const done = loop()

  return {
    ready,
    stats: () => ({ ...s }),
    async close() {
      if (closed) return
      closed = true
      markReady()
      wake?.()
      // Abort the blocking read.
      reader.disconnect()
      await done
      if (owned) await quit(client)
    },
  }
}
