/**
 * `cached()`: a function (or, as a TC39 decorator, a method) whose results go through
 * `getOrSet`. Keys and tags are built from the call's arguments by functions the caller
 * writes; what they return is data (checked like any key or tag, core/keys.ts), never a
 * pattern. Concurrent calls with the same key share one load (the engine's in-flight map).
 *
 * ```ts
 * const product = cached((id: number) => db.product(id), { cache: shop, key: (id) => `product:${id}`, policy: 'product', tags: (id) => [`product:${id}`] })
 * await product(42)             // loads once, then hits
 * await product.invalidate(42)  // drops `product:42` (through the log)
 * await product.peek(42)        // the cached value or undefined, never loads
 * ```
 * @module
 */
import type { Cache, GetOrSetOptions, InvalidationResult, TenantCache } from './api.ts'
import { LarderError } from './errors.ts'
import { validateKey, validateTags } from './keys.ts'
import type { Duration } from './types.ts'

export interface CachedOptions<A extends unknown[]> {
  /**
   * Where results are kept: a tenant's cache (`cache.tenant(id)`, `cache.public`), or the
   * whole cache with `tenant` naming the tenant of each call.
   */
  cache: Cache | TenantCache
  /** The key of a call, built from its arguments. Must return a string (else `E_CACHED_KEY`). */
  key: (...args: A) => string
  /** The tenant of a call (needed when `cache` is the whole cache): an id, or one built from the arguments. */
  tenant?: string | ((...args: A) => string)
  /** Named policy of the cache (ttl, grace, adaptive …). */
  policy?: string
  /** Tags of a call's entry, built from its arguments (invalidate them with `invalidateTags`). */
  tags?: (...args: A) => readonly string[]
  /** Ttl of the entries (wins over the policy's, docs/core.md "How long an entry lives"). */
  ttl?: Duration
}

/** The wrapped function: the same parameters, a promise of the same result, plus `invalidate` and `peek`. */
export interface CachedFunction<A extends unknown[], R> {
  (...args: A): Promise<Awaited<R>>
  /** Drops the entry of these arguments (a key invalidation through the log). */
  invalidate(...args: A): Promise<InvalidationResult>
  /** The cached value of these arguments, or undefined; never calls the function. */
  peek(...args: A): Promise<Awaited<R> | undefined>
}

type Method<This, A extends unknown[], R> = (this: This, ...args: A) => R

/** A tenant's cache names its tenant (a string); the whole cache has `tenant(id)`. */
function isTenantCache(c: Cache | TenantCache): c is TenantCache {
  return typeof (c as TenantCache).tenant === 'string'
}

function nameOf(fn: (...args: never[]) => unknown): string {
  return fn.name ? `"${fn.name}"` : 'an anonymous function'
}

/** Resolves the options once: returns how to find a call's tenant cache, key and getOrSet options. */
function compile<A extends unknown[]>(label: string, options: CachedOptions<A>) {
  if (options === null || typeof options !== 'object') throw new LarderError('E_INVALID_OPTION', `cached(${label}): options must be an object with { cache, key }`)
  const { cache, key, tags, tenant, policy, ttl } = options
  if (typeof key !== 'function') throw new LarderError('E_INVALID_OPTION', `cached(${label}): key must be a function (...args) => string`)
  if (tags !== undefined && typeof tags !== 'function') throw new LarderError('E_INVALID_OPTION', `cached(${label}): tags must be a function (...args) => string[]`)
  if (cache === null || typeof cache !== 'object' || (!isTenantCache(cache) && typeof cache.tenant !== 'function')) throw new LarderError('E_INVALID_OPTION', `cached(${label}): cache must be a cache or a tenant's cache`)
  let scope: (args: A) => TenantCache
  if (isTenantCache(cache)) {
    if (tenant !== undefined) throw new LarderError('E_INVALID_OPTION', `cached(${label}): cache is already a tenant's cache ("${cache.tenant}"); pass the whole cache to choose the tenant per call`)
    scope = () => cache
  } else if (typeof tenant === 'string') {
    const tc = cache.tenant(tenant)
    scope = () => tc
  } else if (typeof tenant === 'function') {
    scope = (args) => cache.tenant(tenant(...args))
  } else {
    // No silent default to the cross-tenant scope: that is a choice the caller writes (cache.public).
    throw new LarderError('E_INVALID_OPTION', `cached(${label}): name the tenant (tenant: id or (...args) => id), or pass a tenant's cache (cache.tenant(id), cache.public)`)
  }
  const keyOf = (args: A): string => {
    const k: unknown = key(...args)
    if (typeof k !== 'string') throw new LarderError('E_CACHED_KEY', `cached(${label}): the key function returned ${k === null ? 'null' : typeof k}, not a string`, { details: { type: k === null ? 'null' : typeof k } })
    return validateKey(k)
  }
  const base: GetOrSetOptions = { ...(policy === undefined ? {} : { policy }), ...(ttl === undefined ? {} : { ttl }) }
  const optionsOf = (args: A): GetOrSetOptions => (tags === undefined ? base : { ...base, tags: validateTags(tags(...args)) })
  return { scope, keyOf, optionsOf }
}

