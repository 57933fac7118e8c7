/**
 * An incremental Server-Sent Events parser following WHATWG HTML §9.2.6
 * ("Interpreting an event stream"). Plain TypeScript, no Node built-ins: it runs in
 * browsers and in Node alike.
 * @module
 */

export interface SseMessage {
  /** Event type (`message` when the stream named none). */
  type: string
  data: string
  /** The last event ID after this event (may be inherited from earlier events). */
  lastEventId: string
}

export interface SseParserHandlers {
  onEvent(msg: SseMessage): void
  /** A `retry:` field with a valid integer (§9.2.6: digits only). */
  onRetry?(ms: number): void
  /** An `id:` field was seen (even on an event that dispatches nothing). */
  onId?(id: string): void
  /** A comment line (heartbeat). */
  onComment?(text: string): void
}

const DIGITS = /^\d+$/

export class SseParser {
  #buf = ''
  #data = ''
  #type = ''
  #lastId = ''
  #idBuf = ''
  #sawBom = false
  /** A chunk ended on CR: an LF starting the next chunk belongs to it (CRLF split in two). */
  #skipLf = false
  readonly #h: SseParserHandlers

  constructor(handlers: SseParserHandlers, lastEventId = '') {
    this.#h = handlers
    this.#lastId = lastEventId
    this.#idBuf = lastEventId
  }

  get lastEventId(): string {
    return this.#lastId
  }

  /** Feeds decoded text (use a streaming TextDecoder for bytes). */
  push(text: string): void {
    if (!this.#sawBom && text.length > 0) {
      this.#sawBom = true
      // §9.2.6: one leading U+FEFF BOM is ignored.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    }
    if (this.#skipLf) {
      this.#skipLf = false
      if (text.charCodeAt(0) === 10) text = text.slice(1)
    }
    let buf = this.#buf + text
    let start = 0
    for (;;) {
      // Lines end with CRLF, LF or CR.
      let i = start
      const n = buf.length
      while (i < n) {
        const c = buf.charCodeAt(i)
        if (c === 10 || c === 13) break
        i++
      }
      if (i >= n) break
      const line = buf.slice(start, i)
      if (buf.charCodeAt(i) === 13) {
        if (i + 1 < n) {
          start = buf.charCodeAt(i + 1) === 10 ? i + 2 : i + 1
        } else {
          this.#skipLf = true
          start = i + 1
        }
      } else start = i + 1
      this.#line(line)
    }
    buf = buf.slice(start)
    this.#buf = buf
  }

  #line(line: string): void {
    if (line === '') {
      this.#dispatch()
      return
    }
    if (line.charCodeAt(0) === 58 /* : */) {
      this.#h.onComment?.(line.slice(1))
      return
    }
    const colon = line.indexOf(':')
    let field: string
    let value: string
    if (colon < 0) {
      field = line
      value = ''
    } else {
      field = line.slice(0, colon)
      value = line.slice(colon + 1)
      if (value.charCodeAt(0) === 32) value = value.slice(1)
    }
    switch (field) {
      case 'event':
        this.#type = value
        break
      case 'data':
        this.#data += value + '\n'
        break
      case 'id':
        // An id holding NUL is ignored entirely.
        if (!value.includes('\u0000')) {
          this.#idBuf = value
          this.#h.onId?.(value)
        }
        break
      case 'retry':
        if (DIGITS.test(value)) this.#h.onRetry?.(Number(value))
        break
      default:
      // Unknown fields are ignored.
    }
  }

  #dispatch(): void {
    // The last event ID is set even when no event fires (empty data).
    this.#lastId = this.#idBuf
    if (this.#data === '') {
      this.#type = ''
      return
    }
    const data = this.#data.endsWith('\n') ? this.#data.slice(0, -1) : this.#data
    const type = this.#type === '' ? 'message' : this.#type
    this.#data = ''
    this.#type = ''
    this.#h.onEvent({ type, data, lastEventId: this.#lastId })
  }
}
