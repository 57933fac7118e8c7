/**
 * The Odoo write() flow from Python: examples/producers/odoo_larder_mixin.py (the file
 * docs/events.md shows verbatim) mixed into a model publishes product.updated to the Larder
 * event stream after the commit. Odoo's ORM is replaced by fixtures/fake_odoo.py (records,
 * write(), cr.postcommit); redis-py and the stream are real.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { withAdmin } from '../redis/helpers.ts'
import { hasTag } from './helpers.ts'
import { assertInvalidationReachesEverything, EXAMPLES, type ProducerRig, parkedEntries, recorded, requirePythonRedis, run, STREAM, startProducerRig } from './producer-rig.ts'

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname
const PRELUDE = `import sys
sys.path[:0] = [${JSON.stringify(EXAMPLES)}, ${JSON.stringify(FIXTURES)}]
from odoo_larder_mixin import LarderCacheMixin
from fake_odoo import Env, Model, categ, record

class ProductTemplate(LarderCacheMixin, Model):
    pass

env = Env()
`

describe('producers: Python (an Odoo write() mixin on the Redis stream)', () => {
  let python: string
  let rig: ProducerRig
  before(async () => {
    python = requirePythonRedis()
    rig = await startProducerRig()
  })
  after(() => rig?.close())

  /** Runs Python code after the prelude (the mixin on a product model, an `env`); returns its output. */
  async function odoo(code: string): Promise<string> {
    const r = await run(python, ['-c', `${PRELUDE}\n${code}`], { REDIS_URL: rig.redis.url, PYTHONDONTWRITEBYTECODE: '1' })
    assert.equal(r.code, 0, `python failed: ${r.stderr}`)
    return r.stdout.trim()
  }

  const streamLength = () => withAdmin(rig.redis.port, (r) => r.xlen(STREAM))

  it('a product write reaches the cache, the gateway and SSE (after the commit)', async () => {
    await assertInvalidationReachesEverything(rig, 'acme', 'product:42', () =>
      odoo(`products = ProductTemplate(env, [record(42, "acme", categ_id=7), record(43, "acme")])
products.write({"list_price": 12.5})
env.cr.commit()`).then(() => {}),
    )
    assert.ok(rig.watch.entries.some(hasTag('acme', 'category:7')), 'the category listing is invalidated')
    assert.ok(rig.watch.entries.some(hasTag('acme', 'product:43')), 'every record of the recordset is published')
  })

  it('a category change invalidates the old and the new listing', async () => {
    await assertInvalidationReachesEverything(rig, 'acme', 'category:9', () =>
      odoo(`ProductTemplate(env, [record(48, "acme", categ_id=8)]).write({"categ_id": categ(9)})
env.cr.commit()`).then(() => {}),
    )
    const entry = rig.watch.entries.find(hasTag('acme', 'category:9'))
    assert.ok(entry?.tags?.includes('category:8'), 'the listing the product left')
  })

  it('a rolled-back write publishes nothing', async () => {
    const before = await streamLength()
    await odoo(`ProductTemplate(env, [record(44, "acme")]).write({"list_price": 1})
env.cr.rollback()
env.cr.commit()`)
    assert.equal(await streamLength(), before)
  })

  it('the same entries sent again (a resend after a lost reply) are a duplicate: applied once', async () => {
    const id = await odoo(`ProductTemplate(env, [record(45, "acme")]).write({"name": "x"})
send = env.cr.postcommit._funcs[0]
env.cr.commit()
send()
import odoo_larder_mixin
print(odoo_larder_mixin.larder_redis().xrevrange("larder:events", count=1)[0][1][b"id"].decode())`)
    assert.match(id, /^odoo:product\.template:45:[0-9a-f]{32}$/)
    await recorded(rig, id, 'duplicate')
    assert.equal(rig.watch.entries.filter(hasTag('acme', 'product:45')).length, 1)
  })

  it('a poison entry (a company without a Larder tenant code) is parked; the next write is applied', async () => {
    await odoo(`ProductTemplate(env, [record(46, "")]).write({"name": "y"})
ProductTemplate(env, [record(47, "acme")]).write({"name": "z"})
env.cr.commit()`)
    await rig.watch.waitFor(hasTag('acme', 'product:47'), 'the write after the poison one')
    const [parked] = await parkedEntries(rig, 1)
    assert.equal(parked?.code, 'E_INVALID_EVENT')
    assert.match(parked?.error ?? '', /tenant/)
    assert.match(parked?.id ?? '', /^odoo:product\.template:46:/, 'the original fields are kept')
    assert.ok(!rig.watch.entries.some((e) => e.kind === 'hard' && e.tags?.includes('product:46')))
  })
})