/** Every function `cached` made (what `cachedOf` accepts). */
const wrappers = new WeakSet<object>()

/** Wraps `fn` so that its `this` and arguments reach it unchanged and its results are cached. */
function wrap<This, A extends unknown[], R>(fn: Method<This, A, R>, label: string, options: CachedOptions<A>): CachedFunction<A, R> & Method<This, A, Promise<Awaited<R>>> {
  const c = compile(label, options)
  const call = async function (this: This, ...args: A): Promise<Awaited<R>> {
    const key = c.keyOf(args)
    return c.scope(args).getOrSet(key, async () => (await fn.apply(this, args)) as unknown, c.optionsOf(args)) as Promise<Awaited<R>>
  }
  const out = call as CachedFunction<A, R> & Method<This, A, Promise<Awaited<R>>>
  out.invalidate = async (...args: A) => c.scope(args).delete(c.keyOf(args))
  const peek = async (...args: A): Promise<unknown> => c.scope(args).get(c.keyOf(args))
  out.peek = peek as CachedFunction<A, R>['peek']
  wrappers.add(out)
  return out
}

/**
 * The decorator `cached(options)` returns (TC39 / TypeScript 5 standard decorators). A
 * decorator cannot change a method's type, so it decorates methods that return a promise;
 * `cachedOf(instance.method)` gives the typed `invalidate`/`peek`.
 */
export type CachedMethodDecorator<A extends unknown[]> = <This, R>(
  target: Method<This, A, Promise<R>>,
  context: ClassMethodDecoratorContext<This, Method<This, A, Promise<R>>>,
) => Method<This, A, Promise<R>>

/**
 * The `invalidate`/`peek` of a method decorated with `@cached` (typed: TypeScript keeps a
 * decorated method's declared type), e.g. `await cachedOf(catalog.product).invalidate(42)`.
 * Anything `cached` did not make is refused with E_INVALID_OPTION.
 */
export function cachedOf<A extends unknown[], R>(method: (...args: A) => Promise<R>): CachedFunction<A, R> {
  if (typeof method !== 'function' || !wrappers.has(method)) throw new LarderError('E_INVALID_OPTION', 'cachedOf expects a function made by cached() or a method decorated with @cached')
  return method as unknown as CachedFunction<A, R>
}

/**
 * `cached(fn, options)` wraps a function; `cached(options)` is a method decorator
 * (`@cached({ cache, key: (id: number) => \`product:${id}\` })`) for methods that return a
 * promise. The decorated method keeps its `this`; `cachedOf(instance.method)` has its
 * `invalidate(...)` and `peek(...)`.
 */
export function cached<A extends unknown[], R>(fn: (...args: A) => R, options: CachedOptions<A>): CachedFunction<A, R>
export function cached<A extends unknown[]>(options: CachedOptions<A>): CachedMethodDecorator<A>
export function cached<A extends unknown[], R>(fnOrOptions: ((...args: A) => R) | CachedOptions<A>, options?: CachedOptions<A>): CachedFunction<A, R> | CachedMethodDecorator<A> {
  if (typeof fnOrOptions === 'function') return wrap(fnOrOptions, nameOf(fnOrOptions), options as CachedOptions<A>)
  const decoratorOptions = fnOrOptions
  // Checked when the decorator is written, not on its first call.
  compile('@cached', decoratorOptions)
  return <This, R2>(target: Method<This, A, Promise<R2>>, context: ClassMethodDecoratorContext<This, Method<This, A, Promise<R2>>>): Method<This, A, Promise<R2>> => {
    if (context?.kind !== 'method') throw new LarderError('E_INVALID_OPTION', '@cached decorates methods only')
    if (context.private) throw new LarderError('E_INVALID_OPTION', '@cached decorates public methods only (their .invalidate and .peek must be reachable)')
    return wrap(target, `${context.static ? 'static ' : ''}${String(context.name)}`, decoratorOptions)
  }
}
