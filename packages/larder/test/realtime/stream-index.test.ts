import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { LogEntry } from '../../src/core/types.ts'
import { type IndexedStream, StreamIndex, wants } from '../../src/realtime/stream-index.ts'
import { parseTopics } from '../../src/realtime/topics.ts'

interface S extends IndexedStream {
  name: string
}

const stream = (name: string, tenant: string, topics: string[], anonymous = false): S => ({ name, tenant, topics: parseTopics(topics), anonymous, mark: 0 })
let nextId = 1
const entry = (e: Omit<LogEntry, 'id' | 'at'>): LogEntry => ({ id: nextId++, at: 0, ...e })

function visited(index: StreamIndex<S>, e: LogEntry): string[] {
  const out: string[] = []
  const n = index.dispatch(e, (s) => out.push(s.name))
  assert.equal(n, out.length)
  return out.sort()
}

describe('StreamIndex (no sockets)', () => {
  test('an entry reaches each matching stream of its tenant once (exact and prefix topics)', () => {
    const index = new StreamIndex<S>()
    index.add(stream('a', 'acme', ['product:1', 'product:2']))
    index.add(stream('b', 'acme', ['product:*']))
    index.add(stream('c', 'acme', ['stock:1']))
    index.add(stream('g', 'globex', ['product:1']))
    assert.equal(index.size, 4)
    assert.equal(index.tenantCount, 2)
    assert.equal(index.count('acme'), 3)
    // Two matching tags: a and b still get the entry once.
    assert.deepEqual(visited(index, entry({ tenant: 'acme', kind: 'hard', tags: ['product:1', 'product:2'] })), ['a', 'b'])
    assert.deepEqual(visited(index, entry({ tenant: 'acme', kind: 'hard', tags: ['stock:1'] })), ['c'])
    assert.deepEqual(visited(index, entry({ tenant: 'acme', kind: 'hard', tags: ['productX'] })), [])
    assert.deepEqual(visited(index, entry({ tenant: 'acme', kind: 'clear' })), ['a', 'b', 'c'])
    assert.deepEqual(visited(index, entry({ tenant: 'nobody', kind: 'clear' })), [])
  })

  test('private live values skip anonymous streams; public ones reach them', () => {
    const index = new StreamIndex<S>()
    index.add(stream('anon', 'acme', ['stock:*'], true))
    index.add(stream('signed', 'acme', ['stock:9']))
    assert.deepEqual(visited(index, entry({ tenant: 'acme', kind: 'live', tags: ['stock:9'], data: { topic: 'stock:9', value: 1, public: false } })), ['signed'])
    assert.deepEqual(visited(index, entry({ tenant: 'acme', kind: 'live', tags: ['stock:9'], data: { topic: 'stock:9', value: 1 } })), ['anon', 'signed'])
  })

  test('remove takes a stream out of every index once; a visitor may remove the stream it visits', () => {
    const index = new StreamIndex<S>()
    const a = stream('a', 'acme', ['p', 'q*'])
    const b = stream('b', 'acme', ['p'])
    index.add(a)
    index.add(b)
    assert.deepEqual(visited(index, entry({ tenant: 'acme', kind: 'hard', tags: ['p'] })), ['a', 'b'])
    const seen: string[] = []
    index.dispatch(entry({ tenant: 'acme', kind: 'hard', tags: ['p'] }), (s) => {
      seen.push(s.name)
      index.remove(s)
    })
    assert.deepEqual(seen.sort(), ['a', 'b'])
    assert.equal(index.size, 0)
    assert.equal(index.tenantCount, 0)
    assert.equal(index.remove(a), undefined)
    assert.deepEqual(visited(index, entry({ tenant: 'acme', kind: 'hard', tags: ['q1'] })), [])
  })

  test('wants() applies the same rules to one (replayed) entry', () => {
    const s = stream('a', 'acme', ['product:*'], true)
    assert.equal(wants(s, entry({ tenant: 'acme', kind: 'hard', tags: ['product:1'] })), true)
    assert.equal(wants(s, entry({ tenant: 'globex', kind: 'hard', tags: ['product:1'] })), false)
    assert.equal(wants(s, entry({ tenant: 'acme', kind: 'clear' })), true)
    assert.equal(wants(s, entry({ tenant: 'acme', kind: 'live', tags: ['product:1'], data: { topic: 'product:1', value: 1, public: false } })), false)
  })
})
