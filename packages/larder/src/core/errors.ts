/**
 * Every error Larder throws is a {@link LarderError} with a stable `code`
 * (documented in docs/errors.md) and, where one exists, a `cause`.
 * @module
 */

export const ErrorCodes = {
  E_INVALID_DURATION: 'a duration is not a non-negative number of ms or a string such as "5m"',
  E_INVALID_TENANT: 'a tenant id is empty, too long, or holds control characters',
  E_INVALID_KEY: 'a key is not a non-empty string of at most the allowed length',
  E_INVALID_TAG: 'a tag is not a non-empty string of at most the allowed length',
  E_INVALID_OPTION: 'an option has a wrong type or value',
  E_UNKNOWN_POLICY: 'getOrSet/set named a policy that was not configured',
  E_VALUE_TOO_LARGE: 'a value is larger than the L1 per-entry limit',
  E_VALUE_UNDEFINED: 'undefined cannot be cached (use null for "not found")',
  E_VALUE_NOT_SERIALIZABLE: 'a value cannot be serialized for a shared store',
  E_LOADER_TIMEOUT: 'the loader ran past its hard timeout and no stale value could be served',
  E_LOADER_FAILED: 'the loader threw and no stale value could be served',
  E_CLOSED: 'the cache (or a part of it) was closed',
  E_QUEUE_FULL: 'a bounded queue (write-behind, replay) is full',
  E_STORE_TIMEOUT: 'a store call ran past its timeout',
  E_STORE_UNAVAILABLE: 'a store is unavailable (circuit open)',
  E_LOG_UNAVAILABLE: 'the invalidation log is unavailable',
  E_BAD_REQUEST: 'an HTTP request was malformed',
  E_UNAUTHORIZED: 'an admin/event call had no or a wrong token',
  E_FORBIDDEN: 'a token lacks the scope for the call',
  E_INVALID_EVENT: 'a domain event failed validation',
  E_INVALID_RULE: 'an invalidation rule failed validation',
  E_INVALID_TOPIC: 'an SSE topic is malformed or too long',
  E_TOO_MANY_CONNECTIONS: 'an SSE connection limit was reached',
} as const

export type ErrorCode = keyof typeof ErrorCodes

export class LarderError extends Error {
  readonly code: ErrorCode
  /** Extra, machine-readable facts (field name, limit, …). */
  readonly details: Record<string, unknown> | undefined

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'LarderError'
    this.code = code
    this.details = options?.details
  }
}

export function isLarderError(err: unknown, code?: ErrorCode): err is LarderError {
  return err instanceof LarderError && (code === undefined || err.code === code)
}
