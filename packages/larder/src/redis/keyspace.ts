/**
 * Redis key names. Every key of one tenant shares the hash tag `{<base64url(tenant)>}`, so
 * an entry, its tenant's tag epochs and its lease live in one hash slot: the read and
 * conditional-write scripts never CROSSSLOT in a Cluster. Base64url has no `{`, `}`, `:`
 * or glob characters, so no tenant text can move a key to another slot, collide with
 * another tenant, or widen a SCAN pattern. Tags are base64url-encoded too (they are
 * listed inside stored values, separated by commas); keys are the last segment and are
 * kept verbatim (the tenant prefix before them is fixed-shape, so they cannot escape it).
 *
 *   lr:{T}:k:<key>       entry (string: header + JSON, see codec.ts)
 *   lr:{T}:t:<b64 tag>   hard epoch of a tag  (log id of its last hard invalidation)
 *   lr:{T}:s:<b64 tag>   soft epoch of a tag
 *   lr:{T}:d:<key>       hard epoch of a deleted key (fences loads that began before)
 *   lr:{T}:sd:<key>      soft epoch of a key
 *   lr:{T}:g / :sg       tenant generation (clear) / tenant-wide soft epoch
 *   lr:{T}:l:<key>       lease (SET NX PX token)
 *   lr:{T}:sess:<id>     session (sessions.ts)
 *   lr:{T}:rl:<b64 subj> rate-limit window (rate-limit.ts)
 *   lr:{L}:stream, :seq, :since, :u:<token>   the invalidation log (log.ts; L = b64(stream name) or `log`)
 *
 * This module is the one source of that layout: the Lua scripts (scripts.ts) derive the
 * epoch keys of an entry key from `SEG` (they must, for READ: an entry's tags are only
 * known once the script has read it), and TypeScript code uses the builders below.
 * @module
 */

/** Every Larder key starts with this. */
export const ROOT = 'lr:'

/** The segments after a tenant's prefix `lr:{T}:`. */
export const SEG = {
  entry: 'k:',
  tagEpoch: 't:',
  softTag: 's:',
  keyEpoch: 'd:',
  softKey: 'sd:',
  gen: 'g',
  softGen: 'sg',
  lease: 'l:',
  session: 'sess:',
  rate: 'rl:',
} as const

/** `fn` with a bounded memo (dropping it all is cheaper than tracking recency here). */
function memoized(fn: (text: string) => string): (text: string) => string {
  const memo = new Map<string, string>()
  return (text) => {
    let out = memo.get(text)
    if (out === undefined) {
      out = fn(text)
      if (memo.size >= 10_000) memo.clear()
      memo.set(text, out)
    }
    return out
  }
}

/** base64url(utf8(text)), memoised for hot tenants/tags. */
export const b64 = memoized((text) => Buffer.from(text, 'utf8').toString('base64url'))

/** Inverse of {@link b64}, memoised too (tags are decoded on every L2 hit). */
export const unb64 = memoized((text) => Buffer.from(text, 'base64url').toString('utf8'))

export function tenantPrefix(tenant: string): string {
  return `${ROOT}{${b64(tenant)}}:`
}

export const entryKey = (tenant: string, key: string): string => tenantPrefix(tenant) + SEG.entry + key
export const genKey = (tenant: string): string => tenantPrefix(tenant) + SEG.gen
export const leaseKey = (tenant: string, key: string): string => tenantPrefix(tenant) + SEG.lease + key
export const sessionKey = (tenant: string, id: string): string => tenantPrefix(tenant) + SEG.session + id
export const rateKey = (tenant: string, subject: string): string => tenantPrefix(tenant) + SEG.rate + b64(subject)

/** SCAN pattern of a tenant's entries (every tenant's without one). */
export const entryPattern = (tenant?: string): string => (tenant === undefined ? `${ROOT}{*}:${SEG.entry}*` : `${tenantPrefix(tenant)}${SEG.entry}*`)

/** Keys of the invalidation log on stream `name` (one hash tag: its scripts never CROSSSLOT). */
export function logKeys(name?: string): { stream: string; seq: string; since: string; dedup: string } {
  const tag = `${ROOT}{${name === undefined ? 'log' : b64(name)}}:`
  return { stream: `${tag}stream`, seq: `${tag}seq`, since: `${tag}since`, dedup: `${tag}u:` }
}

/** Escapes Redis glob syntax so user text in a SCAN MATCH is literal (docs/invariants.md, P2). */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}
