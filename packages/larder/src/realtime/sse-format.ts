/**
 * Server-side framing of Server-Sent Events (WHATWG HTML, "Server-sent events",
 * §9.2.6 "Interpreting an event stream"): `field: value` lines, an empty line ends
 * an event, lines starting with `:` are comments. Values never contain CR or LF
 * (each data line becomes its own `data:` field), and ids never contain NUL.
 * @module
 */

/** The event types the hub sends. */
export type SseEventType = 'invalidate' | 'update' | 'reset' | 'ready'

/** One event frame. `id` is a log id; `data` is any text (split into `data:` lines). */
export function sseFrame(type: SseEventType, data: string, id?: number): string {
  let out = id !== undefined && id > 0 ? `id: ${id}\nevent: ${type}\n` : `event: ${type}\n`
  // JSON.stringify never emits raw line breaks, so this loop runs once on the hot path.
  for (const line of data.split(/\r\n|\r|\n/)) out += `data: ${line}\n`
  return out + '\n'
}

/**
 * A heartbeat: a comment keeps proxies and the client's idle watchdog happy; the
 * id-only block (no data, so no event is dispatched) moves the client's last event
 * id forward (§9.2.6: the id field sets the last event ID buffer even when no event fires),
 * so a resume after a long quiet spell replays little.
 */
export function sseHeartbeat(lastId: number): string {
  return lastId > 0 ? `: hb\nid: ${lastId}\n\n` : ': hb\n\n'
}

/** The reconnection-time hint (§9.2.6 `retry` field). */
export function sseRetry(ms: number): string {
  return `retry: ${Math.max(0, Math.floor(ms))}\n\n`
}

/**
 * An encoded event, shared by every stream it goes to. `chunked` is the same bytes
 * framed as one HTTP/1.1 chunk (RFC 9112 §7.1: chunk-size in hex, CRLF, data, CRLF),
 * built at most once per event.
 */
export interface Frame {
  readonly raw: Buffer
  chunked: Buffer | undefined
}

const CRLF = Buffer.from('\r\n')

export function frameOf(text: string): Frame {
  return { raw: Buffer.from(text), chunked: undefined }
}

export function chunkOf(f: Frame): Buffer {
  if (f.chunked === undefined) f.chunked = Buffer.concat([Buffer.from(`${f.raw.length.toString(16)}\r\n`), f.raw, CRLF])
  return f.chunked
}
