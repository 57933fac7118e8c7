/**
 * The Larder parts one Vendure app runs: the cache, the event processor (rules), the SSE hub
 * and the admin/purge API, and the Express handler that mounts the hub and the API on
 * Vendure's server.
 * @module
 */
import { randomUUID } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { VendureEvent } from '@vendure/core'
import type { Cache, LarderRoute } from 'larder'
import { type AdminApi, createAdminApi } from 'larder/admin'
import { createEventProcessor, type EventProcessor, type EventResult } from 'larder/events'
import { createSseHub, type SseHub } from 'larder/realtime'
import type { ChannelDirectory } from './channels.ts'
import type { MappedEvent } from './events.ts'
import { authorizerOf, DEFAULT_RULES_PATH, type LarderPluginOptions, resolveCache } from './options.ts'

export interface LarderRuntime {
  readonly cache: Cache
  readonly processor: EventProcessor
  readonly hub: SseHub
  readonly admin: AdminApi
  /** The channel directory, once Vendure bootstrapped. */
  readonly channels: ChannelDirectory | undefined
  /** `encodeId`: the API's id of a database id (Vendure's EntityIdStrategy), so tags match response ids. */
  attach(channels: ChannelDirectory, encodeId?: (id: string) => string): void
  /** Maps one Vendure event and publishes its Larder events; resolves once applied. */
  apply(event: VendureEvent, map: (e: VendureEvent) => Promise<MappedEvent[] | undefined>): Promise<EventResult[]>
  /** Express middleware body for `/_larder/*`. */
  handle(req: IncomingMessage & { originalUrl?: string }, res: ServerResponse, next: (err?: unknown) => void): void
  close(): Promise<void>
}

export function createRuntime(o: LarderPluginOptions): LarderRuntime {
  const { cache, owned } = resolveCache(o)
  const onError = o.onError ?? ((err: unknown, context: string) => console.error(`[larder] ${context}: ${(err as Error)?.message ?? err}`))
  const processor = createEventProcessor({ cache, rules: o.rules ?? DEFAULT_RULES_PATH, coalesceMs: o.coalesceMs ?? 0, onError })
  let channels: ChannelDirectory | undefined
  let encode: ((id: string) => string) | undefined
  const hub = createSseHub({
    log: o.streamLog ?? cache.log,
    path: `${o.basePath ?? '/_larder'}/stream`,
    tokenSecret: o.streamSecret,
    anonymous: o.anonymousStreams,
    allowOrigin: o.allowOrigin,
    // The channel of an anonymous stream: its vendure-token header (or ?vendure-token=, for
    // EventSource, which cannot send headers), else the default channel. Unknown tokens → 400.
    tenantFrom: (req, ctx) => {
      const h = req.headers['vendure-token']
      const raw = typeof h === 'string' ? h : (ctx.url.searchParams.get('vendure-token') ?? undefined)
      const token = raw ?? channels?.defaultToken
      return token !== undefined && channels?.has(token) ? token : undefined
    },
    onError,
  })
  const auth = authorizerOf(o)
  const admin = createAdminApi({ cache, auth, hub, basePath: o.basePath ?? '/_larder' })
  const routes: LarderRoute[] = [hub.route, admin.route]

  return {
    cache,
    processor,
    hub,
    admin,
    get channels() {
      return channels
    },
    attach(c, encodeId) {
      channels = c
      encode = encodeId
    },
    async apply(event, map) {
      if (event.constructor.name === 'ChannelEvent') await channels?.refresh()
      const mapped = await map(event)
      if (!mapped || !channels) return []
      const out: Promise<EventResult>[] = []
      for (const m of mapped) {
        const tenants = await channels.tokensOf(m.scope)
        const data = encode ? encodeIds(m.data, encode) : m.data
        for (const tenant of tenants) out.push(processor.publish({ id: randomUUID(), type: m.type, tenant, data, at: Date.now() }))
      }
      return Promise.all(out)
    },
    handle(req, res, next) {
      const target = req.originalUrl ?? req.url ?? '/'
      const url = new URL(target, 'http://vendure.local')
      const h = req.headers['vendure-token']
      const tenant = typeof h === 'string' ? h : (channels?.defaultToken ?? '')
      void (async () => {
        for (const r of routes) if (await r(req, res, { tenant, url })) return
        next()
      })().catch((err) => {
        onError(err, 'vendure:route')
        if (!res.headersSent) res.writeHead(500).end()
        else res.destroy()
      })
    },
    async close() {
      await processor.close().catch(() => {})
      await Promise.resolve(admin.close()).catch(() => {})
      await hub.close().catch(() => {})
      if (owned) await cache.close()
    },
  }
}

/** Encodes the `…Id` and `…Ids` fields of mapped event data. */
function encodeIds(data: Record<string, unknown>, encode: (id: string) => string): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(data)) {
    if (k.endsWith('Id') && typeof v === 'string') out[k] = encode(v)
    else if (k.endsWith('Ids') && Array.isArray(v)) out[k] = v.map((x) => (typeof x === 'string' ? encode(x) : x))
    else out[k] = v
  }
  return out
}
