/**
 * Resume: replays what a client missed after its `Last-Event-ID`, filtered to its tenant
 * and topics, at the client's pace (the writer's `drained`), then hands the stream over
 * to live delivery.
 * @module
 */
import type { InvalidationLog } from '../core/types.ts'
import { eventOf, type ResetReason } from './entry-events.ts'
import { frameOf, sseFrame } from './sse-format.ts'
import { wants } from './stream-index.ts'
import type { Stream, Writer } from './writer.ts'

/** Log entries read per page. */
export const REPLAY_PAGE = 500

export interface ReplayOptions {
  log: InvalidationLog
  writer: Writer
  /** Most log entries a resume may scan; past it the client gets `reset` ('too-old'). */
  limit: number
  /** Sends `reset` and makes the stream live. */
  reset(s: Stream, reason: ResetReason): void
  /** The replay is written up to `upTo` (the `ready` event is out): make the stream live. */
  live(s: Stream, upTo: number): void
  /** One replayed event was written. */
  onSent(): void
}

/**
 * Replays what the client missed after `afterId`. The id must name an entry the log still
 * holds: an id it never issued (another log, a restarted embedded log) or one already
 * trimmed means the client may have missed entries we cannot show it, so it gets `reset`.
 */
export async function replay(s: Stream, afterId: number, o: ReplayOptions): Promise<void> {
  let cursor = afterId - 1
  let scanned = 0
  let first = true
  for (;;) {
    const page = await o.log.read(cursor, REPLAY_PAGE, s.tenant)
    if (s.closed) return
    let entries = page.entries
    if (first) {
      first = false
      if (page.gap) return o.reset(s, 'trimmed')
      if (entries[0]?.id !== afterId) return o.reset(s, 'unknown-id')
      entries = entries.slice(1)
    } else if (page.gap) return o.reset(s, 'trimmed')
    for (const e of entries) {
      if (!wants(s, e)) continue
      const text = eventOf(e)
      if (text !== undefined) {
        const wait = o.writer.drained(s)
        if (wait) await wait
        if (s.closed) return
        o.writer.write(s, frameOf(text))
        o.onSent()
      }
      if (s.closed) return
    }
    scanned += page.entries.length
    const last = page.entries[page.entries.length - 1]
    if (last) cursor = Math.max(cursor, last.id)
    if (page.entries.length < REPLAY_PAGE) break
    if (scanned >= o.limit) return o.reset(s, 'too-old')
  }
  // The replay itself may have overflowed the stream's buffer (and dropped it).
  if (s.closed) return
  if (s.gapped) return o.reset(s, 'gap')
  const upTo = Math.max(cursor, afterId)
  o.writer.write(s, frameOf(sseFrame('ready', JSON.stringify({ resumed: true }), upTo)))
  o.live(s, upTo)
}
