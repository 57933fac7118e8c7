import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { isLarderError } from '../../src/core/errors.ts'
import { memoryRateLimiter, memorySessions, type RateLimiter, redisRateLimiter, redisSessions, type Sessions } from '../../src/redis/index.ts'
import { FakeClock } from '../../src/testing/fake-clock.ts'
import { type RedisServerHandle, startRedis } from '../../src/testing/servers.ts'
import { serverTimePasses, withAdmin } from './helpers.ts'

let redis: RedisServerHandle
before(async () => {
  redis = await startRedis()
})
after(() => redis?.stop())

// The same behaviour checks run against the Redis and the in-memory implementation.
function sessionSuite(name: string, make: (ttlMs: number) => { sessions: Sessions; expire: () => Promise<void> }) {
  describe(`sessions: ${name}`, () => {
    test('create/get/touch/destroy; ids are 256-bit CSPRNG base64url; tenants are isolated', async () => {
      const { sessions } = make(60_000)
      try {
        const id = await sessions.create('shop', { user: 7 })
        assert.match(id, /^[A-Za-z0-9_-]{43}$/)
        assert.notEqual(await sessions.create('shop', { user: 7 }), id)
        assert.deepEqual(await sessions.get('shop', id), { user: 7 })
        assert.equal(await sessions.get('other-shop', id), undefined, 'a session id is only valid in its tenant')
        assert.equal(await sessions.touch('shop', id, { user: 7, cart: [1] }), true)
        assert.deepEqual(await sessions.get('shop', id), { user: 7, cart: [1] })
        assert.equal(await sessions.destroy('shop', id), true)
        assert.equal(await sessions.get('shop', id), undefined)
        assert.equal(await sessions.touch('shop', id), false)
        for (const bad of ['', '*', 'x'.repeat(43).replace(/x/g, '*'), '../etc']) assert.equal(await sessions.get('shop', bad), undefined)
        await assert.rejects(sessions.create('shop', { big: 'x'.repeat(70_000) }), (e) => isLarderError(e, 'E_VALUE_TOO_LARGE'))
        await assert.rejects(sessions.create('shop', { n: 1n }), (e) => isLarderError(e, 'E_VALUE_NOT_SERIALIZABLE'))
      } finally {
        await sessions.close()
      }
    })

    test('sliding expiry: reading renews the session; an idle one expires', async () => {
      const { sessions, expire } = make(600)
      try {
        const kept = await sessions.create('shop', { n: 1 })
        const idle = await sessions.create('shop', { n: 2 })
        await expire() // 400 ms pass
        assert.ok(await sessions.get('shop', kept))
        await expire() // 400 ms more: idle is 800 ms old, kept was read 400 ms ago
        assert.equal(await sessions.get('shop', idle), undefined)
        assert.deepEqual(await sessions.get('shop', kept), { n: 1 })
      } finally {
        await sessions.close()
      }
    })
  })
}

sessionSuite('redis', (ttl) => ({
  sessions: redisSessions({ url: redis.url, ttl }),
  // Redis expires on its own clock: wait until that clock has moved on.
  expire: () => serverTimePasses(redis.url, 400),
}))

sessionSuite('memory', (ttl) => {
  const clock = new FakeClock(1_000_000)
  return {
    sessions: memorySessions({ ttl, clock }),
    expire: async () => {
      await clock.advance(400)
    },
  }
})

function rateSuite(name: string, make: (limit: number, windowMs: number) => { limiter: RateLimiter; advance: (ms: number) => Promise<void> }) {
  describe(`rate limiter: ${name}`, () => {
    test('sliding window: at most `limit` per window per subject and tenant; retry-after given', async () => {
      const { limiter, advance } = make(3, 300)
      try {
        for (let i = 1; i <= 3; i++) assert.deepEqual(await limiter.hit('shop', 'ip:1'), { allowed: true, count: i, retryAfterMs: 0 })
        const refused = await limiter.hit('shop', 'ip:1')
        assert.equal(refused.allowed, false)
        assert.ok(refused.retryAfterMs > 0 && refused.retryAfterMs <= 300)
        assert.equal((await limiter.hit('shop', 'ip:2')).allowed, true, 'subjects are independent')
        assert.equal((await limiter.hit('other', 'ip:1')).allowed, true, 'tenants are independent')
        assert.equal((await limiter.hit('shop', '*')).allowed, true, 'a pattern-like subject is just data')
        await advance(300)
        assert.equal((await limiter.hit('shop', 'ip:1')).allowed, true, 'the window slid')
        await assert.rejects(limiter.hit('shop', ''), (e) => isLarderError(e, 'E_INVALID_KEY'))
      } finally {
        await limiter.close()
      }
    })
  })
}

rateSuite('redis', (limit, window) => ({
  limiter: redisRateLimiter({ url: redis.url, limit, window }),
  // The window runs on the Redis server's clock (TIME): wait until it has moved on.
  advance: (ms) => serverTimePasses(redis.url, ms),
}))

rateSuite('memory', (limit, window) => {
  const clock = new FakeClock(1_000_000)
  return {
    limiter: memoryRateLimiter({ limit, window, clock }),
    advance: async (ms) => {
      await clock.advance(ms)
    },
  }
})

test('redis rate limiter fails open while Redis is unreachable (or closed when asked)', async () => {
  const own = await startRedis()
  const open = redisRateLimiter({ url: own.url, limit: 1, window: '1m', timeout: '100ms' })
  const closed = redisRateLimiter({ url: own.url, limit: 1, window: '1m', timeout: '100ms', failOpen: false })
  try {
    await withAdmin(own.port, (r) => r.ping())
    own.pause()
    assert.equal((await open.hit('shop', 'a')).allowed, true)
    await assert.rejects(closed.hit('shop', 'a'), (e) => isLarderError(e, 'E_STORE_TIMEOUT'))
  } finally {
    own.resume()
    await open.close()
    await closed.close()
    await own.stop()
  }
})
