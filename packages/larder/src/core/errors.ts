/**
 * Every error Larder throws is a {@link LarderError} with a stable `code`
 * (documented in docs/errors.md) and, where one exists, a `cause`.
 * @module
 */

interface ErrorDef {
  /** HTTP status an endpoint answers with this code (the only place a status is chosen). */
  readonly status: number
  /** What the code means (docs/errors.md has the long form). */
  readonly message: string
}

function def(status: number, message: string): ErrorDef {
  return { status, message }
}

/**
 * The registry: every code, once, with its meaning and its HTTP status (like fastify's
 * createError). HTTP endpoints answer with `sendError(res, code, message)`, which takes the
 * status from here; call sites never choose one.
 */
export const ErrorRegistry = {
  E_INVALID_DURATION: def(400, 'a duration is not a non-negative number of ms or a string such as "5m"'),
  E_INVALID_TENANT: def(400, 'a tenant id is empty, too long, or holds control characters'),
  E_INVALID_KEY: def(400, 'a key is not a non-empty string of at most the allowed length'),
  E_INVALID_TAG: def(400, 'a tag is not a non-empty string of at most the allowed length'),
  E_INVALID_OPTION: def(400, 'an option has a wrong type or value'),
  E_CACHED_KEY: def(500, 'a cached() key function returned something other than a string'),
  E_UNKNOWN_POLICY: def(500, 'getOrSet/set named a policy that was not configured'),
  E_VALUE_TOO_LARGE: def(413, 'a value is larger than the L1 per-entry limit'),
  E_VALUE_UNDEFINED: def(500, 'undefined cannot be cached (use null for "not found")'),
  E_INVALID_VALUE: def(500, 'a value cannot be encoded by the cache codec (one value model for every tier)'),
  E_VALUE_NOT_SERIALIZABLE: def(500, 'a value cannot be serialized for a shared store'),
  E_LOADER_TIMEOUT: def(504, 'the loader ran past its hard timeout and no stale value could be served'),
  E_LOADER_FAILED: def(502, 'the loader threw and no stale value could be served'),
  E_CLOSED: def(503, 'the cache (or a part of it) was closed'),
  E_QUEUE_FULL: def(503, 'a bounded queue (write-behind, replay) is full'),
  E_STORE_TIMEOUT: def(504, 'a store call ran past its timeout'),
  E_STORE_UNAVAILABLE: def(503, 'a store is unavailable (circuit open)'),
  E_LOG_UNAVAILABLE: def(503, 'the invalidation log is unavailable'),
  E_BAD_REQUEST: def(400, 'an HTTP request was malformed'),
  E_UNAUTHORIZED: def(401, 'an admin/event call had no or a wrong token'),
  E_FORBIDDEN: def(403, 'a token lacks the scope for the call'),
  E_INVALID_EVENT: def(422, 'a domain event failed validation'),
  E_INVALID_RULE: def(500, 'an invalidation rule failed validation'),
  E_INVALID_TOPIC: def(400, 'an SSE topic is malformed or too long'),
  E_TOO_MANY_CONNECTIONS: def(503, 'an SSE connection limit was reached'),
  E_TENANT_CONNECTION_LIMIT: def(429, 'a tenant holds its limit of SSE streams on this instance'),
  E_MISDIRECTED: def(421, "this instance does not read the tenant's invalidation-log partition"),
  E_METHOD_NOT_ALLOWED: def(405, 'an HTTP endpoint does not answer this method'),
  E_NOT_FOUND: def(404, 'no endpoint under the reserved /_larder prefix answers this path'),
  E_BODY_TOO_LARGE: def(413, 'an HTTP request body (or batch, or list) is larger than the limit'),
  E_URI_TOO_LONG: def(414, 'an HTTP request target is longer than the limit'),
  E_NOT_CONFIGURED: def(501, 'an endpoint needs a part this server was started without'),
  E_NOT_CACHED: def(504, 'only-if-cached and no usable stored response'),
  E_ORIGIN_TIMEOUT: def(504, 'the origin did not answer in time and nothing stale could be served'),
  E_ORIGIN_UNAVAILABLE: def(502, 'the origin could not be reached and nothing stale could be served'),
  E_PURGE_FAILED: def(503, 'a purge could not be recorded in the invalidation log'),
  E_INTERNAL: def(500, 'a bug: the server log has the stack'),
} as const satisfies Record<string, ErrorDef>

export type ErrorCode = keyof typeof ErrorRegistry

/** Code → meaning (kept for callers that read the registry as strings). */
export const ErrorCodes = Object.fromEntries(Object.entries(ErrorRegistry).map(([code, d]) => [code, d.message])) as { readonly [C in ErrorCode]: string }

/** The HTTP status of a code. */
export function httpStatus(code: ErrorCode): number {
  return ErrorRegistry[code].status
}

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

  /** The HTTP status of this error's code (from the registry). */
  get status(): number {
    return ErrorRegistry[this.code].status
  }
}

export function isLarderError(err: unknown, code?: ErrorCode): err is LarderError {
  return err instanceof LarderError && (code === undefined || err.code === code)
}
