import { encodedOf, jsonCodec, type ValueCodec } from '../core/codec.ts'
import { LarderError } from '../core/errors.ts'
import type { StoredEntry } from '../core/types.ts'
import { b64, unb64 } from './keyspace.ts'

/**
 * Stored form of an entry: one Redis string, a JSON array
 *
 *   [1,<began>,<at>,<staleAt>,<expireAt>,<load ms>,"<b64 tag>,<b64 tag>",<value>]
 *
 * - one `JSON.parse` decodes it all (no slicing: slicing a header off and parsing the rest
 *   cost twice as much on the L2 hit path, measured);
 * - the Lua scripts read `began` and the tags with one pattern match on the fixed prefix
 *   (tags are base64url: no `"` or `,` inside, safe to match and to put in key names);
 * - compact: no field names, no per-entry hash overhead, one GET.
 * The leading 1 is the format version; the READ script answers 2 for "stale" (a soft
 * invalidation newer than the load).
 */
export function encodeEntry(entry: StoredEntry, maxBytes: number, codec: ValueCodec = jsonCodec): string {
  const v = entry.v
  const type = typeof v
  if (type === 'undefined' || type === 'function' || type === 'symbol') {
    throw new LarderError('E_VALUE_NOT_SERIALIZABLE', `value of type ${type} cannot be stored in Redis (JSON has no form for it)`)
  }
  const tags = entry.tags.length === 0 ? '' : entry.tags.map(b64).join(',')
  // The engine hands over the text it encoded (and sized) for L1: no second encoding.
  let text = encodedOf(entry)
  if (text === undefined) {
    try {
      text = codec.encode(v)
    } catch (cause) {
      throw new LarderError('E_VALUE_NOT_SERIALIZABLE', `value cannot be stored in Redis: ${(cause as Error).message}`, { cause })
    }
  }
  // A JSON codec's text goes in as is; any other codec's text is a JSON string.
  const value = codec.inline ? text : JSON.stringify(text)
  const out = `[1,${num(entry.began)},${num(entry.at)},${num(entry.staleAt)},${num(entry.expireAt)},${entry.d === undefined ? -1 : num(entry.d)},${JSON.stringify(tags)},${value}]`
  // Length in UTF-16 units × 3 bounds the UTF-8 size; count bytes only when it may matter.
  if (out.length * 3 > maxBytes && Buffer.byteLength(out) > maxBytes) {
    throw new LarderError('E_VALUE_TOO_LARGE', `value is ${Buffer.byteLength(out)} bytes in Redis form; the limit (maxValueBytes) is ${maxBytes}`)
  }
  return out
}

function num(n: number): number {
  if (!Number.isFinite(n)) throw new LarderError('E_INVALID_OPTION', `entry times must be finite numbers, got ${n}`)
  return Math.round(n)
}

/** Decodes what GET or the READ script answered; undefined for anything unreadable (a miss, never a crash). */
export function decodeEntry(raw: string, codec: ValueCodec = jsonCodec): StoredEntry | undefined {
  let a: unknown[]
  try {
    a = JSON.parse(raw)
  } catch {
    return undefined
  }
  if (!Array.isArray(a) || a.length !== 8 || (a[0] !== 1 && a[0] !== 2)) return undefined
  const tagText = a[6] as string
  let v = a[7]
  if (!codec.inline) {
    if (typeof v !== 'string') return undefined
    try {
      v = codec.decode(v)
    } catch {
      return undefined
    }
  }
  const out: StoredEntry = {
    v,
    tags: tagText === '' ? [] : tagText.indexOf(',') < 0 ? [unb64(tagText)] : tagText.split(',').map(unb64),
    began: a[1] as number,
    at: a[2] as number,
    staleAt: a[0] === 2 ? 0 : (a[3] as number),
    expireAt: a[4] as number,
    size: raw.length,
  }
  if ((a[5] as number) >= 0) out.d = a[5] as number
  return out
}
