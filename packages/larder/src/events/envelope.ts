/**
 * The event envelope every source produces: `{ id, type, tenant, data, at }`.
 * Validated on entry; the first bad field is named in the error (details.field) and
 * nothing is applied from an invalid event.
 * @module
 */
import { LarderError } from '../core/errors.ts'
import { validateTenant } from '../core/keys.ts'
import { hasControlChars } from '../core/text.ts'

export interface LarderEvent {
  /** Producer-chosen id, unique per tenant: the processor drops a second event with the same id (idempotency). */
  id: string
  /** Event type, e.g. `product.updated`; selects the rule. */
  type: string
  /** Tenant the event belongs to; every effect stays inside it. */
  tenant: string
  /** Event data the rule's templates read (`{productId}`, `{categoryIds[]}`, `{seller.id}`). */
  data: Record<string, unknown>
  /** When it happened: ms since the epoch (ISO strings are accepted on entry). */
  at: number
}

export const MAX_EVENT_ID_LENGTH = 200
export const MAX_EVENT_TYPE_LENGTH = 100
/** Largest `data` (as JSON) an event may carry. */
export const MAX_EVENT_DATA_BYTES = 64 * 1024

// Dotted lower-case words: `product.updated`, `seller.payment_status_changed`.
const TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/

export function invalidEvent(field: string, message: string, extra?: Record<string, unknown>): LarderError {
  return new LarderError('E_INVALID_EVENT', `event ${field}: ${message}`, { details: { field, ...extra } })
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

/**
 * Checks an untrusted value and returns a normalized envelope (a copy; `at` as ms,
 * defaulting to `now` when absent). Throws E_INVALID_EVENT naming the bad field.
 */
export function validateEvent(input: unknown, now: number = Date.now()): LarderEvent {
  if (!isPlainObject(input)) throw invalidEvent('(root)', `must be a JSON object, got ${input === null ? 'null' : Array.isArray(input) ? 'an array' : typeof input}`)
  const { id, type, tenant, data, at } = input
  if (typeof id !== 'string' || id.length === 0) throw invalidEvent('id', id === undefined ? 'is missing' : 'must be a non-empty string')
  if (id.length > MAX_EVENT_ID_LENGTH) throw invalidEvent('id', `is ${id.length} characters long; the limit is ${MAX_EVENT_ID_LENGTH}`)
  if (hasControlChars(id)) throw invalidEvent('id', 'must not contain control characters')
  if (typeof type !== 'string' || type.length === 0) throw invalidEvent('type', type === undefined ? 'is missing' : 'must be a non-empty string')
  if (type.length > MAX_EVENT_TYPE_LENGTH || !TYPE.test(type)) {
    throw invalidEvent('type', `"${type.slice(0, 60)}" is not a dotted lower-case name such as "product.updated"`)
  }
  if (tenant === undefined) throw invalidEvent('tenant', 'is missing')
  try {
    validateTenant(tenant)
  } catch (err) {
    throw invalidEvent('tenant', (err as Error).message, { cause: (err as LarderError).code })
  }
  let payload: Record<string, unknown> = {}
  if (data !== undefined) {
    if (!isPlainObject(data)) throw invalidEvent('data', 'must be a JSON object')
    let size: number
    try {
      size = Buffer.byteLength(JSON.stringify(data))
    } catch {
      throw invalidEvent('data', 'is not serializable as JSON')
    }
    if (size > MAX_EVENT_DATA_BYTES) throw invalidEvent('data', `is ${size} bytes as JSON; the limit is ${MAX_EVENT_DATA_BYTES}`, { limit: MAX_EVENT_DATA_BYTES })
    payload = data
  }
  let when = now
  if (at !== undefined) {
    if (typeof at === 'number' && Number.isFinite(at) && at >= 0) when = at
    else if (typeof at === 'string' && !Number.isNaN(Date.parse(at))) when = Date.parse(at)
    else throw invalidEvent('at', 'must be ms since the epoch or an ISO 8601 date string')
  }
  return { id, type, tenant: tenant as string, data: payload, at: when }
}
