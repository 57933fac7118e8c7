/**
 * Lets an Admin API mutation answer only once the invalidations it caused are applied.
 *
 * Vendure delivers `ofType` subscribers after the transaction commits, on a later tick, so
 * without this a storefront read made right after the mutation's answer could still get the
 * cached old value. A blocking handler (inside the transaction) registers each catalog event
 * against its request; the after-commit subscriber settles it once Larder has applied the
 * invalidation; the Admin API hook waits for the request's events (bounded) before answering.
 * A rolled-back transaction never delivers its events: the wait ends at the bound.
 * @module
 */
import type { VendureEvent } from '@vendure/core'

interface Deferred {
  promise: Promise<void>
  resolve(): void
}

function deferred(): Deferred {
  let resolve!: () => void
  const promise = new Promise<void>((r) => {
    resolve = r
  })
  return { promise, resolve }
}

function requestOf(event: VendureEvent): object | undefined {
  const ctx = (event as { ctx?: { req?: unknown } }).ctx
  const req = ctx?.req
  return typeof req === 'object' && req !== null ? req : undefined
}

export class PendingInvalidations {
  readonly #byEvent = new WeakMap<VendureEvent, Deferred>()
  readonly #byRequest = new WeakMap<object, Deferred[]>()

  /** In the transaction: the event's request will wait for it. */
  track(event: VendureEvent): void {
    const req = requestOf(event)
    if (!req || this.#byEvent.has(event)) return
    const d = deferred()
    this.#byEvent.set(event, d)
    const list = this.#byRequest.get(req)
    if (list) list.push(d)
    else this.#byRequest.set(req, [d])
  }

  /** After commit: the event's invalidations are applied (or failed: the request stops waiting either way). */
  settle(event: VendureEvent): void {
    this.#byEvent.get(event)?.resolve()
    this.#byEvent.delete(event)
  }

  /** Resolves when every event of `req` is settled, or after `maxMs`. Returns whether all settled. */
  async wait(req: object, maxMs: number): Promise<boolean> {
    const list = this.#byRequest.get(req)
    if (!list || list.length === 0) return true
    this.#byRequest.delete(req)
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<false>((r) => {
      timer = setTimeout(() => r(false), maxMs)
    })
    try {
      return await Promise.race([Promise.all(list.map((d) => d.promise)).then(() => true), timeout])
    } finally {
      clearTimeout(timer)
    }
  }
}
