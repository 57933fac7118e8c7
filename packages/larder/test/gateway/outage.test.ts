// The finding this guards: two gateways on one Redis, Redis stops; a purge on A used to
// answer 200 while B kept answering the old version as a HIT for the whole outage.
// Now: A answers 202 (queued), B stops answering from L1 once maxStaleness passed without
// hearing the log (a fake clock's advance, not a sleep), serves stale only when the origin
// fails (X-Cache: STALE), and converges when Redis is back (docs/invariants.md).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Cache } from '../../src/core/api.ts'
import { createAuthorizer } from '../../src/core/auth.ts'
import { createCache } from '../../src/core/cache.ts'
import { createGateway, type Gateway } from '../../src/gateway/index.ts'
import { type RedisLog, redisLog, redisStore } from '../../src/redis/index.ts'
import { FakeClock } from '../../src/testing/fake-clock.ts'
import { startRedis } from '../../src/testing/servers.ts'
import { remoteInvalidation } from '../redis/helpers.ts'
import { ADMIN, get as rawGet, startOrigin } from './helpers.ts'

const get = (url: string, headers: Record<string, string> = {}, method?: string, body?: string) => rawGet(url, { host: 'shop.test', ...headers }, method, body)
const purge = (base: string, tags: string[]) => get(`${base}/_larder/purge`, { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ tags }))

for (const fault of ['SIGSTOP', 'SIGKILL'] as const) {
  describe(`two gateways, Redis ${fault === 'SIGSTOP' ? 'paused' : 'killed'}`, () => {
    it('purge answers 202 queued; the other gateway checks the origin after maxStaleness, STALE only when the origin fails, and converges on recovery', async () => {
      const redis = await startRedis()
      let version = 1
      let originUp = true
      const origin = await startOrigin((req, res) => {
        if (!originUp) return res.socket?.destroy()
        res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': 'shared' })
        res.end(`${req.url} v${version}`)
      })
      const clock = new FakeClock(Date.now())
      const auth = createAuthorizer([{ name: 'admin', token: ADMIN, scopes: ['admin'] }])
      const caches: Cache[] = []
      const gws: Gateway[] = []
      const bases: string[] = []
      const logs: RedisLog[] = []
      try {
        for (const id of ['a', 'b']) {
          const log = redisLog({ url: redis.url, clock, source: id, block: '50ms', timeout: '400ms', failureThreshold: 2, cooldown: '100ms' })
          const cache = createCache({ instanceId: id, clock, log, l2: redisStore({ url: redis.url, timeout: '400ms', failureThreshold: 2, cooldown: '100ms' }), defaults: { maxStaleness: '500ms' } })
          const gw = createGateway({ origin: origin.url, cache, auth, headersTimeout: 2000, http: { now: () => clock.now() } })
          bases.push(`http://127.0.0.1:${(await gw.listen(0)).port}`)
          logs.push(log)
          caches.push(cache)
          gws.push(gw)
        }
        await Promise.all(logs.map((l) => l.whenInitialized()))
        const [A, B] = bases as [string, string]
        for (const path of ['/x', '/y']) {
          await get(`${A}${path}`)
          const hit = await get(`${B}${path}`)
          assert.equal(hit.headers.get('x-cache'), 'HIT')
        }
        // Reachable log: an applied purge is a 200.
        const applied = await purge(A, ['unrelated'])
        assert.equal(applied.status, 200, applied.text)
        assert.equal(JSON.parse(applied.text).queued, undefined)

        if (fault === 'SIGSTOP') redis.pause()
        else await redis.kill()
        version = 2
        const queued = await purge(A, ['shared'])
        assert.equal(queued.status, 202, queued.text)
        assert.equal(JSON.parse(queued.text).queued, true)
        const method = await get(`${A}/x`, { authorization: `Bearer ${ADMIN}` }, 'PURGE')
        assert.equal(method.status, 202, method.text)
        assert.equal((await get(`${A}/x`)).text, '/x v2', 'applied on the gateway that took it')

        // Within maxStaleness B may answer from L1; past it, it goes to the origin.
        await clock.advance(600)
        const checked = await get(`${B}/x`)
        assert.equal(checked.text, '/x v2')
        assert.notEqual(checked.headers.get('x-cache'), 'HIT')
        // Origin down too: the old copy, marked stale.
        originUp = false
        const stale = await get(`${B}/y`)
        assert.equal(stale.status, 200)
        assert.equal(stale.text, '/y v1')
        assert.equal(stale.headers.get('x-cache'), 'STALE')
        originUp = true

        // Redis back: A replays its purge, B applies it, nothing stale is left.
        const replayed = remoteInvalidation('a')
        if (fault === 'SIGSTOP') redis.resume()
        else await redis.restart()
        await replayed
        const after = await get(`${B}/y`)
        assert.equal(after.text, '/y v2')
        const again = await get(`${B}/y`)
        assert.equal(again.text, '/y v2')
      } finally {
        redis.resume()
        for (const gw of gws) await gw.close()
        for (const c of caches) await c.close()
        await origin.close()
        await redis.stop()
      }
    })
  })
}
