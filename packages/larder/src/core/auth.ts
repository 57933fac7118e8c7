/**
 * Tokens with scopes for the admin API, purge, event ingest and metrics, and the one
 * helper every route uses to check them ({@link requireScope}: 401 with
 * `WWW-Authenticate: Bearer` without a valid token, 403 without the scope). Tokens are
 * compared in constant time (sha256 of both sides, then timingSafeEqual, so length leaks
 * nothing).
 *
 * Scopes (docs/operations.md has the table):
 * - `admin`: everything, every tenant.
 * - `read:stats`: global stats, metrics and every tenant's stats (read only).
 * - `<action>@<tenant>`: one action on one tenant: `purge@acme`, `clear@acme`,
 *   `keys@acme`, `read:stats@acme`, `events:publish@acme`.
 * - `tenant:<id>` (the older form): purge, clear, keys and stats of that tenant; with
 *   `events:publish` also publishing that tenant's events.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { LarderError } from './errors.ts'
import { isTenantId } from './keys.ts'
import { sendError } from './route.ts'

export type Action = 'purge' | 'clear' | 'stats' | 'keys' | 'publish' | 'warm'

export interface TokenConfig {
  /** Who this is, for the audit log (never the token itself). */
  name: string
  token: string
  scopes: string[]
}

/** What one action may reach: every tenant (and global views), or the listed tenants. */
export interface Grant {
  readonly all: boolean
  readonly tenants: ReadonlySet<string>
}

export interface Principal {
  name: string
  scopes: readonly string[]
  /** Tenants named by `tenant:<id>` scopes. */
  tenants: readonly string[]
  admin: boolean
  /** What each action may reach, derived from the scopes once. */
  grants: Readonly<Record<Action, Grant>>
}

/** Pass as `tenant` to ask "may do `action` on at least one tenant" (e.g. before reading a batch of events). */
export const SOME_TENANT: unique symbol = Symbol('some tenant')
export type ScopeTarget = string | typeof SOME_TENANT | undefined

export interface Authorizer {
  /** Resolves the principal of an `Authorization: Bearer <token>` header, or null. */
  authenticate(header: string | undefined): Principal | null
  /**
   * May `p` do `action` on `tenant`? Without a tenant: on every tenant / the global view
   * (global stats, warm plans). With {@link SOME_TENANT}: on at least one tenant.
   */
  can(p: Principal, action: Action, tenant?: ScopeTarget): boolean
  /** The tenants `p` may do `action` on: `'all'`, or a list (maybe empty). */
  tenantsFor(p: Principal, action: Action): 'all' | readonly string[]
}

const ACTIONS: readonly Action[] = ['purge', 'clear', 'stats', 'keys', 'publish', 'warm']
/** The scope word of each action in `<word>@<tenant>`. */
const SCOPED: Record<string, Action> = { purge: 'purge', clear: 'clear', keys: 'keys', 'read:stats': 'stats', 'events:publish': 'publish' }
const SCOPE = /^(admin|read:stats|events:publish|tenant:.{1,128}|(purge|clear|keys|read:stats|events:publish)@.{1,128})$/
const SCOPE_HELP = 'use admin, read:stats, events:publish, tenant:<id>, or purge@<id>, clear@<id>, keys@<id>, read:stats@<id>, events:publish@<id>'

