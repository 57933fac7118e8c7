import { type Cache, createCache, memoryStore, type Store } from 'larder'
for (let depth = 0; depth < 2; depth++) {
const inner = memoryStore()
let armed = false
let flood: Promise<unknown> | undefined
let cache!: Cache
const l2: Store = {
  name: 'wrapped', shared: false,
  get: (k) => {
    const got = inner.get(k)
    if (armed) {
      armed = false
      let p = Promise.resolve()
      for (let i = 0; i < depth; i++) p = p.then(() => {})
      flood = p.then(() => { console.log('flood'); return Promise.all([cache.tenant('a').invalidateTags(['p']), cache.tenant('x').invalidateTags(['t']), cache.tenant('y').invalidateTags(['t'])])})
    }
    return Promise.resolve(got)
  },
  getMany: (ks) => inner.getMany(ks), set: (k, e) => inner.set(k, e), setMany: (items) => inner.setMany(items),
  delete: (ks) => inner.delete(ks), clear: (t) => inner.clear(t), close: () => inner.close(),
}
cache = createCache({ l1: { maxEntries: 1 }, l2, epochs: { maxTenants: 1 } })
const a = cache.tenant('a')
await a.set('k', 'old', { tags: ['p'] })
await cache.tenant('b').set('k', 'B')
armed = true
console.log(depth, await a.getOrSet('k', () => 'loaded'), cache.l1.hasTenant('a'))
await flood
console.log(depth, await a.getOrSet('k', () => 'new'), cache.stats().tenants.a)
}
