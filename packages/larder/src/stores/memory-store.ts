import { LRUCache } from 'lru-cache'
import { channels } from '../core/diagnostics.ts'
import { LarderError } from '../core/errors.ts'
import { SEP } from '../core/keys.ts'
import type { LogEntry, Store, StoredEntry } from '../core/types.ts'
import { estimateSize } from './size.ts'

export interface MemoryStoreOptions {
  /** Default 100,000. */
  maxEntries?: number
  /** Default 256 MiB. */
  maxBytes?: number
  /** Default maxBytes / 16, at most 8 MiB. */
  maxEntryBytes?: number
}

/** Per-entry overhead we account besides the value (entry object, LRU slots, key). */
const ENTRY_OVERHEAD = 96

/**
 * The in-process tier: an LRU bounded by entries and bytes (lru-cache), with a tag index
 * (qualified tag → keys) so a purge can drop matching entries at once and say how many.
 * It answers synchronously. It never judges freshness beyond dropping entries whose
 * `expireAt` passed when asked to (`get` with `now`): the engine does the rest.
 */
export class MemoryStore implements Store {
  readonly name = 'memory'
  readonly shared = false
  readonly maxEntryBytes: number
  readonly #lru: LRUCache<string, StoredEntry>
  readonly #byTag = new Map<string, Set<string>>()
  #evictions = 0

  constructor(options: MemoryStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? 100_000
    const maxBytes = options.maxBytes ?? 256 * 2 ** 20
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new LarderError('E_INVALID_OPTION', `l1.maxEntries must be a positive integer, got ${maxEntries}`)
    if (!Number.isFinite(maxBytes) || maxBytes < 1024) throw new LarderError('E_INVALID_OPTION', `l1.maxBytes must be at least 1024, got ${maxBytes}`)
    this.maxEntryBytes = options.maxEntryBytes ?? Math.min(maxBytes / 16, 8 * 2 ** 20)
    this.#lru = new LRUCache<string, StoredEntry>({
      max: maxEntries,
      maxSize: maxBytes,
      sizeCalculation: (e) => e.size ?? ENTRY_OVERHEAD,
      dispose: (entry, key, reason) => {
        this.#unindex(key, entry)
        if (reason === 'evict') {
          this.#evictions++
          if (channels.evict.hasSubscribers) channels.evict.publish({ key, reason: 'evict', layer: 'l1' })
        }
      },
    })
  }

  get evictions(): number {
    return this.#evictions
  }

  #unindex(key: string, entry: StoredEntry): void {
    if (entry.tags.length === 0) return
    const tenant = key.slice(0, key.indexOf(SEP))
    for (const tag of entry.tags) {
      const qt = tenant + SEP + tag
      const set = this.#byTag.get(qt)
      if (set) {
        set.delete(key)
        if (set.size === 0) this.#byTag.delete(qt)
      }
    }
  }

  /** Computes and checks the entry's size; throws E_VALUE_TOO_LARGE past the per-entry limit. */
  measure(key: string, entry: StoredEntry): number {
    let size = ENTRY_OVERHEAD + 2 * key.length + estimateSize(entry.v)
    for (const t of entry.tags) size += 2 * t.length + 16
    if (size > this.maxEntryBytes) {
      throw new LarderError('E_VALUE_TOO_LARGE', `value for key "${key.slice(key.indexOf(SEP) + 1).slice(0, 80)}" takes about ${size} bytes; the L1 limit per entry is ${this.maxEntryBytes} (l1.maxEntryBytes)`, { details: { size, limit: this.maxEntryBytes } })
    }
    return size
  }

  get(key: string): StoredEntry | undefined {
    return this.#lru.get(key)
  }

  /** Reads without touching recency (admin listings). */
  peek(key: string): StoredEntry | undefined {
    return this.#lru.peek(key)
  }

  getMany(keys: readonly string[]): (StoredEntry | undefined)[] {
    return keys.map((k) => this.#lru.get(k))
  }

  set(key: string, entry: StoredEntry): boolean {
    if (entry.size === undefined) entry.size = this.measure(key, entry)
    this.#lru.set(key, entry)
    if (entry.tags.length > 0 && this.#lru.peek(key) === entry) {
      const tenant = key.slice(0, key.indexOf(SEP))
      for (const tag of entry.tags) {
        const qt = tenant + SEP + tag
        let set = this.#byTag.get(qt)
        if (!set) this.#byTag.set(qt, (set = new Set()))
        set.add(key)
      }
    }
    return true
  }

  setMany(items: readonly { key: string; entry: StoredEntry }[]): boolean[] {
    return items.map((i) => this.set(i.key, i.entry))
  }

  delete(keys: readonly string[]): number {
    let n = 0
    for (const k of keys) if (this.#lru.delete(k)) n++
    return n
  }

  /** Drops every entry carrying one of these tags (qualified by tenant); returns how many. */
  deleteTagged(tenant: string, tags: readonly string[]): number {
    let n = 0
    for (const tag of tags) {
      const set = this.#byTag.get(tenant + SEP + tag)
      if (!set) continue
      for (const key of [...set]) if (this.#lru.delete(key)) n++
    }
    return n
  }

  clear(tenant?: string): number {
    if (tenant === undefined) {
      const n = this.#lru.size
      this.#lru.clear()
      this.#byTag.clear()
      return n
    }
    const prefix = tenant + SEP
    let n = 0
    for (const key of [...this.#lru.keys()]) if (key.startsWith(prefix) && this.#lru.delete(key)) n++
    return n
  }

  keys(tenant: string, prefix: string, opts: { cursor?: string; limit: number }): { keys: string[]; cursor?: string } {
    const qprefix = tenant + SEP + prefix
    const all: string[] = []
    for (const key of this.#lru.keys()) if (key.startsWith(qprefix)) all.push(key.slice(tenant.length + 1))
    all.sort()
    const start = opts.cursor === undefined ? 0 : all.findIndex((k) => k > (opts.cursor as string))
    if (start < 0) return { keys: [] }
    const page = all.slice(start, start + opts.limit)
    return page.length === opts.limit && start + opts.limit < all.length ? { keys: page, cursor: page[page.length - 1] } : { keys: page }
  }

  size(): { entries: number; bytes: number } {
    return { entries: this.#lru.size, bytes: this.#lru.calculatedSize }
  }

  applyInvalidation(_entry: LogEntry): void {
    // The engine applies invalidations to L1 itself (epochs + deleteTagged).
  }

  close(): void {
    this.#lru.clear()
    this.#byTag.clear()
  }
}

export function memoryStore(options?: MemoryStoreOptions): MemoryStore {
  return new MemoryStore(options)
}
