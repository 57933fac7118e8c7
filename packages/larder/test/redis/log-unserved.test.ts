/**
 * An instance whose redisLog reads only some tenants' partitions (`tenants`) never hears the
 * other tenants' invalidations. It must still never answer such a tenant stale: its L1 keeps
 * none of their entries and its L2 reads of them are checked by Redis (the READ script), not
 * against local epochs that never saw their invalidations (docs/scale.md, "Tenant routing").
 */
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createCache } from '../../src/index.ts'
import { redisLog, redisStore } from '../../src/redis/index.ts'
import { partitionOf } from '../../src/redis/log-partitions.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'

let redis: RedisServerHandle
before(async () => {
  redis = await startRedis()
})
after(() => redis?.stop())

const TENANTS = ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark', 'wayne', 'tyrell']
const served = TENANTS[0] as string
const other = TENANTS.find((t) => partitionOf(t, 2) !== partitionOf(served, 2)) as string

function instance(tenants?: string[]) {
  const log = redisLog({ url: redis.url, stream: 'unserved', partitions: 2, ...(tenants ? { tenants } : {}) })
  return createCache({ l2: redisStore({ url: redis.url, log }), log })
}

test("an instance reading only some tenants' partitions never serves another tenant's invalidated value", async () => {
  const routed = instance([served])
  const writer = instance()
  try {
    await Promise.all([routed.log.whenInitialized?.(), writer.log.whenInitialized?.()])
    assert.equal(routed.log.serves?.(other), false, `${other} is in the other partition`)
    let version = 1
    const load = async () => `v${version}`
    for (const tenant of [served, other]) {
      assert.equal(await routed.tenant(tenant).getOrSet('price', load, { tags: ['p'] }), 'v1')
    }
    // Another instance invalidates both tenants' entries (the routed one hears only its own).
    version = 2
    for (const tenant of [served, other]) await writer.tenant(tenant).invalidateTags(['p'])
    // The served tenant: heard through the log (awaited below through the read). The other
    // tenant: never heard here, so neither L1 nor an unchecked L2 read may answer v1.
    assert.equal(await routed.tenant(other).getOrSet('price', load, { tags: ['p'] }), 'v2', 'unserved tenant read after an invalidation elsewhere')
    assert.equal(await routed.tenant(served).getOrSet('price', load, { tags: ['p'] }), 'v2', 'served tenant: heard through its partition')
    // A value another instance writes to L2 is read exactly (checked by Redis), never an old L1 copy.
    await writer.tenant(other).set('price', 'v3', { tags: ['p'] })
    assert.equal(await routed.tenant(other).get('price'), 'v3')
  } finally {
    await routed.close()
    await writer.close()
  }
})
