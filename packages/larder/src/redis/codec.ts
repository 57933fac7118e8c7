import { LarderError } from '../core/errors.ts'
import type { StoredEntry } from '../core/types.ts'
import { b64, unb64 } from './keyspace.ts'

/**
 * Stored form of an entry: one Redis string
 *
 *   1|<began>|<at>|<staleAt>|<expireAt>|<load ms>|<b64 tag>,<b64 tag>|<JSON value>
 *
 * A fixed header the Lua scripts can read with one pattern match (they need `began` and
 * the tags to check epochs), then the value as JSON. Compact: no field names, no
 * per-entry hash overhead, one GET. The leading `1` is the format version.
 */
export function encodeEntry(entry: StoredEntry, maxBytes: number): string {
  let json: string | undefined
  try {
    json = JSON.stringify(entry.v)
  } catch (cause) {
    throw new LarderError('E_VALUE_NOT_SERIALIZABLE', `value cannot be stored in Redis: ${(cause as Error).message}`, { cause })
  }
  if (json === undefined) throw new LarderError('E_VALUE_NOT_SERIALIZABLE', `value of type ${typeof entry.v} cannot be stored in Redis (JSON has no form for it)`)
  const tags = entry.tags.length === 0 ? '' : entry.tags.map(b64).join(',')
  const d = entry.d === undefined ? '' : num(entry.d)
  const out = `1|${num(entry.began)}|${num(entry.at)}|${num(entry.staleAt)}|${num(entry.expireAt)}|${d}|${tags}|${json}`
  // Length in UTF-16 units is a lower bound of the UTF-8 size; check bytes only when close.
  if (out.length * 3 > maxBytes && Buffer.byteLength(out) > maxBytes) {
    throw new LarderError('E_VALUE_TOO_LARGE', `value is ${Buffer.byteLength(out)} bytes in Redis form; the limit (maxValueBytes) is ${maxBytes}`)
  }
  return out
}

function num(n: number): string {
  if (!Number.isFinite(n)) throw new LarderError('E_INVALID_OPTION', `entry times must be finite numbers, got ${n}`)
  return String(Math.round(n))
}

/**
 * Decodes what the READ script answered. A leading 'S' (instead of the version '1') means
 * a soft invalidation is newer than the load: staleAt is forced to 0 so the core serves
 * it only within grace while it refreshes.
 */
export function decodeEntry(raw: string): StoredEntry | undefined {
  const stale = raw.charCodeAt(0) === 83 /* S */
  const p1 = raw.indexOf('|')
  const p2 = raw.indexOf('|', p1 + 1)
  const p3 = raw.indexOf('|', p2 + 1)
  const p4 = raw.indexOf('|', p3 + 1)
  const p5 = raw.indexOf('|', p4 + 1)
  const p6 = raw.indexOf('|', p5 + 1)
  const p7 = raw.indexOf('|', p6 + 1)
  if (p7 < 0 || (!stale && raw.slice(0, p1) !== '1')) return undefined // unknown format: a miss, never a crash
  const tagText = raw.slice(p6 + 1, p7)
  let v: unknown
  try {
    v = JSON.parse(raw.slice(p7 + 1))
  } catch {
    return undefined
  }
  const out: StoredEntry = {
    v,
    tags: tagText === '' ? [] : tagText.split(',').map(unb64),
    began: Number(raw.slice(p1 + 1, p2)),
    at: Number(raw.slice(p2 + 1, p3)),
    staleAt: stale ? 0 : Number(raw.slice(p3 + 1, p4)),
    expireAt: Number(raw.slice(p4 + 1, p5)),
    size: raw.length,
  }
  if (p6 > p5 + 1) out.d = Number(raw.slice(p5 + 1, p6))
  return out
}
