import assert from 'node:assert/strict'
import diagnostics_channel from 'node:diagnostics_channel'
import { after, before, describe, test } from 'node:test'
import { isLarderError } from '../../src/core/errors.ts'
import { qualify } from '../../src/core/keys.ts'
import type { StoredEntry } from '../../src/core/types.ts'
import { redisStore } from '../../src/redis/index.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { type TcpProxy, tcpProxy, until, withAdmin } from './helpers.ts'

function entry(v: unknown, over: Partial<StoredEntry> = {}): StoredEntry {
  const now = Date.now()
  return { v, tags: [], began: 1, at: now, staleAt: now + 60_000, expireAt: now + 120_000, ...over }
}

describe('redisStore under faults', () => {
  test('a paused (SIGSTOP) Redis: calls time out, the breaker opens and fails fast, a half-open probe closes it after resume', async () => {
    const redis = await startRedis()
    const store = redisStore({ url: redis.url, timeout: '100ms', failureThreshold: 3, cooldown: '200ms' })
    const states: string[] = []
    const onBreaker = (m: unknown) => {
      const { name, state } = m as { name: string; state: string }
      if (name === store.breaker.name) states.push(state)
    }
    diagnostics_channel.subscribe('larder:breaker', onBreaker)
    try {
      // Setup on a loaded machine: the first call (which also connects) may itself time out.
      await until(async () => (await store.set(qualify('t', 'k'), entry('v')).catch(() => false)) === true, 10_000, 'setup write')
      states.length = 0
      redis.pause()
      for (let i = 0; i < 3; i++) {
        const started = Date.now()
        await assert.rejects(store.get(qualify('t', 'k')), (e) => isLarderError(e, 'E_STORE_TIMEOUT'))
        assert.ok(Date.now() - started < 1000, 'no call waits past its timeout')
      }
      assert.equal(store.breaker.state, 'open')
      const started = Date.now()
      await assert.rejects(store.get(qualify('t', 'k')), (e) => isLarderError(e, 'E_STORE_UNAVAILABLE'))
      assert.ok(Date.now() - started < 100, 'an open circuit fails fast (well under the 100 ms timeout)')
      redis.resume()
      // After the cooldown one probe goes through; it succeeds and closes the circuit.
      await until(async () => (await store.get(qualify('t', 'k')).catch(() => undefined))?.v === 'v', 5000, 'recovery')
      assert.equal(store.breaker.state, 'closed')
      assert.deepEqual(states.slice(0, 2), ['open', 'half-open'])
      assert.equal(states[states.length - 1], 'closed')
    } finally {
      diagnostics_channel.unsubscribe('larder:breaker', onBreaker)
      redis.resume()
      await store.close()
      await redis.stop()
    }
  })

  test('a killed Redis: calls fail fast with a store error, and work again after restart', async () => {
    const redis = await startRedis()
    const store = redisStore({ url: redis.url, timeout: '200ms', failureThreshold: 100 })
    try {
      await until(async () => (await store.set(qualify('t', 'k'), entry('v')).catch(() => false)) === true, 10_000, 'setup write')
      await redis.kill()
      const started = Date.now()
      await assert.rejects(store.get(qualify('t', 'k')), (e) => isLarderError(e, 'E_STORE_UNAVAILABLE') || isLarderError(e, 'E_STORE_TIMEOUT'))
      assert.ok(Date.now() - started < 1000)
      await redis.restart()
      await until(async () => (await store.set(qualify('t', 'k'), entry('after')).catch(() => false)) === true, 5000, 'reconnect')
      assert.equal((await store.get(qualify('t', 'k')))?.v, 'after')
    } finally {
      await store.close()
      await redis.stop()
    }
  })

  describe('error replies', () => {
    let redis: RedisServerHandle
    before(async () => {
      redis = await startRedis()
    })
    after(() => redis.stop())

    test('-OOM: writes fail with a clear store error, reads keep working, nothing is corrupted', async () => {
      const store = redisStore({ url: redis.url })
      try {
        await store.set(qualify('t', 'k'), entry('kept'))
        await withAdmin(redis.port, async (r) => {
          await r.config('SET', 'maxmemory-policy', 'noeviction')
          await r.config('SET', 'maxmemory', '1')
        })
        await assert.rejects(store.set(qualify('t', 'k'), entry('new')), (e) => isLarderError(e, 'E_STORE_UNAVAILABLE') && /OOM/.test((e as Error).message))
        assert.equal((await store.get(qualify('t', 'k')))?.v, 'kept', 'reads are no-writes scripts: allowed under OOM')
        await withAdmin(redis.port, (r) => r.config('SET', 'maxmemory', '0'))
        assert.equal(await store.set(qualify('t', 'k'), entry('new')), true)
        assert.equal((await store.get(qualify('t', 'k')))?.v, 'new')
      } finally {
        await withAdmin(redis.port, (r) => r.config('SET', 'maxmemory', '0'))
        await store.close()
      }
    })

    test('-READONLY (a replica): writes and invalidations fail clearly; reads are refused until queued invalidations are replayed', async () => {
      const master = await startRedis()
      const store = redisStore({ url: redis.url })
      try {
        await store.set(qualify('t', 'k'), entry('v', { tags: ['p:1'], began: 5 }))
        await withAdmin(redis.port, (r) => r.call('REPLICAOF', '127.0.0.1', String(master.port)))
        // A replica refuses writes (-READONLY) from the moment it is one.
        await assert.rejects(store.set(qualify('t', 'x'), entry('v')), (e) => isLarderError(e, 'E_STORE_UNAVAILABLE') && /READONLY/.test((e as Error).message))
        await assert.rejects(store.applyInvalidation({ id: 10, tenant: 't', kind: 'hard', tags: ['p:1'], at: 0 }), (e) => isLarderError(e, 'E_STORE_UNAVAILABLE'))
        assert.equal(store.pendingInvalidations(), 1)
        await assert.rejects(store.get(qualify('t', 'k')), (e) => isLarderError(e, 'E_STORE_UNAVAILABLE') && /replay/.test((e as Error).message))
        await withAdmin(redis.port, (r) => r.call('REPLICAOF', 'NO', 'ONE'))
        // The replica took the master's (empty) data set; put an old entry back to check the fence.
        await withAdmin(redis.port, (r) => r.set('lr:{dA}:k:k', JSON.stringify([1, 5, Date.now(), Date.now() + 60_000, Date.now() + 60_000, -1, Buffer.from('p:1').toString('base64url'), 'old'])))
        assert.equal(await store.get(qualify('t', 'k')), undefined, 'the replayed invalidation fences the old entry')
        assert.equal(store.pendingInvalidations(), 0)
        assert.equal(await store.set(qualify('t', 'k2'), entry('late', { tags: ['p:1'], began: 9 })), false)
      } finally {
        await withAdmin(redis.port, (r) => r.call('REPLICAOF', 'NO', 'ONE')).catch(() => {})
        await store.close()
        await master.stop()
      }
    })
  })

  describe('partition', () => {
    let redis: RedisServerHandle
    let proxy: TcpProxy
    before(async () => {
      redis = await startRedis()
      proxy = await tcpProxy(redis.port)
    })
    after(async () => {
      await proxy.close()
      await redis.stop()
    })

    test('invalidations that cannot reach Redis are queued, replayed on recovery before any read, in order', async () => {
      const store = redisStore({ url: proxy.url, timeout: '100ms', failureThreshold: 1, cooldown: '100ms' })
      const direct = redisStore({ url: redis.url })
      try {
        await direct.set(qualify('t', 'a'), entry('a', { tags: ['x'], began: 5 }))
        await direct.set(qualify('t', 'b'), entry('b', { began: 5 }))
        proxy.cut()
        await assert.rejects(store.applyInvalidation({ id: 10, tenant: 't', kind: 'hard', tags: ['x'], at: 0 }))
        await store.applyInvalidation({ id: 11, tenant: 't', kind: 'hard', keys: ['b'], at: 0 }).catch(() => {})
        assert.equal(store.pendingInvalidations(), 2)
        // Other instances still see the old entries: the invalidation has not reached Redis.
        assert.equal((await direct.get(qualify('t', 'a')))?.v, 'a')
        await assert.rejects(store.get(qualify('t', 'a')), (e) => isLarderError(e, 'E_STORE_UNAVAILABLE'))
        proxy.heal()
        await until(async () => store.pendingInvalidations() === 0 || ((await store.get(qualify('t', 'a')).catch(() => 'err')) as unknown) !== 'err', 5000, 'replay')
        assert.equal(store.pendingInvalidations(), 0)
        assert.equal(await direct.get(qualify('t', 'a')), undefined)
        assert.equal(await direct.get(qualify('t', 'b')), undefined)
        assert.equal(await direct.set(qualify('t', 'b'), entry('late', { began: 10 })), false, 'the key fence was replayed too')
      } finally {
        proxy.heal()
        await store.close()
        await direct.close()
      }
    })
  })
})
