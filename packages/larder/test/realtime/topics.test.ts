import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { parseTopics, topicMatches, validateTopic } from '../../src/realtime/index.ts'
import { topicsWithin } from '../../src/realtime/topics.ts'
import { signStreamToken, verifyStreamToken } from '../../src/realtime/token.ts'

describe('topics', () => {
  test('a trailing * is a literal prefix; every other character is data', () => {
    const set = parseTopics(['product:42', 'stock:*', 'a?b', 'x*y', '[z]', '*weird*'])
    assert.deepEqual(set.exact, ['product:42', 'a?b', 'x*y', '[z]'])
    assert.deepEqual(set.prefixes, ['stock:', '*weird'])
    assert.ok(topicMatches(set, 'stock:1'))
    assert.ok(!topicMatches(set, 'stocks:1'))
    assert.ok(topicMatches(set, 'a?b'))
    assert.ok(!topicMatches(set, 'axb'))
    assert.ok(!topicMatches(set, 'xzzy'))
    assert.ok(topicMatches(set, '[z]'))
    assert.ok(!topicMatches(set, 'z'))
    assert.ok(topicMatches(set, '*weird*thing'))
    assert.ok(topicMatches(parseTopics(['*']), 'anything at all'))
  })

  test('duplicates fold; limits answer with the number and the limit', () => {
    assert.deepEqual(parseTopics(['a', 'a', 'b*', 'b*']), { exact: ['a'], prefixes: ['b'] })
    assert.throws(() => parseTopics([]), /no topics/)
    assert.throws(() => parseTopics(['a', 'b', 'c'], { maxTopics: 2, maxTopicLength: 10 }), /3 topics asked for; the limit is 2/)
    assert.throws(() => validateTopic('x'.repeat(11), { maxTopics: 2, maxTopicLength: 10 }), /11 characters long; the limit is 10/)
    assert.throws(() => validateTopic('a\nb'), /control characters/)
    assert.throws(() => validateTopic(''), { code: 'E_INVALID_TOPIC' })
  })

  test('a grant can only be narrowed, never widened', () => {
    const grant = parseTopics(['product:*', 'cart:9'])
    assert.ok(topicsWithin(parseTopics(['product:1', 'product:2*', 'cart:9']), grant))
    assert.ok(!topicsWithin(parseTopics(['cart:9*']), grant))
    assert.ok(!topicsWithin(parseTopics(['cart:90']), grant))
    assert.ok(!topicsWithin(parseTopics(['*']), grant))
    assert.ok(!topicsWithin(parseTopics(['produc*']), grant))
  })
})

describe('stream tokens', () => {
  const secret = 'a-secret-of-some-length'
  test('round trip, tamper, expiry, malformed', () => {
    const now = 1_800_000_000_000
    const tok = signStreamToken(secret, { tenant: 'acme', topics: ['p:*'], ttlSeconds: 60 }, now)
    assert.deepEqual(verifyStreamToken(secret, tok, now), { tenant: 'acme', topics: ['p:*'], exp: now / 1000 + 60 })
    assert.equal(verifyStreamToken(secret, tok, now + 61_000), 'the stream token has expired')
    const [body, sig] = tok.split('.') as [string, string]
    const forged = Buffer.from(JSON.stringify({ tenant: 'globex', exp: now / 1000 + 60 })).toString('base64url')
    assert.equal(verifyStreamToken(secret, `${forged}.${sig}`, now), 'the stream token signature is invalid')
    assert.equal(verifyStreamToken('another-secret-value', tok, now), 'the stream token signature is invalid')
    assert.equal(verifyStreamToken(secret, body, now), 'the stream token is malformed')
    assert.equal(verifyStreamToken(secret, 'x'.repeat(9000), now), 'the stream token is too long')
    assert.throws(() => signStreamToken(secret, { tenant: '' }), { code: 'E_INVALID_TENANT' })
  })
})
