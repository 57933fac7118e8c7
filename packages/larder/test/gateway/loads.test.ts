// An origin fetch that fills the gateway's cache is a load: counted in stats and timed on
// the load channel (it used to report `loads 0` against every miss).
import assert from 'node:assert/strict'
import diagnostics_channel from 'node:diagnostics_channel'
import { after, before, describe, it } from 'node:test'
import { get, type Rig, startRig } from './helpers.ts'

describe('gateway loads', () => {
  let rig: Rig
  const loads: { tenant: string; key: string; durationMs: number }[] = []
  const onLoad = (m: unknown) => loads.push(m as (typeof loads)[number])
  before(async () => {
    diagnostics_channel.subscribe('larder:cache:load', onLoad)
    rig = await startRig((req, res) => {
      if (req.url?.startsWith('/private')) {
        res.writeHead(200, { 'cache-control': 'no-store' })
        return res.end('no')
      }
      res.writeHead(200, { 'cache-control': 'public, max-age=60', 'content-type': 'text/plain' })
      res.end(`page ${req.url}`)
    })
  })
  after(async () => {
    diagnostics_channel.unsubscribe('larder:cache:load', onLoad)
    await rig?.close()
  })

  it('each miss that stores is one load with its duration; hits and uncacheable answers are not loads', async () => {
    const h = { 'x-tenant-id': 'acme' }
    for (const p of ['/p/1', '/p/2', '/p/3']) assert.equal((await get(`${rig.base}${p}`, h)).headers.get('x-cache'), 'MISS')
    assert.equal((await get(`${rig.base}/p/1`, h)).headers.get('x-cache'), 'HIT')
    await get(`${rig.base}/private`, h)
    const stats = rig.cache.stats()
    assert.equal(stats.tenants.acme?.loads, 3)
    const mine = loads.filter((l) => l.tenant === 'acme')
    assert.equal(mine.length, 3)
    for (const l of mine) assert.ok(Number.isFinite(l.durationMs) && l.durationMs >= 0)
  })
})
