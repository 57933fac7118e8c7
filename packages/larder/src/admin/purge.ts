/**
 * The one purge handler, behind `POST /_larder/purge` (admin API and gateway alike), the
 * gateway's `PURGE <url>` method and `larder purge`: one authorization (core/auth.ts
 * `purge` scope), one validation (admin/requests.ts `parsePurge`: unknown fields → 400
 * naming the field, at most {@link MAX_ITEMS} items per list), one audit line.
 *
 * Paths in `urls` are resolved against a host, since the HTTP cache keys entries by host +
 * path: the body's `host`, else the one host the server maps to the tenant (`hostFor`), else
 * the request's own Host. The answer says which (`host`, `hostFrom`: body, tenant or
 * request): the request's Host is only the address the caller used to reach the server
 * (often 127.0.0.1:8080, not the shop's), so `larder purge` refuses that case loudly. The
 * PURGE method names its URL with its request target and Host.
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { InvalidationResult } from '../core/api.ts'
import { type Authorizer, type Principal, requireGrant, requireToken } from '../core/auth.ts'
import { isLarderError, LarderError } from '../core/errors.ts'
import { readBody, sendError, sendJson } from '../core/route.ts'
import { MAX_ITEMS, type PurgeRequest, parseJsonObject, parsePurge } from './requests.ts'

export { MAX_ITEMS }

/** What a validated purge carries out with. */
export interface PurgeWork {
  tags?: string[]
  keys?: string[]
  urls?: string[]
  soft: boolean
}

export interface PurgerOptions {
  auth: Authorizer | undefined
  /** Audit log (pino): who, tenant, how many, the log id. Never the token. */
  logger: Logger
  /**
   * Carries out a validated, authorized purge. `host` is what paths in `urls` resolve
   * against (undefined when the purge names none). Without `urls` support (a cache that is
   * not an HTTP cache) pass `urls: false`.
   */
  run(tenant: string, work: PurgeWork, host: string | undefined): Promise<InvalidationResult>
  /** Whether `urls` can be purged. Default true. */
  urls?: boolean
  /** The shop's host for a tenant (e.g. the one host the gateway maps to it). */
  hostFor?: (tenant: string) => string | undefined
  /** Request body limit. Default 1 MiB. */
  maxBodyBytes?: number
}

export interface Purger {
  /** `POST /_larder/purge`; `resolved` is the tenant the host's resolver gave the request. */
  post(req: IncomingMessage, res: ServerResponse, resolved: string): Promise<void>
  /** `PURGE <target>` for the request's tenant, on the request's Host. */
  method(req: IncomingMessage, res: ServerResponse, tenant: string, target: string): Promise<void>
}

export function createPurger(o: PurgerOptions): Purger {
  const maxBody = o.maxBodyBytes ?? 1 << 20
  const urlsOk = o.urls !== false

  async function execute(res: ServerResponse, p: Principal, input: PurgeRequest, requestHost: string, via: string): Promise<void> {
    if (!requireGrant(res, o.auth as Authorizer, p, 'purge', input.tenant)) return
    if (input.urls?.length && !urlsOk) throw new LarderError('E_BAD_REQUEST', '"urls" purges need the HTTP cache (mount the admin API through the gateway with its purge), or purge by tags/keys')
    let host: string | undefined
    let hostFrom: 'body' | 'tenant' | 'request' | undefined
    if (input.urls?.some((u) => u.startsWith('/'))) {
      const configured = input.host === undefined ? o.hostFor?.(input.tenant) : undefined
      host = input.host ?? configured ?? requestHost
      hostFrom = input.host !== undefined ? 'body' : configured !== undefined ? 'tenant' : 'request'
    }
    let r: InvalidationResult
    try {
      r = await o.run(input.tenant, { tags: input.tags, keys: input.keys, urls: input.urls, soft: input.soft }, host)
    } catch (err) {
      if (isLarderError(err, 'E_LOG_UNAVAILABLE')) throw new LarderError('E_PURGE_FAILED', `the purge could not be recorded in the invalidation log (${err.message}); nothing was purged: retry`, { cause: err })
      throw err
    }
    o.logger.info(
      {
        who: p.name,
        action: 'purge',
        via,
        tenant: input.tenant,
        tags: input.tags?.length ?? 0,
        keys: input.keys?.length ?? 0,
        urls: input.urls?.length ?? 0,
        ...(host !== undefined ? { host, hostFrom } : {}),
        soft: input.soft,
        purged: r.purged,
        id: r.id,
        ...(r.queued ? { queued: true } : {}),
      },
      'admin purge',
    )
    // 202: applied on this instance but queued for the shared log (other instances do not have it yet).
    sendJson(res, r.queued ? 202 : 200, { tenant: input.tenant, purged: r.purged, id: r.id, soft: input.soft, ...(host !== undefined ? { host, hostFrom } : {}), ...(r.queued ? { queued: true } : {}) })
  }

  function answer(res: ServerResponse, err: unknown): void {
    if (res.headersSent) {
      res.destroy()
      return
    }
    if (isLarderError(err)) sendError(res, err.code, err.message)
    else {
      o.logger.error({ err }, 'purge failed')
      sendError(res, 'E_INTERNAL', 'the purge failed; see the server log')
    }
  }

  return {
    async post(req, res, resolved) {
      // 401 before reading a body from someone without a token.
      const p = requireToken(req, res, o.auth)
      if (p === null) {
        req.resume()
        return
      }
      try {
        let body: Record<string, unknown>
        try {
          body = parseJsonObject(await readBody(req, maxBody))
        } catch (err) {
          if (isLarderError(err)) throw new LarderError(err.code, `purge body: ${err.message}`, { details: err.details })
          throw err
        }
        await execute(res, p, parsePurge(body, resolved), (req.headers.host ?? '').toLowerCase(), 'post')
      } catch (err) {
        answer(res, err)
      }
    },
    async method(req, res, tenant, target) {
      req.resume()
      const p = requireToken(req, res, o.auth)
      if (p === null) return
      try {
        const soft = /^(1|true|soft)$/i.test(String(req.headers['x-purge-soft'] ?? ''))
        // PURGE names its URL by target and Host, so the Host is the body's `host`.
        const host = req.headers.host
        await execute(res, p, parsePurge({ tenant, urls: [target], soft, ...(host ? { host } : {}) }, tenant), '', 'PURGE')
      } catch (err) {
        answer(res, err)
      }
    },
  }
}
