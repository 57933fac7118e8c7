/**
 * Writing to SSE streams, with backpressure: one prebuilt chunk per event written straight
 * to the socket; a stream whose unsent bytes pass `bufferBytes` (in Node's write buffer,
 * or in `pending` while it replays) gets a best-effort `reset` and is dropped, so memory
 * stays bounded (docs/invariants.md, P4). An end that cannot flush (a client that stopped
 * reading) is destroyed after `endGraceMs` of the injected clock.
 * @module
 */
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Timers } from '../core/clock.ts'
import { type ResetReason, resetEvent } from './entry-events.ts'
import { chunkOf, type Frame } from './sse-format.ts'
import type { IndexedStream } from './stream-index.ts'

/** One open stream. */
export interface Stream extends IndexedStream {
  readonly res: ServerResponse
  /**
   * The connection, written to directly once the headers are out: one prebuilt chunk per
   * event and one socket write per stream, instead of ServerResponse.write's chunk header,
   * data and CRLF writes plus a cork per call (B7 fan-out). Undefined on HTTP/2.
   */
  readonly sock: Socket | undefined
  /** The response uses chunked transfer coding (HTTP/1.1); HTTP/1.0 gets raw bytes until close. */
  readonly chunked: boolean
  live: boolean
  closed: boolean
  /** While replaying: live frames that arrived meanwhile, in order. */
  pending: { id: number; frame: Frame }[] | undefined
  pendingBytes: number
  /** A log gap happened while this stream was replaying. */
  gapped: boolean
}

export interface WriterOptions {
  /** Bytes a stream may have unsent before it is reset and dropped. */
  bufferBytes: number
  timers: Timers
  /** How long an ending response may take to flush before its socket is destroyed. Default 1,000 ms. */
  endGraceMs?: number
  /** The hub's position (id of the `reset` sent to a dropped stream). */
  position(tenant: string): number
  /** A stream is being dropped: take it out of the index and count it (before its reset is written). */
  onDrop(s: Stream, reason: ResetReason): void
}

export interface Writer {
  /** Writes one frame; drops the stream once its unsent bytes pass the bound. */
  write(s: Stream, f: Frame): void
  /** A live frame: written to a live stream, kept (bounded) while the stream replays. */
  deliver(s: Stream, id: number, frame: Frame): void
  /**
   * Undefined while less than half the buffer bound is unsent; otherwise resolves on
   * `drain` (or close), so a long replay goes at the client's pace.
   */
  drained(s: Stream): Promise<void> | undefined
  /** Best-effort `reset`, then disconnect. */
  drop(s: Stream, reason: ResetReason): void
  /** Ends a response; destroys it if it has not closed within the grace period. */
  end(res: ServerResponse, last?: string): void
}

export function createWriter(options: WriterOptions): Writer {
  const { bufferBytes, timers } = options
  const graceMs = options.endGraceMs ?? 1000

  function end(res: ServerResponse, last?: string): void {
    if (last === undefined) res.end()
    else res.end(last)
    if (res.destroyed) return
    const t = timers.setTimeout(() => res.destroy(), graceMs)
    res.once('close', () => timers.clearTimeout(t))
  }

  function drop(s: Stream, reason: ResetReason): void {
    if (s.closed) return
    options.onDrop(s, reason)
    end(s.res, resetEvent(reason, options.position(s.tenant)))
  }

  function write(s: Stream, f: Frame): void {
    if (s.closed) return
    const sock = s.sock
    let ok: boolean
    let waiting: number
    if (sock !== undefined) {
      ok = sock.write(s.chunked ? chunkOf(f) : f.raw)
      waiting = sock.writableLength
    } else {
      ok = s.res.write(f.raw)
      waiting = s.res.writableLength
    }
    // `write` returning false only means Node's buffer passed its high-water mark; the
    // stream is dropped once what waits there passes our own bound.
    if (!ok && waiting > bufferBytes) drop(s, 'overflow')
  }

  function drained(s: Stream): Promise<void> | undefined {
    const target = s.sock ?? s.res
    if (s.closed || target.writableLength <= bufferBytes / 2) return undefined
    return new Promise((resolve) => {
      const done = () => {
        target.off('drain', done)
        s.res.off('close', done)
        resolve()
      }
      target.on('drain', done)
      s.res.on('close', done)
    })
  }

  function deliver(s: Stream, id: number, frame: Frame): void {
    if (s.live) {
      write(s, frame)
      return
    }
    // Replaying: keep the live frame until the replay is written, bounded like the socket buffer.
    const pending = s.pending
    if (!pending) return
    pending.push({ id, frame })
    s.pendingBytes += frame.raw.length
    if (s.pendingBytes > bufferBytes) drop(s, 'overflow')
  }

  return { write, deliver, drained, drop, end }
}
