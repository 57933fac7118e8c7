// Issue 11 item 5: the gateway's SSE stream. With a stream secret, anonymous streams are
// refused unless allowed explicitly; a token's tenant wins over any header; anonymous
// streams never get `notify` payloads unless the rule marks them public.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { signStreamToken } from '../../src/realtime/index.ts'
import { freePort } from '../../src/testing/servers.ts'
import { ofType, openStream } from '../realtime/helpers.ts'
import { ADMIN, get, type Origin, runGateway, startOrigin } from './helpers.ts'

const SECRET = 'stream-secret-0123456789'

/** The gateway with no stream settings from this process's environment. */
function run(args: string[], env: Record<string, string> = {}) {
  return runGateway(args, { LARDER_STREAM_SECRET: '', LARDER_STREAM_ANONYMOUS: '', ...env })
}

const RULES = `tenant_header: x-tenant-id
rules:
  events:
    order.placed:
      fields: [orderId]
      invalidate: ["order:{orderId}"]
      notify: ["order-status:{orderId}"]
    stock.changed:
      fields: [productId]
      notify: ["stock:{productId}"]
      notify_public: true
`

describe('larder gateway: stream tokens and anonymous streams', () => {
  let origin: Origin
  let dir: string
  let config: string
  before(async () => {
    origin = await startOrigin((_req, res) => res.end('ok'))
    dir = mkdtempSync(join(tmpdir(), 'larder-stream-'))
    config = join(dir, 'larder.yaml')
    writeFileSync(config, RULES)
  })
  after(async () => {
    await origin.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const publish = (port: number, event: unknown) =>
    get(`http://127.0.0.1:${port}/_larder/events`, { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, 'POST', JSON.stringify(event))

  it('--stream-secret refuses anonymous streams; the token decides the tenant, whatever the header says', async () => {
    const port = await freePort()
    const gw = run(['--origin', origin.url, '--port', String(port), '--config', config, '--stream-secret', SECRET], { LARDER_ADMIN_TOKEN: ADMIN })
    await gw.ready
    try {
      const anon = await openStream(port, '?topics=*', { 'x-tenant-id': 'globex' })
      assert.equal(anon.status, 401)
      assert.match(anon.body, /needs a signed \?token=/)
      assert.equal(anon.headers['www-authenticate'], 'Bearer')
      const tok = signStreamToken(SECRET, { tenant: 'acme' })
      // Even a header the tenant resolver refuses does not stand in the way of a token.
      const odd = await openStream(port, `?topics=*&token=${tok}`, { 'x-tenant-id': '@globex' })
      assert.equal(odd.status, 200)
      odd.close()
      assert.equal((await get(`http://127.0.0.1:${port}/_larder/stream?topics=*`, { 'x-tenant-id': '@globex' }, 'HEAD')).status, 401)
      assert.equal((await get(`http://127.0.0.1:${port}/_larder/elsewhere`, { 'x-tenant-id': '@globex' })).status, 400, 'never proxied without a tenant')
      const s = await openStream(port, `?topics=*&token=${tok}`, { 'x-tenant-id': 'globex' })
      assert.equal(s.status, 200)
      await s.waitFor((es) => es.some(ofType('ready')))
      assert.equal((await publish(port, { type: 'order.placed', tenant: 'globex', id: 'g1', data: { orderId: 1, email: 'g@globex.test' } })).status, 200)
      assert.equal((await publish(port, { type: 'order.placed', tenant: 'acme', id: 'a1', data: { orderId: 2, email: 'a@acme.test' } })).status, 200)
      await s.waitFor((es) => es.some((e) => e.type === 'update' && e.data.includes('order-status:2')))
      const text = JSON.stringify(s.events)
      assert.ok(!text.includes('globex'), `globex leaked into acme's stream: ${text}`)
      assert.ok(text.includes('a@acme.test'), 'a token stream gets its tenant\'s notify payloads')
      s.close()
    } finally {
      gw.child.kill('SIGTERM')
    }
    assert.equal(await gw.exit, 0)
  })

  it('--stream-anonymous: anonymous streams get invalidations and public live values, never private notify payloads', async () => {
    const port = await freePort()
    const gw = run(['--origin', origin.url, '--port', String(port), '--config', config, '--stream-anonymous'], { LARDER_ADMIN_TOKEN: ADMIN, LARDER_STREAM_SECRET: SECRET })
    await gw.ready
    try {
      const anon = await openStream(port, '?topics=*', { 'x-tenant-id': 'acme' })
      assert.equal(anon.status, 200)
      await anon.waitFor((es) => es.some(ofType('ready')))
      await publish(port, { type: 'order.placed', tenant: 'acme', id: 'o1', data: { orderId: 7, email: 'customer@example.test' } })
      await publish(port, { type: 'stock.changed', tenant: 'acme', id: 's1', data: { productId: 42, qty: 3 } })
      // The later public value arriving means the earlier private one was skipped, not late.
      await anon.waitFor((es) => es.some((e) => e.type === 'update' && e.data.includes('stock:42')))
      const text = JSON.stringify(anon.events)
      assert.ok(!text.includes('customer@example.test'), `a private notify payload reached an anonymous stream: ${text}`)
      assert.ok(anon.events.some((e) => e.type === 'invalidate' && e.data.includes('order:7')), 'invalidations (tags only) still reach anonymous streams')
      anon.close()
    } finally {
      gw.child.kill('SIGTERM')
    }
    assert.equal(await gw.exit, 0)
  })

  it('config stream: { anonymous: false } without a secret is refused at start-up', async () => {
    const bad = join(dir, 'bad.yaml')
    writeFileSync(bad, 'stream:\n  anonymous: false\n')
    const gw = run(['--origin', origin.url, '--port', '0', '--config', bad])
    assert.equal(await gw.exit, 2)
    assert.match(gw.out(), /no --stream-secret/)
  })
})
