/**
 * Redis Cluster hash slots (CRC16/XMODEM of the hash tag, mod 16384), used to find the
 * node that owns a tenant when we must talk to one node directly (SCAN).
 * Spec: https://redis.io/docs/reference/cluster-spec/#hash-tags
 * @module
 */
import type { Cluster, Redis } from 'ioredis'

const TABLE = (() => {
  const t = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i << 8
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff
    t[i] = c
  }
  return t
})()

export function slotOf(key: string): number {
  const open = key.indexOf('{')
  if (open >= 0) {
    const close = key.indexOf('}', open + 1)
    if (close > open + 1) key = key.slice(open + 1, close)
  }
  let crc = 0
  for (const byte of Buffer.from(key, 'utf8')) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] as number)
  return crc % 16384
}

/** The master connection that owns `key` in a Cluster. */
export function nodeFor(cluster: Cluster, key: string): Redis {
  const owner = cluster.slots[slotOf(key)]?.[0]
  const masters = cluster.nodes('master')
  const node = masters.find((n) => `${n.options.host}:${n.options.port}` === owner)
  if (!node) throw new Error(`no master known for slot ${slotOf(key)}`)
  return node
}
