import type { StatsCounters, StatsSnapshot } from './api.ts'

export class Counters {
  hits = 0
  l1Hits = 0
  l2Hits = 0
  misses = 0
  staleServes = 0
  loads = 0
  loadErrors = 0
  sets = 0
  invalidations = 0

  snapshot(): StatsCounters {
    const total = this.hits + this.misses
    return {
      hits: this.hits,
      l1Hits: this.l1Hits,
      l2Hits: this.l2Hits,
      misses: this.misses,
      staleServes: this.staleServes,
      loads: this.loads,
      loadErrors: this.loadErrors,
      sets: this.sets,
      invalidations: this.invalidations,
      hitRatio: total === 0 ? 0 : this.hits / total,
    }
  }
}

/** Counters per tenant with bounded cardinality: the first `limit` tenants, the rest under `other`. */
export class StatsBook {
  readonly #tenants = new Map<string, Counters>()
  readonly #other = new Counters()
  readonly #limit: number

  constructor(limit: number) {
    this.#limit = limit
  }

  forTenant(tenant: string): Counters {
    let c = this.#tenants.get(tenant)
    if (c) return c
    if (this.#tenants.size >= this.#limit) return this.#other
    c = new Counters()
    this.#tenants.set(tenant, c)
    return c
  }

  snapshot(extra: { entries: number; bytes: number; evictions: number; lastLogId: number }): StatsSnapshot {
    const tenants: Record<string, StatsCounters> = {}
    const total = new Counters()
    const add = (c: Counters) => {
      total.hits += c.hits
      total.l1Hits += c.l1Hits
      total.l2Hits += c.l2Hits
      total.misses += c.misses
      total.staleServes += c.staleServes
      total.loads += c.loads
      total.loadErrors += c.loadErrors
      total.sets += c.sets
      total.invalidations += c.invalidations
    }
    for (const [t, c] of this.#tenants) {
      tenants[t] = c.snapshot()
      add(c)
    }
    add(this.#other)
    if (this.#tenants.size >= this.#limit) tenants.other = this.#other.snapshot()
    return { ...total.snapshot(), ...extra, tenants }
  }
}
