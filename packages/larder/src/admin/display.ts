/**
 * How cache keys and tags are shown to people: the one place that turns internal key and
 * tag text into what users know. Used by the admin API's top lists (and so the dashboard)
 * and by `larder stats`.
 *
 * - An HTTP cache key is the URL (host + path + kept query) followed, when the response
 *   varies, by one `\n<field>:<value>` line per Vary'd request field, or `\n<field>` when the request
 *   did not send it (http/vary.ts). It is
 *   shown as the URL, with the Vary values apart (`x-tenant-id: acme`).
 * - The internal tag `@url <key>` (every stored HTTP response carries one) is shown as
 *   `URL <url>`.
 * - Control characters (the tenant/key separator U+001F, newlines, NUL…) never reach a
 *   terminal or page: what is left of them is shown as a visible `\xNN` escape.
 * @module
 */
import { CONTROL_CHARS } from '../core/text.ts'

/** A key as shown: `key` is the URL (or the application key), `vary` the Vary'd values, if any. */
export interface DisplayKey {
  key: string
  vary?: string
}

const CONTROL = new RegExp(CONTROL_CHARS.source, 'g')

/** Replaces control characters with a visible `\xNN` escape. */
export function printable(text: string): string {
  return text.replace(CONTROL, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

/** Splits a cache key into what users know: the URL (or key) and the Vary'd request values. */
export function displayKey(key: string): DisplayKey {
  const nl = key.indexOf('\n')
  if (nl < 0) return { key: printable(key) }
  const vary = key
    .slice(nl + 1)
    .split('\n')
    .map((line) => {
      const c = line.indexOf(':')
      // An absent field is written as its name alone (http/vary.ts).
      if (c < 0) return `${printable(line)}: (none)`
      const value = line.slice(c + 1)
      return `${printable(line.slice(0, c))}: ${printable(value)}`
    })
    .join(', ')
  return { key: printable(key.slice(0, nl)), vary }
}

/** A tag as shown: internal `@url <key>` tags read `URL <url>`; other tags as they are (printable). */
export function displayTag(tag: string): string {
  if (tag.startsWith('@url ')) return `URL ${displayKey(tag.slice(5)).key}`
  return printable(tag)
}

/** One line of text for a key: the URL, then `[vary: …]` when it has Vary'd values. */
export function keyText(k: DisplayKey): string {
  return k.vary === undefined ? k.key : `${k.key}  [${k.vary}]`
}
