import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { LarderError } from '../../src/core/errors.ts'
import { validateEvent } from '../../src/events/envelope.ts'
import { compileRules, loadRules, parseRules, readRulesSpec } from '../../src/events/rules.ts'

const catalogPath = new URL('../../rules/catalog.yaml', import.meta.url).pathname

function ev(type: string, data: Record<string, unknown>, tenant = 'acme') {
  return validateEvent({ id: 'e1', type, tenant, data })
}

function ruleError(fn: () => unknown): LarderError {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof LarderError, `expected a LarderError, got ${err}`)
    assert.equal(err.code, 'E_INVALID_RULE')
    return err
  }
  assert.fail('expected E_INVALID_RULE')
}

describe('events: envelope', () => {
  it('accepts a full envelope and normalizes at', () => {
    const e = validateEvent({ id: 'x', type: 'product.updated', tenant: 'acme', data: { a: 1 }, at: '2026-11-21T10:00:00Z' })
    assert.equal(e.at, Date.parse('2026-11-21T10:00:00Z'))
    assert.deepEqual(e.data, { a: 1 })
  })
  const bad: [string, unknown, string][] = [
    ['not an object', 'hello', '(root)'],
    ['array', [], '(root)'],
    ['missing id', { type: 'a.b', tenant: 't', data: {} }, 'id'],
    ['empty id', { id: '', type: 'a.b', tenant: 't' }, 'id'],
    ['missing type', { id: '1', tenant: 't' }, 'type'],
    ['pattern-like type', { id: '1', type: 'product.*', tenant: 't' }, 'type'],
    ['missing tenant', { id: '1', type: 'a.b' }, 'tenant'],
    ['reserved tenant', { id: '1', type: 'a.b', tenant: '@public' }, 'tenant'],
    ['control char tenant', { id: '1', type: 'a.b', tenant: 'a\u0000b' }, 'tenant'],
    ['data not an object', { id: '1', type: 'a.b', tenant: 't', data: [1] }, 'data'],
    ['oversized data', { id: '1', type: 'a.b', tenant: 't', data: { s: 'x'.repeat(70_000) } }, 'data'],
    ['bad at', { id: '1', type: 'a.b', tenant: 't', at: 'yesterday' }, 'at'],
  ]
  for (const [name, input, field] of bad) {
    it(`rejects ${name} naming field ${field}`, () => {
      assert.throws(
        () => validateEvent(input),
        (err: unknown) => err instanceof LarderError && err.code === 'E_INVALID_EVENT' && err.details?.field === field && err.message.includes(field),
      )
    })
  }
})

