import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { InvalidationLog, LogEntry, LogSubscriber } from '../../src/core/types.ts'
import { LocalEpochs } from '../../src/redis/local-epochs.ts'
import { partitionOf } from '../../src/redis/log-partitions.ts'

// The plain-GET watermark on a partitioned log: entries lost in one partition's gap have
// smaller ids than what *that* partition delivers after it, not than what the others do.
// A scripted log (not Redis): this checks LocalEpochs' rule, the Redis side is in log-partitions.test.ts.
test('after a gap in one partition, the watermark waits for an entry of that partition, not of another', async () => {
  let sub: LogSubscriber | undefined
  let last = 1000
  const log = {
    name: 'scripted',
    partitions: 3,
    partitionOf: (t: string) => partitionOf(t, 3),
    lastId: () => last,
    whenInitialized: () => Promise.resolve(),
    subscribe(s: LogSubscriber) {
      sub = s
      return () => {}
    },
  } as unknown as InvalidationLog
  const local = new LocalEpochs(log, 1000)
  await Promise.resolve()
  assert.equal(local.watermark, 1000)
  const tenantIn = (p: number) => ['acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'].find((t) => partitionOf(t, 3) === p) as string
  const entry = (tenant: string, id: number): LogEntry => ({ id, tenant, kind: 'hard', tags: ['x'], at: 0 })
  sub?.gap({ reason: 'trimmed', partition: 1 })
  assert.equal(local.watermark, Number.MAX_SAFE_INTEGER, 'nothing vouched for after a gap')
  last = 5000
  sub?.entries([entry(tenantIn(0), 5000)])
  assert.equal(local.watermark, Number.MAX_SAFE_INTEGER, 'an entry of another partition says nothing about what partition 1 lost')
  last = 5001
  sub?.entries([entry(tenantIn(1), 1200)])
  assert.equal(local.watermark, 5001, 'the gapped partition delivered past its gap')
  // A gap without a partition (all of them) needs every partition to deliver again.
  sub?.gap({ reason: 'restarted' })
  for (const p of [0, 1]) sub?.entries([entry(tenantIn(p), 6000 + p)])
  assert.equal(local.watermark, Number.MAX_SAFE_INTEGER)
  sub?.entries([entry(tenantIn(2), 6002)])
  assert.equal(local.watermark, 5001)
})
