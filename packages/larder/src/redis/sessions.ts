import { randomBytes } from 'node:crypto'
import { parseDuration } from '../core/duration.ts'
import { LarderError } from '../core/errors.ts'
import type { Clock, Duration } from '../core/types.ts'
import { Breaker } from './breaker.ts'
import { type ConnectionOptions, connect, quit, type RedisClient } from './connection.ts'
import { sessionKey } from './keyspace.ts'
import { SEP } from '../core/keys.ts'

/**
 * Sessions with sliding expiry. Ids are 32 bytes from the
 * CSPRNG (crypto.randomBytes), base64url: unguessable, and safe in cookies.
 */
export interface Sessions<D = Record<string, unknown>> {
  /** Creates a session for a tenant; resolves its id. */
  create(tenant: string, data: D): Promise<string>
  /** The session's data, or undefined when unknown/expired. Reading slides the expiry. */
  get(tenant: string, id: string): Promise<D | undefined>
  /** Replaces the data (when given) and slides the expiry; false when the session is gone. */
  touch(tenant: string, id: string, data?: D): Promise<boolean>
  destroy(tenant: string, id: string): Promise<boolean>
  close(): Promise<void>
}

export interface SessionOptions {
  /** Idle time after which a session expires (each get/touch restarts it). Default 30m. */
  ttl?: Duration
  /** Largest session data in bytes (JSON). Default 64 KiB. */
  maxBytes?: number
}

const ID_RE = /^[A-Za-z0-9_-]{43}$/

function newId(): string {
  return randomBytes(32).toString('base64url')
}

function encode(data: unknown, maxBytes: number): string {
  let json: string | undefined
  try {
    json = JSON.stringify(data)
  } catch (cause) {
    throw new LarderError('E_VALUE_NOT_SERIALIZABLE', 'session data cannot be serialized', { cause })
  }
  if (json === undefined) throw new LarderError('E_VALUE_NOT_SERIALIZABLE', 'session data must be JSON-serializable')
  if (Buffer.byteLength(json) > maxBytes) throw new LarderError('E_VALUE_TOO_LARGE', `session data is larger than ${maxBytes} bytes`)
  return json
}

/** A well-formed id can only be one we issued; anything else is simply unknown. */
function validId(id: unknown): id is string {
  return typeof id === 'string' && ID_RE.test(id)
}

function validTenant(tenant: unknown): string {
  if (typeof tenant !== 'string' || tenant.length === 0 || tenant.length > 128) throw new LarderError('E_INVALID_TENANT', 'tenant id must be a non-empty string of at most 128 characters')
  return tenant
}

export interface RedisSessionOptions extends ConnectionOptions, SessionOptions {
  /** Timeout of every call. Default 250ms. */
  timeout?: Duration
}

class RedisSessions<D> implements Sessions<D> {
  readonly #client: RedisClient
  readonly #owned: boolean
  readonly #ttl: number
  readonly #max: number
  readonly #breaker: Breaker

  constructor(options: RedisSessionOptions) {
    const { client, owned } = connect(options, 'redisSessions')
    this.#client = client
    this.#owned = owned
    client.on('error', () => {})
    this.#ttl = parseDuration(options.ttl ?? '30m', 'ttl')
    this.#max = options.maxBytes ?? 64 * 1024
    this.#breaker = new Breaker({ name: 'redis-sessions', timeoutMs: parseDuration(options.timeout ?? '250ms', 'timeout'), failureThreshold: 5, cooldownMs: 1000 })
  }

