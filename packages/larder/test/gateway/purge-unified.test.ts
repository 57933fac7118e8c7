// Issue 11 item 6: one purge handler for POST /_larder/purge (through the gateway), the PURGE
// method and `larder purge`: one validation, one audit line, paths purged under the shop's host.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { pino } from 'pino'
import { createAuthorizer } from '../../src/core/auth.ts'
import { createCache } from '../../src/core/cache.ts'
import { LarderError } from '../../src/core/errors.ts'
import { MemoryLog } from '../../src/log/memory-log.ts'
import { createGateway } from '../../src/gateway/index.ts'
import { ACME, ADMIN, get, type Rig, startOrigin, startRig } from './helpers.ts'

const BIN = new URL('../../bin/larder.mjs', import.meta.url).pathname

function larder(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, LARDER_ADMIN_TOKEN: '', LARDER_SHOP_HOST: '', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })
    })
  })
}

describe('one purge handler through the gateway', () => {
  let rig: Rig
  let version = 1
  const audit: Record<string, unknown>[] = []
  before(async () => {
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const line of String(chunk).split('\n').filter(Boolean)) audit.push(JSON.parse(line))
        cb()
      },
    })
    rig = await startRig(
      (req, res) => {
        res.writeHead(200, { 'cache-control': 'max-age=600', 'surrogate-key': 'shared' })
        res.end(`${req.url} v${version}`)
      },
      { hosts: { 'shop.acme.test': 'acme' }, logger: pino({ level: 'info' }, sink) },
    )
  })
  after(() => rig.close())

  const post = (body: unknown, token = ADMIN, headers: Record<string, string> = {}) =>
    get(`${rig.base}/_larder/purge`, { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers }, 'POST', JSON.stringify(body))
  const error = (r: { text: string }) => JSON.parse(r.text).error

  it('unknown fields are a 400 naming the field, never a purge of the default tenant', async () => {
    version = 1
    await get(`${rig.base}/x`)
    assert.equal((await get(`${rig.base}/x`)).headers.get('x-cache'), 'HIT')
    const typo = await post({ tenent: 'globex', tags: ['shared'] })
    assert.equal(typo.status, 400)
    assert.match(error(typo).message, /unknown field "tenent"/)
    const pattern = await post({ pattern: '*', tags: ['shared'] })
    assert.equal(pattern.status, 400)
    assert.match(error(pattern).message, /unknown field "pattern"/)
    assert.equal((await get(`${rig.base}/x`)).headers.get('x-cache'), 'HIT', 'nothing was purged')
  })

  it('at most 1,000 items per list, as in the admin API', async () => {
    const r = await post({ tenant: 'acme', tags: Array.from({ length: 1001 }, (_, i) => `t${i}`) })
    assert.equal(r.status, 413)
    assert.match(error(r).message, /at most 1000/)
  })

  it('POST and PURGE write the same audit line (who, tenant, counts, log id; never the token)', async () => {
    const r = await post({ tenant: 'acme', tags: ['shared'] }, ACME)
    assert.equal(r.status, 200)
    const id = JSON.parse(r.text).id
    const line = audit.find((l) => l.action === 'purge' && l.id === id)
    assert.ok(line, 'the POST purge is audited')
    assert.equal(line.who, 'acme')
    assert.equal(line.tenant, 'acme')
    assert.equal(line.tags, 1)
    const m = await get(`${rig.base}/y`, { authorization: `Bearer ${ACME}`, 'x-tenant-id': 'acme' }, 'PURGE')
    assert.equal(m.status, 200)
    const mline = audit.find((l) => l.action === 'purge' && l.id === JSON.parse(m.text).id)
    assert.ok(mline, 'the PURGE method is audited')
    assert.equal(mline.urls, 1)
    assert.ok(!JSON.stringify(audit).includes(ACME), 'tokens are never logged')
  })

  it('a 401 carries WWW-Authenticate for POST and PURGE alike', async () => {
    const a = await get(`${rig.base}/_larder/purge`, { 'content-type': 'application/json' }, 'POST', '{"tags":["x"]}')
    assert.equal(a.status, 401)
    assert.equal(a.headers.get('www-authenticate'), 'Bearer')
    const b = await get(`${rig.base}/z`, {}, 'PURGE')
    assert.equal(b.status, 401)
    assert.equal(b.headers.get('www-authenticate'), 'Bearer')
  })

  it('paths purge under the body\'s host, else the host the gateway maps to the tenant', async () => {
    version = 10
    const shop = { host: 'shop.acme.test' }
    await get(`${rig.base}/p/42`, shop)
    assert.equal((await get(`${rig.base}/p/42`, shop)).headers.get('x-cache'), 'HIT')
    // Through the gateway's own address, no host: the tenant's configured host is used.
    const r = await post({ tenant: 'acme', urls: ['/p/42'] })
    assert.equal(r.status, 200)
    assert.deepEqual({ host: JSON.parse(r.text).host, from: JSON.parse(r.text).hostFrom, purged: JSON.parse(r.text).purged }, { host: 'shop.acme.test', from: 'tenant', purged: 1 })
    version = 11
    assert.equal((await get(`${rig.base}/p/42`, shop)).text, '/p/42 v11')
    // An explicit host wins (tenant-header setups have no host map).
    await get(`${rig.base}/q`, { host: 'www.other.test', 'x-tenant-id': 'globex' })
    const q = await post({ tenant: 'globex', urls: ['/q'], host: 'www.other.test' })
    assert.equal(JSON.parse(q.text).purged, 1)
  })
})

