/**
 * Channel ids → tokens (the Larder tenants), and the catalog reads the event mapper needs,
 * through Vendure's own database connection, after commit.
 * @module
 */
import { Asset, Channel, Collection, FacetValue, type ID, Product, ProductVariant, type TransactionalConnection } from '@vendure/core'
import { In } from 'typeorm'
import type { CatalogLookup, Scope } from './events.ts'

const ENTITIES = { Product, ProductVariant, Collection, FacetValue, Asset } as const

export class ChannelDirectory implements CatalogLookup {
  #byId = new Map<string, string>()
  #tokens = new Set<string>()
  #defaultToken: string | undefined

  constructor(private readonly connection: TransactionalConnection) {}

  /** Reads every channel (at start and after a ChannelEvent). */
  async refresh(): Promise<void> {
    const rows = await this.connection.rawConnection.getRepository(Channel).find({ select: { id: true, token: true, code: true } })
    this.#byId = new Map(rows.map((c) => [String(c.id), c.token]))
    this.#tokens = new Set(rows.map((c) => c.token))
    this.#defaultToken = rows.find((c) => c.code === '__default_channel__')?.token
  }

  get defaultToken(): string | undefined {
    return this.#defaultToken
  }

  /** Is this a token of a channel (untrusted header values are checked here)? */
  has(token: string): boolean {
    return this.#tokens.has(token)
  }

  all(): string[] {
    return [...this.#tokens]
  }

  async tokensOf(scope: Scope): Promise<string[]> {
    switch (scope.kind) {
      case 'all':
        return this.all()
      case 'tokens':
        return scope.tokens
      case 'channels':
        return this.#tokensOfIds(scope.ids)
      case 'entity': {
        if (scope.ids.length === 0) return []
        const repo = this.connection.rawConnection.getRepository(ENTITIES[scope.entity] as typeof Product)
        const rows = await repo.find({ where: { id: In(scope.ids) }, relations: { channels: true }, withDeleted: true, select: { id: true, channels: { id: true } } as never })
        const channelIds = rows.flatMap((r) => (r.channels ?? []).map((c) => c.id))
        // Nothing found (removed from the database): every channel, never none.
        return channelIds.length === 0 ? this.all() : this.#tokensOfIds(channelIds)
      }
    }
  }

  async #tokensOfIds(ids: readonly ID[]): Promise<string[]> {
    if (ids.some((id) => !this.#byId.has(String(id)))) await this.refresh()
    const out = new Set<string>()
    for (const id of ids) {
      const t = this.#byId.get(String(id))
      if (t !== undefined) out.add(t)
    }
    return [...out]
  }

  async productIdsOf(variantIds: readonly ID[]): Promise<Map<string, ID>> {
    const out = new Map<string, ID>()
    if (variantIds.length === 0) return out
    const rows = await this.connection.rawConnection.getRepository(ProductVariant).find({ where: { id: In([...variantIds]) }, withDeleted: true, select: { id: true, productId: true } })
    for (const r of rows) out.set(String(r.id), r.productId)
    return out
  }
}
