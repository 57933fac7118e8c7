/**
 * Tokens with scopes for the admin API, purge and event ingest. Tokens are compared in
 * constant time (sha256 of both sides, then timingSafeEqual, so length leaks nothing).
 *
 * Scopes: `admin` (everything, every tenant), `tenant:<id>` (purge/clear/keys/stats of that
 * tenant only), `events:publish` (POST /_larder/events; the tenant comes from the token's
 * `tenant:<id>` scope, or from the event when the token is also `admin`), `read:stats`
 * (global stats and metrics, read only).
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { LarderError } from './errors.ts'

export type Action = 'purge' | 'clear' | 'stats' | 'keys' | 'publish' | 'warm'

export interface TokenConfig {
  /** Who this is, for the audit log (never the token itself). */
  name: string
  token: string
  scopes: string[]
}

export interface Principal {
  name: string
  scopes: readonly string[]
  /** Tenants named by `tenant:<id>` scopes. */
  tenants: readonly string[]
  admin: boolean
}

export interface Authorizer {
  /** Resolves the principal of an `Authorization: Bearer <token>` header, or null. */
  authenticate(header: string | undefined): Principal | null
  /** May `p` do `action` (on `tenant`, when the action is scoped to one)? */
  can(p: Principal, action: Action, tenant?: string): boolean
}

const SCOPE = /^(admin|read:stats|events:publish|tenant:.{1,128})$/

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

export function createAuthorizer(tokens: readonly TokenConfig[]): Authorizer {
  const table = tokens.map((t) => {
    if (typeof t.token !== 'string' || t.token.length < 8) throw new LarderError('E_INVALID_OPTION', `token "${t.name}" must be a string of at least 8 characters`)
    for (const s of t.scopes) if (!SCOPE.test(s)) throw new LarderError('E_INVALID_OPTION', `token "${t.name}" has an unknown scope "${s}" (use admin, read:stats, events:publish or tenant:<id>)`)
    const tenants = t.scopes.filter((s) => s.startsWith('tenant:')).map((s) => s.slice(7))
    return { hash: digest(t.token), principal: { name: t.name, scopes: t.scopes, tenants, admin: t.scopes.includes('admin') } satisfies Principal }
  })
  return {
    authenticate(header) {
      if (typeof header !== 'string') return null
      const m = /^Bearer\s+(\S+)\s*$/i.exec(header)
      if (!m) return null
      const h = digest(m[1] as string)
      let found: Principal | null = null
      // Compare with every token (no early exit) so timing does not tell which one matched.
      for (const row of table) if (timingSafeEqual(h, row.hash)) found = row.principal
      return found
    },
    can(p, action, tenant) {
      if (p.admin) return true
      switch (action) {
        case 'stats':
          return tenant === undefined ? p.scopes.includes('read:stats') : p.scopes.includes('read:stats') || p.tenants.includes(tenant)
        case 'publish':
          return p.scopes.includes('events:publish') && (tenant === undefined || p.tenants.includes(tenant))
        case 'purge':
        case 'clear':
        case 'keys':
        case 'warm':
          return tenant !== undefined && p.tenants.includes(tenant)
      }
    },
  }
}

/**
 * Tokens from the environment: `LARDER_ADMIN_TOKEN` (one admin token) and `LARDER_TOKENS`
 * (`name=token=scope+scope,name2=token2=scope`).
 */
export function tokensFromEnv(env: NodeJS.ProcessEnv = process.env): TokenConfig[] {
  const out: TokenConfig[] = []
  if (env.LARDER_ADMIN_TOKEN) out.push({ name: 'admin', token: env.LARDER_ADMIN_TOKEN, scopes: ['admin'] })
  for (const part of (env.LARDER_TOKENS ?? '').split(',').filter(Boolean)) {
    const [name, token, scopes] = part.split('=')
    if (!name || !token || !scopes) throw new LarderError('E_INVALID_OPTION', `LARDER_TOKENS entry "${name ?? ''}" must look like name=token=scope+scope`)
    out.push({ name, token, scopes: scopes.split('+') })
  }
  return out
}

export function bearer(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization
  return typeof h === 'string' ? h : undefined
}