  // Same tenant hash tag as the cache keys: a tenant's sessions sit in its slot.
  #key(tenant: string, id: string): string {
    return sessionKey(validTenant(tenant), id)
  }

  async create(tenant: string, data: D): Promise<string> {
    const id = newId()
    const json = encode(data, this.#max)
    await this.#breaker.run('session.create', () => this.#client.set(this.#key(tenant, id), json, 'PX', this.#ttl, 'NX'))
    return id
  }

  async get(tenant: string, id: string): Promise<D | undefined> {
    if (!validId(id)) return undefined
    // GETEX reads and slides the expiry in one round trip.
    const raw = await this.#breaker.run('session.get', () => this.#client.getex(this.#key(tenant, id), 'PX', this.#ttl))
    return raw === null ? undefined : (JSON.parse(raw) as D)
  }

  async touch(tenant: string, id: string, data?: D): Promise<boolean> {
    if (!validId(id)) return false
    const key = this.#key(tenant, id)
    if (data === undefined) return (await this.#breaker.run('session.touch', () => this.#client.pexpire(key, this.#ttl))) === 1
    const json = encode(data, this.#max)
    return (await this.#breaker.run('session.touch', () => this.#client.set(key, json, 'PX', this.#ttl, 'XX'))) === 'OK'
  }

  async destroy(tenant: string, id: string): Promise<boolean> {
    if (!validId(id)) return false
    return (await this.#breaker.run('session.destroy', () => this.#client.unlink(this.#key(tenant, id)))) === 1
  }

  async close(): Promise<void> {
    if (this.#owned) await quit(this.#client)
  }
}

export interface MemorySessionOptions extends SessionOptions {
  clock?: Clock
  /** Most sessions held; the least recently used is dropped past it. Default 100,000. */
  maxSessions?: number
}

class MemorySessions<D> implements Sessions<D> {
  readonly #ttl: number
  readonly #max: number
  readonly #limit: number
  readonly #clock: Clock
  // Map order is insertion order; re-inserting on touch keeps it in recency order.
  readonly #map = new Map<string, { json: string; expireAt: number }>()

  constructor(options: MemorySessionOptions = {}) {
    this.#ttl = parseDuration(options.ttl ?? '30m', 'ttl')
    this.#max = options.maxBytes ?? 64 * 1024
    this.#limit = options.maxSessions ?? 100_000
    this.#clock = options.clock ?? Date
  }

  #live(tenant: string, id: string): string | undefined {
    if (!validId(id)) return undefined
    const k = validTenant(tenant) + SEP + id
    const s = this.#map.get(k)
    if (s === undefined) return undefined
    if (s.expireAt <= this.#clock.now()) {
      this.#map.delete(k)
      return undefined
    }
    return k
  }

  #put(k: string, json: string): void {
    this.#map.delete(k)
    this.#map.set(k, { json, expireAt: this.#clock.now() + this.#ttl })
    if (this.#map.size > this.#limit) this.#map.delete(this.#map.keys().next().value as string)
  }

  async create(tenant: string, data: D): Promise<string> {
    const id = newId()
    this.#put(validTenant(tenant) + SEP + id, encode(data, this.#max))
    return id
  }

  async get(tenant: string, id: string): Promise<D | undefined> {
    const k = this.#live(tenant, id)
    if (k === undefined) return undefined
    const json = (this.#map.get(k) as { json: string }).json
    this.#put(k, json)
    return JSON.parse(json) as D
  }

  async touch(tenant: string, id: string, data?: D): Promise<boolean> {
    const k = this.#live(tenant, id)
    if (k === undefined) return false
    this.#put(k, data === undefined ? (this.#map.get(k) as { json: string }).json : encode(data, this.#max))
    return true
  }

  async destroy(tenant: string, id: string): Promise<boolean> {
    const k = this.#live(tenant, id)
    return k !== undefined && this.#map.delete(k)
  }

  async close(): Promise<void> {
    this.#map.clear()
  }
}

export function redisSessions<D = Record<string, unknown>>(options: RedisSessionOptions): Sessions<D> {
  return new RedisSessions<D>(options)
}

export function memorySessions<D = Record<string, unknown>>(options?: MemorySessionOptions): Sessions<D> {
  return new MemorySessions<D>(options)
}
