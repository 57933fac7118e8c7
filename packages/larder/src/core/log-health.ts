/**
 * Bounded staleness while the invalidation log cannot be read (docs/invariants.md, "Log
 * reachability and bounded staleness"). An L1 value is only as current as the last time
 * this process confirmed it had every invalidation of the log: a fleet log reports that
 * time (`lastHeardAt`), and past a policy's `maxStaleness` the engine stops answering from
 * L1 without a check.
 *
 * The read path pays one comparison against a cached "heard + smallest maxStaleness"; only
 * when that has passed is the log asked again (`trusted`: about once per heartbeat while the
 * log is reachable, on every read while it is not).
 * @module
 */
import { channels } from './diagnostics.ts'
import { LarderError } from './errors.ts'
import type { InvalidationLog } from './types.ts'

export class LogHealth {
  /**
   * The log's `lastHeardAt()` when last asked; `+Infinity` for a log without a reader (an
   * in-process log is always caught up), so `now - heard <= bound` holds for every bound.
   */
  heard: number
  readonly #log: InvalidationLog
  /** The smallest maxStaleness configured: the bound the reachable/unreachable events use. */
  readonly #bound: number
  #reachable = true

  constructor(log: InvalidationLog, bounds: readonly number[]) {
    this.#log = log
    this.#bound = Math.min(...bounds)
    const beat = log.heartbeatMs
    if (typeof log.lastHeardAt === 'function' && typeof beat === 'number' && this.#bound <= beat) {
      throw new LarderError('E_INVALID_OPTION', `maxStaleness (${this.#bound} ms) must exceed the invalidation log's heartbeat (${beat} ms, e.g. redisLog's "block"): a reachable log would look cut off between two reads`)
    }
    this.heard = typeof log.lastHeardAt === 'function' ? log.lastHeardAt() : Number.POSITIVE_INFINITY
  }

  /** The smallest maxStaleness configured (ms). */
  get bound(): number {
    return this.#bound
  }

  /** True while the log is taken as reachable (by the smallest maxStaleness, as last noticed). */
  get reachable(): boolean {
    return this.#reachable
  }

  /**
   * The read path's slow branch, called when `now - heard > bound`: asks the log again and
   * answers whether L1 may still be trusted under `bound`. Publishes `larder:log:health`
   * when reachability (by the smallest bound) changes.
   */
  trusted(now: number, bound: number): boolean {
    const log = this.#log
    if (typeof log.lastHeardAt !== 'function') return true
    const heard = log.lastHeardAt()
    this.heard = heard
    const silentMs = now - heard
    const reachable = silentMs <= this.#bound
    if (reachable !== this.#reachable) {
      this.#reachable = reachable
      if (channels.health.hasSubscribers) channels.health.publish({ reachable, silentMs, maxStalenessMs: this.#bound })
    }
    return silentMs <= bound
  }

  /** How long the log has not been heard from (0 for a log without a reader). */
  silentMs(now: number): number {
    return this.heard === Number.POSITIVE_INFINITY ? 0 : Math.max(0, now - this.heard)
  }
}
