import { type RedisLogOptions, redisLog } from 'larder/redis'
import { logConformance, type RedisClusterHandle, type RedisServerHandle, startRedis, startRedisCluster } from 'larder/testing'
import { masterAndReplica, type Pair } from './replica-pair.ts'

// One server per suite (each suite's cleanup stops it; the next starts its own).
let redis: RedisServerHandle | undefined
let n = 0
const server = async () => {
  redis ??= await startRedis()
  return redis
}
const stopServer = async () => {
  await redis?.stop()
  redis = undefined
}

/** A fresh log on its own stream, and a pair of instances sharing one, with these options. */
function suite(name: string, where: () => Promise<{ url: string } | { cluster: string[] }>, options: Partial<RedisLogOptions>, cleanup: () => Promise<void>, pair = true): void {
  logConformance(
    name,
    async () => redisLog({ ...(await where()), ...options, stream: `conf-${++n}`, timeout: '2s' }),
    cleanup,
    pair
      ? {
          makePair: async () => {
            const at = await where()
            const stream = `conf-pair-${++n}`
            return [redisLog({ ...at, ...options, stream, source: 'A', timeout: '2s' }), redisLog({ ...at, ...options, stream, source: 'B', timeout: '2s' })]
          },
        }
      : {},
  )
}

suite('redis (Redis Streams)', async () => ({ url: (await server()).url }), {}, stopServer)
suite('redis, partitions: 3', async () => ({ url: (await server()).url }), { partitions: 3 }, stopServer)

let replicated: Pair | undefined
const withReplica = async () => {
  replicated ??= await masterAndReplica()
  return replicated
}
logConformance(
  'redis, reads from a replica',
  async () => {
    const p = await withReplica()
    return redisLog({ url: p.master.url, replica: p.replica.url, stream: `conf-${++n}`, timeout: '2s' })
  },
  async () => {
    await replicated?.stop()
  },
  {
    makePair: async () => {
      const p = await withReplica()
      const stream = `conf-pair-${++n}`
      return [redisLog({ url: p.master.url, replica: p.replica.url, stream, source: 'A', timeout: '2s' }), redisLog({ url: p.master.url, replica: p.replica.url, stream, source: 'B', timeout: '2s' })]
    },
  },
)

let cluster: RedisClusterHandle | undefined
const clusterUrls = async () => {
  cluster ??= await startRedisCluster({ masters: 3 })
  return { cluster: cluster.urls }
}
suite('redis cluster (Redis Streams)', clusterUrls, {}, async () => {}, false)
suite('redis cluster, partitions: 3', clusterUrls, { partitions: 3 }, async () => {
  await cluster?.stop()
})