describe('events: rules', () => {
  it('loads the shipped catalog rules and covers the seeds events', () => {
    const rules = loadRules(catalogPath)
    for (const t of [
      'product.updated',
      'variant.updated',
      'price.changed',
      'stock.changed',
      'category.updated',
      'seller.status_changed',
      'seller.inventory_updated',
      'seller.payment_status_changed',
      'order.status_changed',
      'tenant.settings_changed',
    ])
      assert.ok(rules.has(t), t)
  })

  it('renders templates: scalars, array expansion, nested paths, optional fields', () => {
    const rules = parseRules(`
events:
  product.updated:
    fields: [productId, "categoryIds[]", seller.id, "items[].variantId", note?]
    invalidate:
      tags:
        - product:{productId}
        - category:{categoryIds[]}
        - seller:{seller.id}
        - variant:{items[].variantId}
        - note:{note}
      keys: ["product:{productId}:detail"]
    expire: [search]
    notify: ["stock:{productId}"]
    warm: ["product:{productId}"]
`)
    const plan = rules.plan(ev('product.updated', { productId: 42, categoryIds: ['c1', 'c2'], seller: { id: 's9' }, items: [{ variantId: 'v1' }, { variantId: 7 }] }))
    assert.deepEqual(plan.hardTags, ['product:42', 'category:c1', 'category:c2', 'seller:s9', 'variant:v1', 'variant:7'])
    assert.deepEqual(plan.hardKeys, ['product:42:detail'])
    assert.deepEqual(plan.softTags, ['search'])
    assert.deepEqual(plan.notify, ['stock:42'])
    assert.deepEqual(plan.warm, ['product:42'])
    const withNote = rules.plan(ev('product.updated', { productId: 1, categoryIds: [], seller: { id: 's' }, items: [], note: 'n' }))
    assert.deepEqual(withNote.hardTags, ['product:1', 'seller:s', 'note:n'])
  })

  it('substitutes values as data: a * in an id stays literal', () => {
    const rules = parseRules('events:\n  product.updated:\n    fields: [productId]\n    invalidate: ["product:{productId}"]\n')
    assert.deepEqual(rules.plan(ev('product.updated', { productId: '*' })).hardTags, ['product:*'])
  })

  it('rejects at event time a missing or mistyped field, naming it', () => {
    const rules = loadRules(catalogPath)
    const cases: [Record<string, unknown>, string][] = [
      [{ categoryIds: ['c'] }, 'data.productId'],
      [{ productId: 1 }, 'data.categoryIds'],
      [{ productId: { x: 1 }, categoryIds: [] }, 'data.productId'],
      [{ productId: '', categoryIds: [] }, 'data.productId'],
      [{ productId: 1, categoryIds: 'c1' }, 'data.categoryIds'],
      [{ productId: 1, categoryIds: ['ok', null] }, 'data.categoryIds[1]'],
    ]
    for (const [data, field] of cases) {
      assert.throws(
        () => rules.plan(ev('product.updated', data)),
        (err: unknown) => err instanceof LarderError && err.code === 'E_INVALID_EVENT' && err.details?.field === field && err.message.includes(field),
        field,
      )
    }
    assert.throws(
      () => rules.plan(ev('product.exploded', {})),
      (err: unknown) => err instanceof LarderError && err.details?.field === 'type' && err.details?.unknownType === true,
    )
  })

  it('bounds array expansion and outputs per event', () => {
    const rules = parseRules('events:\n  a.b:\n    fields: ["ids[]"]\n    invalidate: ["x:{ids[]}"]\n', { maxExpansion: 3, maxOutputs: 10 })
    assert.deepEqual(rules.plan(ev('a.b', { ids: [1, 2, 3] })).hardTags, ['x:1', 'x:2', 'x:3'])
    assert.throws(() => rules.plan(ev('a.b', { ids: [1, 2, 3, 4] })), (err: unknown) => err instanceof LarderError && err.details?.field === 'data.ids' && err.details?.limit === 3)
    const many = parseRules('events:\n  a.b:\n    fields: ["ids[]"]\n    invalidate: ["x:{ids[]}", "y:{ids[]}", "z:{ids[]}", "w:{ids[]}"]\n', { maxExpansion: 3, maxOutputs: 10 })
    assert.throws(() => many.plan(ev('a.b', { ids: [1, 2, 3] })), (err: unknown) => err instanceof LarderError && /limit per event is 10/.test(err.message))
    assert.throws(() => rules.plan(ev('a.b', { ids: ['y'.repeat(300)] })), (err: unknown) => err instanceof LarderError && err.details?.field === 'data.ids[0]')
  })

  it('does not read inherited properties as fields', () => {
    const rules = parseRules('events:\n  a.b:\n    fields: [constructor]\n    invalidate: ["x:{constructor}"]\n')
    assert.throws(() => rules.plan(ev('a.b', {})), (err: unknown) => err instanceof LarderError && err.details?.field === 'data.constructor')
  })

  const invalid: [string, string, number, RegExp][] = [
    ['unknown placeholder', 'events:\n  a.b:\n    fields: [productId]\n    invalidate:\n      - product:{productId}\n      - category:{categoryId}\n', 6, /unknown placeholder \{categoryId\}/],
    ['placeholder without fields', 'events:\n  a.b:\n    invalidate: ["product:{productId}"]\n', 3, /unknown placeholder/],
    ['empty template', 'events:\n  a.b:\n    invalidate: ["x", ""]\n', 3, /must not be empty/],
    ['wildcard', 'events:\n  a.b:\n    fields: [t]\n\n    invalidate: ["products:{t}:*"]\n', 5, /not a wildcard/],
    ['bare placeholder', 'events:\n  a.b:\n    fields: [tag]\n    invalidate: ["{tag}"]\n', 4, /start with literal text/],
    ['adjacent placeholders', 'events:\n  a.b:\n    fields: [a, b]\n    invalidate: ["x:{a}{b}"]\n', 4, /separated by literal text/],
    ['two arrays', 'events:\n  a.b:\n    fields: ["a[]", "b[]"]\n    invalidate: ["x:{a[]}:{b[]}"]\n', 4, /at most one array/],
    ['unbalanced brace', 'events:\n  a.b:\n    fields: [a]\n    invalidate: ["x:{a"]\n', 4, /without a matching/],
    ['bad path', 'events:\n  a.b:\n    fields: [a]\n    invalidate: ["x:{a-b}"]\n', 4, /not a field path/],
    ['scalar used as array', 'events:\n  a.b:\n    fields: [ids]\n    invalidate: ["x:{ids[]}"]\n', 4, /unknown placeholder \{ids\[\]\}/],
    ['unknown rule key', 'events:\n  a.b:\n    invalidat: [x]\n', 3, /unknown field "invalidat"/],
    ['rule that does nothing', 'version: 1\nevents:\n  a.b:\n    warm: [x]\n', 3, /does nothing/],
    ['unused field', 'events:\n  a.b:\n    fields: [a, b]\n    invalidate: ["x:{a}"]\n', 3, /"b" is declared but no template uses it/],
    ['bad event type', 'events:\n  Product-Updated:\n    invalidate: [x]\n', 2, /dotted lower-case/],
    ['yaml syntax', 'events:\n  a.b:\n    invalidate: [x\n  c.d: {\n', 0, /YAML syntax error/],
  ]
  for (const [name, yaml, line, re] of invalid) {
    it(`rejects at start-up: ${name}${line ? ` (line ${line})` : ''}`, () => {
      const err = ruleError(() => parseRules(yaml, { source: 'larder.yaml' }))
      assert.match(err.message, re)
      if (line) {
        assert.equal(err.details?.line, line, err.message)
        assert.ok(err.message.includes(`larder.yaml:${line}:`), err.message)
      }
    })
  }

  it('reports every problem at once, and TS objects name the rule path', () => {
    const err = ruleError(() => compileRules({ events: { 'a.b': { invalidate: ['', 'x:*'] }, 'c.d': {} } }))
    const errors = err.details?.errors as { path: string }[]
    assert.deepEqual(
      errors.map((e) => e.path),
      ['events["a.b"].invalidate[0]', 'events["a.b"].invalidate[1]', 'events["c.d"]'],
    )
  })

  it('readRulesSpec returns the plain object of a valid file and keeps line numbers for a bad one', () => {
    const spec = readRulesSpec(catalogPath)
    assert.ok('product.updated' in spec.events)
    const dir = mkdtempSync(join(tmpdir(), 'larder-rules-'))
    try {
      const bad = join(dir, 'larder.yaml')
      writeFileSync(bad, 'events:\n  a.b:\n    invalidate: ["x:*"]\n')
      const err = ruleError(() => readRulesSpec(bad))
      assert.ok(err.message.includes(`${bad}:3:`), err.message)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('the catalog file parses without warnings as YAML text too', () => {
    const rules = loadRules(readFileSync(catalogPath, 'utf8'))
    const plan = rules.plan(ev('seller.status_changed', { sellerId: 's1', variantIds: [1, 2] }))
    assert.deepEqual(plan.hardTags, ['seller:s1', 'variant:1', 'variant:2', 'sellers'])
    const noVariants = rules.plan(ev('seller.status_changed', { sellerId: 's1' }))
    assert.deepEqual(noVariants.hardTags, ['seller:s1', 'sellers'])
  })
})
