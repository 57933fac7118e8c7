import type { EntryReadOptions, GetOrSetOptions, InvalidationResult, Loader, NamespaceCache, SetManyItem, SetOptions, TenantCache } from './api.ts'
import type { CacheEngine, Scope } from './cache.ts'
import { LarderError } from './errors.ts'
import { validateKey } from './keys.ts'

function toKeys(keys: string | readonly string[]): readonly string[] {
  if (typeof keys === 'string') return [keys]
  if (!Array.isArray(keys)) throw new LarderError('E_INVALID_KEY', 'delete expects a key or an array of keys')
  return keys
}

function toTags(tags: readonly string[]): readonly string[] {
  if (!Array.isArray(tags)) throw new LarderError('E_INVALID_TAG', 'expected an array of tags')
  return tags
}

/**
 * The tenant-scoped face of the engine. Every key and tag passed here lives inside the
 * tenant: there is no way to name another tenant's entry through it.
 */
export class TenantScope implements TenantCache {
  readonly #engine: CacheEngine
  readonly #scope: Scope

  constructor(engine: CacheEngine, scope: Scope) {
    this.#engine = engine
    this.#scope = scope
  }

  get tenant(): string {
    return this.#scope.tenant
  }

  get<V = unknown>(key: string): Promise<V | undefined> {
    return this.#engine.get<V>(this.#scope, key)
  }

  getEntry<V = unknown>(key: string, options?: EntryReadOptions<V>): Promise<{ value: V; stale: boolean; unverified?: true } | undefined> {
    return this.#engine.getEntry<V>(this.#scope, key, options?.counts)
  }

  getOrSet<V>(key: string, loader: Loader<V>, options?: GetOrSetOptions): Promise<V> {
    return this.#engine.getOrSet(this.#scope, key, loader, options)
  }

  set<V>(key: string, value: V, options?: SetOptions): Promise<boolean> {
    return this.#engine.set(this.#scope, key, value, options)
  }

  delete(keys: string | readonly string[]): Promise<InvalidationResult> {
    return this.#engine.invalidateIn(this.#scope, { keys: toKeys(keys) }, undefined)
  }

  getMany<V = unknown>(keys: readonly string[]): Promise<(V | undefined)[]> {
    return this.#engine.getMany<V>(this.#scope, keys)
  }

  setMany(items: readonly SetManyItem[]): Promise<boolean[]> {
    return this.#engine.setMany(this.#scope, items)
  }

  invalidateTags(tags: readonly string[]): Promise<InvalidationResult> {
    return this.#engine.invalidateIn(this.#scope, { tags: toTags(tags) }, undefined)
  }

  expireTags(tags: readonly string[]): Promise<InvalidationResult> {
    return this.#engine.invalidateIn(this.#scope, { tags: toTags(tags), soft: true }, undefined)
  }

  clear(): Promise<InvalidationResult> {
    return this.#engine.invalidateIn(this.#scope, {}, 'clear')
  }

  writeThrough<V>(key: string, update: () => Promise<V> | V, options?: SetOptions): Promise<V> {
    return this.#engine.writeThrough(this.#scope, key, update, options)
  }

  namespace(name: string): NamespaceCache {
    validateKey(name)
    return new NamespaceScope(this.#engine, this.#engine.makeScope(this.#scope.tenant, name), name)
  }
}

/** A namespace inside a tenant: its entries carry an implicit tag, so `bump()` drops them all in O(1). */
class NamespaceScope extends TenantScope implements NamespaceCache {
  readonly name: string
  readonly #engine: CacheEngine
  readonly #nsTag: string

  constructor(engine: CacheEngine, scope: Scope, name: string) {
    super(engine, scope)
    this.#engine = engine
    this.name = name
    this.#nsTag = scope.nsTag as string
  }

  bump(): Promise<InvalidationResult> {
    return this.#engine.bumpNamespace(this.tenant, this.#nsTag)
  }
}
