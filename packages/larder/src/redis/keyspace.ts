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
 * @module
 */

const memo = new Map<string, string>()

/** base64url(utf8(text)), memoised for hot tenants/tags. */
export function b64(text: string): string {
  let out = memo.get(text)
  if (out === undefined) {
    out = Buffer.from(text, 'utf8').toString('base64url')
    // A bounded memo: dropping it all is cheaper than tracking recency here.
    if (memo.size >= 10_000) memo.clear()
    memo.set(text, out)
  }
  return out
}

const unmemo = new Map<string, string>()

/** Inverse of {@link b64}, memoised too (tags are decoded on every L2 hit). */
export function unb64(text: string): string {
  let out = unmemo.get(text)
  if (out === undefined) {
    out = Buffer.from(text, 'base64url').toString('utf8')
    if (unmemo.size >= 10_000) unmemo.clear()
    unmemo.set(text, out)
  }
  return out
}

export function tenantPrefix(tenant: string): string {
  return `lr:{${b64(tenant)}}:`
}

export const entryKey = (tenant: string, key: string): string => `${tenantPrefix(tenant)}k:${key}`
export const tagEpochKey = (tenant: string, tag: string): string => `${tenantPrefix(tenant)}t:${b64(tag)}`
export const softTagKey = (tenant: string, tag: string): string => `${tenantPrefix(tenant)}s:${b64(tag)}`
export const keyEpochKey = (tenant: string, key: string): string => `${tenantPrefix(tenant)}d:${key}`
export const softKeyKey = (tenant: string, key: string): string => `${tenantPrefix(tenant)}sd:${key}`
export const genKey = (tenant: string): string => `${tenantPrefix(tenant)}g`
export const softGenKey = (tenant: string): string => `${tenantPrefix(tenant)}sg`
export const leaseKey = (tenant: string, key: string): string => `${tenantPrefix(tenant)}l:${key}`

/** Escapes Redis glob syntax so user text in a SCAN MATCH is literal (docs/invariants.md, P2). */
export function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, (c) => `\\${c}`)
}
