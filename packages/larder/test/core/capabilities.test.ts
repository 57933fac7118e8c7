import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { createCache, type InvalidationLog, MemoryLog, MemoryStore, type Store } from 'larder'

/** Optional capabilities of stores and logs are members of their interfaces (core/types.ts), not found by name or cast. */
describe('optional store and log capabilities', () => {
  class SharedMemoryLog extends MemoryLog {
    override readonly shared = true
    readied = 0
    async ready(): Promise<void> {
      this.readied++
    }
  }
  class FollowingStore extends MemoryStore implements Store {
    attached: { log: InvalidationLog; options: { maxStaleness?: number } }[] = []
    attachLog(log: InvalidationLog, options: { maxStaleness?: number }): void {
      this.attached.push({ log, options })
    }
  }

  test('a store with attachLog follows a log that says it is shared, whatever the log is named', async () => {
    const log = new SharedMemoryLog()
    const l2 = new FollowingStore()
    const cache = createCache({ l2, log, defaults: { maxStaleness: '3s' } })
    assert.equal(l2.attached.length, 1)
    assert.equal(l2.attached[0]?.log, log)
    assert.equal(l2.attached[0]?.options.maxStaleness, 3000)
    assert.equal(log.readied, 1, 'ready() is called when the log has it')
    await cache.close()
  })

  test('an in-process log (shared absent or false) is not followed', async () => {
    const l2 = new FollowingStore()
    const cache = createCache({ l2, log: new MemoryLog() })
    assert.deepEqual(l2.attached, [])
    await cache.close()
  })

  test('the cache exposes its tiers as typed members', async () => {
    const l2 = new FollowingStore()
    const cache = createCache({ l2 })
    assert.equal(cache.l2, l2)
    assert.ok(cache.l1 instanceof MemoryStore)
    await cache.close()
  })
})
