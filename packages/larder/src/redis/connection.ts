import { Cluster, Redis, type RedisOptions } from 'ioredis'
import { LarderError } from '../core/errors.ts'

/** Either a single-node client or a Cluster client; both speak the same commands. */
export type RedisClient = Redis | Cluster

export interface ConnectionOptions {
  /** Single node, e.g. `redis://127.0.0.1:6379` (`rediss://` for TLS). */
  url?: string
  /** Redis Cluster seed nodes, e.g. `['redis://127.0.0.1:7000', 'redis://127.0.0.1:7001']`. */
  cluster?: readonly string[]
  /** An ioredis client you built yourself (it is not closed by Larder). */
  client?: RedisClient
  /** Extra ioredis options for clients Larder builds. */
  redisOptions?: RedisOptions
}

// Why these ioredis settings: commands are bounded by our own timeout + circuit breaker,
// so ioredis must not hold them for long either. maxRetriesPerRequest 0 fails a command
// at the first lost connection instead of re-sending it after reconnects; the offline
// queue stays on so commands issued during the initial connect are not refused.
const BASE: RedisOptions = { maxRetriesPerRequest: 0, enableOfflineQueue: true, connectTimeout: 2000, retryStrategy: (n) => Math.min(50 * 2 ** n, 1000) }

export function isCluster(c: RedisClient): c is Cluster {
  return (c as Cluster).isCluster === true
}

/**
 * Builds (or adopts) a client; `owned` tells whether close() should quit it.
 * `commandTimeout` (single node only) makes ioredis bound each command itself; `timed`
 * says whether that happened (a Cluster queues commands before a node is chosen, so there
 * we keep our own timer).
 */
export function connect(opts: ConnectionOptions, what: string, commandTimeout?: number): { client: RedisClient; owned: boolean; timed: boolean } {
  const given = [opts.url, opts.cluster, opts.client].filter((x) => x !== undefined).length
  if (given !== 1) throw new LarderError('E_INVALID_OPTION', `${what}: give exactly one of url, cluster or client`)
  if (opts.client) return { client: opts.client, owned: false, timed: false }
  const redisOptions = { ...BASE, ...opts.redisOptions }
  if (opts.url !== undefined) {
    if (typeof opts.url !== 'string' || !/^rediss?:\/\//.test(opts.url)) throw new LarderError('E_INVALID_OPTION', `${what}: url must start with redis:// or rediss://`)
    const timed = commandTimeout !== undefined && opts.redisOptions?.commandTimeout === undefined
    return { client: new Redis(opts.url, timed ? { ...redisOptions, commandTimeout } : redisOptions), owned: true, timed }
  }
  const seeds = opts.cluster as readonly string[]
  if (!Array.isArray(seeds) || seeds.length === 0) throw new LarderError('E_INVALID_OPTION', `${what}: cluster must be a non-empty array of redis:// urls`)
  const nodes = seeds.map((u) => {
    const url = new URL(u)
    return { host: url.hostname, port: Number(url.port || 6379) }
  })
  return { client: new Cluster(nodes, { redisOptions, clusterRetryStrategy: (n) => Math.min(100 * 2 ** n, 2000), enableOfflineQueue: true }), owned: true, timed: false }
}

/** A second connection to the same server(s), for blocking reads. */
export function duplicate(client: RedisClient): RedisClient {
  return isCluster(client) ? client.duplicate() : client.duplicate()
}

export async function quit(client: RedisClient): Promise<void> {
  try {
    await Promise.race([client.quit(), new Promise((r) => setTimeout(r, 500).unref())])
  } catch {}
  client.disconnect()
}
