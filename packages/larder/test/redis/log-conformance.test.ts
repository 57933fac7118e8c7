import { redisLog } from 'larder/redis'
import { logConformance, type RedisClusterHandle, type RedisServerHandle, startRedis, startRedisCluster } from 'larder/testing'

let redis: RedisServerHandle | undefined
let n = 0
const server = async () => {
  redis ??= await startRedis()
  return redis
}

logConformance(
  'redis (Redis Streams)',
  async () => redisLog({ url: (await server()).url, stream: `conf-${++n}`, timeout: '2s' }),
  async () => {
    await redis?.stop()
  },
  {
    makePair: async () => {
      const url = (await server()).url
      const stream = `conf-pair-${++n}`
      return [redisLog({ url, stream, source: 'A', timeout: '2s' }), redisLog({ url, stream, source: 'B', timeout: '2s' })]
    },
  },
)

let cluster: RedisClusterHandle | undefined
const clusterUrls = async () => {
  cluster ??= await startRedisCluster({ masters: 3 })
  return cluster.urls
}

logConformance(
  'redis cluster (Redis Streams)',
  async () => redisLog({ cluster: await clusterUrls(), stream: `conf-c-${++n}`, timeout: '2s' }),
  async () => {
    await cluster?.stop()
  },
)
