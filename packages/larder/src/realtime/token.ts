/**
 * Signed stream tokens, for browsers that cannot send the host's tenant header (or
 * any header: a plain `<script>` on a storefront). The application's backend signs
 * `{ tenant, topics?, exp }` with a secret it shares with the hub; the page opens
 * `/_larder/stream?token=…`. The token's tenant wins over whatever the request says,
 * and its topics (when given) bound what the query may ask for.
 *
 * Format: `base64url(JSON payload) + '.' + base64url(HMAC-SHA256(secret, payloadPart))`.
 * @module
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { LarderError } from '../core/errors.ts'
import { isTenantId } from '../core/keys.ts'

export interface StreamGrant {
  tenant: string
  /** Topics the bearer may subscribe to (exact or `prefix*`); undefined = any topic of the tenant. */
  topics?: string[]
  /** Expiry, seconds since the epoch. */
  exp: number
}

const MAX_TOKEN_LENGTH = 8192

function mac(secret: string | Buffer, body: string): Buffer {
  return createHmac('sha256', secret).update(body).digest()
}

/** Signs a grant. `ttlSeconds` defaults to one hour. */
export function signStreamToken(secret: string | Buffer, grant: { tenant: string; topics?: string[]; ttlSeconds?: number }, nowMs = Date.now()): string {
  if (!isTenantId(grant.tenant)) throw new LarderError('E_INVALID_TENANT', 'a stream token needs a valid tenant id')
  const payload: StreamGrant = { tenant: grant.tenant, exp: Math.floor(nowMs / 1000) + (grant.ttlSeconds ?? 3600) }
  if (grant.topics) payload.topics = [...grant.topics]
  const body = Buffer.from(JSON.stringify(payload)).toString('base64url')
  return `${body}.${mac(secret, body).toString('base64url')}`
}

/**
 * Verifies a token; returns the grant, or a string saying why it was refused
 * (the hub answers 401 with it). Signatures compare in constant time.
 */
export function verifyStreamToken(secret: string | Buffer, token: string, nowMs = Date.now()): StreamGrant | string {
  if (token.length > MAX_TOKEN_LENGTH) return 'the stream token is too long'
  const dot = token.indexOf('.')
  if (dot <= 0 || dot !== token.lastIndexOf('.')) return 'the stream token is malformed'
  const body = token.slice(0, dot)
  const sig = Buffer.from(token.slice(dot + 1), 'base64url')
  const want = mac(secret, body)
  if (sig.length !== want.length || !timingSafeEqual(sig, want)) return 'the stream token signature is invalid'
  let grant: StreamGrant
  try {
    grant = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as StreamGrant
  } catch {
    return 'the stream token payload is not JSON'
  }
  if (typeof grant !== 'object' || grant === null || !isTenantId(grant.tenant)) return 'the stream token names no valid tenant'
  if (typeof grant.exp !== 'number' || grant.exp * 1000 <= nowMs) return 'the stream token has expired'
  if (grant.topics !== undefined && (!Array.isArray(grant.topics) || !grant.topics.every((t) => typeof t === 'string'))) return 'the stream token topics are malformed'
  return grant
}
