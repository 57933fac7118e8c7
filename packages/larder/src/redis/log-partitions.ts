/**
 * The layout of a partitioned invalidation log (`redisLog({ partitions: N })`): which
 * stream a tenant's entries go to, where each stream lives, and the record that pins the
 * partition count so a fleet never mixes two layouts. See docs/scale.md.
 * @module
 */
import { LarderError } from '../core/errors.ts'
import type { RedisClient } from './connection.ts'
import { b64, logKeys, ROOT } from './keyspace.ts'
import type { LogKeys } from './log-stream.ts'
import { slotOf } from './slot.ts'

/** Most partitions a log may have. */
export const MAX_PARTITIONS = 256
const SLOTS = 16384

/**
 * The partition of a tenant: CRC16 of the tenant id (the Cluster's own hash) modulo the
 * partition count. Pure and documented, so a load balancer can route tenants to the
 * instances that read their partition (docs/scale.md, "Tenant routing").
 */
export function partitionOf(tenant: string, partitions: number): number {
  return partitions <= 1 ? 0 : slotOf(`{${tenant}}`) % partitions
}

/** The tag every key of the unpartitioned log (and the partition record) shares. */
function baseTag(name: string | undefined): string {
  return name === undefined ? 'log' : b64(name)
}

/**
 * Keys of partition `i` of `n`. With one partition: the unpartitioned log's keys (so a
 * single-stream log is partitions: 1). Otherwise the hash tag `<name>:p<i>-<k>`, with the
 * smallest k that puts it in the i-th n-th of the slot range: a Cluster whose slots are
 * split evenly over its masters (what `redis-cli --cluster create` does) then holds
 * partition i on master i·masters/n, so n = masters gives each master one partition.
 */
export function partitionKeys(name: string | undefined, i: number, n: number): LogKeys {
  if (n <= 1) return logKeys(name)
  const lo = Math.floor((i * SLOTS) / n)
  const hi = Math.floor(((i + 1) * SLOTS) / n)
  for (let k = 0; ; k++) {
    const tag = `${baseTag(name)}:p${i}-${k}`
    const slot = slotOf(tag)
    if (slot >= lo && slot < hi) {
      const prefix = `${ROOT}{${tag}}:`
      return { stream: `${prefix}stream`, seq: `${prefix}seq`, since: `${prefix}since`, dedup: `${prefix}u:` }
    }
  }
}

/** Checks the `partitions` option. */
export function partitionCount(n: number | undefined): number {
  const v = n ?? 1
  if (!Number.isInteger(v) || v < 1 || v > MAX_PARTITIONS) throw new LarderError('E_INVALID_OPTION', `partitions must be an integer from 1 to ${MAX_PARTITIONS}, got ${String(n)}`)
  return v
}

/** The key recording the partition count of log `name` (in the unpartitioned log's slot). */
export function partitionRecordKey(name: string | undefined): string {
  return `${ROOT}{${baseTag(name)}}:partitions`
}

/**
 * Records `n` as the log's partition count if none is recorded, and answers the error to
 * refuse with when another count is: a tenant's entries would otherwise land in two
 * streams and lose their order. A log that was run before the record existed counts as
 * its first instance's setting (1 for every older Larder).
 */
export async function pinPartitions(client: RedisClient, name: string | undefined, n: number): Promise<LarderError | undefined> {
  const key = partitionRecordKey(name)
  await client.set(key, String(n), 'NX')
  const recorded = Number(await client.get(key))
  if (recorded === n) return undefined
  return new LarderError(
    'E_INVALID_OPTION',
    `redisLog: this log (stream ${JSON.stringify(name ?? 'log')}) runs with partitions: ${recorded}, this instance was started with partitions: ${n}. ` +
      'Every instance of a fleet must use the same count; to change it, follow docs/scale.md ("Changing the partition count").',
  )
}
