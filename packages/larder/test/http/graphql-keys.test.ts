import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { graphqlSurrogateKeys } from '../../src/http/graphql.ts'
import { surrogateKeys } from '../../src/http/headers.ts'

const p = (id: number, variants: number[] = []) => ({ __typename: 'Product', id: String(id), name: `p${id}`, variants: variants.map((v) => ({ __typename: 'ProductVariant', id: String(v), price: 100 })) })

describe('graphqlSurrogateKeys', () => {
  test('names every entity by __typename and id, once, nested and in arrays', () => {
    const r = graphqlSurrogateKeys({ product: p(42, [7, 8]), again: p(42, [7]) })
    assert.deepEqual(r, { keys: ['Product:42', 'ProductVariant:7', 'ProductVariant:8'] })
  })

  test('root lists (arrays and { items } pages) get list:<Type>; nested arrays do not', () => {
    const r = graphqlSurrogateKeys({ products: { items: [p(1), p(2)], totalItems: 2 }, collections: [{ __typename: 'Collection', id: '3' }], product: p(9, [5]) })
    assert.deepEqual(r.keys?.slice(0, 2), ['list:Product', 'list:Collection'], 'list keys first')
    assert.deepEqual(r.keys?.slice().sort(), ['Collection:3', 'Product:1', 'Product:2', 'Product:9', 'ProductVariant:5', 'list:Collection', 'list:Product'])
  })

  test('references name entities of objects without an id (search results)', () => {
    const r = graphqlSurrogateKeys(
      { search: { items: [{ __typename: 'SearchResult', productId: '4', productVariantId: '11' }] } },
      { references: { SearchResult: { productId: 'Product', productVariantId: 'ProductVariant' } } },
    )
    assert.deepEqual(r.keys, ['list:Product', 'Product:4', 'ProductVariant:11'])
  })

  test('fixed keys come first and count against maxKeys', () => {
    assert.deepEqual(graphqlSurrogateKeys({ product: p(1) }, { fixed: ['shop-api'] }).keys, ['shop-api', 'Product:1'])
  })

  test('past maxKeys the largest type folds into all:<Type>, and the answer fits the gateway limit', () => {
    const products = Array.from({ length: 30 }, (_, i) => p(i, [1000 + i * 3, 1001 + i * 3, 1002 + i * 3]))
    const r = graphqlSurrogateKeys({ products: { items: products } }, { fixed: ['shop-api'], maxKeys: 64 })
    assert.ok(r.keys)
    assert.ok(r.keys.length <= 64)
    assert.ok(r.keys.includes('all:ProductVariant'), 'the 90 variants fold')
    assert.ok(!r.keys.some((k) => k.startsWith('ProductVariant:')))
    assert.ok(r.keys.includes('Product:29'), 'the 30 products still fit one by one')
    // What the gateway reads back from the header is the whole set (nothing silently dropped).
    assert.deepEqual(surrogateKeys({ 'surrogate-key': r.keys.join(' ') }), r.keys)
  })

  test('everything folds when even one type per key does not fit', () => {
    const r = graphqlSurrogateKeys({ a: p(1, [2]), b: { __typename: 'Collection', id: '3' } }, { maxKeys: 2 })
    assert.equal(r.keys, undefined)
    const ok = graphqlSurrogateKeys({ a: p(1, [2, 3]) }, { maxKeys: 2 })
    assert.deepEqual(ok.keys, ['all:ProductVariant', 'Product:1'])
  })

  test('an object with an id but no __typename makes the response unkeyable', () => {
    const r = graphqlSurrogateKeys({ product: { id: '42', name: 'x' } })
    assert.equal(r.keys, undefined)
    assert.match(r.reason ?? '', /__typename/)
  })

  test('ids with spaces, commas or over-long ids are refused, not split', () => {
    assert.equal(graphqlSurrogateKeys({ x: { __typename: 'T', id: 'a b' } }).keys, undefined)
    assert.equal(graphqlSurrogateKeys({ x: { __typename: 'T', id: 'a,b' } }).keys, undefined)
    assert.equal(graphqlSurrogateKeys({ x: { __typename: 'T', id: 'x'.repeat(300) } }).keys, undefined)
  })

  test('too many objects: unkeyable; deep nesting does not overflow the stack', () => {
    assert.equal(graphqlSurrogateKeys({ xs: Array.from({ length: 20 }, () => ({})) }, { maxObjects: 10 }).keys, undefined)
    let deep: Record<string, unknown> = { __typename: 'Leaf', id: '1' }
    for (let i = 0; i < 100_000; i++) deep = { child: deep }
    assert.deepEqual(graphqlSurrogateKeys(deep, { maxObjects: 200_000 }).keys, ['Leaf:1'])
  })

  test('null, scalars and empty data give no keys', () => {
    assert.deepEqual(graphqlSurrogateKeys(null).keys, [])
    assert.deepEqual(graphqlSurrogateKeys({ a: 1, b: 'x', c: null }).keys, [])
  })
})
