/**
 * The state the engine's modules share (docs/core.md, "Module layout"): the tiers, the log,
 * the clock, the epochs, the log's health, the flush generation and whether the engine is
 * closed. `CacheEngine` (cache.ts) owns it and hands the same object to loading.ts, writes.ts
 * and invalidation.ts, so a fence or a close is seen by all of them at once.
 * @module
 */
import type { MemoryStore } from '../stores/memory-store.ts'
import type { Timers } from './clock.ts'
import type { Epochs } from './epochs.ts'
import { LarderError } from './errors.ts'
import type { LogHealth } from './log-health.ts'
import type { Clock, InvalidationLog, Store } from './types.ts'

/** What the engine hands over when it creates the state (everything but the flags). */
export type EngineParts = Pick<EngineState, 'instanceId' | 'log' | 'l1' | 'l2' | 'clock' | 'timers' | 'epochs' | 'health' | 'onError'>

export class EngineState {
  declare readonly instanceId: string
  declare readonly log: InvalidationLog
  declare readonly l1: MemoryStore | undefined
  declare readonly l2: Store | undefined
  declare readonly clock: Clock
  declare readonly timers: Timers
  declare readonly epochs: Epochs
  /** When the log was last heard from (docs/invariants.md, R3). */
  declare readonly health: LogHealth
  declare readonly onError: (err: unknown, context: string) => void
  /** Bumped when L1 must not be trusted (log gap, distrust): loads begun before it never write back. */
  flushGen = 0
  closed = false

  constructor(parts: EngineParts) {
    Object.assign(this, parts)
  }

  /** Throws E_CLOSED once the engine is closed. */
  open(): void {
    if (this.closed) throw new LarderError('E_CLOSED', 'the cache is closed')
  }

  /** Loads begun before this never write back (the flush generation moves on). */
  fence(): void {
    this.flushGen++
  }
}
