/**
 * The stale-read checker. Writes report the version they produced once acknowledged; a read
 * reports the versions it saw and the moment it *started*. A read that started after a
 * write of an entity was acknowledged must carry at least that write's version: anything
 * older is a stale read (the cache served a value the database had already replaced).
 *
 * Time is a logical sequence (`tick()`), not the wall clock, so the verdict does not
 * depend on timer resolution: "started after the ack" means "took its tick after the ack's".
 * @module
 */

export interface StaleRead {
  entity: string
  seen: number
  required: number
  url: string
  /** What the cache said about the answer (X-Cache, Age), when known. */
  detail?: string
}

export class StaleChecker {
  #seq = 0
  /** entity → acknowledged writes as [ackTick, version], in ack order. */
  readonly #acks = new Map<string, [number, number][]>()
  readonly stale: StaleRead[] = []
  checked = 0

  /** The current logical time; every call advances it. */
  tick(): number {
    return ++this.#seq
  }

  /** A write of `entity` producing `version` was acknowledged now. */
  acknowledged(entity: string, version: number): void {
    const at = this.tick()
    let list = this.#acks.get(entity)
    if (!list) this.#acks.set(entity, (list = []))
    list.push([at, version])
  }

  /** The least version a read that started at `startedAt` may see for `entity`. */
  required(entity: string, startedAt: number): number {
    let min = 0
    for (const [at, v] of this.#acks.get(entity) ?? []) if (at < startedAt && v > min) min = v
    return min
  }

  /** Checks one read; returns the stale entities it carried. */
  read(startedAt: number, url: string, seen: Iterable<[entity: string, version: number]>): StaleRead[] {
    const found: StaleRead[] = []
    for (const [entity, version] of seen) {
      this.checked++
      const required = this.required(entity, startedAt)
      if (version < required) found.push({ entity, seen: version, required, url })
    }
    this.stale.push(...found)
    return found
  }
}

/** The versioned rows a response of the shop API carries, as [entity, version] pairs. */
export function versionsOf(tenant: string, body: unknown): [string, number][] {
  const out: [string, number][] = []
  const b = body as Record<string, any>
  const row = (kind: string, r: any) => {
    if (r && typeof r.id === 'number' && typeof r.version === 'number') out.push([`${tenant}/${kind}:${r.id}`, r.version])
  }
  if (Array.isArray(b?.items)) for (const p of b.items) row('product', p)
  if (b?.product) row('product', b.product)
  if (Array.isArray(b?.variants)) for (const v of b.variants) row('variant', v)
  if (b?.variant) row('variant', b.variant)
  if (Array.isArray(b?.sellers)) for (const s of b.sellers) row('seller', s)
  return out
}
