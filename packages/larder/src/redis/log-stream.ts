/**
 * One stream of the invalidation log (the log, or one partition of it) as both halves of
 * `RedisLog` see it: its keys, its position and its run id, plus what reading it needs
 * (entry parsing, the trimmed-or-restarted check, a bounded wait). See log.ts.
 * @module
 */
import { systemClock } from '../core/clock.ts'
import { LarderError } from '../core/errors.ts'
import type { LogAppend, LogEntry } from '../core/types.ts'
import type { RedisClient } from './connection.ts'

export interface LogKeys {
  stream: string
  seq: string
  since: string
  dedup: string
}

/** A raw stream entry as XREAD / XRANGE answer it: `[<id>-0, [field, value, …]]`. */
export type RawEntry = [string, string[]]

/** The state of one stream, shared by its appender and its reader. */
export class LogStream {
  readonly index: number
  readonly keys: LogKeys
  /** The highest id this process saw in this stream (appended or read); 0 when none. */
  last = 0
  /** First id of the current Redis run (restart detection); null: nothing appended yet; undefined: not known yet. */
  since: number | null | undefined = undefined

  constructor(index: number, keys: LogKeys) {
    this.index = index
    this.keys = keys
  }

  saw(id: number): void {
    if (id > this.last) this.last = id
  }

  /**
   * True when entries after `afterId` may be lost: trimmed, or from before a restart.
   * Trimming (MAXLEN) does not move XINFO's max-deleted-entry-id, so: something was
   * trimmed (entries-added > length) and the oldest entry left is newer than afterId.
   * It can over-report by one entry (the successor of afterId may be the oldest left);
   * a false gap costs an L1 flush, a missed one a stale read, so we err this way.
   */
  async trimmedAfter(afterId: number, c: RedisClient): Promise<boolean> {
    const k = this.keys
    const [info, since] = await Promise.all([c.call('XINFO', 'STREAM', k.stream).catch(() => null) as Promise<unknown[] | null>, c.get(k.since)])
    if (afterId > 0 && since !== null && afterId < Number(since)) return true
    if (!Array.isArray(info)) return false
    const field = (name: string): unknown => {
      const at = info.indexOf(name)
      return at >= 0 ? info[at + 1] : undefined
    }
    const added = Number(field('entries-added') ?? 0)
    const length = Number(field('length') ?? 0)
    if (added <= length) return false
    const first = field('first-entry') as RawEntry | null | undefined
    // Empty after trimming: everything up to the last generated id is gone.
    const oldest = first ? first[0] : String(field('last-generated-id') ?? '0-0')
    return Number(oldest.slice(0, oldest.indexOf('-'))) > afterId
  }
}

export function parseEntry(r: RawEntry): LogEntry | undefined {
  const [sid, fields] = r
  const id = Number(sid.slice(0, sid.indexOf('-')))
  let a = 0
  let e: string | undefined
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === 'a') a = Number(fields[i + 1])
    else if (fields[i] === 'e') e = fields[i + 1]
  }
  if (e === undefined || !Number.isSafeInteger(id)) return undefined
  try {
    const body = JSON.parse(e) as LogAppend
    return { ...body, id, at: a }
  } catch {
    return undefined
  }
}

/** The append token stored with an entry (`u`), if any. */
export function tokenOf(r: RawEntry): string | undefined {
  const fields = r[1]
  const i = fields.indexOf('u')
  return i >= 0 && i % 2 === 0 ? fields[i + 1] : undefined
}

/** `p`, or a rejection after `ms` of real time (a paused server never answers). */
export function bounded<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: unknown
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = systemClock.setTimeout(() => reject(new LarderError('E_LOG_UNAVAILABLE', `Redis log did not answer within ${ms} ms`)), ms)
    }),
  ]).finally(() => systemClock.clearTimeout(timer))
}