function grantsOf(scopes: readonly string[]): Record<Action, Grant> {
  const all = new Set<Action>()
  const tenants = new Map<Action, Set<string>>(ACTIONS.map((a) => [a, new Set<string>()]))
  const legacy = scopes.filter((s) => s.startsWith('tenant:')).map((s) => s.slice(7))
  const admin = scopes.includes('admin')
  if (admin) for (const a of ACTIONS) all.add(a)
  if (scopes.includes('read:stats')) all.add('stats')
  for (const t of legacy) for (const a of ['purge', 'clear', 'keys', 'stats'] as const) tenants.get(a)?.add(t)
  // Bare events:publish keeps its old meaning: publish for the tenant:<id> tenants.
  if (scopes.includes('events:publish')) for (const t of legacy) tenants.get('publish')?.add(t)
  for (const s of scopes) {
    const at = s.startsWith('tenant:') ? -1 : s.indexOf('@')
    if (at <= 0) continue
    const action = SCOPED[s.slice(0, at)]
    if (action !== undefined) tenants.get(action)?.add(s.slice(at + 1))
  }
  const out = {} as Record<Action, Grant>
  for (const a of ACTIONS) out[a] = { all: all.has(a), tenants: tenants.get(a) as Set<string> }
  return out
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

export function createAuthorizer(tokens: readonly TokenConfig[]): Authorizer {
  const table = tokens.map((t) => {
    if (typeof t.token !== 'string' || t.token.length < 8) throw new LarderError('E_INVALID_OPTION', `token "${t.name}" must be a string of at least 8 characters`)
    for (const s of t.scopes) {
      if (!SCOPE.test(s)) throw new LarderError('E_INVALID_OPTION', `token "${t.name}" has an unknown scope "${s}" (${SCOPE_HELP})`)
      const at = s.startsWith('tenant:') ? -1 : s.indexOf('@')
      if (at > 0 && !isTenantId(s.slice(at + 1))) throw new LarderError('E_INVALID_OPTION', `token "${t.name}": scope "${s}" does not name a valid tenant id after "@"`)
    }
    const tenants = t.scopes.filter((s) => s.startsWith('tenant:')).map((s) => s.slice(7))
    const principal: Principal = { name: t.name, scopes: t.scopes, tenants, admin: t.scopes.includes('admin'), grants: grantsOf(t.scopes) }
    return { hash: digest(t.token), principal }
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
      const g = p.grants[action]
      if (g.all) return true
      if (tenant === undefined) return false
      if (tenant === SOME_TENANT) return g.tenants.size > 0
      return g.tenants.has(tenant)
    },
    tenantsFor(p, action) {
      const g = p.grants[action]
      return g.all ? 'all' : [...g.tenants]
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

const VERB: Record<Action, string> = { purge: 'purge', clear: 'clear', keys: 'list the keys of', stats: 'read the stats of', publish: 'publish events for', warm: 'run warm plans for' }

/** The scopes that would allow it, for the 403 message. */
function needs(action: Action, tenant: string | undefined, some: boolean): string {
  const t = tenant ?? '<tenant>'
  if (action === 'warm' || (tenant === undefined && !some && action !== 'stats')) return 'needs admin'
  if (action === 'stats' && tenant === undefined && !some) return 'needs read:stats or admin'
  const word = Object.keys(SCOPED).find((w) => SCOPED[w] === action) as string
  const legacy = action === 'publish' ? `events:publish with tenant:${t}` : `tenant:${t}`
  return `needs ${word}@${t}, ${legacy} or admin`
}

/**
 * The 401 half of {@link requireScope}: the principal of the request's bearer token, or
 * null after answering 401 (`WWW-Authenticate: Bearer`). Without an authorizer every
 * request is refused (a server started without tokens).
 */
export function requireToken(req: IncomingMessage, res: ServerResponse, auth: Authorizer | undefined): Principal | null {
  if (auth === undefined) {
    sendError(res, 'E_UNAUTHORIZED', 'this server has no tokens configured (start it with --admin-token, LARDER_TOKENS or LARDER_TOKENS_FILE)')
    return null
  }
  const p = auth.authenticate(req.headers.authorization)
  if (p === null) sendError(res, 'E_UNAUTHORIZED', 'a valid "Authorization: Bearer <token>" header is required')
  return p
}

/** The 403 half of {@link requireScope}: true when `p` may do `action` on `tenant`, else answers 403. */
export function requireGrant(res: ServerResponse, auth: Authorizer, p: Principal, action: Action, tenant?: ScopeTarget): boolean {
  if (auth.can(p, action, tenant)) return true
  const what = tenant === undefined ? (action === 'stats' ? 'read global stats' : `${VERB[action]} every tenant`) : tenant === SOME_TENANT ? `${VERB[action]} any tenant` : `${VERB[action]} tenant "${tenant}"`
  sendError(res, 'E_FORBIDDEN', `token "${p.name}" may not ${what} (${needs(action, typeof tenant === 'string' ? tenant : undefined, tenant === SOME_TENANT)})`)
  return false
}

/**
 * The one auth check of every route: the principal when the request's bearer token may do
 * `action` on `tenant`; otherwise null after answering 401 (no or unknown token, with
 * `WWW-Authenticate: Bearer`) or 403 (the scope is insufficient). Routes that must read a
 * body to learn the tenant call {@link requireToken} first, then {@link requireGrant}.
 */
export function requireScope(req: IncomingMessage, res: ServerResponse, auth: Authorizer | undefined, action: Action, tenant?: ScopeTarget): Principal | null {
  const p = requireToken(req, res, auth)
  if (p === null || !requireGrant(res, auth as Authorizer, p, action, tenant)) return null
  return p
}
