/**
 * The reserved namespace: a path under `/_larder` in any spelling (percent-encoded
 * unreserved characters, dot segments, repeated slashes) is the gateway's own. It is
 * dispatched in its normalised form and never forwarded to the origin (an unknown one is a
 * 404), so `/_larder//purge` or `/%5flarder/purge` with the purge token and body cannot
 * reach the shop (docs/http.md, "Security").
 * @module
 */

/** Prefix of the paths the gateway answers itself. */
export const RESERVED_PREFIX = '/_larder'

/**
 * The path of an origin-form target as a server resolves it: percent-encoded unreserved
 * characters decoded (RFC 3986 §6.2.2.2), repeated slashes collapsed, dot segments removed
 * (§5.2.4). Used to recognise the reserved prefix, however it is spelled.
 */
export function normalizePath(path: string): string {
  let p = path.replace(/%([0-9A-Fa-f]{2})/g, (m, h: string) => {
    const c = String.fromCharCode(Number.parseInt(h, 16))
    return /[A-Za-z0-9\-._~]/.test(c) ? c : m.toUpperCase()
  })
  p = p.replace(/\/{2,}/g, '/')
  const out: string[] = []
  const segs = p.split('/')
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i] as string
    const last = i === segs.length - 1
    if (s === '.' || s === '..') {
      if (s === '..' && out.length > 1) out.pop()
      if (last) out.push('')
    } else out.push(s)
  }
  const r = out.join('/')
  return r.startsWith('/') ? r : `/${r}`
}

/**
 * The normalised origin-form target when `target` is under the reserved prefix, in any
 * spelling; undefined otherwise (the target is proxied unchanged).
 */
export function reservedTarget(target: string): string | undefined {
  if (target[0] !== '/') return undefined
  const q = target.indexOf('?')
  const path = q < 0 ? target : target.slice(0, q)
  // Fast path: nothing to normalise and clearly outside the prefix.
  if (!/%|\/\/|\/\.|^\/_larder(?:\/|$)/i.test(path)) return undefined
  const norm = normalizePath(path)
  if (norm === RESERVED_PREFIX || norm.startsWith(`${RESERVED_PREFIX}/`)) return q < 0 ? norm : norm + target.slice(q)
  return undefined
}
