import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { type TcpProxy, tcpProxy, until, withAdmin } from './helpers.ts'

/** A master and a replica (REPLICAOF through a proxy, so a test can cut or slow the replication link). */
export interface Pair {
  master: RedisServerHandle
  replica: RedisServerHandle
  link: TcpProxy
  stop(): Promise<void>
}

export async function masterAndReplica(options: { delayMs?: number } = {}): Promise<Pair> {
  const master = await startRedis()
  const link = await tcpProxy(master.port, options)
  const replica = await startRedis({ args: ['--replicaof', '127.0.0.1', String(link.port)] })
  await until(async () => (await withAdmin(replica.port, (r) => r.call('INFO', 'replication') as Promise<string>)).includes('master_link_status:up'), 15_000, 'replica in sync')
  return {
    master,
    replica,
    link,
    async stop() {
      await link.close()
      await Promise.all([replica.stop(), master.stop()])
    },
  }
}
