import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { ADMIN, get, type Rig, startRig } from './helpers.ts'

// Invariant 1: a response whose origin fetch began before an acknowledged invalidation is
// never written back into the cache (reported by the B8 storefront run).
describe('gateway store fence', () => {
  let rig: Rig
  let version = 1
  let hold: Promise<void> | undefined
  let arrived: (() => void) | undefined
  before(async () => {
    rig = await startRig((req, res) => {
      const v = version
      const answer = () => {
        res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': 'p:1' })
        res.end(`${req.url} v${v}`)
      }
      arrived?.()
      if (hold) hold.then(answer)
      else answer()
    })
  })
  after(() => rig.close())

  async function race(purge: () => Promise<unknown>, path: string): Promise<void> {
    version = 1
    let release!: () => void
    hold = new Promise((r) => {
      release = r
    })
    const reached = new Promise<void>((r) => {
      arrived = r
    })
    // The fetch reads v1 at the origin, then stalls …
    const slow = get(`${rig.base}${path}`)
    await reached
    // … the data changes and the purge is acknowledged …
    version = 2
    await purge()
    hold = undefined
    arrived = undefined
    // … then the stale v1 answer arrives. The client of that request gets it; the cache must not keep it.
    release()
    assert.equal((await slow).text, `${path} v1`)
    const next = await get(`${rig.base}${path}`)
    assert.equal(next.text, `${path} v2`)
  }

  it('a purge by surrogate key during the fetch prevents the store', async () => {
    await race(() => rig.gw.http.purge('default', { tags: ['p:1'] }), '/a')
  })

  it('a purge by URL through the API during the fetch prevents the store', async () => {
    await race(
      () => get(`${rig.base}/_larder/purge`, { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ urls: ['/b'] })),
      '/b',
    )
  })

  it('an unrelated purge does not prevent the store', async () => {
    version = 1
    let release!: () => void
    hold = new Promise((r) => {
      release = r
    })
    const reached = new Promise<void>((r) => {
      arrived = r
    })
    const slow = get(`${rig.base}/c`)
    await reached
    await rig.gw.http.purge('default', { tags: ['other'] })
    await rig.gw.http.purge('acme', { tags: ['p:1'] })
    hold = undefined
    arrived = undefined
    release()
    await slow
    assert.equal((await get(`${rig.base}/c`)).headers.get('x-cache'), 'HIT')
  })
})