describe('larder purge --url-path', () => {
  let rig: Rig
  let version = 1
  before(async () => {
    rig = await startRig((req, res) => {
      res.writeHead(200, { 'cache-control': 'max-age=600' })
      res.end(`${req.url} v${version}`)
    }, { logger: pino({ level: 'silent' }) })
  })
  after(() => rig.close())

  it("purges what users of --host see; without a host it fails loudly instead of purging the gateway's own address", async () => {
    const shop = { host: 'shop.example', 'x-tenant-id': 'acme' }
    version = 1
    await get(`${rig.base}/p/42`, shop)
    assert.equal((await get(`${rig.base}/p/42`, shop)).headers.get('x-cache'), 'HIT')
    const blind = await larder(['purge', '--url', rig.base, '--tenant', 'acme', '--url-path', '/p/42'], { LARDER_ADMIN_TOKEN: ADMIN })
    assert.notEqual(blind.code, 0, 'a purge that cannot reach the shop host must not exit 0')
    assert.match(blind.stderr, /--host/)
    assert.equal((await get(`${rig.base}/p/42`, shop)).headers.get('x-cache'), 'HIT')
    const r = await larder(['purge', '--url', rig.base, '--tenant', 'acme', '--url-path', '/p/42', '--host', 'shop.example'], { LARDER_ADMIN_TOKEN: ADMIN })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /purged 1 entry .*shop\.example/)
    version = 2
    assert.equal((await get(`${rig.base}/p/42`, shop)).text, '/p/42 v2')
  })
})

describe('purge errors answer with their registry status', () => {
  it('E_QUEUE_FULL from the log is a 503 (the shared log is unavailable), not a 400', async () => {
    class FullLog extends MemoryLog {
      override append(): never {
        throw new LarderError('E_QUEUE_FULL', 'the outage queue is full')
      }
    }
    const origin = await startOrigin((_req, res) => res.end('ok'))
    const cache = createCache({ log: new FullLog() })
    const gw = createGateway({ origin: origin.url, cache, auth: createAuthorizer([{ name: 'admin', token: ADMIN, scopes: ['admin'] }]), logger: pino({ level: 'silent' }) })
    const addr = await gw.listen(0)
    try {
      const r = await get(`http://127.0.0.1:${addr.port}/_larder/purge`, { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, 'POST', '{"tags":["x"]}')
      assert.equal(r.status, 503)
      assert.equal(JSON.parse(r.text).error.code, 'E_QUEUE_FULL')
    } finally {
      await gw.close()
      await cache.close()
      await origin.close()
    }
  })
})
